"""Client frame validation and server frame builders (see docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from luma.domain.models import Message, RoutingDecision
from luma.errors import ErrorCode, LumaError


class SendMessageFrame(BaseModel):
    """``{"action": "sendMessage", "text", "clientMessageId", "sessionId"?}``."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: Literal["sendMessage"]
    text: str = Field(min_length=1)
    client_message_id: str = Field(alias="clientMessageId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    session_id: str | None = Field(None, alias="sessionId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")


def load_object(body: str | None) -> dict[str, Any]:
    """A frame's JSON object, or ``MALFORMED_JSON``."""
    try:
        data = json.loads(body or "")
    except (ValueError, TypeError) as exc:
        raise LumaError(ErrorCode.MALFORMED_JSON) from exc
    if not isinstance(data, dict):
        raise LumaError(ErrorCode.MALFORMED_JSON)
    return data


def validation_failed(exc: ValidationError, **details: Any) -> LumaError:
    """``VALIDATION_FAILED`` naming each field and its problem (never the values)."""
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
    return LumaError(ErrorCode.VALIDATION_FAILED, errors=errors, **details)


def parse_send_message(body: str | None, *, max_chars: int) -> SendMessageFrame:
    """Validate a raw frame; every failure is a typed :class:`LumaError`."""
    data = load_object(body)
    action = data.get("action")
    if action != "sendMessage":
        raise LumaError(ErrorCode.UNKNOWN_ACTION, action=action if isinstance(action, str) else None)
    text = data.get("text")
    if isinstance(text, str) and len(text) > max_chars:
        raise LumaError(
            ErrorCode.TEXT_TOO_LONG, maxChars=max_chars, clientMessageId=_str_or_none(data.get("clientMessageId"))
        )
    try:
        return SendMessageFrame.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, clientMessageId=_str_or_none(data.get("clientMessageId"))) from exc


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= 64 else None


def message_frame(reply: Message, decision: RoutingDecision, client_message_id: str | None) -> dict[str, Any]:
    """A complete assistant reply."""
    return {
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


def status_frame(status: str, session_id: str | None, **fields: Any) -> dict[str, Any]:
    """A progress/state frame."""
    frame: dict[str, Any] = {"type": "status", "status": status, "sessionId": session_id}
    frame.update({k: v for k, v in fields.items() if v is not None})
    return frame


def error_frame(
    error: LumaError, *, client_message_id: str | None = None, session_id: str | None = None
) -> dict[str, Any]:
    """A typed error with a user-safe message."""
    details = dict(error.details)
    client_message_id = client_message_id or details.pop("clientMessageId", None)
    details.pop("clientMessageId", None)
    frame: dict[str, Any] = {"type": "error", "code": error.code.value, "message": error.message}
    if client_message_id:
        frame["clientMessageId"] = client_message_id
    if session_id:
        frame["sessionId"] = session_id
    if details:
        frame["details"] = details
    return frame
