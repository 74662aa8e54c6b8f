"""The clinic pack: what the clinic assistant declares to the core (see :mod:`luma.assistants.contract`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from luma.assistants.clinic import parsing
from luma.assistants.contract import (
    AssistantPack,
    FastPathHandler,
    FastPathResult,
    FlowDecision,
    IdentityRule,
    ModelTier,
    TableSpec,
)
from luma.domain.models import Message, Session, Turn

if TYPE_CHECKING:
    from luma.agent.tools import ToolRegistry
    from luma.assistants.clinic.fastpaths import ClinicFastPaths
    from luma.assistants.clinic.repo import ClinicRepository
    from luma.config import Settings
    from luma.identity import IdentityAttempts
    from luma.operators.escalations import EscalationRepository

# Steps of a conversation claimed before classification (never predicted by the classifier).
FLOWS = frozenset({"verify_identity", "cancel_confirm"})


def _verified(state: Mapping[str, Any]) -> bool:
    return "verified_patient_id" in state


class ClinicPack(AssistantPack):
    """A medical practice: identity check, appointments (list, confirm, cancel, reschedule), hours, sites, staff."""

    name = "clinic"
    display_name = "Clinic assistant"
    limits = {"max_iterations": 6, "intents": {"reschedule_appointment": {"max_iterations": 7}}}
    models: ClassVar[Mapping[str, ModelTier]] = {"*": "fast", "reschedule_appointment": "strong"}
    keep_keys = frozenset({"id", "appointment_id", "start", "when", "weekday", "status", "doctor", "reason"})
    tables = (TableSpec("data", "patients, their identity index and appointments"),)
    lexicon = {
        "en": "appointment appointments doctor",
        "es": "cita citas",
        "pt": "consulta consultas",
        "de": "termin termine",
        "it": "appuntamento appuntamenti",
        "ro": "programare programarea programări",
        "pl": "wizyta wizytę wizyty",
        "fr": "rendez-vous",
    }

    def __init__(
        self,
        *,
        repo: ClinicRepository | None = None,
        attempts: IdentityAttempts | None = None,
        escalations: EscalationRepository | None = None,
    ) -> None:
        super().__init__()
        self._repo = repo
        self._attempts = attempts
        self._escalations = escalations

    @cached_property
    def repo(self) -> ClinicRepository:
        from luma.assistants.clinic.repo import DynamoClinicRepository

        return self._repo or DynamoClinicRepository(self.settings)

    @cached_property
    def attempts(self) -> IdentityAttempts:
        from luma.identity import IdentityAttempts

        return self._attempts or IdentityAttempts(self.settings)

    @cached_property
    def escalations(self) -> EscalationRepository:
        from luma.operators.escalations import EscalationRepository

        return self._escalations or EscalationRepository(self.settings)

    @cached_property
    def handlers(self) -> ClinicFastPaths:
        from luma.assistants.clinic.fastpaths import ClinicFastPaths

        return ClinicFastPaths(self.repo, self.settings, attempts=self.attempts, escalations=self.escalations)

    @cached_property
    def _fast_intents(self) -> frozenset[str]:
        from luma.classify.pack import fast_path_intents

        return fast_path_intents(self.name) | FLOWS

    # -- routing ---------------------------------------------------------------------------------
    def fast_path(self, intent: str) -> FastPathHandler | None:
        if intent not in self._fast_intents:
            return None

        def run(turn: Turn) -> FastPathResult:
            return self.handlers.handle(intent, turn)

        return run

    def pre_route(self, session: Session, message: Message) -> FlowDecision | None:
        awaiting = session.state.get("awaiting")
        text = message.text
        if awaiting == "identity" and parsing.parse_identity(text) is not None:
            return FlowDecision(intent="verify_identity", reason="awaiting_identity")
        if awaiting == "cancel_confirm" and (parsing.is_yes(text) or parsing.is_no(text)):
            return FlowDecision(intent="cancel_confirm", reason="awaiting_confirmation")
        return None

    # -- agent -----------------------------------------------------------------------------------
    def tools(self) -> ToolRegistry:
        from luma.assistants.clinic.agent import ClinicTools, registry

        return registry(ClinicTools(self.repo, self.settings, attempts=self.attempts, escalations=self.escalations))

    def identity(self) -> IdentityRule:
        return IdentityRule(
            verified=_verified,
            instructions="The user's identity is not verified. Ask for their full name and date of birth, then "
            "call verify_identity.",
        )

    def system_prompt(self, session: Session) -> str:
        from luma.assistants.clinic.agent import system_prompt

        return system_prompt()

    def session_context(self, session: Session) -> str:
        from luma.assistants.clinic.agent import session_context

        return session_context(session)

    def allowed_output(self) -> frozenset[str]:
        from luma.assistants.clinic.info import clinic_data

        return frozenset({clinic_data()["clinic"]["phone"]})

    # -- data ------------------------------------------------------------------------------------
    def seed(self, settings: Settings, *, today: date | None = None) -> int:
        from luma.assistants.clinic.seed import seed_demo_data

        return seed_demo_data(settings, today=today)

    def erase_user(self, settings: Settings, tenant_id: str, user_id: str) -> int:
        """Unlink the account from its patient record (the practice keeps its medical records)."""
        return self.repo.unlink_user(tenant_id, user_id)

    def demo_users(self) -> list[dict[str, Any]]:
        from luma.assistants.clinic.info import clinic_data

        data = clinic_data()
        out = []
        for p in data["patients"]:
            born = date.fromisoformat(p["dob"]).strftime("%d/%m/%Y")
            out.append(
                {
                    "userId": p["user_id"],
                    "tenantId": data["demo_tenant"],
                    "name": p["name"],
                    "identityHint": f"{p['name']}, {born}",
                    "phone": p.get("phone"),
                }
            )
        return out
