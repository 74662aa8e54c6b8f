"""``POST /events``: client-side events (page shown, reconnects, errors seen by the user, ...).

Accepted best-effort: the answer is always 202, whatever the body, so an analytics call can never
break a client. The body (one event, or a JSON array of at most ``MAX_EVENTS``) is bounded at
``MAX_BODY_BYTES``; larger bodies are ignored unread beyond that size. Every valid event becomes one
``ClientEvents`` metric (dimension ``event``: the name when it is a known one, else ``other``, so a
client cannot create unbounded metric series) and one PII-masked log line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, field_validator

from luma.domain.models import Principal
from luma.observability import emit, logger

MAX_BODY_BYTES = 16 * 1024
MAX_EVENTS = 20
MAX_PROPS = 20
MAX_PROP_CHARS = 256
METRIC = "ClientEvents"  # Count, dimensions: service, event (not a dashboard metric)
DIM_EVENT = "event"
# Names drawn as their own series; anything else is counted under "other" (and logged by name).
KNOWN_EVENTS = frozenset(
    {
        "page_view",
        "session_start",
        "session_end",
        "message_sent",
        "message_shown",
        "ws_connected",
        "ws_reconnect",
        "ws_error",
        "catch_up",
        "client_error",
        "feedback",
    }
)

EventName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$")]
PropKey = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")]
PropValue = Annotated[str, StringConstraints(max_length=MAX_PROP_CHARS)] | int | float | bool | None


class ClientEvent(BaseModel):
    """One client-side event."""

    model_config = ConfigDict(extra="ignore")

    name: EventName
    ts: datetime = Field(description="When it happened on the client (ISO 8601 or epoch seconds).")
    sessionId: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    props: dict[PropKey, PropValue] = Field(default_factory=dict, description=f"At most {MAX_PROPS} scalar values.")

    @field_validator("props")
    @classmethod
    def _few_props(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_PROPS:
            raise ValueError(f"at most {MAX_PROPS} props")
        return value


_BATCH = TypeAdapter(list[ClientEvent])
_ONE = TypeAdapter(ClientEvent)


def request_body_schema() -> dict[str, Any]:
    """The OpenAPI request body: one event or an array of events (documented, parsed by hand)."""
    one = _ONE.json_schema(ref_template="#/components/schemas/{model}")
    one.pop("$defs", None)
    return {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"anyOf": [one, {"type": "array", "items": one, "maxItems": MAX_EVENTS}]},
            }
        },
    }


def parse(body: bytes) -> tuple[list[ClientEvent], str | None]:
    """The valid events of a body and why the rest was dropped (None when all were valid)."""
    if len(body) > MAX_BODY_BYTES:
        return [], "too_large"
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return [], "malformed_json"
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > MAX_EVENTS:
        return [], "too_many"
    events: list[ClientEvent] = []
    dropped = 0
    for item in items:
        try:
            events.append(_ONE.validate_python(item))
        except ValidationError:
            dropped += 1
    return events, ("invalid" if dropped else None)


def record(events: list[ClientEvent], principal: Principal | None, *, dropped: str | None = None) -> None:
    """Emit one metric and one (masked) log line per event."""
    for event in events:
        series = event.name if event.name in KNOWN_EVENTS else "other"
        emit(METRIC, 1, dimensions={DIM_EVENT: series})
        logger.info(
            "client event",
            extra={
                "client_event": event.name,
                "client_ts": event.ts.isoformat(),
                "session_id": event.sessionId,
                "props": event.props,
                "tenant_id": principal.tenant_id if principal else None,
                "user_id": principal.user_id if principal else None,
            },
        )
    if dropped:
        logger.info("client events dropped", extra={"reason": dropped, "accepted": len(events)})
