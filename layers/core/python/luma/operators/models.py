"""Domain objects of the operators' side (rows stay in :mod:`luma.operators.rows`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from luma.domain.models import DeliveryTarget, utcnow
from luma.operators.escalations import Escalation


class OperatorConnection(BaseModel):
    """An open WebSocket connection of an operator."""

    tenant_id: str
    user_id: str
    connection_id: str
    endpoint: str | None = None
    connected_at: datetime = Field(default_factory=utcnow)
    source_ip: str | None = None
    user_agent: str | None = None

    def target(self, endpoint: str | None = None) -> DeliveryTarget:
        return DeliveryTarget(connection_id=self.connection_id, endpoint=endpoint or self.endpoint)


class Notice(BaseModel):
    """An inbox notice: an escalation the tenant's operators were told about."""

    tenant_id: str
    notice_id: str  # a ULID: the inbox cursor
    escalation_id: str
    session_id: str
    urgency: str
    created_at: datetime
    acked_by: str | None = None
    acked_at: datetime | None = None


class Address(BaseModel):
    """A WhatsApp/SMS user's address as Twilio gave it, and our number they wrote to."""

    channel: Literal["whatsapp", "sms"]
    to: str  # the user ("whatsapp:+33612345001", "+33612345001")
    via: str  # our number the user wrote to: replies are sent from it

    def target(self) -> DeliveryTarget:
        return DeliveryTarget(channel=self.channel, to_address=self.to, from_address=self.via)

    @classmethod
    def of(cls, target: DeliveryTarget) -> Address | None:
        if target.channel == "websocket" or not target.to_address or not target.from_address:
            return None
        return cls(channel=target.channel, to=target.to_address, via=target.from_address)


class Takeover(BaseModel):
    """Who holds a taken-over session, and where its WhatsApp/SMS user is answered."""

    tenant_id: str
    session_id: str
    operator_id: str
    taken_at: datetime
    address: Address | None = None


Action = Literal["takeOver", "operatorMessage", "handBack", "closeEscalation", "operatorSync", "ack"]


class AuditEntry(BaseModel):
    """One audited operator action: ids and outcome, never a message text or a note."""

    tenant_id: str
    operator_id: str
    action: Action
    outcome: str  # "ok" or an error code
    session_id: str | None = None
    escalation_id: str | None = None
    at: datetime = Field(default_factory=utcnow)
    details: dict[str, Any] = Field(default_factory=dict)


def escalation_view(esc: Escalation) -> dict[str, Any]:
    """An escalation as the console shows it in its queue."""
    data = esc.data
    return {
        "escalationId": esc.escalation_id,
        "sessionId": esc.session_id,
        "userId": esc.user_id,
        "urgency": esc.urgency,
        "reason": esc.reason,
        "channel": esc.channel,
        "assistant": esc.assistant,
        "status": esc.status,
        "createdAt": esc.created_at.isoformat(),
        "takenBy": data.get("takenBy"),
        "takenAt": data.get("takenAt"),
        "closedBy": data.get("closedBy"),
        "closedAt": data.get("closedAt"),
        "note": data.get("note"),
    }


def queue_order(escalations: list[Escalation]) -> list[Escalation]:
    """Urgent first, then the longest waiting."""
    return sorted(escalations, key=lambda e: (e.urgency != "urgent", e.created_at, e.escalation_id))
