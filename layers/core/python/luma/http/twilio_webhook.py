"""The Twilio webhooks (``POST /twilio/whatsapp``, ``POST /twilio/sms``): verify, hand over, answer at once.

1. The ``X-Twilio-Signature`` is checked with the SDK's ``RequestValidator`` over the public URL
   rebuilt behind API Gateway (:func:`luma.channels.twilio.verify_webhook`): missing or wrong → 403.
   So is a request for another Twilio account, and any request while no auth token is configured.
2. The form is validated (:class:`luma.channels.twilio.InboundMessage`); the route must match the
   sender's channel (``whatsapp:`` addresses on ``/twilio/whatsapp``); our number (``To``) gives the
   tenant and the assistant (``LUMA_TWILIO_NUMBERS``, else ``LUMA_TWILIO_DEFAULT_TENANT``); a
   pressed button (``ButtonPayload``) or list item (``ListId``) is the person's choice.
3. The message is handed to ``classify`` as a channel-neutral :class:`ChannelMessage` with one SQS
   ``SendMessage`` to the inbound FIFO queue (``LUMA_TWILIO_INBOUND_QUEUE_URL``): the message group is
   the conversation (a digest of our number and the sender's address, so no phone number sits in a
   queue attribute) and the deduplication id is the ``MessageSid``. SQS hands out one group's messages
   one at a time, in the order they arrived, and drops a Twilio retry seen within five minutes;
   classify consumes the queue through an event-source mapping (partial batch failures; a message
   that keeps failing goes to the queue's dead-letter queue). Without a queue configured, the message
   is handed over with an asynchronous invoke instead (Lambda queues it durably, 2 retries, then the
   function's DLQ), with no order between messages. Either way Twilio gets an empty TwiML
   ``<Response/>`` right away. No DynamoDB call on this path: classify persists the message
   (idempotent on ``MessageSid``) and the reply goes out through the REST API.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, Protocol

from pydantic_settings import BaseSettings, SettingsConfigDict

from luma.channels.numbers import route_for_number
from luma.channels.twilio import InboundMessage, TwilioSignatureError, verify_webhook
from luma.channels.twilio_account import TwilioAccount
from luma.config import Settings
from luma.domain.models import ChannelMessage, MediaRef
from luma.errors import ErrorCode, LumaError
from luma.invoke import Invoker
from luma.observability import logger

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWIML_MEDIA_TYPE = "text/xml"


class Handoff(Protocol):
    """Where an accepted message goes: the inbound queue, or an asynchronous invoke of classify."""

    def put(self, message: ChannelMessage) -> None: ...


def conversation_group(message: ChannelMessage) -> str:
    """The FIFO message group of a message: one per (channel, our number, sender), as a digest."""
    key = f"{message.channel}|{message.recipient}|{message.sender}".encode()
    return hashlib.sha256(key).hexdigest()[:40]


class QueueHandoff:
    """One ``SendMessage`` to the inbound FIFO queue, grouped by conversation, deduplicated by ``MessageSid``."""

    def __init__(self, queue_url: str, *, region: str, endpoint_url: str | None = None) -> None:
        self.queue_url = queue_url
        self.region = region
        self.endpoint_url = endpoint_url

    @cached_property
    def _client(self) -> Any:
        from luma.aws import client

        return client("sqs", region=self.region, endpoint_url=self.endpoint_url)

    def put(self, message: ChannelMessage) -> None:
        self._client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(message.model_dump(mode="json"), separators=(",", ":")),
            MessageGroupId=conversation_group(message),
            MessageDeduplicationId=message.external_id,
        )


class InvokeHandoff:
    """An asynchronous invoke of classify (no queue configured): durable, unordered."""

    def __init__(self, invoker: Invoker, function: str) -> None:
        self.invoker = invoker
        self.function = function

    def put(self, message: ChannelMessage) -> None:
        self.invoker.invoke_async(self.function, message.model_dump(mode="json"))


class _QueueSettings(BaseSettings):
    """The inbound queue's settings, for as long as :class:`Settings` does not carry them."""

    model_config = SettingsConfigDict(env_prefix="LUMA_", extra="ignore", frozen=True)

    twilio_inbound_queue_url: str | None = None
    sqs_endpoint_url: str | None = None


