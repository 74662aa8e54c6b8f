"""Typed errors as data: a stable code, an HTTP status and a text key of the catalogue (:mod:`luma.texts`).

Each transport maps :class:`LumaError` to its own shape in one place: an ``error`` frame on the
WebSocket, a 4xx JSON body over HTTP, a polite text on WhatsApp/SMS in the person's language.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes clients may branch on (documented in docs/protocol.md)."""

    BAD_REQUEST = "BAD_REQUEST"
    MALFORMED_JSON = "MALFORMED_JSON"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID_TOKEN = "AUTH_INVALID_TOKEN"
    AUTH_EXPIRED_TOKEN = "AUTH_EXPIRED_TOKEN"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SENDER_NOT_LINKED = "SENDER_NOT_LINKED"
    MEDIA_UNSUPPORTED = "MEDIA_UNSUPPORTED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    REPORT_NOT_FOUND = "REPORT_NOT_FOUND"
    ERASURE_JOB_NOT_FOUND = "ERASURE_JOB_NOT_FOUND"
    SESSION_LOCKED = "SESSION_LOCKED"
    IDENTITY_LOCKED = "IDENTITY_LOCKED"
    ASSISTANT_NOT_AVAILABLE = "ASSISTANT_NOT_AVAILABLE"
    BLOCKED = "BLOCKED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INTERNAL = "INTERNAL"


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID_TOKEN: 401,
    ErrorCode.AUTH_EXPIRED_TOKEN: 401,
    ErrorCode.SIGNATURE_INVALID: 403,
    ErrorCode.SENDER_NOT_LINKED: 403,
    ErrorCode.MEDIA_UNSUPPORTED: 415,
    ErrorCode.SESSION_NOT_FOUND: 404,
    ErrorCode.REPORT_NOT_FOUND: 404,
    ErrorCode.ERASURE_JOB_NOT_FOUND: 404,
    ErrorCode.SESSION_LOCKED: 423,
    ErrorCode.IDENTITY_LOCKED: 423,
    ErrorCode.ASSISTANT_NOT_AVAILABLE: 403,
    ErrorCode.BLOCKED: 403,
    ErrorCode.APPROVAL_EXPIRED: 410,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.TEXT_TOO_LONG: 413,
    ErrorCode.FRAME_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.AGENT_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class LumaError(Exception):
    """An error a client is told about: a code, a user-safe message, optional details.

    ``message`` is the English text API clients read (the catalogue's ``error.<CODE>`` unless given);
    people on a channel read :meth:`user_text` in their language, where a pack may word it its own way.
    ``text_values`` fill the text's placeholders; ``details`` travel in the error body.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        text_key: str | None = None,
        text_values: dict[str, Any] | None = None,
        **details: Any,
    ) -> None:
        self.code = code
        self.text_key = text_key or f"error.{code.value}"
        self.text_values = text_values or {}
        self.custom_message = message is not None
        self.message = message or _text(self.text_key, "en", None, self.text_values)
        self.details = details
        super().__init__(f"{code}: {self.message}")

    @property
    def http_status(self) -> int:
        """The HTTP status for this error (400 unless mapped)."""
        return _HTTP_STATUS.get(self.code, 400)

    def user_text(self, language: str, assistant: str | None = None) -> str:
        """What a person reads, in ``language`` (a pack's wording first)."""
        if self.custom_message and self.text_key == f"error.{self.code.value}":
            return self.message
        return _text(self.text_key, language, assistant, self.text_values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready body: ``{"code", "message", **details}``."""
        return {"code": self.code.value, "message": self.message, **self.details}


def _text(key: str, language: str, assistant: str | None, values: dict[str, Any]) -> str:
    from luma.texts import text

    return text(key, language, assistant=assistant, **values)


def user_message(code: ErrorCode, language: str = "en", assistant: str | None = None) -> str:
    """The user-safe message for a code."""
    return _text(f"error.{code.value}", language, assistant, {})
