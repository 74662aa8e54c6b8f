"""The clinic assistant: identity verification, appointments, hours, locations, escalation."""

from __future__ import annotations

from functools import cached_property

from luma.assistants.base import FastPathHandler, FastPathResult, FlowDecision
from luma.assistants.clinic import parsing
from luma.assistants.clinic.fastpaths import ClinicFastPaths
from luma.assistants.clinic.repo import ClinicRepository, DynamoClinicRepository
from luma.config import Settings, get_settings
from luma.domain.models import Session, Turn

# Intents answered by a fast path when confident; anything else goes to the agent.
FAST_PATH_INTENTS = frozenset(
    {
        "greeting",
        "goodbye",
        "clinic_hours",
        "clinic_location",
        "list_appointments",
        "confirm_appointment",
        "cancel_appointment",
        "escalate_to_human",
    }
)
FLOW_INTENTS = frozenset({"verify_identity", "cancel_confirm"})


class ClinicAssistant:
    """The clinic pack; its data repository is injected (DynamoDB by default)."""

    name = "clinic"

    def __init__(self, *, repo: ClinicRepository | None = None, settings: Settings | None = None) -> None:
        self._repo = repo
        self._settings = settings

    @cached_property
    def handlers(self) -> ClinicFastPaths:
        settings = self._settings or get_settings()
        return ClinicFastPaths(self._repo or DynamoClinicRepository(settings), settings)

    def fast_path(self, intent: str) -> FastPathHandler | None:
        if intent not in FAST_PATH_INTENTS | FLOW_INTENTS:
            return None

        def run(turn: Turn) -> FastPathResult:
            return self.handlers.handle(intent, turn)

        return run

    def pre_route(self, session: Session, text: str) -> FlowDecision | None:
        awaiting = session.state.get("awaiting")
        if awaiting == "identity" and parsing.parse_identity(text) is not None:
            return FlowDecision(intent="verify_identity", reason="awaiting_identity")
        if awaiting == "cancel_confirm" and (parsing.is_yes(text) or parsing.is_no(text)):
            return FlowDecision(intent="cancel_confirm", reason="awaiting_confirmation")
        return None
