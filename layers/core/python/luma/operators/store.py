"""The operators' storage port and its DynamoDB (PynamoDB) adapter (keys in :mod:`luma.operators.rows`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.connection import Connection as DdbConnection
from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from luma.config import Settings, get_settings
from luma.domain.models import Session, SessionStatus
from luma.ids import new_id
from luma.operators.escalations import Escalation, EscalationRepository, Status
from luma.operators.models import Address, AuditEntry, Notice, OperatorConnection, Takeover
from luma.operators.rows import (
    AUDIT_PREFIX,
    MARKER_PREFIX,
    NOTICE_PREFIX,
    NOTICE_UPPER,
    TAKEOVER,
    AuditRow,
    NoticeMarkerRow,
    NoticeRow,
    OperatorConnectionRow,
    TakeoverRow,
    audit_pk,
    bind_operator_rows,
    ops_pk,
)
from luma.operators.settings import OperatorSettings
from luma.store import keys
from luma.store.models import MessageRow, SessionRow
from luma.store.repos import Page


class TakeoverConflictError(Exception):
    """The session changed under us (a message arrived, it was closed, or another operator holds it)."""


class EscalationStore(Protocol):
    """What the operators need of escalations (:class:`~luma.operators.escalations.EscalationRepository`)."""

    def find(self, tenant_id: str, escalation_id: str, *, session_id: str | None = None) -> Escalation | None: ...
    def list_open(self, tenant_id: str) -> list[Escalation]: ...
    def list_closed(self, tenant_id: str, *, limit: int = 100) -> list[Escalation]: ...
    def list_for_session(self, tenant_id: str, session_id: str) -> list[Escalation]: ...
    def set_status(self, esc: Escalation, status: Status, **data: Any) -> Escalation: ...


class OperatorStore(Protocol):
    """Operator connections, the inbox, takeovers and the audit trail; every call is scoped by tenant."""

    escalations: EscalationStore

    def add_connection(self, conn: OperatorConnection) -> None: ...
    def connections(self, tenant_id: str) -> list[OperatorConnection]: ...
    def drop_connection(self, tenant_id: str, connection_id: str) -> None: ...
    def record_notice(self, esc: Escalation, *, at: datetime) -> tuple[Notice, bool]: ...
    def notices(self, tenant_id: str, *, after: str | None, limit: int) -> Page[Notice]: ...
    def notice_for(self, tenant_id: str, escalation_id: str) -> Notice | None: ...
    def ack(self, notice: Notice, operator_id: str, *, at: datetime) -> Notice: ...
    def holder(self, tenant_id: str, session_id: str) -> Takeover | None: ...
    def take_over(self, session: Session, operator_id: str, *, at: datetime) -> Takeover: ...
    def hand_back(self, session: Session, operator_id: str) -> None: ...
    def remember_address(self, tenant_id: str, session_id: str, address: Address) -> None: ...
    def last_address(self, tenant_id: str, session_id: str) -> Address | None: ...
    def audit(self, entry: AuditEntry) -> None: ...


def _conditional(exc: TransactWriteError | UpdateError | DeleteError) -> bool:
    if isinstance(exc, TransactWriteError):
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])
    return exc.cause_response_code == "ConditionalCheckFailedException"


class DynamoOperatorStore:
    """DynamoDB adapter: key-addressed writes, Queries only on the tenant's small operator partitions."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        operator_settings: OperatorSettings | None = None,
        escalations: EscalationStore | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.options = operator_settings or OperatorSettings.from_settings(self.settings)
        bind_operator_rows(self.settings)
        self.escalations: EscalationStore = escalations or EscalationRepository(self.settings)
        self._connection = DdbConnection(region=self.settings.region, host=self.settings.dynamodb_endpoint_url)

    # -- connections ------------------------------------------------------------------------------
    def add_connection(self, conn: OperatorConnection) -> None:
        OperatorConnectionRow(
            pk=keys.connection_pk(conn.tenant_id, conn.connection_id),
            gsi1pk=ops_pk(conn.tenant_id),
            gsi1sk=conn.connected_at.isoformat(),
            tenant_id=conn.tenant_id,
            user_id=conn.user_id,
            connection_id=conn.connection_id,
            connected_at=conn.connected_at,
            endpoint=conn.endpoint,
            source_ip=conn.source_ip,
            user_agent=conn.user_agent,
            ttl=timedelta(seconds=self.settings.connection_ttl_s),
        ).save()

    def connections(self, tenant_id: str) -> list[OperatorConnection]:
        """The tenant's open operator connections (one Query of the ``by_user`` index)."""
        return [
            OperatorConnection(
                tenant_id=row.tenant_id,
                user_id=row.user_id,
                connection_id=row.connection_id,
                endpoint=row.endpoint,
                connected_at=row.connected_at,
            )
            for row in OperatorConnectionRow.by_user.query(ops_pk(tenant_id))
            if not row.gone and row.role == "operator" and row.tenant_id == tenant_id
        ]

    def drop_connection(self, tenant_id: str, connection_id: str) -> None:
        """Forget a connection found gone (only an operator connection of this tenant)."""
        row = OperatorConnectionRow(pk=keys.connection_pk(tenant_id, connection_id))
        try:
            row.delete(condition=OperatorConnectionRow.gsi1pk == ops_pk(tenant_id))
        except DeleteError as exc:
            if not _conditional(exc):
                raise

    # -- the inbox --------------------------------------------------------------------------------
    def record_notice(self, esc: Escalation, *, at: datetime) -> tuple[Notice, bool]:
        """The escalation's notice, written once (a marker keyed by the escalation id is the condition)."""
        tenant = esc.tenant_id
        notice = Notice(
            tenant_id=tenant,
            notice_id=new_id(),
            escalation_id=esc.escalation_id,
            session_id=esc.session_id,
            urgency=esc.urgency,
            created_at=at,
        )
        ttl = at + timedelta(days=self.options.operator_notice_ttl_days)
        marker = NoticeMarkerRow(
            pk=ops_pk(tenant),
            sk=f"{MARKER_PREFIX}{esc.escalation_id}",
            tenant_id=tenant,
            session_id=esc.session_id,
            created_at=at,
            ttl=ttl,
            notice_id=notice.notice_id,
            escalation_id=esc.escalation_id,
        )
        row = NoticeRow(
            pk=ops_pk(tenant),
            sk=f"{NOTICE_PREFIX}{notice.notice_id}",
            tenant_id=tenant,
            session_id=esc.session_id,
            created_at=at,
            ttl=ttl,
            notice_id=notice.notice_id,
            escalation_id=esc.escalation_id,
            urgency=esc.urgency,
        )
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(marker, condition=NoticeMarkerRow.pk.does_not_exist())
                tx.save(row)
        except TransactWriteError as exc:
            if not _conditional(exc):
                raise
            existing = self.notice_for(tenant, esc.escalation_id)
            if existing is None:  # the marker's notice expired: nothing to tell again
                raise
            return existing, False
        return notice, True

    def notices(self, tenant_id: str, *, after: str | None, limit: int) -> Page[Notice]:
        """Notices strictly after notice id ``after``, oldest first; ``next`` when there are more."""
        limit = max(1, min(limit, self.settings.page_size_max))
        lower = f"{NOTICE_PREFIX}{after}" if after else NOTICE_PREFIX
        result = NoticeRow.query(
            ops_pk(tenant_id),
            range_key_condition=NoticeRow.sk.between(lower, NOTICE_UPPER),
            limit=limit + (1 if after else 0),
            consistent_read=True,
        )
        items = [_notice(r) for r in result if isinstance(r, NoticeRow) and r.notice_id != after]
        more = result.last_evaluated_key is not None and len(items) >= limit
        items = items[:limit]
        return Page(items=items, next=items[-1].notice_id if more and items else None)

    def notice_for(self, tenant_id: str, escalation_id: str) -> Notice | None:
        try:
            marker = NoticeMarkerRow.get(ops_pk(tenant_id), f"{MARKER_PREFIX}{escalation_id}", consistent_read=True)
            row = NoticeRow.get(ops_pk(tenant_id), f"{NOTICE_PREFIX}{marker.notice_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return _notice(row)

    def ack(self, notice: Notice, operator_id: str, *, at: datetime) -> Notice:
        """Acknowledge a notice (the first acknowledgement stays)."""
        row = NoticeRow(pk=ops_pk(notice.tenant_id), sk=f"{NOTICE_PREFIX}{notice.notice_id}")
        try:
            row.update(
                actions=[NoticeRow.acked_by.set(operator_id), NoticeRow.acked_at.set(at)],
                condition=NoticeRow.pk.exists() & NoticeRow.acked_at.does_not_exist(),
            )
        except UpdateError as exc:
            if not _conditional(exc):
                raise
            return self.notice_for(notice.tenant_id, notice.escalation_id) or notice
        return notice.model_copy(update={"acked_by": operator_id, "acked_at": at})

    # -- takeover ---------------------------------------------------------------------------------
    def holder(self, tenant_id: str, session_id: str) -> Takeover | None:
        try:
            row = TakeoverRow.get(keys.session_pk(tenant_id, session_id), TAKEOVER, consistent_read=True)
        except DoesNotExist:
            return None
        return Takeover(
            tenant_id=row.tenant_id,
            session_id=row.session_id,
            operator_id=row.operator_id,
            taken_at=row.taken_at,
            address=Address.model_validate(row.address) if row.address else None,
        )

    def take_over(self, session: Session, operator_id: str, *, at: datetime) -> Takeover:
        """Pause the bot for ``session`` (still active at ``session.version``) and record the holder."""
        pk = keys.session_pk(session.tenant_id, session.session_id)
        row = TakeoverRow(
            pk=pk,
            sk=TAKEOVER,
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            created_at=at,
            ttl=at + timedelta(days=self.settings.message_retention_days),
            operator_id=operator_id,
            taken_at=at,
        )
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    SessionRow(pk=pk, sk=keys.META),
                    actions=[SessionRow.status.set(SessionStatus.TAKEN_OVER.value), SessionRow.version.add(1)],
                    condition=(SessionRow.version == session.version)
                    & (SessionRow.status == SessionStatus.ACTIVE.value),
                )
                tx.save(row)
        except TransactWriteError as exc:
            if _conditional(exc):
                raise TakeoverConflictError(session.session_id) from exc
            raise
        return Takeover(
            tenant_id=session.tenant_id, session_id=session.session_id, operator_id=operator_id, taken_at=at
        )

    def hand_back(self, session: Session, operator_id: str) -> None:
        """Resume the bot, if ``operator_id`` holds the session and it is still at ``session.version``."""
        pk = keys.session_pk(session.tenant_id, session.session_id)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    SessionRow(pk=pk, sk=keys.META),
                    actions=[SessionRow.status.set(SessionStatus.ACTIVE.value), SessionRow.version.add(1)],
                    condition=(SessionRow.version == session.version)
                    & (SessionRow.status == SessionStatus.TAKEN_OVER.value),
                )
                tx.delete(
                    TakeoverRow(pk=pk, sk=TAKEOVER),
                    condition=TakeoverRow.pk.does_not_exist() | (TakeoverRow.operator_id == operator_id),
                )
        except TransactWriteError as exc:
            if _conditional(exc):
                raise TakeoverConflictError(session.session_id) from exc
            raise

    def remember_address(self, tenant_id: str, session_id: str, address: Address) -> None:
        """Keep where a taken-over session's WhatsApp/SMS user is answered (no-op once handed back)."""
        row = TakeoverRow(pk=keys.session_pk(tenant_id, session_id), sk=TAKEOVER)
        try:
            row.update(actions=[TakeoverRow.address.set(address.model_dump())], condition=TakeoverRow.pk.exists())
        except UpdateError as exc:
            if not _conditional(exc):
                raise

    def last_address(self, tenant_id: str, session_id: str) -> Address | None:
        """The address on the session's newest user message that records one (``meta.address``)."""
        rows = MessageRow.query(
            keys.session_pk(tenant_id, session_id),
            range_key_condition=MessageRow.sk.between(keys.MESSAGE_PREFIX, keys.MESSAGE_UPPER),
            scan_index_forward=False,
            limit=20,
        )
        for row in rows:
            raw = (row.meta or {}).get("address") if row.role == "user" else None
            if isinstance(raw, dict):
                try:
                    return Address(channel=raw["channel"], to=raw["to"], via=raw["from"])
                except (KeyError, ValueError):
                    continue
        return None

    # -- audit ------------------------------------------------------------------------------------
    def audit(self, entry: AuditEntry) -> None:
        AuditRow(
            pk=audit_pk(entry.tenant_id),
            sk=f"{AUDIT_PREFIX}{new_id()}",
            tenant_id=entry.tenant_id,
            session_id=entry.session_id or "-",
            created_at=entry.at,
            ttl=entry.at + timedelta(days=self.options.operator_audit_retention_days),
            action=entry.action,
            operator_id=entry.operator_id,
            escalation_id=entry.escalation_id,
            outcome=entry.outcome,
            details=entry.details,
        ).save()

    def audit_trail(self, tenant_id: str, *, limit: int = 100) -> list[AuditEntry]:
        """The tenant's newest audit items, newest first."""
        rows = AuditRow.query(
            audit_pk(tenant_id),
            range_key_condition=AuditRow.sk.startswith(AUDIT_PREFIX),
            scan_index_forward=False,
            limit=limit,
        )
        return [
            AuditEntry(
                tenant_id=r.tenant_id,
                operator_id=r.operator_id,
                action=r.action,
                outcome=r.outcome,
                session_id=None if r.session_id == "-" else r.session_id,
                escalation_id=r.escalation_id,
                at=r.created_at,
                details=dict(r.details or {}),
            )
            for r in rows
            if isinstance(r, AuditRow)
        ]


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        tenant_id=row.tenant_id,
        notice_id=row.notice_id,
        escalation_id=row.escalation_id,
        session_id=row.session_id,
        urgency=row.urgency,
        created_at=row.created_at,
        acked_by=row.acked_by,
        acked_at=row.acked_at,
    )


def now() -> datetime:
    return datetime.now(UTC)
