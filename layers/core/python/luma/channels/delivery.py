"""Delivery by channel: WebSocket frames as they are, WhatsApp/SMS through Twilio's REST API.

Every producer of replies (classify, the fast path, the agent) calls ``Delivery.send(target, frame)``
with the same frames (docs/protocol.md); :class:`ChannelDelivery` dispatches on ``target.channel``.
For Twilio, :func:`frame_text` says what a frame means to a person reading WhatsApp or SMS:

- ``message`` → its ``text``; ``error`` → its user-safe ``message``;
- ``status`` frames carrying a ``message`` (``agent_unavailable``) → that text;
- ``approval_request`` → its ``prompt``;
- ``token`` (the final ``message`` carries the full text), ``heartbeat`` and other ``status`` frames →
  nothing (``send`` returns True: there is nothing to deliver).

:func:`render` adds the options, in the frame's ``language``:

- a ``message`` with ``choices`` on WhatsApp → quick-reply buttons for 1–3 choices, a list picker for
  4–10 (titles cut to WhatsApp's limits with an ellipsis, numbered when two would read the same);
  more than 10, or ids Twilio could not post back, → numbered text as on SMS. On SMS → the text,
  the numbered options ("1. Riverside tower") and ``choices.reply_with_number``. A number sent back
  is mapped to the option by the core (the session keeps the menu's ids in order).
- an ``approval_request`` on WhatsApp → Approve/Decline buttons (ids ``approval:<approvalId>:yes`` /
  ``:no``); on SMS → the prompt and ``approval.sms_hint`` (reply YES or NO).
- a body over 1,024 characters (an interactive message's limit) → the leading parts as text, the
  last one with the buttons.

**A failed send never loses the reply and never duplicates a part.** Replies are persisted before
they are delivered. When Twilio fails retryably (429, 5xx, network) the parts not yet sent go into a
*redelivery event*: an asynchronous invoke of the fast-path function (``{"kind":
"twilio_redelivery"}``), which Lambda queues durably. That handler sends them; if it fails before
sending anything it raises, so Lambda's async retries (with backoff) and then the DLQ take over — a
retry of an event that sent nothing duplicates nothing; after a partial send it enqueues what is
left as a new event instead (``twilio_redelivery_max`` of those). A refusal Twilio won't change its
mind about (an invalid number, 4xx) is logged and counted, and the reply stays in the history.
Redeliveries are text: an interactive message that could not go out is redelivered as its numbered
form; one Twilio refuses (an unknown template, invalid variables) is sent as that text at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from luma import metrics_names as mn
from luma import texts
from luma.channels.twilio import (
    BUTTON_TITLE_MAX,
    CONTENT_BODY_MAX,
    LIST_BUTTON_MAX,
    LIST_DESCRIPTION_MAX,
    LIST_ITEM_MAX,
    LIST_PICKER_MAX,
    QUICK_REPLY_MAX,
    Interactive,
    Option,
    TwilioSender,
    TwilioSendError,
    split_message,
    truncate,
)
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import DeliveryTarget
from luma.invoke import Invoker
from luma.observability import emit, logger

# An id the webhook can hand back as a choice (luma.domain.models.ChannelMessage.choice).
CHOICE_ID_MAX = 128
_APPROVAL_ID = re.compile(r"[A-Za-z0-9]{1,64}")  # as the approve action takes it


def frame_text(frame: dict[str, Any]) -> str | None:
    """The text a WhatsApp/SMS user should read for ``frame``, or None when it means nothing to them."""
    kind = frame.get("type")
    key = {"message": "text", "error": "message", "status": "message", "approval_request": "prompt"}.get(str(kind))
    if key is None:
        return None
    value = frame.get(key)
    return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class TwilioReply:
    """What a frame becomes on WhatsApp/SMS: text parts, then at most one interactive message.

    ``fallback`` is that interactive message as text (body and numbered options or the YES/NO hint):
    what goes out instead when it cannot.
    """

    parts: list[str]
    interactive: Interactive | None = None
    fallback: list[str] = field(default_factory=list)


def render(frame: dict[str, Any], channel: str) -> TwilioReply | None:
    """What ``frame`` becomes on ``channel`` (``whatsapp`` or ``sms``); None when there is nothing to send."""
    text = frame_text(frame)
    if text is None:
        return None
    language = frame.get("language")
    language = language if isinstance(language, str) and language else "en"
    if frame.get("type") == "approval_request":
        return _approval(frame, text, channel, language)
    choices = _choices(frame) if frame.get("type") == "message" else []
    if not choices:
        return TwilioReply(split_message(text))
    numbered = numbered_options(choices, language)
    interactive = channel == "whatsapp" and _can_be_interactive(choices)
    if not interactive:
        return TwilioReply(split_message(f"{text.strip()}\n\n{numbered}"))
    if len(choices) <= QUICK_REPLY_MAX:
        titles = _unique_titles([label for _, label in choices], BUTTON_TITLE_MAX)
        options = tuple(Option(ident, title) for (ident, _), title in zip(choices, titles, strict=True))
        return _with_options(text, "quick_reply", options, numbered)
    items = _unique_titles([label for _, label in choices], LIST_ITEM_MAX)
    options = tuple(
        Option(ident, item, truncate(label, LIST_DESCRIPTION_MAX))
        for (ident, label), item in zip(choices, items, strict=True)
    )
    button = truncate(texts.text("choices.list_button", language), LIST_BUTTON_MAX)
    return _with_options(text, "list_picker", options, numbered, button=button)


def numbered_options(choices: Sequence[tuple[str, str]], language: str) -> str:
    """``1. Riverside tower`` per option, one a line, then how to answer (in ``language``)."""
    lines = [f"{i}. {' '.join(label.split())}" for i, (_, label) in enumerate(choices, 1)]
    return "\n".join(lines) + "\n\n" + texts.text("choices.reply_with_number", language)


def _choices(frame: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The frame's ``(id, label)`` options, in order (an option without a label shows its id)."""
    found: list[tuple[str, str]] = []
    raw = frame.get("choices")
    for choice in raw if isinstance(raw, list) else []:
        ident = choice.get("id") if isinstance(choice, Mapping) else None
        if isinstance(ident, str) and ident:
            label = choice.get("label")
            found.append((ident, label if isinstance(label, str) and label.strip() else ident))
    return found


