"""What an assistant pack provides to the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from luma.domain.models import Route, Session, SessionStatus, Turn


@dataclass(frozen=True)
class FlowDecision:
    """A message claimed by a pending conversation step before classification."""

    intent: str
    reason: str
    route: Route = Route.FLOW


@dataclass
class FastPathResult:
    """A fast-path handler's answer; ``handoff`` sends the turn to the agent instead."""

    text: str = ""
    state: dict[str, Any] | None = None  # the new full session state, when it changed
    status: SessionStatus | None = None
    handoff: str | None = None
    intent: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


FastPathHandler = Callable[[Turn], FastPathResult]


class AssistantPack(Protocol):
    """An assistant: its name, intents, fast paths and conversation flows."""

    name: str

    def fast_path(self, intent: str) -> FastPathHandler | None:
        """The handler for an intent, or None when the intent always goes to the agent."""
        ...

    def pre_route(self, session: Session, text: str) -> FlowDecision | None:
        """Claim a message for a pending step (identity answer, yes/no) before classification."""
        ...


def load_pack(name: str) -> AssistantPack:
    """Import an assistant pack by name (``luma.assistants.<name>``)."""
    if name == "clinic":
        from luma.assistants.clinic import ClinicAssistant

        return ClinicAssistant()
    raise ValueError(f"unknown assistant {name!r}: set LUMA_ASSISTANT to one of: clinic")
