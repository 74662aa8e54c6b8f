"""Client frame validation and server frame builders (see docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from luma.domain.models import Message, RoutingDecision
from luma.errors import ErrorCode, LumaError

if TYPE_CHECKING:
    from luma.assistants.contract import Choice


def load_object(body: str | None) -> dict[str, Any]:
    """A frame's JSON object, or ``MALFORMED_JSON``."""
    try:
        data = json.loads(body or "")
    except (ValueError, TypeError, RecursionError) as exc:  # a 32 KB frame can nest 16,000 levels
        raise LumaError(ErrorCode.MALFORMED_JSON) from exc
    if not isinstance(data, dict):
        raise LumaError(ErrorCode.MALFORMED_JSON)
    return data


def validation_failed(exc: ValidationError, **details: Any) -> LumaError:
    """``VALIDATION_FAILED`` naming each field and its problem (never the values)."""
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
    return LumaError(ErrorCode.VALIDATION_FAILED, errors=errors, **details)


def message_frame(
    reply: Message,
    decision: RoutingDecision,
    client_message_id: str | None,
    *,
    assistant: str | None = None,
    language: str | None = None,
    choices: Sequence[Choice] = (),
) -> dict[str, Any]:
    """A complete assistant reply (with the menu options it offers, if any)."""
    frame: dict[str, Any] = {
        "type": "message",
        "sessionId": reply.session_id,
        "messageId": reply.message_id,
        "replyTo": client_message_id,
        "role": reply.role.value,
        "text": reply.text,
        "intent": reply.intent,
        "confidence": round(decision.confidence, 4),
        "route": reply.route.value if reply.route else decision.route.value,
        "createdAt": reply.created_at.isoformat(),
    }
    if assistant:
        frame["assistant"] = assistant
    if language:
        frame["language"] = language
    if choices:
        frame["choices"] = [{"id": c.id, "label": c.label} for c in choices]
    return frame


def status_frame(status: str, session_id: str | None, **fields: Any) -> dict[str, Any]:
    """A progress/state frame."""
    frame: dict[str, Any] = {"type": "status", "status": status, "sessionId": session_id}
    frame.update({k: v for k, v in fields.items() if v is not None})
    return frame


def error_frame(
    error: LumaError,
    *,
    client_message_id: str | None = None,
    session_id: str | None = None,
    language: str | None = None,
    assistant: str | None = None,
) -> dict[str, Any]:
    """A typed error with a user-safe message (in ``language``, worded by ``assistant``'s pack if it does)."""
    details = dict(error.details)
    client_message_id = client_message_id or details.pop("clientMessageId", None)
    details.pop("clientMessageId", None)
    message = error.user_text(language, assistant) if language else error.message
    frame: dict[str, Any] = {"type": "error", "code": error.code.value, "message": message}
    if client_message_id:
        frame["clientMessageId"] = client_message_id
    if session_id:
        frame["sessionId"] = session_id
    if details:
        frame["details"] = details
    return frame
