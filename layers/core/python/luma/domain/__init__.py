"""Domain objects (pydantic models): what the pipeline, stores and channels exchange."""

from luma.domain.models import (
    Connection,
    DeliveryTarget,
    Message,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)

__all__ = [
    "Connection",
    "DeliveryTarget",
    "Message",
    "Principal",
    "Role",
    "Route",
    "RoutingDecision",
    "Session",
    "SessionStatus",
    "Turn",
]
