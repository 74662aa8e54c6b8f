"""Delivery by channel: WebSocket frames as they are, WhatsApp/SMS as text through Twilio's REST API.

Every producer of replies (classify, the fast path, the agent) calls ``Delivery.send(target, frame)``
with the same frames (docs/protocol.md); :class:`ChannelDelivery` dispatches on ``target.channel``.
For Twilio, :func:`frame_text` says what a frame means to a person reading WhatsApp or SMS:

- ``message`` → its ``text``; ``error`` → its user-safe ``message``;
- ``status`` frames carrying a ``message`` (``agent_unavailable``) → that text;
- ``approval_request`` → its ``prompt`` (answering it from WhatsApp is not supported yet);
- ``token`` (the final ``message`` carries the full text), ``heartbeat`` and other ``status`` frames →
  nothing (``send`` returns True: there is nothing to deliver).

**A failed send never loses the reply and never duplicates a part.** Replies are persisted before
they are delivered. When Twilio fails retryably (429, 5xx, network) the parts not yet sent go into a
*redelivery event*: an asynchronous invoke of the fast-path function (``{"kind":
"twilio_redelivery"}``), which Lambda queues durably. That handler sends them; if it fails before
sending anything it raises, so Lambda's async retries (with backoff) and then the DLQ take over — a
retry of an event that sent nothing duplicates nothing; after a partial send it enqueues what is
left as a new event instead (``twilio_redelivery_max`` of those). A refusal Twilio won't change its
mind about (an invalid number, 4xx) is logged and counted, and the reply stays in the history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from luma import metrics_names as mn
from luma.channels.twilio import TwilioSender, TwilioSendError, split_message
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import DeliveryTarget
from luma.invoke import Invoker
from luma.observability import emit, logger


def frame_text(frame: dict[str, Any]) -> str | None:
    """The text a WhatsApp/SMS user should read for ``frame``, or None when it means nothing to them."""
    kind = frame.get("type")
    key = {"message": "text", "error": "message", "status": "message", "approval_request": "prompt"}.get(str(kind))
    if key is None:
        return None
    value = frame.get(key)
    return value if isinstance(value, str) and value.strip() else None


class TwilioRedelivery(BaseModel):
    """The parts of a reply still to send (the payload of a redelivery event)."""

    kind: Literal["twilio_redelivery"] = "twilio_redelivery"
    target: DeliveryTarget
    parts: list[str] = Field(min_length=1)
    attempt: int = Field(1, ge=1)
    ref: str | None = None  # the reply's messageId, for the logs


class TwilioDelivery:
    """Sends frames to WhatsApp/SMS addresses with the REST API (:class:`TwilioSender`)."""

    def __init__(
        self,
        settings: Settings,
        sender: Callable[[], TwilioSender | None],
        invoker: Invoker,
    ) -> None:
        self.settings = settings
        self._sender = sender
        self.invoker = invoker

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        """Send what ``frame`` says as text; True when sent or queued for redelivery (or nothing to send)."""
        text = frame_text(frame)
        if text is None:
            return True
        parts = split_message(text)
        if not parts:
            return True
        ref = frame.get("messageId")
        return self._send(target, parts, attempt=0, ref=ref if isinstance(ref, str) else None)

    def redeliver(self, event: dict[str, Any]) -> None:
        """Handle a redelivery event (fast-path function). Raises when nothing could be sent (Lambda retries)."""
        job = TwilioRedelivery.model_validate(event)
        self._send(job.target, job.parts, attempt=job.attempt, ref=job.ref)

    def _send(self, target: DeliveryTarget, parts: list[str], *, attempt: int, ref: str | None) -> bool:
        sender = self._sender()
        if sender is None or not target.to_address:
            logger.error("twilio not configured: reply not sent", extra={"ref": ref, "channel": target.channel})
            emit(mn.TWILIO_REPLY_DROPPED, 1)
            return False
        try:
            sender.send_parts(target.to_address, parts, from_=target.from_address)
            return True
        except TwilioSendError as exc:
            sent = len(exc.details.get("sent_sids") or [])
            left = parts[sent:]
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
                raise
            if attempt >= max(1, self.settings.twilio_redelivery_max):
                logger.error("twilio redeliveries exhausted; the rest of the reply is not sent", extra=info)
                emit(mn.TWILIO_REPLY_DROPPED, 1)
                return False
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
