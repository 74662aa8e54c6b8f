"""Escalations: a person asked for (or a run needed) a member of staff.

An escalation is an item of the conversations table in its session's partition (``sk = ESC#<ulid>``),
listed per tenant through the ``by_user`` index (``gsi1pk = T#<tenant>#ESC``, oldest first) while it is
open or taken; a closed one moves to ``T#<tenant>#ESC#closed``, so the open queue stays one small Query.
Writing it is all a caller does: the ``escalations`` stream consumer notifies the tenant's operators, so
the notice survives restarts and never depends on a connection being open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from pynamodb.exceptions import UpdateError

from luma.config import Settings, get_settings
from luma.domain.models import Session
from luma.ids import new_id
from luma.store.models import EscalationRow, bind_models

Urgency = Literal["normal", "urgent"]
Status = Literal["open", "taken", "closed"]


class Escalation(BaseModel):
    escalation_id: str
    tenant_id: str
    session_id: str
    user_id: str
    assistant: str
    channel: str
    urgency: Urgency = "normal"
    reason: str
    status: Status = "open"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)


def tenant_index_key(tenant_id: str) -> str:
    """The ``by_user`` key of a tenant's open (and taken) escalations."""
    return f"T#{tenant_id}#ESC"


def closed_index_key(tenant_id: str) -> str:
    """The ``by_user`` key of a tenant's closed escalations."""
    return f"T#{tenant_id}#ESC#closed"


class EscalationConflictError(Exception):
    """The escalation changed under us (another operator took or closed it)."""


class EscalationRepository:
    """Escalation items; the reason is free text the user or the agent wrote (kept with the session's retention)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        bind_models(self.settings)

    def open(self, session: Session, reason: str, *, urgency: Urgency = "normal", **data: Any) -> Escalation:
        """Record an escalation for ``session``; returns it (its id is what the user may be told)."""
        esc = Escalation(
            escalation_id=new_id(),
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            user_id=session.user_id,
            assistant=session.assistant,
            channel=session.channel,
            urgency=urgency,
            reason=reason[:500],
            data=data,
        )
        EscalationRow(
            pk=f"T#{esc.tenant_id}#S#{esc.session_id}",
            sk=f"ESC#{esc.escalation_id}",
            tenant_id=esc.tenant_id,
            session_id=esc.session_id,
            created_at=esc.created_at,
            ttl=esc.created_at + timedelta(days=self.settings.message_retention_days),
            gsi1pk=tenant_index_key(esc.tenant_id),
            gsi1sk=esc.escalation_id,
            escalation_id=esc.escalation_id,
            user_id=esc.user_id,
            assistant=esc.assistant,
            channel=esc.channel,
            urgency=esc.urgency,
            reason=esc.reason,
            status=esc.status,
            data=esc.data,
        ).save()
        return esc

    def get(self, tenant_id: str, session_id: str, escalation_id: str) -> Escalation | None:
        try:
            row = EscalationRow.get(f"T#{tenant_id}#S#{session_id}", f"ESC#{escalation_id}")
        except EscalationRow.DoesNotExist:
            return None
        return escalation_from_row(row)

    def find(self, tenant_id: str, escalation_id: str, *, session_id: str | None = None) -> Escalation | None:
        """An escalation of the tenant by id (a GetItem when its session is known, else the tenant index)."""
        if session_id is not None:
            return self.get(tenant_id, session_id, escalation_id)
        for key in (tenant_index_key(tenant_id), closed_index_key(tenant_id)):
            for row in EscalationRow.by_user.query(key, range_key_condition=EscalationRow.gsi1sk == escalation_id):
                if isinstance(row, EscalationRow) and row.tenant_id == tenant_id:
                    return escalation_from_row(row)
        return None

    def list_open(self, tenant_id: str) -> list[Escalation]:
        """The tenant's open and taken escalations, oldest first (every page)."""
        rows = EscalationRow.by_user.query(tenant_index_key(tenant_id), page_size=self.settings.page_size_max)
        return [escalation_from_row(r) for r in rows if isinstance(r, EscalationRow) and r.tenant_id == tenant_id]

    def list_closed(self, tenant_id: str, *, limit: int = 100) -> list[Escalation]:
        """The tenant's most recently opened closed escalations, newest first."""
        rows = EscalationRow.by_user.query(closed_index_key(tenant_id), scan_index_forward=False, limit=limit)
        return [escalation_from_row(r) for r in rows if isinstance(r, EscalationRow) and r.tenant_id == tenant_id]

    def list_for_session(self, tenant_id: str, session_id: str) -> list[Escalation]:
        """Every escalation of one session, oldest first."""
        rows = EscalationRow.query(
            f"T#{tenant_id}#S#{session_id}", range_key_condition=EscalationRow.sk.startswith("ESC#")
        )
        return [escalation_from_row(r) for r in rows if isinstance(r, EscalationRow)]

    def set_status(self, esc: Escalation, status: Status, **data: Any) -> Escalation:
        """Move ``esc`` to ``status`` with ``data`` merged in, if nobody changed its status meanwhile.

        A closed escalation leaves the open index. Raises :class:`EscalationConflictError` when the
        stored status is no longer ``esc.status``.
        """
        merged = {**esc.data, **{k: v for k, v in data.items() if v is not None}}
        index = closed_index_key(esc.tenant_id) if status == "closed" else tenant_index_key(esc.tenant_id)
        row = EscalationRow(pk=f"T#{esc.tenant_id}#S#{esc.session_id}", sk=f"ESC#{esc.escalation_id}")
        try:
            row.update(
                actions=[
                    EscalationRow.status.set(status),
                    EscalationRow.gsi1pk.set(index),
                    EscalationRow.data.set(merged),
                ],
                condition=EscalationRow.pk.exists() & (EscalationRow.status == esc.status),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise EscalationConflictError(esc.escalation_id) from exc
            raise
        return esc.model_copy(update={"status": status, "data": merged})


def escalation_from_row(row: EscalationRow) -> Escalation:
    return Escalation(
        escalation_id=row.escalation_id,
        tenant_id=row.tenant_id,
        session_id=row.session_id,
        user_id=row.user_id,
        assistant=row.assistant,
        channel=row.channel,
        urgency=row.urgency,
        reason=row.reason,
        status=row.status,
        created_at=row.created_at,
        data=dict(row.data or {}),
    )
