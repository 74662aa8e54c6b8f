"""Core domain models. Persistence rows live in ``luma.store``; these never touch DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


class Principal(BaseModel):
    """Who is talking: an authenticated user of one tenant."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:+@-]+$")
    display_name: str | None = None


class Connection(BaseModel):
    """An open WebSocket connection."""

    connection_id: str
    tenant_id: str
    user_id: str
    connected_at: datetime = Field(default_factory=utcnow)
    source_ip: str | None = None
    user_agent: str | None = None


class SessionStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    LOCKED = "locked"


class Session(BaseModel):
    """A conversation between one user and one assistant."""

    tenant_id: str
    session_id: str
    user_id: str
    assistant: str
    channel: Literal["websocket", "whatsapp", "sms", "http"] = "websocket"
    status: SessionStatus = SessionStatus.ACTIVE
    language: str = "en"
    created_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    message_count: int = 0
    # Assistant-owned conversation state (identity verified, pending confirmation, ...).
    state: dict[str, Any] = Field(default_factory=dict)
    # Optimistic-concurrency version, bumped on every write.
    version: int = 0


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class Route(StrEnum):
    FAST_PATH = "fast_path"
    AGENT = "agent"
    # Handled inside the pipeline before classification (e.g. an awaited identity answer).
    FLOW = "flow"


class Message(BaseModel):
    """One message of a session (one DynamoDB item, never a growing list)."""

    tenant_id: str
    session_id: str
    message_id: str  # ULID: sorts by time
    role: Role
    text: str
    created_at: datetime = Field(default_factory=utcnow)
    client_message_id: str | None = None
    reply_to: str | None = None  # for assistant messages: the inbound message id
    intent: str | None = None
    route: Route | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class RoutingDecision(BaseModel):
    """What the classifier decided for one inbound message, stored for audit."""

    tenant_id: str
    session_id: str
    message_id: str
    intent: str | None = None
    confidence: float
    margin: float
    route: Route
    reason: str
    latency_ms: float
    classifier: str = "minilm-softmax-knn"
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryTarget(BaseModel):
    """Where replies for a turn go."""

    channel: Literal["websocket"] = "websocket"
    connection_id: str
    endpoint: str | None = None  # API Gateway management endpoint (https://domain/stage)


class Turn(BaseModel):
    """Everything a downstream step (fast path, agent) needs about one inbound message."""

    principal: Principal
    session: Session
    message: Message
    decision: RoutingDecision
    delivery: DeliveryTarget
    client_message_id: str | None = None
