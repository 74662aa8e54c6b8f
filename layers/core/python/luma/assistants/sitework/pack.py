"""The sitework pack: what the field-work assistant declares to the core (see :mod:`luma.assistants.contract`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from luma.assistants.contract import (
    AssistantPack,
    FastPathHandler,
    FastPathResult,
    FlowDecision,
    ModelTier,
    SessionPolicy,
    TableSpec,
)
from luma.assistants.sitework import parsing
from luma.assistants.sitework.state import FLOWS, MENU, SiteworkState, load
from luma.domain.models import Message, Session, Turn

if TYPE_CHECKING:
    from luma.agent.tools import ToolRegistry
    from luma.assistants.sitework.fastpaths import SiteworkFastPaths
    from luma.assistants.sitework.repo import SiteworkRepository
    from luma.config import Settings

_INCIDENT_STEPS = frozenset({"incident_description", "incident_media", "incident_severity"})


class SiteworkPack(AssistantPack):
    """Field workers and site managers of a construction company, WhatsApp first."""

    name = "sitework"
    display_name = "Site assistant"
    limits = {
        "max_iterations": 6,
        "intents": {"report_incident": {"max_iterations": 7}, "update_progress": {"max_iterations": 7}},
    }
    # Lookups are simple; anything the fast paths did not take (search, several steps) needs the strong model.
    models: ClassVar[Mapping[str, ModelTier]] = {
        "*": "strong",
        "greeting": "fast",
        "list_projects": "fast",
        "view_tasks": "fast",
        "view_documents": "fast",
        "escalate_to_human": "fast",
    }
    keep_keys = frozenset(
        {
            "id",
            "project_id",
            "task_id",
            "title",
            "project",
            "address",
            "status",
            "progress",
            "percent",
            "previous",
            "due",
            "at",
            "created_at",
            "url",
            "expires_in_minutes",
            "number",
            "severity",
            "mine",
            "current_project",
            "reference",
        }
    )
    escalation_tool = "escalate_to_human"
    tables = (TableSpec("data", "workers, projects, tasks, progress history, documents, incidents"),)
    session_policy = SessionPolicy(inactivity_s=7 * 3600, working_hours=(time(6), time(20)), timezone="Europe/Paris")
    state_model = SiteworkState
    lexicon = {
        "en": "tasks scaffolding building site's",
        "fr": "chantier chantiers tâches tache taches échafaudage echafaudage avancement",
        "es": "obra obras tareas andamio andamios",
        "pt": "obra obras tarefas andaime andaimes estaleiro",
        "de": "baustelle baustellen aufgaben gerüst gerust fortschritt",
        "it": "cantiere cantieri compiti ponteggio avanzamento",
        "ro": "șantier santier șantierul santierul șantiere santiere șantierele santierele sarcini sarcinile schelă",
        "pl": "budowa budowie budowy budów zadania zadanie zadań rusztowanie postęp",
        "ar": "الموقع المهام",
    }

    def __init__(self, *, repo: SiteworkRepository | None = None) -> None:
        super().__init__()
        self._repo = repo

    @cached_property
    def repo(self) -> SiteworkRepository:
        from luma.assistants.sitework.repo import SiteworkRepository

        return self._repo or SiteworkRepository(self.settings)

    @cached_property
    def handlers(self) -> SiteworkFastPaths:
        from luma.assistants.sitework.fastpaths import SiteworkFastPaths

        return SiteworkFastPaths(self.repo, self.settings)

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
        """Menu choices, cancellations and answers to a pending step, before classification."""
        choice = message.meta.get("choice")
        choice = choice if isinstance(choice, str) else ""
        if choice in MENU:
            return FlowDecision(intent=MENU[choice], reason="menu_choice")
        state = load(session.state)
        step = state.pending()
        if choice == "flow:cancel" or (step is not None and parsing.is_cancel(message.text)):
            return FlowDecision(intent="cancel_flow", reason="cancel")
        if choice.startswith("project:"):
            return FlowDecision(intent="pick_project", reason="project_choice")
        if step == "project" and parsing.pick_option(message.text, state.options) is not None:
            return FlowDecision(intent="pick_project", reason="awaiting_project")
        if step in _INCIDENT_STEPS:
            # Whatever comes next is the answer (a description, a photo, a voice note, a severity);
            # every prompt of the flow offers Cancel.
            return FlowDecision(intent="incident_step", reason=f"awaiting_{step}")
        if step == "progress_task" and (
            choice.startswith("task:") or parsing.pick_option(message.text, state.options) is not None
        ):
            return FlowDecision(intent="progress_step", reason="awaiting_task")
        if step == "progress_percent" and parsing.parse_percent(message.text, bare=True) is not None:
            return FlowDecision(intent="progress_step", reason="awaiting_percent")
        if step == "progress_confirm" and (
            choice.startswith("confirm:") or parsing.is_yes(message.text) or parsing.is_no(message.text)
        ):
            return FlowDecision(intent="progress_step", reason="awaiting_confirmation")
        return None

    # -- agent -----------------------------------------------------------------------------------
    def tools(self) -> ToolRegistry:
        from luma.assistants.sitework.agent import SiteworkTools, registry

        return registry(SiteworkTools(self.repo, self.settings))

    def system_prompt(self, session: Session) -> str:
        from luma.assistants.sitework.agent import STATIC_PROMPT

        return STATIC_PROMPT

    def session_context(self, session: Session) -> str:
        from luma.assistants.sitework.agent import session_context

        worker = project = None
        try:
            worker = self.repo.get_worker(session.tenant_id, session.user_id)
            current = session.state.get("current_project")
            if worker is not None and isinstance(current, str) and current in worker.projects:
                project = self.repo.get_project(session.tenant_id, current)
        except Exception:  # the context must not fail the run: it says what it knows
            worker = project = None
        return session_context(
            session,
            worker_name=worker.name if worker else None,
            role=worker.role if worker else None,
            project=f"{project.name} ({project.project_id})" if project else None,
        )

    def allowed_output(self) -> frozenset[str]:
        return frozenset()

    # -- data ------------------------------------------------------------------------------------
    def seed(self, settings: Settings, *, today: date | None = None) -> int:
        from luma.assistants.sitework.seed import seed_demo_data

        return seed_demo_data(settings, today=today)

    def erase_user(self, settings: Settings, tenant_id: str, user_id: str) -> int:
        """Remove the worker's profile; the company's projects, tasks and incident records stay (their
        reporter and assignee ids then name nobody)."""
        return self.repo.delete_worker(tenant_id, user_id)

    def demo_users(self) -> list[dict[str, Any]]:
        from luma.assistants.sitework.seed import demo_users

        return demo_users()