def _can_be_interactive(choices: Sequence[tuple[str, str]]) -> bool:
    """Buttons or a list fit: at most 10 options, with distinct ids the webhook can hand back."""
    ids = [ident for ident, _ in choices]
    return len(ids) <= LIST_PICKER_MAX and len(set(ids)) == len(ids) and all(len(i) <= CHOICE_ID_MAX for i in ids)


def _unique_titles(labels: Sequence[str], limit: int) -> list[str]:
    """Labels cut to ``limit``; numbered ("2. …") when two would read the same once cut."""
    titles = [truncate(label, limit) for label in labels]
    if len({t.casefold() for t in titles}) == len(titles):
        return titles
    return [truncate(f"{i}. {label}", limit) for i, label in enumerate(labels, 1)]


def _with_options(
    text: str, kind: Literal["quick_reply", "list_picker"], options: tuple[Option, ...], tail: str, button: str = ""
) -> TwilioReply:
    """Text parts, then the last part (at most 1,024 characters) as the body of the interactive message."""
    parts = split_message(text)
    parts[-1:] = split_message(parts[-1], CONTENT_BODY_MAX)
    body = parts.pop()
    return TwilioReply(parts, Interactive(kind, body, options, button), split_message(f"{body}\n\n{tail}"))


def _approval(frame: Mapping[str, Any], prompt: str, channel: str, language: str) -> TwilioReply:
    hint = texts.text("approval.sms_hint", language)
    approval_id = frame.get("approvalId")
    if channel != "whatsapp" or not isinstance(approval_id, str) or not _APPROVAL_ID.fullmatch(approval_id):
        return TwilioReply(split_message(f"{prompt.strip()}\n\n{hint}"))
    options = (
        Option(f"approval:{approval_id}:yes", truncate(texts.text("approval.approve", language), BUTTON_TITLE_MAX)),
        Option(f"approval:{approval_id}:no", truncate(texts.text("approval.decline", language), BUTTON_TITLE_MAX)),
    )
    return _with_options(prompt, "quick_reply", options, hint)


class TwilioRedelivery(BaseModel):
    """The parts of a reply still to send (the payload of a redelivery event)."""

    kind: Literal["twilio_redelivery"] = "twilio_redelivery"
    target: DeliveryTarget
    parts: list[str] = Field(min_length=1)
    attempt: int = Field(1, ge=1)
    ref: str | None = None  # the reply's messageId, for the logs