def default_handoff(settings: Settings, invoker: Invoker) -> Handoff:
    """The inbound queue when ``LUMA_TWILIO_INBOUND_QUEUE_URL`` is set, else an async invoke of classify."""
    fallback = None if hasattr(settings, "twilio_inbound_queue_url") else _QueueSettings()
    queue_url = getattr(settings, "twilio_inbound_queue_url", None) or (fallback and fallback.twilio_inbound_queue_url)
    if queue_url:
        endpoint = getattr(settings, "sqs_endpoint_url", None) or (fallback and fallback.sqs_endpoint_url) or None
        return QueueHandoff(queue_url, region=settings.region, endpoint_url=endpoint)
    return InvokeHandoff(invoker, settings.classify_function)


class TwilioWebhook:
    """Verifies a webhook event and hands the message to classify; every dependency injected.

    ``handoff`` defaults to :func:`default_handoff` (the inbound queue when configured, else ``invoker``).
    """

    def __init__(
        self,
        settings: Settings,
        account: Callable[[], TwilioAccount],
        invoker: Invoker,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        handoff: Handoff | None = None,
    ) -> None:
        self.settings = settings
        self._account = account
        self.invoker = invoker
        self.clock = clock
        self.handoff = handoff if handoff is not None else default_handoff(settings, invoker)

    def accept(self, event: Mapping[str, Any], channel: Literal["whatsapp", "sms"]) -> ChannelMessage:
        """Verify and hand over one webhook event (API Gateway payload 2.0 shape); typed errors otherwise."""
        account = self._account()
        if not account.can_verify or account.auth_token is None:
            logger.error("twilio webhook called but no auth token is configured")
            raise TwilioSignatureError("Twilio webhooks are not configured here.")
        settings = self.settings
        form = verify_webhook(
            event,
            account.auth_token,
            base_url=settings.twilio_public_base_url,
            max_bytes=settings.twilio_max_body_bytes,
        )
        inbound = InboundMessage.from_form(form)
        if account.account_sid and inbound.account_sid != account.account_sid:
            raise TwilioSignatureError("The request is for another Twilio account.")
        if inbound.channel != channel:
            raise LumaError(
                ErrorCode.VALIDATION_FAILED, f"This webhook only takes {channel} messages.", fields=["From"]
            )
        route = route_for_number(settings, inbound.to)
        if route is None:
            logger.error("twilio number serves no tenant: set LUMA_TWILIO_NUMBERS", extra={"channel": channel})
            raise LumaError(ErrorCode.VALIDATION_FAILED, "This number is not served here.", fields=["To"])
        message = ChannelMessage(
            channel=channel,
            tenant_id=route.tenant,
            assistant=route.assistant,
            choice=inbound.button_payload or inbound.list_id,
            external_id=inbound.message_sid,
            account_id=inbound.account_sid,
            sender=inbound.from_,
            recipient=inbound.to,
            text=inbound.body,
            media=[MediaRef(url=m.url, content_type=m.content_type) for m in inbound.media],
            received_at=self.clock(),
        )
        self.handoff.put(message)
        logger.info("twilio message accepted", extra={"channel": channel, "media": len(message.media)})
        return message


def request_body_schema() -> dict[str, Any]:
    """The OpenAPI request body of the webhooks: Twilio's form (the fields Luma reads)."""
    props = {
        "MessageSid": {"type": "string", "pattern": "^[A-Z]{2}[0-9a-fA-F]{32}$"},
        "AccountSid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$"},
        "From": {"type": "string", "description": "whatsapp:+E164 or +E164"},
        "To": {"type": "string", "description": "our number, same form"},
        "Body": {"type": "string", "maxLength": 1600},
        "NumMedia": {"type": "integer", "minimum": 0, "maximum": 10},
        "MediaUrl0": {"type": "string"},
        "MediaContentType0": {"type": "string"},
        "ButtonPayload": {"type": "string", "description": "the id of a quick-reply button pressed"},
        "ListId": {"type": "string", "description": "the id of a list-picker item chosen"},
    }
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": props,
                    "required": ["MessageSid", "AccountSid", "From", "To"],
                }
            }
        },
    }
