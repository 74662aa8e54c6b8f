"""Typed errors with stable codes and user-safe messages.

Each transport maps :class:`LumaError` to its own shape in one place: an ``error`` frame on the
WebSocket, a 4xx JSON body over HTTP, a polite text on WhatsApp.
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
    SESSION_LOCKED = "SESSION_LOCKED"
    IDENTITY_NOT_VERIFIED = "IDENTITY_NOT_VERIFIED"
    DUPLICATE_MESSAGE = "DUPLICATE_MESSAGE"
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    LLM_UNAVAILABLE = "LLM_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INTERNAL = "INTERNAL"


_USER_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "The request could not be understood.",
    ErrorCode.MALFORMED_JSON: "The message was not valid JSON. Send a JSON object with an 'action'.",
    ErrorCode.UNKNOWN_ACTION: "Unknown action. Supported actions: sendMessage.",
    ErrorCode.VALIDATION_FAILED: "The message is missing required fields or has invalid values.",
    ErrorCode.TEXT_TOO_LONG: "The message is too long. Please shorten it and send it again.",
    ErrorCode.FRAME_TOO_LARGE: "The frame exceeds the 32 KB limit.",
    ErrorCode.AUTH_REQUIRED: "Sign in to continue.",
    ErrorCode.AUTH_INVALID_TOKEN: "Your sign-in is not valid. Sign in again.",
    ErrorCode.AUTH_EXPIRED_TOKEN: "Your sign-in has expired. Sign in again.",
    ErrorCode.SIGNATURE_INVALID: "The request signature is not valid.",
    ErrorCode.SENDER_NOT_LINKED: (
        "Hello! This number isn't linked to an account with us yet, so I can't help you here. "
        "Please contact us by phone or sign in to the web chat."
    ),
    ErrorCode.MEDIA_UNSUPPORTED: "Sorry, I can only read text messages here. Please type your message.",
    ErrorCode.SESSION_NOT_FOUND: "That conversation was not found. Start a new one by omitting sessionId.",
    ErrorCode.SESSION_LOCKED: (
        "This conversation is locked after too many failed identity checks. Please call the clinic to continue."
    ),
    ErrorCode.IDENTITY_NOT_VERIFIED: "Please verify your identity first.",
    ErrorCode.DUPLICATE_MESSAGE: "This message was already received.",
    ErrorCode.AGENT_UNAVAILABLE: "The assistant cannot answer open questions right now.",
    ErrorCode.LLM_UNAVAILABLE: "The assistant is temporarily unavailable. Please try again shortly.",
    ErrorCode.RATE_LIMITED: "You are sending messages too quickly. Please wait a moment.",
    ErrorCode.QUOTA_EXCEEDED: "You have reached today's usage limit for the assistant. Please try again tomorrow.",
    ErrorCode.INTERNAL: "Something went wrong on our side. Please try again.",
}

_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID_TOKEN: 401,
    ErrorCode.AUTH_EXPIRED_TOKEN: 401,
    ErrorCode.SIGNATURE_INVALID: 403,
    ErrorCode.SENDER_NOT_LINKED: 403,
    ErrorCode.MEDIA_UNSUPPORTED: 415,
    ErrorCode.SESSION_NOT_FOUND: 404,
    ErrorCode.SESSION_LOCKED: 423,
    ErrorCode.IDENTITY_NOT_VERIFIED: 403,
    ErrorCode.DUPLICATE_MESSAGE: 409,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.TEXT_TOO_LONG: 413,
    ErrorCode.FRAME_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.AGENT_UNAVAILABLE: 503,
    ErrorCode.LLM_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class LumaError(Exception):
    """An error a client is told about: a code, a user-safe message, optional details."""

    def __init__(self, code: ErrorCode, message: str | None = None, **details: Any) -> None:
        self.code = code
        self.message = message or _USER_MESSAGES[code]
        self.details = details
        super().__init__(f"{code}: {self.message}")

    @property
    def http_status(self) -> int:
        """The HTTP status for this error (400 unless mapped)."""
        return _HTTP_STATUS.get(self.code, 400)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready body: ``{"code", "message", **details}``."""
        return {"code": self.code.value, "message": self.message, **self.details}


def user_message(code: ErrorCode) -> str:
    """The default user-safe message for a code."""
    return _USER_MESSAGES[code]
