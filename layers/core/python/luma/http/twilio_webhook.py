"""The Twilio webhooks (``POST /twilio/whatsapp``, ``POST /twilio/sms``): verify, hand over, answer at once.

1. The ``X-Twilio-Signature`` is checked with the SDK's ``RequestValidator`` over the public URL
   rebuilt behind API Gateway (:func:`luma.channels.twilio.verify_webhook`): missing or wrong → 403.
   So is a request for another Twilio account, and any request while no auth token is configured.
2. The form is validated (:class:`luma.channels.twilio.InboundMessage`); the route must match the
   sender's channel (``whatsapp:`` addresses on ``/twilio/whatsapp``); our number (``To``) gives the
   tenant and the assistant (``LUMA_TWILIO_NUMBERS``, else ``LUMA_TWILIO_DEFAULT_TENANT``); a
   pressed button (``ButtonPayload``) or list item (``ListId``) is the person's choice.
3. The message is handed to ``classify`` as a channel-neutral :class:`ChannelMessage` with an
   asynchronous invoke — Lambda queues the event durably (2 retries, then the function's DLQ) — and
   Twilio gets an empty TwiML ``<Response/>`` right away. No DynamoDB call on this path: classify
   persists the message (idempotent on ``MessageSid``) and the reply goes out through the REST API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

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


class TwilioWebhook:
    """Verifies a webhook event and hands the message to classify; every dependency injected."""

    def __init__(
        self,
        settings: Settings,
        account: Callable[[], TwilioAccount],
        invoker: Invoker,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._account = account
        self.invoker = invoker
        self.clock = clock

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
        self.invoker.invoke_async(settings.classify_function, message.model_dump(mode="json"))
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
