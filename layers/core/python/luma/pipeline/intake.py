"""Channel intakes: a WebSocket frame or a WhatsApp/SMS message becomes one :class:`Inbound`.

The WebSocket intake validates the frame (``sendMessage``: text, ``clientMessageId``, optional
``sessionId`` and ``choice``). The Twilio intake knows the sender (a phone link, a pseudonymous
user, or an unknown sender answered politely), then — for messages with attachments — takes a
rate-limit token and claims the ``MessageSid`` **before** any media is fetched or transcribed, caps
the attachments, and keeps what it computed (transcripts, stored images) on the claim, so a retried
invocation never redoes finished work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from luma.channels.addresses import pseudonymous_user_id, unknown_sender_policy
from luma.channels.audio import check_audio
from luma.config import Settings
from luma.domain.models import Channel, ChannelMessage, DeliveryTarget, PhoneLink, Principal
from luma.errors import ErrorCode, LumaError
from luma.limits import Limiter
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, load_object, validation_failed

if TYPE_CHECKING:
    from luma.channels.media import MediaProcessor
    from luma.channels.websocket import Delivery
    from luma.store.repos import ConversationRepository


@dataclass(frozen=True)
class WsRequest:
    """One WebSocket frame as the classify function sees it."""

    connection_id: str
    principal: Principal | None
    body: str | None
    endpoint: str | None = None
    source_ip: str | None = None
    # The assistant the connection asked for at $connect (the authorizer's context), if any.
    assistant: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One inbound message as the pipeline processes it, whatever its channel."""

    text: str
    client_message_id: str
    channel: Channel = "websocket"
    # WebSocket: the frame's sessionId (must be the caller's). WhatsApp/SMS: None, see ``phone``.
    session_id: str | None = None
    # WhatsApp/SMS: the sender's E.164 number, key of its current-session pointer.
    phone: str | None = None
    source_ip: str | None = None
    # The assistant a new session talks to (WebSocket: chosen at $connect; Twilio: the number's).
    assistant: str | None = None
    # The id of a menu option the person picked (a chip, a WhatsApp button or list item).
    choice: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # A refusal decided before routing (an unsupported voice note): stored, answered, not processed.
    refusal: tuple[str, LumaError] | None = None

    @property
    def via_twilio(self) -> bool:
        return self.phone is not None


