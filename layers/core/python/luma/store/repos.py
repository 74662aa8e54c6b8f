"""Repository ports and their DynamoDB (PynamoDB) adapters.

The pipeline talks to the small protocols below; domain objects go in and out, rows stay here.
The hot path of a turn is key-addressed: one GetItem for the session, one TransactWriteItems
bundling the inbound message, its idempotency record, its routing decision and the session
update, one write for the reply.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from pynamodb.connection import Connection as DdbConnection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from luma.config import Settings, get_settings
from luma.domain.models import Connection, Message, PhoneLink, RoutingDecision, Session, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.store import keys
from luma.store.models import (
    ChannelSessionRow,
    ConnectionRow,
    DecisionRow,
    IdleRow,
    MessageRow,
    PhoneLinkRow,
    ReportRow,
    SessionRow,
    UsageRow,
    bind_models,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paginated query; ``next`` is an opaque cursor or None at the end."""

    items: list[T]
    next: str | None = None


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an earlier delivery of the same ``clientMessageId`` produced."""

    session_id: str
    message_id: str


@dataclass(frozen=True)
class MediaClaim:
    """The claim of a WhatsApp/SMS message with attachments.

    ``state``: ``new`` (ours to process; ``work`` holds what an earlier, interrupted invocation
    finished), ``done`` (recorded already: nothing to do) or ``busy`` (another invocation holds it).
    """

    state: str
    work: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelSession:
    """The current session of a WhatsApp/SMS address (``CHANNEL#<channel>`` item)."""

    session_id: str
    user_id: str


@dataclass(frozen=True)
class ChannelPointer:
    """Point an address at a new session, if it still points at ``previous`` (None: at nothing)."""

    tenant_id: str
    phone: str
    channel: str
    session_id: str
    user_id: str
    previous: str | None = None


@dataclass(frozen=True)
class IdleEntry:
    """One entry of the idle index: a session and its last activity as last recorded there."""

    tenant_id: str
    session_id: str
    user_id: str
    last_activity_at: datetime


@dataclass
class InboundRecord:
    """Everything persisted atomically for one inbound message."""

    session: Session
    message: Message
    decision: RoutingDecision
    new_session: bool
    client_message_id: str | None = None
    idempotency_ttl_s: int | None = None  # None: LUMA_IDEMPOTENCY_TTL_S
    close_session: Session | None = None  # a session restarted after inactivity
    # Raw DynamoDB ``Update`` bodies that ride in the same transaction (the rate-limit buckets).
    extra_updates: list[dict[str, Any]] = field(default_factory=list)
    # A WhatsApp/SMS turn that starts a session moves its address's pointer in the same transaction.
    channel_pointer: ChannelPointer | None = None


class DuplicateMessageError(Exception):
    """The ``clientMessageId`` was already recorded."""

    def __init__(self, record: IdempotencyRecord | None) -> None:
        super().__init__("duplicate clientMessageId")
        self.record = record


class ExtraUpdateFailedError(Exception):
    """One of the record's ``extra_updates`` failed its condition (nothing was written)."""


class SessionConflictError(Exception):
    """The session changed under us (closed, locked, or created concurrently)."""


class AlreadyAnsweredError(Exception):
    """The message already has its answer (a retried run): nothing was written."""

    def __init__(self, reply_id: str, *, delivered: bool) -> None:
        super().__init__(reply_id)
        self.reply_id = reply_id
        self.delivered = delivered


class ConnectionRepository(Protocol):
    def put(self, connection: Connection) -> None: ...
    def get(self, tenant_id: str, connection_id: str) -> Connection | None: ...
    def delete(self, tenant_id: str, connection_id: str) -> None: ...
    def mark_gone(self, tenant_id: str, connection_id: str) -> None: ...
    def latest(self, tenant_id: str, user_id: str) -> Connection | None: ...


class ConversationRepository(Protocol):
    def get_session(self, tenant_id: str, session_id: str) -> Session | None: ...
    def record_inbound(self, record: InboundRecord) -> None: ...
    def find_idempotent(self, tenant_id: str, user_id: str, client_message_id: str) -> IdempotencyRecord | None: ...
    def save_reply(
        self,
        session: Session,
        reply: Message,
        *,
        state: dict[str, Any] | None = None,
        status: SessionStatus | None = None,
        answers: bool = False,
    ) -> None: ...
    def mark_delivered(self, tenant_id: str, session_id: str, message_id: str) -> None: ...
    def list_messages(
        self, tenant_id: str, session_id: str, *, after: str | None = None, limit: int = 50
    ) -> Page[Message]: ...
    def list_sessions(
        self, tenant_id: str, user_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[Session]: ...
    def get_decision(self, tenant_id: str, session_id: str, message_id: str) -> RoutingDecision | None: ...
    def get_message(self, tenant_id: str, session_id: str, message_id: str) -> Message | None: ...
    def get_channel_session(self, tenant_id: str, phone: str, channel: str) -> ChannelSession | None: ...
    def claim_idempotency(self, tenant_id: str, user_id: str, client_message_id: str) -> bool: ...
    def claim_media(self, tenant_id: str, user_id: str, external_id: str, *, lease_s: int = 90) -> MediaClaim: ...
    def save_media_work(
        self,
        tenant_id: str,
        user_id: str,
        external_id: str,
        index: int,
        ref: dict[str, Any],
        *,
        transcript: str | None = None,
    ) -> None: ...


class PhoneRepository(Protocol):
    """Phone number → user of a tenant (WhatsApp/SMS senders)."""

    def get(self, tenant_id: str, phone: str) -> PhoneLink | None: ...
    def put(self, link: PhoneLink) -> None: ...


def merge_state(base: dict[str, Any], changed: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the keys ``changed`` set or removed relative to ``base`` (a three-way merge)."""
    if current == base:
        return dict(changed)
    out = dict(current)
    for key in base.keys() - changed.keys():
        out.pop(key, None)
    for key, value in changed.items():
        if base.get(key, _MISSING) != value:
            out[key] = value
    return out


_MISSING = object()
_UNANSWERED = DecisionRow.pk.exists() & DecisionRow.answer_id.does_not_exist()


def _ttl(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """An opaque cursor from a DynamoDB LastEvaluatedKey."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The LastEvaluatedKey inside a cursor; a tampered cursor is a typed 400."""
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise LumaError(ErrorCode.VALIDATION_FAILED, "The page cursor is not valid.") from exc
    if not isinstance(value, dict):
        raise LumaError(ErrorCode.VALIDATION_FAILED, "The page cursor is not valid.")
    return value


def session_from_row(row: SessionRow) -> Session:
    """The domain object of a row (its key and bookkeeping attributes are ignored)."""
    return Session.model_validate(row.attribute_values)


def message_from_row(row: MessageRow) -> Message:
    """The domain object of a row (its key and bookkeeping attributes are ignored)."""
    return Message.model_validate(row.attribute_values)


class DynamoConnectionRepository:
    """Connections table adapter."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        bind_models(self.settings)

    def put(self, connection: Connection) -> None:
        ConnectionRow(
            pk=keys.connection_pk(connection.tenant_id, connection.connection_id),
            gsi1pk=keys.user_pk(connection.tenant_id, connection.user_id),
            gsi1sk=connection.connected_at.isoformat(),
            tenant_id=connection.tenant_id,
            user_id=connection.user_id,
            connection_id=connection.connection_id,
            connected_at=connection.connected_at,
            source_ip=connection.source_ip,
            user_agent=connection.user_agent,
            ttl=timedelta(seconds=self.settings.connection_ttl_s),
        ).save()

    def get(self, tenant_id: str, connection_id: str) -> Connection | None:
        try:
            row = ConnectionRow.get(keys.connection_pk(tenant_id, connection_id))
        except DoesNotExist:
            return None
        return Connection(
            connection_id=row.connection_id,
            tenant_id=row.tenant_id,
            user_id=row.user_id,
            connected_at=row.connected_at,
            source_ip=row.source_ip,
            user_agent=row.user_agent,
        )

    def delete(self, tenant_id: str, connection_id: str) -> None:
        ConnectionRow(pk=keys.connection_pk(tenant_id, connection_id)).delete()

    def latest(self, tenant_id: str, user_id: str) -> Connection | None:
        """The user's most recent open connection (one Query of the ``by_user`` index, newest first)."""
        for row in ConnectionRow.by_user.query(keys.user_pk(tenant_id, user_id), scan_index_forward=False, limit=3):
            if not row.gone:
                return Connection(
                    connection_id=row.connection_id,
                    tenant_id=row.tenant_id,
                    user_id=row.user_id,
                    connected_at=row.connected_at,
                )
        return None

    def mark_gone(self, tenant_id: str, connection_id: str) -> None:
        row = ConnectionRow(pk=keys.connection_pk(tenant_id, connection_id))
        try:
            row.update(actions=[ConnectionRow.gone.set(True)], condition=ConnectionRow.pk.exists())
        except Exception:
            return


class DynamoConversationRepository:
    """Conversations (and idempotency records in the usage table) adapter."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        bind_models(self.settings)
        self._connection = DdbConnection(region=self.settings.region, host=self.settings.dynamodb_endpoint_url)

    # -- sessions -------------------------------------------------------------------------
    def create_session(self, session: Session) -> bool:
        """Write a new session (with its idle-index entry); False when it exists already."""
        try:
            self._session_row(session).save(condition=SessionRow.pk.does_not_exist())
        except PutError:
            return False
        self._idle_row(session).save()
        return True

    def get_session(self, tenant_id: str, session_id: str) -> Session | None:
        try:
            row = SessionRow.get(keys.session_pk(tenant_id, session_id), keys.META, consistent_read=True)
        except DoesNotExist:
            return None
        return session_from_row(row)

    def _session_row(self, session: Session) -> SessionRow:
        return SessionRow(
            pk=keys.session_pk(session.tenant_id, session.session_id),
            sk=keys.META,
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            created_at=session.created_at,
            gsi1pk=keys.user_pk(session.tenant_id, session.user_id),
            gsi1sk=session.last_activity_at.isoformat(),
            user_id=session.user_id,
            assistant=session.assistant,
            channel=session.channel,
            status=session.status.value,
            language=session.language,
            last_activity_at=session.last_activity_at,
            message_count=session.message_count,
            state=session.state,
            version=session.version,
            ttl=_ttl(self.settings.message_retention_days),
        )

    def _message_row(self, message: Message) -> MessageRow:
        return MessageRow(
            pk=keys.session_pk(message.tenant_id, message.session_id),
            sk=keys.message_sk(message.message_id),
            ttl=_ttl(self.settings.message_retention_days),
            **message.model_dump(),
        )

    def record_inbound(self, record: InboundRecord) -> None:
        """Persist message + decision + idempotency + session change in one transaction."""
        session, msg, decision = record.session, record.message, record.decision
        # PynamoDB sends puts before updates; cancellation reasons follow that order.
        puts: list[tuple[str, Any, Any]] = []
        updates: list[tuple[str, Any, list[Any], Any]] = []
        if record.new_session:
            puts.append(("session", self._session_row(session), SessionRow.pk.does_not_exist()))
            # The sweeper's index entry, written once; its activity time is corrected lazily.
            puts.append(("idle", self._idle_row(session), None))
        else:
            updates.append(
                (
                    "session",
                    SessionRow(pk=keys.session_pk(session.tenant_id, session.session_id), sk=keys.META),
                    [
                        SessionRow.last_activity_at.set(session.last_activity_at),
                        SessionRow.gsi1sk.set(session.last_activity_at.isoformat()),
                        SessionRow.language.set(session.language),
                        SessionRow.message_count.add(1),
                        SessionRow.version.add(1),
                    ],
                    (SessionRow.user_id == session.user_id)
                    & SessionRow.status.is_in(SessionStatus.ACTIVE.value, SessionStatus.TAKEN_OVER.value),
                )
            )
        if record.channel_pointer is not None:
            ptr = record.channel_pointer
            cond = ChannelSessionRow.pk.does_not_exist()
            if ptr.previous is not None:
                cond = cond | (ChannelSessionRow.session_id == ptr.previous)
            puts.append(("pointer", self._pointer_row(ptr, msg.created_at), cond))
        # Message ids are process-monotonic ULIDs: no existence condition (each costs a parse in moto).
        puts.append(("message", self._message_row(msg), None))
        puts.append(("decision", self._decision_row(decision), None))
        if record.client_message_id:
            idem = UsageRow(
                pk=keys.idempotency_pk(session.tenant_id, session.user_id, record.client_message_id),
                sk=keys.IDEMPOTENCY,
                data={"session_id": session.session_id, "message_id": msg.message_id},
                created_at=msg.created_at,
                claim_state="done",
                ttl=timedelta(seconds=record.idempotency_ttl_s or self.settings.idempotency_ttl_s),
            )
            # A claim taken before media work is ours to complete; a recorded message is a duplicate.
            puts.append(("idempotency", idem, UsageRow.pk.does_not_exist() | (UsageRow.claim_state == "processing")))
        if record.close_session is not None:
            old = record.close_session
            updates.append(
                (
                    "close",
                    SessionRow(pk=keys.session_pk(old.tenant_id, old.session_id), sk=keys.META),
                    [SessionRow.status.set(SessionStatus.CLOSED.value), SessionRow.version.add(1)],
                    None,
                )
            )
        try:
            with TransactWrite(connection=self._connection) as tx:
                for _, row, cond in puts:
                    tx.save(row, condition=cond)
                for _, row, actions, cond in updates:
                    tx.update(row, actions=actions, condition=cond)
                # PynamoDB (pinned 6.1) sends its update list as given: raw bodies join it, in order.
                tx._update_items.extend(record.extra_updates)
        except TransactWriteError as exc:
            names = [p[0] for p in puts] + [u[0] for u in updates] + ["extra"] * len(record.extra_updates)
            reasons = exc.cancellation_reasons or []
            failed = {
                names[i]
                for i, r in enumerate(reasons)
                if r is not None and r.code == "ConditionalCheckFailed" and i < len(names)
            }
            if "idempotency" in failed:
                assert record.client_message_id
                raise DuplicateMessageError(
                    self.find_idempotent(session.tenant_id, session.user_id, record.client_message_id)
                ) from exc
            if "session" in failed or "pointer" in failed:
                raise SessionConflictError(str(exc)) from exc
            if any(names[i] == "extra" and r is not None for i, r in enumerate(reasons) if i < len(names)):
                raise ExtraUpdateFailedError(str(exc)) from exc
            raise

    def _idle_row(self, session: Session) -> IdleRow:
        return IdleRow(
            pk=keys.session_pk(session.tenant_id, session.session_id),
            sk=keys.IDLE,
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            user_id=session.user_id,
            created_at=session.created_at,
            gsi1pk=keys.idle_gsi_pk(keys.idle_shard(session.session_id)),
            gsi1sk=_idle_key(session.last_activity_at),
            ttl=_ttl(self.settings.message_retention_days),
        )

    def _pointer_row(self, ptr: ChannelPointer, at: datetime) -> ChannelSessionRow:
        return ChannelSessionRow(
            pk=keys.phone_pk(ptr.tenant_id, ptr.phone),
            sk=keys.channel_sk(ptr.channel),
            tenant_id=ptr.tenant_id,
            session_id=ptr.session_id,
            user_id=ptr.user_id,
            created_at=at,
            updated_at=at,
            ttl=_ttl(self.settings.message_retention_days),
        )

    def get_channel_session(self, tenant_id: str, phone: str, channel: str) -> ChannelSession | None:
        """The session an address is in (None before its first message)."""
        try:
            row = ChannelSessionRow.get(keys.phone_pk(tenant_id, phone), keys.channel_sk(channel), consistent_read=True)
        except DoesNotExist:
            return None
        return ChannelSession(session_id=row.session_id, user_id=row.user_id)

    def claim_media(self, tenant_id: str, user_id: str, external_id: str, *, lease_s: int = 90) -> MediaClaim:
        """Claim a message with attachments before any media work (see :class:`MediaClaim`)."""
        now = time.time()
        pk = keys.idempotency_pk(tenant_id, user_id, external_id)
        row = UsageRow(pk=pk, sk=keys.IDEMPOTENCY)
        try:
            row.update(
                actions=[
                    UsageRow.claim_state.set("processing"),
                    UsageRow.lease_until.set(now + lease_s),
                    UsageRow.created_at.set(datetime.now(UTC)),
                    UsageRow.ttl.set(datetime.now(UTC) + timedelta(seconds=self.settings.twilio_idempotency_ttl_s)),
                ],
                condition=UsageRow.pk.does_not_exist()
                | ((UsageRow.claim_state == "processing") & (UsageRow.lease_until < now)),
            )
        except UpdateError:
            try:
                current = UsageRow.get(pk, keys.IDEMPOTENCY, consistent_read=True)
            except DoesNotExist:
                return self.claim_media(tenant_id, user_id, external_id, lease_s=lease_s)
            return MediaClaim("busy" if current.claim_state == "processing" else "done")
        return MediaClaim("new", dict(row.work or {}))

    def save_media_work(
        self,
        tenant_id: str,
        user_id: str,
        external_id: str,
        index: int,
        ref: dict[str, Any],
        *,
        transcript: str | None = None,
    ) -> None:
        """Keep one attachment's finished work on the claim (a retried invocation reuses it)."""
        row = UsageRow.get(keys.idempotency_pk(tenant_id, user_id, external_id), keys.IDEMPOTENCY, consistent_read=True)
        work = dict(row.work or {})
        work[str(index)] = {"ref": ref, **({"transcript": transcript} if transcript else {})}
        row.update(actions=[UsageRow.work.set(work)], condition=UsageRow.claim_state == "processing")

    def claim_idempotency(self, tenant_id: str, user_id: str, client_message_id: str) -> bool:
        """Record an id as processed outside a turn's transaction; False when it already was."""
        row = UsageRow(
            pk=keys.idempotency_pk(tenant_id, user_id, client_message_id),
            sk=keys.IDEMPOTENCY,
            data={},
            created_at=datetime.now(UTC),
            ttl=timedelta(seconds=self.settings.idempotency_ttl_s),
        )
        try:
            row.save(condition=UsageRow.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _decision_row(self, decision: RoutingDecision) -> DecisionRow:
        return DecisionRow(
            pk=keys.session_pk(decision.tenant_id, decision.session_id),
            sk=keys.decision_sk(decision.message_id),
            ttl=_ttl(self.settings.message_retention_days),
            **decision.model_dump(),
        )

    def find_idempotent(self, tenant_id: str, user_id: str, client_message_id: str) -> IdempotencyRecord | None:
        try:
            row = UsageRow.get(keys.idempotency_pk(tenant_id, user_id, client_message_id), keys.IDEMPOTENCY)
        except DoesNotExist:
            return None
        data = row.data or {}
        if "message_id" not in data:  # a media claim still being processed: no message recorded yet
            return None
        return IdempotencyRecord(session_id=data["session_id"], message_id=data["message_id"])

    def save_reply(
        self,
        session: Session,
        reply: Message,
        *,
        state: dict[str, Any] | None = None,
        status: SessionStatus | None = None,
        answers: bool = False,
    ) -> None:
        """Persist an assistant reply (and any session state change) before it is delivered.

        A state change is conditional on ``session.version``: when the session changed meanwhile
        (another message, a tool), the keys this reply changed are applied to the fresh state and
        the write is tried again, so neither writer's changes are lost. With ``answers`` the reply is
        the one answer to its message, recorded on the message's routing decision in the same
        transaction: a second answer raises ``AlreadyAnsweredError`` and writes nothing.
        """
        row = self._message_row(reply)
        decision = self._answer_update(reply) if answers else None
        changes_session = state is not None or status is not None
        if not changes_session and decision is None:
            row.save()
            return
        base, current = session.state, session
        for _ in range(5):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.save(row)
                    if changes_session:
                        actions: list[Any] = [SessionRow.version.add(1)]
                        if state is not None:
                            actions.append(SessionRow.state.set(merge_state(base, state, current.state)))
                        if status is not None:
                            actions.append(SessionRow.status.set(status.value))
                        tx.update(
                            SessionRow(pk=keys.session_pk(session.tenant_id, session.session_id), sk=keys.META),
                            actions=actions,
                            condition=SessionRow.pk.exists() & (SessionRow.version == current.version),
                        )
                    if decision is not None:
                        answer: list[Any] = [DecisionRow.answer_id.set(reply.message_id)]
                        tx.update(decision, actions=answer, condition=_UNANSWERED)
                return
            except TransactWriteError:
                if decision is not None:
                    decision = self._check_unanswered(decision, reply)
                if not changes_session:
                    continue  # only the answer's condition was in the write: the session needs no re-read
                fresh = self.get_session(session.tenant_id, session.session_id)
                if fresh is None:
                    row.save()
                    return
                current = fresh
        raise SessionConflictError("the session kept changing while a reply was saved")

    @staticmethod
    def _answer_update(reply: Message) -> DecisionRow | None:
        if not reply.reply_to:
            return None
        return DecisionRow(pk=keys.session_pk(reply.tenant_id, reply.session_id), sk=keys.decision_sk(reply.reply_to))

    @staticmethod
    def _check_unanswered(decision: DecisionRow, reply: Message) -> DecisionRow | None:
        """After a cancelled write: raise when another answer is recorded; None when no decision exists."""
        try:
            row = DecisionRow.get(decision.pk, decision.sk, consistent_read=True)
        except DoesNotExist:
            return None  # nothing to record the answer on: the reply is saved alone
        if row.answer_id and row.answer_id != reply.message_id:
            raise AlreadyAnsweredError(row.answer_id, delivered=bool(row.delivered))
        return decision

    def mark_delivered(self, tenant_id: str, session_id: str, message_id: str) -> None:
        """The answer to ``message_id`` went out: a retried run will not send it again."""
        try:
            DecisionRow(pk=keys.session_pk(tenant_id, session_id), sk=keys.decision_sk(message_id)).update(
                actions=[DecisionRow.delivered.set(True)], condition=DecisionRow.pk.exists()
            )
        except UpdateError:
            return  # no decision recorded (or erased meanwhile): nothing to mark

    # -- reads ------------------------------------------------------------------------------
    def list_messages(
        self, tenant_id: str, session_id: str, *, after: str | None = None, limit: int = 50
    ) -> Page[Message]:
        """Messages oldest first, strictly after message id ``after``; paginated by ``limit``."""
        limit = max(1, min(limit, self.settings.page_size_max))
        # One sort-key condition only (DynamoDB's rule): BETWEEN is inclusive, so the ``after`` item
        # itself is fetched and dropped.
        lower = keys.message_sk(after) if after else keys.MESSAGE_PREFIX
        result = MessageRow.query(
            keys.session_pk(tenant_id, session_id),
            range_key_condition=MessageRow.sk.between(lower, keys.MESSAGE_UPPER),
            limit=limit + (1 if after else 0),
        )
        items = [message_from_row(r) for r in result if r.message_id != after]
        more = result.last_evaluated_key is not None and len(items) >= limit
        items = items[:limit]
        return Page(items=items, next=items[-1].message_id if more and items else None)

    def list_sessions(
        self, tenant_id: str, user_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[Session]:
        """A user's sessions, most recently active first."""
        limit = max(1, min(limit, self.settings.page_size_max))
        result = SessionRow.by_user.query(
            keys.user_pk(tenant_id, user_id),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor),
        )
        items = [session_from_row(r) for r in result if isinstance(r, SessionRow)]
        return Page(items=items, next=encode_cursor(result.last_evaluated_key))

    def get_message(self, tenant_id: str, session_id: str, message_id: str) -> Message | None:
        """One message by id (GetItem)."""
        try:
            row = MessageRow.get(
                keys.session_pk(tenant_id, session_id), keys.message_sk(message_id), consistent_read=True
            )
        except DoesNotExist:
            return None
        return message_from_row(row)

    def get_decision(self, tenant_id: str, session_id: str, message_id: str) -> RoutingDecision | None:
        try:
            row = DecisionRow.get(keys.session_pk(tenant_id, session_id), keys.decision_sk(message_id))
        except DoesNotExist:
            return None
        return decision_from_row(row)

    # -- session close and report (luma.sessions) ----------------------------------------------
    def close_session(self, tenant_id: str, session_id: str, *, user_id: str) -> None:
        """Set the session's status to closed; condition: it exists and belongs to ``user_id``.

        Raises :class:`SessionConflictError` when the condition fails (missing or another user's).
        Closing a closed session again is harmless (the status is simply set again).
        """
        row = SessionRow(pk=keys.session_pk(tenant_id, session_id), sk=keys.META)
        try:
            row.update(
                actions=[SessionRow.status.set(SessionStatus.CLOSED.value), SessionRow.version.add(1)],
                condition=SessionRow.pk.exists() & (SessionRow.user_id == user_id),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise SessionConflictError("session missing or not this user's") from exc
            raise

    def list_decisions(self, tenant_id: str, session_id: str) -> list[RoutingDecision]:
        """Every routing decision of a session, oldest first (paginated internally; off the hot path)."""
        result = DecisionRow.query(
            keys.session_pk(tenant_id, session_id),
            range_key_condition=DecisionRow.sk.between(keys.DECISION_PREFIX, keys.DECISION_UPPER),
            page_size=self.settings.page_size_max,
        )
        return [decision_from_row(r) for r in result if isinstance(r, DecisionRow)]

    def get_report(self, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        """The stored session report (``sk = REPORT``), or None before the session was closed."""
        try:
            row = ReportRow.get(keys.session_pk(tenant_id, session_id), keys.REPORT, consistent_read=True)
        except DoesNotExist:
            return None
        return dict(row.data or {})

    def put_report(self, tenant_id: str, session_id: str, user_id: str, report: dict[str, Any]) -> bool:
        """Store a session's report once (``attribute_not_exists``); False when one already exists."""
        row = ReportRow(
            pk=keys.session_pk(tenant_id, session_id),
            sk=keys.REPORT,
            tenant_id=tenant_id,
            session_id=session_id,
            user_id=user_id,
            created_at=datetime.now(UTC),
            data=report,
            ttl=_ttl(self.settings.message_retention_days),
        )
        try:
            row.save(condition=ReportRow.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update_report(self, tenant_id: str, session_id: str, fields: dict[str, Any]) -> bool:
        """Add ``fields`` to a stored report (read, merge, write back if unchanged); False when there is none."""
        for _ in range(3):
            try:
                row = ReportRow.get(keys.session_pk(tenant_id, session_id), keys.REPORT, consistent_read=True)
            except DoesNotExist:
                return False
            before = dict(row.data or {})
            try:
                row.update(actions=[ReportRow.data.set({**before, **fields})], condition=ReportRow.data == before)
                return True
            except UpdateError:
                continue
        raise SessionConflictError("the report kept changing")

    # -- the idle index (luma.sessions.sweep_idle_sessions) ------------------------------------------
    def list_idle(
        self, shard: int, *, before: datetime, limit: int = 100, cursor: str | None = None
    ) -> Page[IdleEntry]:
        """Index entries of one shard whose recorded activity is older than ``before``, oldest first."""
        result = IdleRow.by_user.query(
            keys.idle_gsi_pk(shard),
            range_key_condition=IdleRow.gsi1sk < _idle_key(before),
            limit=max(1, min(limit, self.settings.page_size_max)),
            last_evaluated_key=decode_cursor(cursor),
        )
        items = [
            IdleEntry(r.tenant_id, r.session_id, r.user_id, _parse_idle_key(r.gsi1sk))
            for r in result
            if isinstance(r, IdleRow)
        ]
        return Page(items=items, next=encode_cursor(result.last_evaluated_key))

    def touch_idle(self, tenant_id: str, session_id: str, last_activity_at: datetime) -> None:
        """Move an index entry to the session's real last activity (it was still active)."""
        row = IdleRow(pk=keys.session_pk(tenant_id, session_id), sk=keys.IDLE)
        try:
            row.update(actions=[IdleRow.gsi1sk.set(_idle_key(last_activity_at))], condition=IdleRow.pk.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def delete_idle(self, tenant_id: str, session_id: str) -> None:
        """Drop a session's index entry (closed and reported, or gone)."""
        IdleRow(pk=keys.session_pk(tenant_id, session_id), sk=keys.IDLE).delete()

    def close_idle_session(self, tenant_id: str, session_id: str, *, before: datetime) -> None:
        """Close a session only if it is still active and its last activity is older than ``before``.

        Raises :class:`SessionConflictError` otherwise (a message arrived meanwhile, or it changed).
        """
        row = SessionRow(pk=keys.session_pk(tenant_id, session_id), sk=keys.META)
        try:
            row.update(
                actions=[SessionRow.status.set(SessionStatus.CLOSED.value), SessionRow.version.add(1)],
                condition=(SessionRow.status == SessionStatus.ACTIVE.value) & (SessionRow.last_activity_at < before),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise SessionConflictError("session active again, or not active") from exc
            raise


_IDLE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _idle_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_IDLE_FORMAT)


def _parse_idle_key(value: str) -> datetime:
    return datetime.strptime(value, _IDLE_FORMAT).replace(tzinfo=UTC)


class DynamoPhoneRepository:
    """Phone links in the connections table: one GetItem per lookup."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        bind_models(self.settings)

    def get(self, tenant_id: str, phone: str) -> PhoneLink | None:
        try:
            row = PhoneLinkRow.get(keys.phone_pk(tenant_id, phone), consistent_read=True)
        except DoesNotExist:
            return None
        return PhoneLink.model_validate(row.attribute_values)

    def put(self, link: PhoneLink) -> None:
        PhoneLinkRow(pk=keys.phone_pk(link.tenant_id, link.phone), **link.model_dump()).save()

    def delete(self, tenant_id: str, phone: str) -> None:
        PhoneLinkRow(pk=keys.phone_pk(tenant_id, phone)).delete()


def decision_from_row(row: DecisionRow) -> RoutingDecision:
    """The domain object of a row (its key and bookkeeping attributes are ignored)."""
    return RoutingDecision.model_validate(row.attribute_values)


class SessionStore(ConversationRepository, Protocol):
    """The conversation port plus what closing a session and its report need (``luma.sessions``)."""

    def close_session(self, tenant_id: str, session_id: str, *, user_id: str) -> None: ...
    def list_decisions(self, tenant_id: str, session_id: str) -> list[RoutingDecision]: ...
    def get_report(self, tenant_id: str, session_id: str) -> dict[str, Any] | None: ...
    def put_report(self, tenant_id: str, session_id: str, user_id: str, report: dict[str, Any]) -> bool: ...
    def update_report(self, tenant_id: str, session_id: str, fields: dict[str, Any]) -> bool: ...


class SweepStore(SessionStore, Protocol):
    """What the idle-session sweeper needs on top of :class:`SessionStore`."""

    def list_idle(
        self, shard: int, *, before: datetime, limit: int = 100, cursor: str | None = None
    ) -> Page[IdleEntry]: ...
    def touch_idle(self, tenant_id: str, session_id: str, last_activity_at: datetime) -> None: ...
    def delete_idle(self, tenant_id: str, session_id: str) -> None: ...
    def close_idle_session(self, tenant_id: str, session_id: str, *, before: datetime) -> None: ...
