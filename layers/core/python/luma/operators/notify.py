"""The ``escalations`` stream consumer's logic: each new escalation item becomes an inbox notice."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pynamodb.attributes import UTCDateTimeAttribute

from luma.operators.escalations import Escalation
from luma.streams import Change

_DATETIME = UTCDateTimeAttribute()


def escalation_from_image(image: Mapping[str, Any]) -> Escalation | None:
    """The escalation in a stream image (None for any other item)."""
    if image.get("kind") != "escalation" or not str(image.get("sk", "")).startswith("ESC#"):
        return None
    raw = image.get("data")
    data = json.loads(raw) if isinstance(raw, str) and raw else {}
    return Escalation(
        escalation_id=str(image["escalation_id"]),
        tenant_id=str(image["tenant_id"]),
        session_id=str(image["session_id"]),
        user_id=str(image["user_id"]),
        assistant=str(image["assistant"]),
        channel=str(image["channel"]),
        urgency="urgent" if image.get("urgency") == "urgent" else "normal",
        reason=str(image.get("reason") or ""),
        status=image.get("status") if image.get("status") in ("open", "taken", "closed") else "open",
        created_at=_DATETIME.deserialize(str(image["created_at"])),
        data=data if isinstance(data, dict) else {},
    )


def on_escalation_change(change: Change) -> None:
    """A new escalation: notify its tenant's operators (status changes are told by the actions themselves)."""
    if change.event_name != "INSERT" or change.new_image is None:
        return
    esc = escalation_from_image(change.new_image)
    if esc is None:
        return
    from luma.operators import wiring

    wiring.service().notify(esc)
