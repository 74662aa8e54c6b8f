"""The sitework keys of the session state (other keys, e.g. the core's, are kept as they are)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Greeting-menu choices and the intents they start.
MENU: dict[str, str] = {
    "menu:projects": "list_projects",
    "menu:tasks": "view_tasks",
    "menu:documents": "view_documents",
    "menu:incident": "report_incident",
    "menu:progress": "update_progress",
    "menu:human": "escalate_to_human",
}
# Steps of a flow, claimed by ``pre_route`` before classification (never predicted by the classifier).
FLOWS = frozenset({"pick_project", "incident_step", "progress_step", "cancel_flow"})
# A pending step is claimed by the next messages for this long; after that they are classified again.
STEP_TTL = timedelta(minutes=30)

Awaiting = Literal[
    "project",  # which project (for ``pending_intent``)
    "incident_description",
    "incident_media",
    "incident_severity",
    "progress_task",
    "progress_percent",
    "progress_confirm",
]


class Option(BaseModel):
    """A choice offered with the pending step, so a typed "2" or a label can be matched later."""

    id: str
    label: str


class IncidentDraft(BaseModel):
    project_id: str
    description: str = ""
    media: list[dict[str, Any]] = Field(default_factory=list)


class ProgressDraft(BaseModel):
    project_id: str
    task_id: str | None = None
    title: str = ""
    percent: int | None = Field(None, ge=0, le=100)
    previous: int = 0


class SiteworkState(BaseModel):
    """``current_project`` persists across turns; the rest describes at most one pending step."""

    model_config = ConfigDict(extra="allow")

    current_project: str | None = None
    awaiting: Awaiting | None = None
    awaiting_at: datetime | None = None
    pending_intent: str | None = None
    options: list[Option] = Field(default_factory=list)
    incident: IncidentDraft | None = None
    progress: ProgressDraft | None = None

    def pending(self, now: datetime | None = None) -> Awaiting | None:
        """The step awaiting an answer, unless it is older than :data:`STEP_TTL`."""
        if self.awaiting is None:
            return None
        if self.awaiting_at is not None and (now or datetime.now(UTC)) - self.awaiting_at > STEP_TTL:
            return None
        return self.awaiting

    def wait_for(self, step: Awaiting, *, options: list[Option] | None = None, now: datetime | None = None) -> None:
        self.awaiting = step
        self.awaiting_at = now or datetime.now(UTC)
        self.options = list(options or [])

    def clear_step(self) -> None:
        """Forget any pending step and its drafts (the current project stays)."""
        self.awaiting = None
        self.awaiting_at = None
        self.pending_intent = None
        self.options = []
        self.incident = None
        self.progress = None

    def dump(self) -> dict[str, Any]:
        """The session-state dict (unset sitework keys left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def load(state: dict[str, Any]) -> SiteworkState:
    """The session's state as a :class:`SiteworkState` (a malformed sitework key starts afresh)."""
    try:
        return SiteworkState.model_validate(state)
    except ValueError:
        keep = {k: v for k, v in state.items() if k not in SiteworkState.model_fields}
        current = state.get("current_project")
        return SiteworkState.model_validate({**keep, "current_project": current if isinstance(current, str) else None})
