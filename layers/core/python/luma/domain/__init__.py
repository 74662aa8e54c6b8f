"""Domain objects (pydantic models): what the pipeline, stores and channels exchange."""

from luma.domain.models import (
    ChannelMessage,
    Connection,
    DeliveryTarget,
    MediaRef,
    Message,
    PhoneLink,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)

__all__ = [
    "ChannelMessage",
    "Connection",
    "DeliveryTarget",
    "MediaRef",
    "Message",
    "PhoneLink",
    "Principal",
    "Role",
    "Route",
    "RoutingDecision",
    "Session",
    "SessionStatus",
    "Turn",
]
