"""Every limit of an agent run, in one place.

Defaults here, then the assistant pack's overrides (per assistant and per intent), then
``LUMA_AGENT_LIMITS`` (JSON, same shape as :class:`AgentLimits`, plus ``"intents": {...}``) —
the environment wins, so an operator can tighten a limit without a release.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AgentLimits(BaseModel):
    """Limits of one agent run (a user turn answered by the agent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_iterations: int = Field(6, gt=0, le=50)  # AgentStep calls (LLM calls) per run
    max_tools_per_turn: int = Field(8, gt=0)  # tool calls per run
    max_tools_per_step: int = Field(4, gt=0)  # tool calls the model may make in one step
    max_tools_per_session: int = Field(60, gt=0)
    # Anti-paralysis: this many read-only calls in a row with no new result → answer now.
    max_readonly_streak: int = Field(4, gt=0)
    # The same call (name + arguments) this many times in a run → loop detected.
    max_repeated_call: int = Field(2, gt=0)
    max_output_tokens: int = Field(1024, gt=0)
    context_tokens: int = Field(6000, gt=0)  # recent messages + summary budget
    tool_timeout_s: float = Field(10.0, gt=0)
    tool_result_chars: int = Field(4000, gt=0)  # a longer result is truncated before the model sees it
    approval_timeout_s: int = Field(600, gt=0)
    heartbeat_s: float = Field(5.0, gt=0)
    recoveries: int = Field(1, ge=0)  # failure recoveries (fallback provider, retry) per run


def resolve_limits(
    intent: str | None,
    *,
    pack: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
) -> AgentLimits:
    """Defaults ← pack (``{..., "intents": {intent: {...}}}``) ← env, each level the same shape."""
    merged: dict[str, Any] = {}
    for level in (pack or {}, env or {}):
        merged.update({k: v for k, v in level.items() if k != "intents"})
        if intent is not None:
            merged.update((level.get("intents") or {}).get(intent, {}))
    return AgentLimits(**merged)
