"""The turn recorder: one transaction per inbound message, retried until it is consistent.

The transaction carries the message, its routing decision, its idempotency record, the session
(created, or its activity updated), the expired session's close, the address's session pointer
(WhatsApp/SMS) and the rate-limit bucket updates. What can go wrong is handled here:

* the idempotency record exists → a duplicate: nothing written, the earlier ids returned;
* a bucket was not in the state guessed → the buckets are settled on their own (refusing if one is
  empty) and the message is written without them;
* the session changed between the read and the write (closed, locked, the address moved on) → the
  session is resolved again and the decision remade.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from luma.domain.models import Message, Principal, Role, RoutingDecision, Session
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.limits import InlineCheck, Limiter, RateDecision
from luma.pipeline.intake import Inbound
from luma.pipeline.resolve import ResolvedSession
from luma.store.repos import (
    ChannelPointer,
    ConversationRepository,
    DuplicateMessageError,
    ExtraUpdateFailedError,
    IdempotencyRecord,
    InboundRecord,
    SessionConflictError,
)

Decide = Callable[[Session, Message], RoutingDecision]
Refuse = Callable[[RateDecision, RoutingDecision], tuple[str, LumaError] | None]


@dataclass(frozen=True)
class Recorded:
    """What was written: the session (as stored now), the message and its decision, and a refusal if any."""

    resolved: ResolvedSession
    session: Session
    message: Message
    decision: RoutingDecision
    refusal: tuple[str, LumaError] | None


class DuplicateTurnError(Exception):
    """The message was recorded before (same ``clientMessageId`` / ``MessageSid``)."""

    def __init__(self, record: IdempotencyRecord | None) -> None:
        super().__init__("duplicate message")
        self.record = record


class TurnRecorder:
    """Persists an inbound message before anything else happens to it."""

    def __init__(self, conversations: ConversationRepository, limiter: Limiter, *, twilio_ttl_s: int) -> None:
        self.conversations = conversations
        self.limiter = limiter
        self.twilio_ttl_s = twilio_ttl_s

    def record(
        self,
        principal: Principal,
        inbound: Inbound,
        resolved: ResolvedSession,
        *,
        now: datetime,
        language: Callable[[ResolvedSession], str],
        decide: Decide,
        refuse: Refuse,
        rate: RateDecision,
        inline: InlineCheck | None,
        resolve_again: Callable[[], ResolvedSession],
    ) -> Recorded:
        """Write the message (up to three tries); raises :class:`DuplicateTurnError` for a message seen before."""
        for attempt in range(3):
            session = resolved.session.model_copy(update={"language": language(resolved)})
            message = Message(
                tenant_id=session.tenant_id,
                session_id=session.session_id,
                message_id=new_id(),
                role=Role.USER,
                text=inbound.text,
                created_at=now,
                client_message_id=inbound.client_message_id,
                meta={**inbound.meta, **({"choice": inbound.choice} if inbound.choice else {})},
            )
            decision = decide(session, message)
            refusal = refuse(rate, decision)
            if refusal is None:
                message = message.model_copy(update={"intent": decision.intent, "route": decision.route})
            else:
                # Stored for audit with what the classifier said, but marked as not processed.
                decision = decision.model_copy(update={"reason": refusal[0]})
                message = message.model_copy(
                    update={"intent": decision.intent, "meta": {**message.meta, "refused": refusal[0]}}
                )
            # A refused WebSocket message is not "processed": a retry with the same id must go through.
            # A Twilio retry is a transport retry: the person must not be told twice.
            idempotent = refusal is None or inbound.via_twilio
            try:
                self.conversations.record_inbound(
                    InboundRecord(
                        session=session,
                        message=message,
                        decision=decision,
                        new_session=resolved.new,
                        client_message_id=inbound.client_message_id if idempotent else None,
                        idempotency_ttl_s=self.twilio_ttl_s if inbound.via_twilio else None,
                        close_session=resolved.closed,
                        extra_updates=inline.updates if inline is not None else [],
                        channel_pointer=_pointer(inbound, resolved, session),
                    )
                )
            except DuplicateMessageError as dup:
                raise DuplicateTurnError(dup.record) from None
            except ExtraUpdateFailedError:
                # The bucket was not in the state guessed: settle it on its own (refusing if empty),
                # then write the message without the bucket updates.
                inline, rate = None, self.limiter.check(principal, inbound.source_ip)
                continue
            except SessionConflictError:
                if attempt == 2:
                    raise LumaError(ErrorCode.INTERNAL) from None
                resolved = resolve_again()
                continue
            if inline is not None:
                self.limiter.confirm(inline)
            # The stored session: an existing one's version moved with this write.
            stored = session if resolved.new else session.model_copy(update={"version": session.version + 1})
            return Recorded(resolved, stored, message, decision, refusal)
        raise LumaError(ErrorCode.INTERNAL)


def _pointer(inbound: Inbound, resolved: ResolvedSession, session: Session) -> ChannelPointer | None:
    """A WhatsApp/SMS message that starts a session moves its address's pointer in the same transaction."""
    if not resolved.new or inbound.phone is None:
        return None
    return ChannelPointer(
        tenant_id=session.tenant_id,
        phone=inbound.phone,
        channel=inbound.channel,
        session_id=session.session_id,
        user_id=session.user_id,
        previous=resolved.previous_id,
    )
