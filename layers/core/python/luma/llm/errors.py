"""Typed LLM errors with user-safe messages (never a stack trace, body or key)."""

from __future__ import annotations

from enum import StrEnum


class LlmErrorCode(StrEnum):
    """Why a model call failed."""

    LLM_RATE_LIMITED = "LLM_RATE_LIMITED"
    LLM_TIMEOUT = "LLM_TIMEOUT"
    LLM_UNAVAILABLE = "LLM_UNAVAILABLE"
    LLM_BAD_RESPONSE = "LLM_BAD_RESPONSE"
    LLM_CONTEXT_TOO_LONG = "LLM_CONTEXT_TOO_LONG"


_MESSAGES: dict[LlmErrorCode, str] = {
    LlmErrorCode.LLM_RATE_LIMITED: "The assistant is busy right now. Please try again in a moment.",
    LlmErrorCode.LLM_TIMEOUT: "The assistant took too long to answer. Please try again.",
    LlmErrorCode.LLM_UNAVAILABLE: "The assistant is temporarily unavailable. Please try again shortly.",
    LlmErrorCode.LLM_BAD_RESPONSE: "The assistant gave an answer we could not use. Please try again.",
    LlmErrorCode.LLM_CONTEXT_TOO_LONG: "This conversation is too long for the assistant. Please start a new one.",
}


class LlmError(Exception):
    """A failed model call: stable code, whether retrying may help, and the server's retry-after."""

    def __init__(
        self,
        code: LlmErrorCode,
        *,
        retryable: bool,
        retry_after: float | None = None,
        provider: str = "",
        status: int | None = None,
        detail: str = "",
    ) -> None:
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider = provider
        self.status = status
        # ``detail`` is a short, fixed, internal reason (e.g. "http_429", "stream_cut"), never SDK text.
        self.detail = detail
        self.message = _MESSAGES[code]
        super().__init__(f"{code}: {self.message}")

    def log_fields(self) -> dict[str, object]:
        """Fields safe to log."""
        return {
            "llm_code": self.code.value,
            "provider": self.provider,
            "status": self.status,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "detail": self.detail,
        }


def status_error(status: int, err_type: str, text: str, retry_after: float | None, provider: str) -> LlmError:
    """Map an HTTP status (or an in-stream error event's type) to a typed error."""
    if status == 429 or err_type == "rate_limit_error":
        code, retryable = LlmErrorCode.LLM_RATE_LIMITED, True
    elif status in (408, 504) or err_type == "timeout_error":
        code, retryable = LlmErrorCode.LLM_TIMEOUT, True
    elif status >= 500 or err_type in ("overloaded_error", "api_error"):
        code, retryable = LlmErrorCode.LLM_UNAVAILABLE, True
    elif (
        status == 413
        or err_type == "context_length_exceeded"
        or "prompt is too long" in text
        or ("context" in text and "length" in text)
    ):
        code, retryable = LlmErrorCode.LLM_CONTEXT_TOO_LONG, False
    elif status in (401, 403, 404):
        code, retryable = LlmErrorCode.LLM_UNAVAILABLE, False  # misconfigured key or model
    else:
        code, retryable = LlmErrorCode.LLM_BAD_RESPONSE, False
    return LlmError(
        code,
        retryable=retryable,
        retry_after=retry_after,
        provider=provider,
        status=status,
        detail=f"http_{status}" + (f"_{err_type}" if err_type else ""),
    )
