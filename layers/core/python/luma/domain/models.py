"""Core domain models. Persistence rows live in ``luma.store``; these never touch DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


class Principal(BaseModel):
    """Who is talking: an authenticated user of one tenant."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:+@-]+$")
    display_name: str | None = None
    # "operator": staff of the tenant (escalations, takeover, security and usage summaries).
    role: Literal["user", "operator"] = "user"


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
    # Paused by an operator who took the conversation over: no bot reply until hand-back.
    TAKEN_OVER = "taken_over"


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
    # Agent tool calls run in this session (``max_tools_per_session``).
    tool_calls: int = 0
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
    # A fixed answer of the guard (a crisis reply, a refusal): never left to a model.
    SAFETY = "safety"
    # A person (an operator who took the conversation over).
    OPERATOR = "operator"


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


Channel = Literal["websocket", "whatsapp", "sms"]


class DeliveryTarget(BaseModel):
    """Where replies for a turn go: a WebSocket connection, or a WhatsApp/SMS address through Twilio."""

    channel: Channel = "websocket"
    # WebSocket: the connection and its API Gateway management endpoint (https://domain/stage).
    connection_id: str | None = None
    endpoint: str | None = None
    # Twilio: the user's address as Twilio gave it ("whatsapp:+33612345001", "+33612345001") and our
    # number the user wrote to (replies are sent from it).
    to_address: str | None = None
    from_address: str | None = None

    @model_validator(mode="after")
    def _addressed(self) -> DeliveryTarget:
        if self.channel == "websocket" and not self.connection_id:
            raise ValueError("a websocket target needs connection_id")
        if self.channel != "websocket" and not (self.to_address and self.from_address):
            raise ValueError(f"a {self.channel} target needs to_address and from_address")
        return self


class MediaRef(BaseModel):
    """An attachment of a channel message: where to fetch it and its MIME type."""

    url: str
    content_type: str


class ChannelMessage(BaseModel):
    """A WhatsApp/SMS message as the Twilio webhook hands it to classify (the async invoke payload).

    Channel-neutral on purpose: classify resolves the sender to a user, fetches media and runs the
    same pipeline as for a WebSocket frame. ``external_id`` (Twilio's ``MessageSid``) is the
    idempotency key: Twilio retries a webhook with the same one.
    """

    kind: Literal["channel_message"] = "channel_message"
    channel: Literal["whatsapp", "sms"]
    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    external_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    account_id: str | None = None  # Twilio AccountSid
    sender: str = Field(min_length=1, max_length=256)  # "From" as received
    recipient: str = Field(min_length=1, max_length=256)  # "To": our number
    text: str = ""
    media: list[MediaRef] = Field(default_factory=list)
    # The assistant our number serves (None: the tenant's default) and a pressed button's payload.
    assistant: str | None = Field(None, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    choice: str | None = Field(None, max_length=128)
    profile_name: str | None = None
    received_at: datetime = Field(default_factory=utcnow)


class PhoneLink(BaseModel):
    """A phone number (E.164) linked to a user of a tenant: how WhatsApp/SMS senders are known."""

    tenant_id: str
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    user_id: str
    display_name: str | None = None
    # True for a pseudonymous user created for an unknown sender (tenants that allow it).
    anonymous: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Turn(BaseModel):
    """Everything a downstream step (fast path, agent) needs about one inbound message."""

    principal: Principal
    session: Session
    message: Message
    decision: RoutingDecision
    delivery: DeliveryTarget
    client_message_id: str | None = None
