"""People in the loop: escalation notices, the operators' inbox, takeover, operator replies, the relay.

- :meth:`OperatorService.notify` (the ``escalations`` stream consumer): one inbox notice per escalation
  (written once, whatever the redeliveries), pushed to every open operator connection of its tenant.
- :meth:`OperatorService.handle` (the ``operator_action`` WebSocket routes): ``operatorSync``, ``ack``,
  ``takeOver``, ``operatorMessage``, ``handBack``, ``closeEscalation`` — operators of the session's
  tenant only (another tenant's ids are ``SESSION_NOT_FOUND``, anyone else is ``FORBIDDEN``); each
  change is audited (ids and outcome, never a text).
- :meth:`OperatorService.relay` (the dispatcher's seam): a user's message in a taken-over session
  goes to the operator holding it instead of the bot.

An operator's reply is persisted as an assistant message of the session (``meta.route = "operator"``)
before it is delivered on the user's channel, so the bot sees it in its context after hand-back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from luma.domain.models import DeliveryTarget, Message, Principal, Role, Route, Session, SessionStatus, Turn
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.observability import logger
from luma.operators.escalations import Escalation, EscalationConflictError
from luma.operators.models import (
    Action,
    Address,
    AuditEntry,
    Notice,
    OperatorConnection,
    Takeover,
    escalation_view,
    queue_order,
)
from luma.operators.settings import OperatorSettings
from luma.operators.store import OperatorStore, TakeoverConflictError
from luma.pipeline.frames import error_frame, load_object, status_frame, validation_failed
from luma.store.repos import ConnectionRepository, ConversationRepository

# The route of an operator's message (``Route.OPERATOR`` once the domain names it; ``meta.route`` always).
OPERATOR_ROUTE: Route | None = next((r for r in Route if r.value == "operator"), None)
MAX_FRAME_BYTES = 120 * 1024  # post_to_connection takes 128 KB
SYNC_QUEUE_MAX = 50

_ID = r"^[0-9A-Za-z_-]+$"
_CLIENT_ID = r"^[A-Za-z0-9_.:-]+$"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    client_message_id: str | None = Field(None, alias="clientMessageId", max_length=64, pattern=_CLIENT_ID)


class SessionFrame(_Frame):
    """``takeOver`` and ``handBack``: ``{"sessionId"}``."""

    session_id: str = Field(alias="sessionId", min_length=1, max_length=64, pattern=_ID)


class MessageFrame(SessionFrame):
    """``operatorMessage``: ``{"sessionId", "text"}``."""

    text: str = Field(min_length=1)


class EscalationFrame(_Frame):
    """``ack`` and ``closeEscalation``: ``{"escalationId", "note"?, "sessionId"?}``."""

    escalation_id: str = Field(alias="escalationId", min_length=1, max_length=64, pattern=_ID)
    session_id: str | None = Field(None, alias="sessionId", min_length=1, max_length=64, pattern=_ID)
    note: str | None = None


class SyncFrame(_Frame):
    """``operatorSync``: ``{"after": <noticeId or null>, "limit"?}``."""

    after: str | None = Field(None, min_length=1, max_length=64, pattern=_ID)
    limit: int = Field(25, ge=1, le=50)


_F = TypeVar("_F", bound=_Frame)

ACTIONS: tuple[Action, ...] = ("takeOver", "operatorMessage", "handBack", "closeEscalation", "operatorSync", "ack")


@dataclass(frozen=True)
class ActionRequest:
    """One operator frame as the ``operator_action`` function sees it."""

    connection_id: str
    principal: Principal | None
    body: str | None
    endpoint: str | None = None


def _iso(at: datetime) -> str:
    return at.isoformat()


class OperatorService:
    """The operators' use cases; every dependency is injected (real adapters in :mod:`luma.operators.wiring`)."""

    def __init__(
        self,
        *,
        store: OperatorStore,
        conversations: ConversationRepository,
        connections: ConnectionRepository,
        delivery: Any,
        options: OperatorSettings | None = None,
        max_text_chars: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.connections = connections
        self.delivery = delivery
        self.options = options or OperatorSettings()
        self.max_text_chars = max_text_chars or self.options.operator_max_text_chars
        self.clock = clock

    # -- escalation notices (stream consumer) ----------------------------------------------------
    def notify(self, esc: Escalation) -> Notice:
        """Write the escalation's inbox notice (once) and push it to the tenant's open operator connections."""
        notice, created = self.store.record_notice(esc, at=self.clock())
        sent = self._broadcast(esc.tenant_id, notice_frame(notice, esc))
        logger.info(
            "escalation notice",
            extra={
                "escalation_id": esc.escalation_id,
                "session_id": esc.session_id,
                "urgency": esc.urgency,
                "new_notice": created,
                "delivered": sent,
            },
        )
        return notice

    # -- the relay (dispatcher seam) -------------------------------------------------------------
    def relay(self, turn: Turn) -> None:
        """A user's message in a taken-over session: to the operator holding it (else to every operator)."""
        session = turn.session
        tenant = session.tenant_id
        holder = self.store.holder(tenant, session.session_id)
        address = Address.of(turn.delivery)
        if holder is not None and address is not None and address != holder.address:
            self.store.remember_address(tenant, session.session_id, address)
        frame = user_message_frame(turn, holder)
        endpoint = turn.delivery.endpoint
        sent = 0
        if holder is not None:
            sent = self._broadcast(tenant, frame, endpoint, only=holder.operator_id)
        if sent == 0:
            sent = self._broadcast(tenant, frame, endpoint)
        # The user's client learns its message reached a person (nothing is sent on WhatsApp/SMS).
        self.delivery.send(
            turn.delivery,
            status_frame(
                "relayed",
                session.session_id,
                clientMessageId=turn.client_message_id,
                messageId=turn.message.message_id,
            ),
        )
        logger.info(
            "message relayed to operators",
            extra={"session_id": session.session_id, "held": holder is not None, "delivered": sent},
        )

    # -- WebSocket actions -----------------------------------------------------------------------
    def handle(self, request: ActionRequest) -> None:
        """Run one operator frame; every answer and error goes back to the operator's connection."""
        target = DeliveryTarget(connection_id=request.connection_id, endpoint=request.endpoint)
        action: str | None = None
        client_id: str | None = None
        try:
            if request.principal is None:
                raise LumaError(ErrorCode.AUTH_REQUIRED)
            data = load_object(request.body)
            raw_action = data.get("action")
            action = raw_action if isinstance(raw_action, str) and raw_action in ACTIONS else None
            raw_id = data.get("clientMessageId")
            client_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
            if action is None:
                raise LumaError(ErrorCode.UNKNOWN_ACTION)
            answer = self._run(request.principal, action, data, request.endpoint)
            if client_id and "clientMessageId" not in answer:
                answer["clientMessageId"] = client_id
            self.delivery.send(target, answer)
        except LumaError as err:
            logger.info("operator action refused", extra={"action": action, "code": err.code.value})
            frame = error_frame(err, client_message_id=client_id)
            if action:
                frame["action"] = action
            self.delivery.send(target, frame)

    def _run(self, op: Principal, action: Action, data: dict[str, Any], endpoint: str | None) -> dict[str, Any]:
        if op.role != "operator":
            self._audit(op, action, ErrorCode.FORBIDDEN.value, session_id=_str(data.get("sessionId")))
            raise LumaError(ErrorCode.FORBIDDEN)
        if action == "operatorSync":
            sync = _parse(SyncFrame, data)
            return self.sync(op, after=sync.after, limit=sync.limit)
        if action in ("takeOver", "handBack"):
            frame = _parse(SessionFrame, data)
            run = self.take_over if action == "takeOver" else self.hand_back
            return self._audited(op, action, lambda: run(op, frame.session_id, endpoint), session_id=frame.session_id)
        if action == "operatorMessage":
            text = data.get("text")
            if isinstance(text, str) and len(text) > self.max_text_chars:
                raise LumaError(ErrorCode.TEXT_TOO_LONG, maxChars=self.max_text_chars)
            msg = _parse(MessageFrame, data)
            return self._audited(
                op,
                action,
                lambda: self.send_message(
                    op, msg.session_id, msg.text, endpoint, client_message_id=msg.client_message_id
                ),
                session_id=msg.session_id,
            )
        esc = _parse(EscalationFrame, data)
        if action == "ack":
            return self._audited(
                op, action, lambda: self.ack(op, esc.escalation_id, endpoint), escalation_id=esc.escalation_id
            )
        note = (esc.note or "")[: self.options.operator_max_note_chars] or None
        return self._audited(
            op,
            action,
            lambda: self.close(op, esc.escalation_id, note, endpoint, session_id=esc.session_id),
            escalation_id=esc.escalation_id,
        )

    def _audited(
        self,
        op: Principal,
        action: Action,
        run: Callable[[], dict[str, Any]],
        *,
        session_id: str | None = None,
        escalation_id: str | None = None,
    ) -> dict[str, Any]:
        try:
            answer = run()
        except LumaError as err:
            self._audit(op, action, err.code.value, session_id=session_id, escalation_id=escalation_id)
            raise
        details: dict[str, Any] = {k: answer[k] for k in ("messageId", "delivered", "status") if k in answer}
        self._audit(
            op,
            action,
            "ok",
            session_id=session_id or answer.get("sessionId"),
            escalation_id=escalation_id,
            details=details,
        )
        return answer

    def _audit(
        self,
        op: Principal,
        action: Action,
        outcome: str,
        *,
        session_id: str | None = None,
        escalation_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        try:
            self.store.audit(
                AuditEntry(
                    tenant_id=op.tenant_id,
                    operator_id=op.user_id,
                    action=action,
                    outcome=outcome,
                    session_id=session_id,
                    escalation_id=escalation_id,
                    at=self.clock(),
                    details=details or {},
                )
            )
        except Exception:
            logger.exception("operator audit not written", extra={"action": action, "outcome": outcome})
        logger.info(
            "operator action",
            extra={"action": action, "outcome": outcome, "session_id": session_id, "escalation_id": escalation_id},
        )

    # -- the inbox -------------------------------------------------------------------------------
    def sync(self, op: Principal, *, after: str | None, limit: int = 25) -> dict[str, Any]:
        """Notices after the cursor (a page) and the open queue (urgent first, then oldest)."""
        tenant = op.tenant_id
        page = self.store.notices(tenant, after=after, limit=limit)
        queue = queue_order(self.store.escalations.list_open(tenant))
        known = {e.escalation_id: e for e in queue}
        notices = []
        for notice in page.items:
            esc = known.get(notice.escalation_id) or self.store.escalations.find(
                tenant, notice.escalation_id, session_id=notice.session_id
            )
            if esc is not None:  # an escalation erased with its session leaves nothing to show
                notices.append(notice_frame(notice, esc))
        frame: dict[str, Any] = {
            "type": "operator_sync",
            "operatorId": op.user_id,
            "notices": notices,
            "next": page.next,
            "cursor": page.items[-1].notice_id if page.items else after,
            "escalations": [escalation_view(e) for e in queue[:SYNC_QUEUE_MAX]],
            "queueSize": len(queue),
            "firstResponseS": self.options.first_response_s(tenant),
            "serverTime": _iso(self.clock()),
        }
        while len(json.dumps(frame, ensure_ascii=False).encode()) > MAX_FRAME_BYTES and frame["escalations"]:
            frame["escalations"] = frame["escalations"][: len(frame["escalations"]) // 2]
        return frame

    def ack(self, op: Principal, escalation_id: str, endpoint: str | None) -> dict[str, Any]:
        notice = self.store.notice_for(op.tenant_id, escalation_id)
        if notice is None:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        notice = self.store.ack(notice, op.user_id, at=self.clock())
        update = {
            "type": "escalation_update",
            "escalationId": escalation_id,
            "sessionId": notice.session_id,
            "acknowledged": True,
            "ackedBy": notice.acked_by,
        }
        self._broadcast(op.tenant_id, update, endpoint)
        return status_frame("acknowledged", notice.session_id, escalationId=escalation_id, ackedBy=notice.acked_by)

    def close(
        self,
        op: Principal,
        escalation_id: str,
        note: str | None,
        endpoint: str | None,
        *,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        tenant = op.tenant_id
        esc = self.store.escalations.find(tenant, escalation_id, session_id=session_id)
        if esc is None or esc.tenant_id != tenant:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        for _ in range(3):
            if esc.status == "closed":
                break
            try:
                esc = self.store.escalations.set_status(
                    esc, "closed", closedBy=op.user_id, closedAt=_iso(self.clock()), note=note
                )
            except EscalationConflictError:
                fresh = self.store.escalations.find(tenant, escalation_id, session_id=esc.session_id)
                if fresh is None:
                    raise LumaError(ErrorCode.SESSION_NOT_FOUND) from None
                esc = fresh
        notice = self.store.notice_for(tenant, escalation_id)
        if notice is not None and notice.acked_at is None:
            self.store.ack(notice, op.user_id, at=self.clock())
        self._broadcast(tenant, escalation_update(esc), endpoint)
        return status_frame("escalation_closed", esc.session_id, escalationId=escalation_id)

    # -- takeover --------------------------------------------------------------------------------
    def _session(self, op: Principal, session_id: str) -> Session:
        """The session of the operator's tenant (another tenant's id is indistinguishable from a missing one)."""
        session = self.conversations.get_session(op.tenant_id, session_id)
        if session is None or session.tenant_id != op.tenant_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        return session

    def take_over(self, op: Principal, session_id: str, endpoint: str | None) -> dict[str, Any]:
        """Pause the bot for a session and hold it (conditional on its version; retried on a race)."""
        takeover: Takeover | None = None
        for _ in range(3):
            session = self._session(op, session_id)
            if session.status is SessionStatus.TAKEN_OVER:
                holder = self.store.holder(op.tenant_id, session_id)
                if holder is not None and holder.operator_id != op.user_id:
                    raise LumaError(ErrorCode.FORBIDDEN, reason="held_by_another_operator", heldBy=holder.operator_id)
                return status_frame("taken_over", session_id, operatorId=op.user_id, escalationIds=[])
            if session.status is not SessionStatus.ACTIVE:
                raise LumaError(ErrorCode.BAD_REQUEST, reason="session_not_active", status=session.status.value)
            try:
                takeover = self.store.take_over(session, op.user_id, at=self.clock())
                break
            except TakeoverConflictError:
                continue
        if takeover is None:
            raise LumaError(ErrorCode.INTERNAL)
        taken = self._mark_escalations(op, session)
        self._tell_user(session, takeover, "operator_joined", "operator.joined", endpoint)
        self._broadcast(
            op.tenant_id,
            {"type": "session_update", "sessionId": session_id, "status": "taken_over", "operatorId": op.user_id},
            endpoint,
        )
        for esc in taken:
            self._broadcast(op.tenant_id, escalation_update(esc), endpoint)
        return status_frame(
            "taken_over", session_id, operatorId=op.user_id, escalationIds=[e.escalation_id for e in taken]
        )

    def _mark_escalations(self, op: Principal, session: Session) -> list[Escalation]:
        """The session's open escalations are now someone's (the first response)."""
        taken = []
        for esc in self.store.escalations.list_for_session(op.tenant_id, session.session_id):
            if esc.status != "open":
                continue
            try:
                taken.append(
                    self.store.escalations.set_status(esc, "taken", takenBy=op.user_id, takenAt=_iso(self.clock()))
                )
            except EscalationConflictError:
                continue
        return taken

    def hand_back(self, op: Principal, session_id: str, endpoint: str | None) -> dict[str, Any]:
        """Resume the bot (only the operator holding the session may)."""
        for _ in range(3):
            session = self._session(op, session_id)
            if session.status is SessionStatus.ACTIVE:
                return status_frame("handed_back", session_id, operatorId=op.user_id)
            if session.status is not SessionStatus.TAKEN_OVER:
                raise LumaError(ErrorCode.BAD_REQUEST, reason="session_not_taken_over", status=session.status.value)
            holder = self.store.holder(op.tenant_id, session_id)
            if holder is not None and holder.operator_id != op.user_id:
                raise LumaError(ErrorCode.FORBIDDEN, reason="held_by_another_operator", heldBy=holder.operator_id)
            try:
                self.store.hand_back(session, op.user_id)
            except TakeoverConflictError:
                continue
            self._tell_user(session, holder, "operator_left", "operator.left", endpoint)
            self._broadcast(
                op.tenant_id,
                {"type": "session_update", "sessionId": session_id, "status": "active", "operatorId": op.user_id},
                endpoint,
            )
            return status_frame("handed_back", session_id, operatorId=op.user_id)
        raise LumaError(ErrorCode.INTERNAL)

    # -- operator replies ------------------------------------------------------------------------
    def send_message(
        self,
        op: Principal,
        session_id: str,
        text: str,
        endpoint: str | None,
        *,
        client_message_id: str | None = None,
    ) -> dict[str, Any]:
        """Persist the operator's reply as an assistant message, then deliver it on the user's channel."""
        session = self._session(op, session_id)
        holder = self.store.holder(op.tenant_id, session_id)
        if session.status is not SessionStatus.TAKEN_OVER or holder is None:
            raise LumaError(ErrorCode.FORBIDDEN, reason="session_not_taken_over")
        if holder.operator_id != op.user_id:
            raise LumaError(ErrorCode.FORBIDDEN, reason="held_by_another_operator", heldBy=holder.operator_id)
        if client_message_id and not self.conversations.claim_idempotency(
            op.tenant_id, op.user_id, f"op:{client_message_id}"
        ):
            return status_frame("duplicate", session_id, clientMessageId=client_message_id)
        message = Message(
            tenant_id=session.tenant_id,
            session_id=session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=text,
            created_at=self.clock(),
            route=OPERATOR_ROUTE,
            meta={"route": "operator", "operatorId": op.user_id},
        )
        self.conversations.save_reply(session, message)
        delivered = self._deliver_to_user(session, holder, operator_message_frame(message, session), endpoint)
        return status_frame(
            "operator_message",
            session_id,
            messageId=message.message_id,
            createdAt=_iso(message.created_at),
            delivered=delivered,
            clientMessageId=client_message_id,
        )

    def _user_target(self, session: Session, holder: Takeover | None, endpoint: str | None) -> DeliveryTarget | None:
        """Where the user is reached now: their newest connection, or their WhatsApp/SMS address."""
        if session.channel == "websocket":
            conn = self.connections.latest(session.tenant_id, session.user_id)
            return DeliveryTarget(connection_id=conn.connection_id, endpoint=endpoint) if conn else None
        if session.channel in ("whatsapp", "sms"):
            address = (holder.address if holder else None) or self.store.last_address(
                session.tenant_id, session.session_id
            )
            return address.target() if address is not None else None
        return None

    def _deliver_to_user(
        self, session: Session, holder: Takeover | None, frame: dict[str, Any], endpoint: str | None
    ) -> bool:
        target = self._user_target(session, holder, endpoint)
        if target is None:
            logger.info("user not reachable now", extra={"session_id": session.session_id, "channel": session.channel})
            return False
        return bool(self.delivery.send(target, frame))

    def _tell_user(
        self, session: Session, holder: Takeover | None, status: str, text_key: str, endpoint: str | None
    ) -> None:
        """A status frame to the user (with the catalogue's text, when it has one, for WhatsApp/SMS)."""
        from luma.texts import lookup

        message = lookup(text_key, session.language, assistant=session.assistant)
        frame = status_frame(status, session.session_id, message=message, language=session.language)
        try:
            self._deliver_to_user(session, holder, frame, endpoint)
        except Exception:  # telling is a courtesy: the takeover stands
            logger.warning("user not told about the operator", extra={"status": status}, exc_info=True)

    # -- fan-out ---------------------------------------------------------------------------------
    def _broadcast(
        self, tenant_id: str, frame: dict[str, Any], endpoint: str | None = None, *, only: str | None = None
    ) -> int:
        """Send ``frame`` to the tenant's operator connections (``only``: one operator's); returns how many got it."""
        sent = 0
        for conn in self._operator_connections(tenant_id, only):
            try:
                ok = self.delivery.send(conn.target(conn.endpoint or endpoint), frame)
            except Exception:
                logger.warning("operator frame not delivered", extra={"frame": frame.get("type")}, exc_info=True)
                continue
            if ok:
                sent += 1
                continue
            try:
                self.store.drop_connection(tenant_id, conn.connection_id)
            except Exception:  # a stale item only costs a failed send later; its TTL removes it
                logger.warning("gone operator connection not forgotten", exc_info=True)
        return sent

    def _operator_connections(self, tenant_id: str, only: str | None) -> Iterable[OperatorConnection]:
        return [c for c in self.store.connections(tenant_id) if only is None or c.user_id == only]


# -- frames -----------------------------------------------------------------------------------------
def notice_frame(notice: Notice, esc: Escalation) -> dict[str, Any]:
    """``escalation``: a notice as operators receive it (pushed, and in ``operator_sync``)."""
    return {
        "type": "escalation",
        "noticeId": notice.notice_id,
        **escalation_view(esc),
        "notifiedAt": _iso(notice.created_at),
        "acknowledged": notice.acked_at is not None,
        "ackedBy": notice.acked_by,
    }


def escalation_update(esc: Escalation) -> dict[str, Any]:
    """``escalation_update``: an escalation's new state, to every operator of the tenant."""
    return {"type": "escalation_update", **escalation_view(esc)}


def user_message_frame(turn: Turn, holder: Takeover | None) -> dict[str, Any]:
    """A user's message relayed to operators (``route: "user"``)."""
    message, session = turn.message, turn.session
    return {
        "type": "message",
        "route": "user",
        "role": "user",
        "sessionId": session.session_id,
        "messageId": message.message_id,
        "clientMessageId": turn.client_message_id or message.client_message_id,
        "userId": session.user_id,
        "channel": session.channel,
        "text": message.text,
        "language": session.language,
        "createdAt": _iso(message.created_at),
        "heldBy": holder.operator_id if holder else None,
    }


def operator_message_frame(message: Message, session: Session) -> dict[str, Any]:
    """An operator's reply as the user receives it (a ``message`` frame, ``route: "operator"``)."""
    return {
        "type": "message",
        "sessionId": message.session_id,
        "messageId": message.message_id,
        "replyTo": None,
        "role": message.role.value,
        "text": message.text,
        "intent": None,
        "confidence": None,
        "route": "operator",
        "createdAt": _iso(message.created_at),
        "assistant": session.assistant,
        "language": session.language,
    }


def _parse(model: type[_F], data: dict[str, Any]) -> _F:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
