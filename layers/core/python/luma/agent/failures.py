"""Failure patterns of an agent run and the recovery each one gets.

The state machine catches any error of the agent step into ``$.error`` (``Error``/``Cause`` as
Step Functions reports them) and the failure handler asks :func:`classify_failure` what went wrong
and :func:`choose_recovery` what to do: try the fallback provider, escalate to a person, or
apologise — never a stack trace to the user.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from luma.llm.errors import LlmError, LlmErrorCode


class FailureKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    TOOL_ERROR = "tool_error"
    CONTEXT_TOO_LONG = "context_too_long"
    LOOP_DETECTED = "loop_detected"
    PROVIDER_DOWN = "provider_down"
    INTERNAL = "internal"


class Recovery(StrEnum):
    RETRY = "retry"  # the ASL retried already; a handler may ask for one more step
    FALLBACK = "fallback"  # the next step uses the fallback provider
    ESCALATE = "escalate"  # a person takes over; the user is told
    APOLOGIZE = "apologize"  # a user-safe apology
    ANSWER_NOW = "answer_now"  # one more step without tools: answer with what the run has


# Lambda errorType (the exception's class name) → failure kind.
_BY_ERROR: dict[str, FailureKind] = {
    "LlmRateLimited": FailureKind.RATE_LIMIT,
    "LlmTimeout": FailureKind.TIMEOUT,
    "States.Timeout": FailureKind.TIMEOUT,
    "Sandbox.Timedout": FailureKind.TIMEOUT,
    "LlmContextTooLong": FailureKind.CONTEXT_TOO_LONG,
    "LlmUnavailable": FailureKind.PROVIDER_DOWN,
    "LlmBadResponse": FailureKind.PROVIDER_DOWN,
    "LoopDetected": FailureKind.LOOP_DETECTED,
    "ToolFailed": FailureKind.TOOL_ERROR,
    "IterationLimit": FailureKind.LOOP_DETECTED,
}


class AgentStepError(Exception):
    """Base of the errors the agent step raises for the state machine (its class name is the error)."""


class LlmRateLimited(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


class LlmTimeout(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


class LlmContextTooLong(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


class LlmUnavailable(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


class LlmBadResponse(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


class LoopDetected(AgentStepError):  # noqa: N818 (the name is the state machine's error name)
    pass


_FROM_LLM: dict[LlmErrorCode, type[AgentStepError]] = {
    LlmErrorCode.LLM_RATE_LIMITED: LlmRateLimited,
    LlmErrorCode.LLM_TIMEOUT: LlmTimeout,
    LlmErrorCode.LLM_CONTEXT_TOO_LONG: LlmContextTooLong,
    LlmErrorCode.LLM_UNAVAILABLE: LlmUnavailable,
    LlmErrorCode.LLM_BAD_RESPONSE: LlmBadResponse,
}


def step_error(err: LlmError) -> AgentStepError:
    """The named exception the state machine's Retry/Catch match for an LLM error."""
    cls = _FROM_LLM.get(err.code, LlmUnavailable)
    return cls(f"{err.code.value}: {err.detail or ''}".strip())


def classify_failure(error: dict[str, Any] | None) -> FailureKind:
    """The failure pattern of a Step Functions error object (``{"Error", "Cause"}``)."""
    if not error:
        return FailureKind.INTERNAL
    name = str(error.get("Error", ""))
    if name in _BY_ERROR:
        return _BY_ERROR[name]
    cause = error.get("Cause")
    if isinstance(cause, str):
        try:
            cause_type = json.loads(cause).get("errorType", "")
        except (ValueError, AttributeError):
            cause_type = ""
        if cause_type in _BY_ERROR:
            return _BY_ERROR[cause_type]
    return FailureKind.INTERNAL


def choose_recovery(kind: FailureKind, *, has_fallback: bool, recoveries_left: int) -> Recovery:
    """What to do about a failure."""
    if kind in (FailureKind.RATE_LIMIT, FailureKind.PROVIDER_DOWN, FailureKind.TIMEOUT):
        return Recovery.FALLBACK if has_fallback and recoveries_left > 0 else Recovery.APOLOGIZE
    if kind is FailureKind.LOOP_DETECTED:
        return Recovery.ANSWER_NOW if recoveries_left > 0 else Recovery.ESCALATE
    if kind is FailureKind.TOOL_ERROR:
        return Recovery.ESCALATE
    return Recovery.APOLOGIZE
