"""Escalations: a person asked for (or a run needed) a member of staff.

An escalation is an item of the conversations table in its session's partition (``sk = ESC#<ulid>``),
listed per tenant through the ``by_user`` index (``gsi1pk = T#<tenant>#ESC``, newest last). Writing it
is all a caller does: the ``escalations`` stream consumer notifies the tenant's operators, so the
notice survives restarts and never depends on a connection being open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

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
    return f"T#{tenant_id}#ESC"


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