class TwilioDelivery:
    """Sends frames to WhatsApp/SMS addresses with the REST API (:class:`TwilioSender`).

    Interactive messages use the generic templates of ``LUMA_TWILIO_CONTENT_SIDS`` when it names
    them, else the ones the sender finds or creates.
    """

    def __init__(
        self,
        settings: Settings,
        sender: Callable[[], TwilioSender | None],
        invoker: Invoker,
    ) -> None:
        self.settings = settings
        self._sender = sender
        self.invoker = invoker
        self.content_sids: Mapping[str, str] = getattr(settings, "twilio_content_sids", None) or {}

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        """Send what ``frame`` says; True when sent or queued for redelivery (or nothing to send)."""
        reply = render(frame, target.channel)
        if reply is None or not (reply.parts or reply.interactive):
            return True
        ref = frame.get("messageId")
        ref = ref if isinstance(ref, str) else None
        sender = self._configured(target, ref)
        if sender is None:
            return False
        interactive = reply.interactive
        if reply.parts:
            try:
                sender.send_parts(target.to_address or "", reply.parts, from_=target.from_address)
            except TwilioSendError as exc:
                sent = len(exc.details.get("sent_sids") or [])
                rest = [*reply.parts, *(reply.fallback if interactive else [])][sent:]
                return self._failed(target, exc, rest, attempt=0, sent=sent, ref=ref)
        if interactive is None:
            return True
        try:
            sender.send_interactive(
                target.to_address or "", interactive, from_=target.from_address, configured=self.content_sids
            )
            return True
        except TwilioSendError as exc:
            if exc.retryable:
                return self._failed(target, exc, reply.fallback, attempt=0, sent=len(reply.parts), ref=ref)
            emit(mn.TWILIO_SEND_FAILED, 1)
            logger.warning(
                "twilio refused the interactive message; sending it as text",
                extra={"ref": ref, "status": exc.status, "twilio_code": exc.twilio_code, "kind": interactive.kind},
            )
            return self._send_text(sender, target, reply.fallback, attempt=0, ref=ref)

    def redeliver(self, event: dict[str, Any]) -> None:
        """Handle a redelivery event (fast-path function). Raises when nothing could be sent (Lambda retries)."""
        job = TwilioRedelivery.model_validate(event)
        sender = self._configured(job.target, job.ref)
        if sender is not None:
            self._send_text(sender, job.target, job.parts, attempt=job.attempt, ref=job.ref)

    def _configured(self, target: DeliveryTarget, ref: str | None) -> TwilioSender | None:
        sender = self._sender()
        if sender is None or not target.to_address:
            logger.error("twilio not configured: reply not sent", extra={"ref": ref, "channel": target.channel})
            emit(mn.TWILIO_REPLY_DROPPED, 1)
            return None
        return sender

    def _send_text(
        self, sender: TwilioSender, target: DeliveryTarget, parts: list[str], *, attempt: int, ref: str | None
    ) -> bool:
        try:
            sender.send_parts(target.to_address or "", parts, from_=target.from_address)
            return True
        except TwilioSendError as exc:
            sent = len(exc.details.get("sent_sids") or [])
            return self._failed(target, exc, parts[sent:], attempt=attempt, sent=sent, ref=ref)

    def _failed(
        self, target: DeliveryTarget, exc: TwilioSendError, left: list[str], *, attempt: int, sent: int, ref: str | None
    ) -> bool:
        """After a failed send: queue ``left`` for redelivery, or drop it (counted and logged)."""
        emit(mn.TWILIO_SEND_FAILED, 1)
        info = {
            "ref": ref,
            "status": exc.status,
            "twilio_code": exc.twilio_code,
            "retryable": exc.retryable,
            "parts_sent": sent,
            "parts_left": len(left),
            "attempt": attempt,
        }
        if not exc.retryable:
            logger.error("twilio refused the reply; it stays in the history", extra=info)
            emit(mn.TWILIO_REPLY_DROPPED, 1)
            return False
        if attempt > 0 and sent == 0:
            # A redelivery that sent nothing: Lambda's async retry repeats exactly this event.
            logger.warning("twilio redelivery failed; Lambda will retry it", extra=info)
            raise exc
        if attempt >= max(1, self.settings.twilio_redelivery_max):
            logger.error("twilio redeliveries exhausted; the rest of the reply is not sent", extra=info)
            emit(mn.TWILIO_REPLY_DROPPED, 1)
            return False
        if not left:
            return True
        job = TwilioRedelivery(target=target, parts=left, attempt=attempt + 1, ref=ref)
        try:
            self.invoker.invoke_async(self.settings.fast_path_function, job.model_dump(mode="json"))
        except Exception:
            logger.exception("redelivery could not be queued; the reply stays in the history", extra=info)
            emit(mn.TWILIO_REPLY_DROPPED, 1)
            return False
        logger.warning("twilio send failed; redelivery queued", extra=info)
        return True


class ChannelDelivery:
    """The one :class:`Delivery` the pipeline uses: dispatches on ``target.channel``."""

    def __init__(self, websocket: Delivery, twilio: Delivery | None = None) -> None:
        self.websocket = websocket
        self.twilio = twilio

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        if target.channel == "websocket":
            return self.websocket.send(target, frame)
        if self.twilio is None:
            logger.error("no Twilio delivery configured", extra={"channel": target.channel})
            return False
        return self.twilio.send(target, frame)
