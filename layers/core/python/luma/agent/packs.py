"""The agent side of an assistant pack: tools, system prompt, limits, state rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luma.agent.limits import AgentLimits, resolve_limits
from luma.agent.tools import ToolRegistry
from luma.config import Settings
from luma.domain.models import Session, SessionStatus


@dataclass(frozen=True)
class AgentPack:
    """What the agent needs from an assistant."""

    tools: ToolRegistry
    system_prompt: Callable[[Session], str]
    apply_state: Callable[[Session, dict[str, Any]], tuple[dict[str, Any], SessionStatus | None]]
    allowed_output: frozenset[str] = frozenset()  # strings the output guardrail must not mask


def pack_limits(name: str) -> dict[str, Any]:
    """An assistant's own limits (without building its tools: the classify function needs only these)."""
    if name == "clinic":
        from luma.assistants.clinic.agent import LIMITS

        return LIMITS
    raise ValueError(f"unknown assistant {name!r}: set LUMA_ASSISTANT to one of: clinic")


def agent_limits_for(name: str, intent: str | None, env: dict[str, Any] | None = None) -> AgentLimits:
    """Assistant ``name``'s limits for an intent, with the environment's overrides."""
    return resolve_limits(intent, pack=pack_limits(name), env=env)


def load_agent_pack(name: str, settings: Settings) -> AgentPack:
    """The agent pack of assistant ``name`` (``luma.assistants.<name>.agent``)."""
    if name == "clinic":
        from luma.assistants.clinic import agent
        from luma.assistants.clinic.info import clinic_data

        phone = clinic_data()["clinic"]["phone"]
        return AgentPack(
            tools=agent.build(settings),
            system_prompt=agent.system_prompt,
            apply_state=agent.apply_state,
            allowed_output=frozenset({phone}),
        )
    raise ValueError(f"unknown assistant {name!r}: set LUMA_ASSISTANT to one of: clinic")