class SendMessageFrame(BaseModel):
    """``{"action": "sendMessage", "text", "clientMessageId", "sessionId"?, "choice"?}``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    text: str = Field(min_length=1)
    client_message_id: str = Field(alias="clientMessageId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    session_id: str | None = Field(None, alias="sessionId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    choice: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+-]+$")


def websocket_inbound(request: WsRequest, *, max_chars: int) -> Inbound:
    """Validate a ``sendMessage`` frame; every failure is a typed :class:`LumaError`."""
    if request.principal is None:
        raise LumaError(ErrorCode.AUTH_REQUIRED)
    data = load_object(request.body)
    action = data.get("action")
    if action != "sendMessage":
        raise LumaError(ErrorCode.UNKNOWN_ACTION, action=action if isinstance(action, str) else None)
    client_id = _str_or_none(data.get("clientMessageId"))
    text = data.get("text")
    if isinstance(text, str) and len(text) > max_chars:
        raise LumaError(ErrorCode.TEXT_TOO_LONG, maxChars=max_chars, clientMessageId=client_id)
    try:
        frame = SendMessageFrame.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, clientMessageId=client_id) from exc
    return Inbound(
        text=frame.text,
        client_message_id=frame.client_message_id,
        session_id=frame.session_id,
        source_ip=request.source_ip,
        assistant=request.assistant,
        choice=frame.choice,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 64 else None


class RetryLaterError(Exception):
    """Another invocation is processing this message right now: let Lambda retry this one later."""


class TwilioIntake:
    """Who wrote, and what they sent: text plus attachments (images stored, voice notes transcribed)."""

    def __init__(
        self,
        settings: Settings,
        *,
        conversations: ConversationRepository,
        limiter: Limiter,
        delivery: Delivery,
        media: MediaProcessor | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.limiter = limiter
        self.delivery = delivery
        self.media = media

    def principal(self, message: ChannelMessage, phone: str, link: PhoneLink | None) -> Principal | None:
        """The sender as a user of the tenant; None when an unknown sender was answered (or ignored).

        An SMS ``From`` can be spoofed: an SMS sender is a user of the tenant but never a verified
        identity (packs that verify people ask for their own proof on every channel).
        """
        tenant = message.tenant_id
        if link is not None:
            return Principal(tenant_id=tenant, user_id=link.user_id, display_name=link.display_name)
        anonymous = pseudonymous_user_id(tenant, phone)
        if unknown_sender_policy(self.settings, tenant) == "anonymous":
            return Principal(tenant_id=tenant, user_id=anonymous)
        # "reply": one polite answer per message, nothing stored; the buckets keep loops and floods out.
        caller = Principal(tenant_id=tenant, user_id=anonymous)
        if not self.limiter.check_unknown_sender(caller, phone).allowed:
            logger.info("unknown sender over a reply cap: not answered", extra={"channel": message.channel})
            return None
        if not self.conversations.claim_idempotency(tenant, anonymous, message.external_id):
            return None  # a Twilio retry of a message already answered
        logger.info("unknown sender answered", extra={"channel": message.channel})
        err = LumaError(ErrorCode.SENDER_NOT_LINKED)
        emit("Errors", 1, dimensions={"code": err.code.value})
        self.delivery.send(
            DeliveryTarget(channel=message.channel, to_address=message.sender, from_address=message.recipient),
            error_frame(err, client_message_id=message.external_id, language=None, assistant=message.assistant),
        )
        return None

    def inbound(self, message: ChannelMessage, principal: Principal, phone: str) -> Inbound | None:
        """The message as an :class:`Inbound`; None when a retry of a finished message needs nothing more."""
        text = message.text.strip()
        # The address the person wrote from and to: a person who takes the conversation over answers there.
        meta: dict[str, Any] = {
            "channel": message.channel,
            "address": {"channel": message.channel, "to": message.sender, "from": message.recipient},
        }
        if not message.media:
            return self._inbound(message, phone, text, meta, None)
        # Attachments cost money and time: the rate limit and the MessageSid claim come first.
        if not self.limiter.check(principal, None).allowed:
            meta["media"] = [{"type": m.content_type, "skipped": "rate_limited"} for m in message.media]
            return self._inbound(message, phone, text, meta, None)
        claim = self.conversations.claim_media(principal.tenant_id, principal.user_id, message.external_id)
        if claim.state == "done":
            logger.info("twilio retry of a processed message", extra={"channel": message.channel})
            return None
        if claim.state == "busy":
            raise RetryLaterError(message.external_id)
        refs, text, refusal = self._media(message, principal, text, claim.work)
        meta["media"] = refs
        return self._inbound(message, phone, text[: self.settings.max_text_chars], meta, refusal)

    def _inbound(
        self,
        message: ChannelMessage,
        phone: str,
        text: str,
        meta: dict[str, Any],
        refusal: tuple[str, LumaError] | None,
    ) -> Inbound:
        stored_image = any(ref.get("key") for ref in meta.get("media", []))
        if not text and not stored_image and refusal is None:
            refusal = ("media_unsupported", LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.only_unsupported"))
        return Inbound(
            text=text,
            client_message_id=message.external_id,
            channel=message.channel,
            phone=phone,
            assistant=message.assistant,
            choice=message.choice,
            meta=meta,
            refusal=refusal,
        )

    def _media(
        self, message: ChannelMessage, principal: Principal, text: str, done: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str, tuple[str, LumaError] | None]:
        """Images stored, voice notes transcribed (each result kept on the claim as soon as it exists)."""
        media, settings = self.media, self.settings
        refs: list[dict[str, Any]] = []
        refusal: tuple[str, LumaError] | None = None
        for index, item in enumerate(message.media):
            kind = item.content_type.split("/", 1)[0].strip().lower()
            previous = done.get(str(index))
            if index >= settings.twilio_media_max_count:
                refs.append({"type": item.content_type, "skipped": "too_many"})
                continue
            if previous is not None:
                refs.append(previous["ref"])
                if previous.get("transcript"):
                    text = f"{text}\n{previous['transcript']}".strip()
                continue
            if kind == "image" and media is not None and media.can_store:
                try:
                    data = media.fetch(item.url)  # too large, gone or from a foreign host: told, text kept
                except LumaError as err:
                    refs.append({"type": item.content_type, "stored": False, "reason": err.details.get("reason")})
                    mb = max(1, settings.twilio_media_max_bytes // (1024 * 1024))
                    refusal = refusal or (
                        "image_unusable",
                        LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.image_unusable", text_values={"mb": mb}),
                    )
                    continue
                ref = media.store(
                    principal.tenant_id, message.external_id, index, data, item.content_type, at=message.received_at
                )
                refs.append(ref)
                self.conversations.save_media_work(
                    principal.tenant_id, principal.user_id, message.external_id, index, ref
                )
            elif kind == "audio":
                if media is None or not media.can_transcribe:
                    refs.append({"type": item.content_type, "transcribed": False})
                    refusal = refusal or (
                        "voice_note_unsupported",
                        LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.voice_unsupported"),
                    )
                    continue
                try:
                    data = media.fetch(item.url)
                    check_audio(data, item.content_type, settings)
                    transcript = media.transcribe(data, item.content_type)
                except LumaError as err:
                    refs.append({"type": item.content_type, "transcribed": False})
                    refusal = refusal or ("voice_note_unclear", err)
                    continue
                ref = {"type": item.content_type, "transcribed": True, "chars": len(transcript)}
                refs.append(ref)
                self.conversations.save_media_work(
                    principal.tenant_id, principal.user_id, message.external_id, index, ref, transcript=transcript
                )
                text = f"{text}\n{transcript}".strip()
            else:
                refs.append({"type": item.content_type, "ignored": True})
        return refs, text, refusal
