"""The field-work agent: tools over the worker's own projects, and the system prompt.

Every tool reads through :class:`~luma.assistants.sitework.access.WorkerScope` (tenant and user from
the signed-in principal), so the model can only reach the caller's projects; another id is
``NOT_FOUND``. Writes that matter (progress, incidents) ask the user to approve first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from luma.agent.tools import Tool, ToolContext, ToolError, ToolRegistry
from luma.assistants.sitework import parsing
from luma.assistants.sitework.access import NotAWorkerError, NotFoundError, WorkerScope
from luma.assistants.sitework.repo import LINK_TTL_S, Incident, Project, SiteworkRepository, Task
from luma.config import Settings
from luma.domain.models import Session
from luma.operators.escalations import EscalationRepository

TIMEZONE = "Europe/Paris"
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "de": "German",
    "it": "Italian",
    "ro": "Romanian",
    "pl": "Polish",
    "ar": "Arabic",
}
NOT_A_WORKER = (
    "This account is not registered as a field worker of this company: no site data is available. Tell the user "
    "politely and suggest asking their site manager to add them; don't call other data tools."
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class ProjectArgs(_Args):
    project_id: str | None = Field(
        None, max_length=64, description="A project id from list_projects; default: the current project"
    )


class TaskListArgs(ProjectArgs):
    only_mine: bool = Field(False, description="Only the tasks assigned to the user")
    include_done: bool = Field(False, description="Include finished tasks")


class TaskArgs(_Args):
    task_id: str = Field(min_length=1, max_length=64, description="A task id from list_tasks or search")
    project_id: str | None = Field(None, max_length=64, description="The task's project id, when known")


class SelectProjectArgs(_Args):
    project_id: str = Field(min_length=1, max_length=64)


class ProgressArgs(_Args):
    task_id: str = Field(min_length=1, max_length=64)
    project_id: str | None = Field(None, max_length=64)
    percent: int = Field(ge=0, le=100, description="The task's new progress, 0-100")
    note: str = Field("", max_length=300, description="What was done, in the user's words (optional)")


class IncidentArgs(_Args):
    project_id: str | None = Field(None, max_length=64, description="Default: the current project")
    description: str = Field(min_length=5, max_length=2000, description="What happened, in the user's words")
    severity: Literal["low", "medium", "high", "critical"]


class SearchArgs(_Args):
    query: str = Field(min_length=2, max_length=120, description="Words to look for in tasks, documents, projects")


class EscalateArgs(_Args):
    reason: str = Field(min_length=3, max_length=500, description="Why the user needs a person, in a sentence")
    urgent: bool = Field(False, description="True when someone may be in danger or work is stopped")


def _when(value: datetime) -> str:
    return value.astimezone(ZoneInfo(TIMEZONE)).strftime("%A %d %B %Y %H:%M")


class SiteworkTools:
    """The tools, over the pack's repository; the caller is always ``ctx.principal``."""

    def __init__(
        self, repo: SiteworkRepository, settings: Settings, *, escalations: EscalationRepository | None = None
    ) -> None:
        self.repo = repo
        self.settings = settings
        self._escalations = escalations

    @property
    def escalations(self) -> EscalationRepository:
        if self._escalations is None:
            self._escalations = EscalationRepository(self.settings)
        return self._escalations

    # -- helpers -------------------------------------------------------------------------------
    def scope(self, ctx: ToolContext) -> WorkerScope:
        scope = WorkerScope(self.repo, ctx.principal.tenant_id, ctx.principal.user_id)
        try:
            scope.require()
        except NotAWorkerError:
            raise ToolError("NOT_A_WORKER", NOT_A_WORKER) from None
        return scope

    def _project(self, ctx: ToolContext, scope: WorkerScope, project_id: str | None) -> Project:
        project_id = project_id or ctx.state.get("current_project")
        if not project_id:
            if len(scope.projects) == 1:
                return scope.projects[0]
            raise ToolError("PROJECT_REQUIRED", "Several projects: ask which one or pass project_id (list_projects).")
        try:
            return scope.project(project_id)
        except NotFoundError:
            raise ToolError("NOT_FOUND", "No project with that id among the user's; call list_projects.") from None

    def _task(self, scope: WorkerScope, task_id: str, project_id: str | None) -> Task:
        try:
            return scope.task(task_id, project_id)
        except NotFoundError:
            raise ToolError("NOT_FOUND", "No task with that id in the user's projects; call list_tasks.") from None

    @staticmethod
    def _task_view(task: Task, me: str) -> dict[str, Any]:
        return {
            "task_id": task.task_id,
            "project_id": task.project_id,
            "title": task.title,
            "status": task.status,
            "progress": task.progress,
            "due": task.due.isoformat() if task.due else None,
            "mine": task.assignee == me,
        }

    @staticmethod
    def _incident_view(incident: Incident) -> dict[str, Any]:
        return {
            "number": incident.reference,
            "project_id": incident.project_id,
            "severity": incident.severity,
            "status": incident.status,
            "created_at": _when(incident.created_at),
            "description": incident.description,
            "attachments": len(incident.media),
        }

    # -- tools ---------------------------------------------------------------------------------
    def list_projects(self, ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        return {
            "projects": [{"project_id": p.project_id, "project": p.name, "address": p.address} for p in scope.projects],
            "current_project": ctx.state.get("current_project"),
        }

    def select_project(self, ctx: ToolContext, args: SelectProjectArgs) -> dict[str, Any]:
        project = self._project(ctx, self.scope(ctx), args.project_id)
        ctx.state_updates["current_project"] = project.project_id
        return {"current_project": project.project_id, "project": project.name}

    def list_tasks(self, ctx: ToolContext, args: TaskListArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        project = self._project(ctx, scope, args.project_id)
        me = ctx.principal.user_id
        tasks = [
            x
            for x in self.repo.list_tasks(scope.tenant_id, project.project_id)
            if (args.include_done or x.status != "done") and (not args.only_mine or x.assignee == me)
        ]
        return {"project": project.name, "tasks": [self._task_view(x, me) for x in tasks[:25]], "more": len(tasks) > 25}

    def task_details(self, ctx: ToolContext, args: TaskArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        task = self._task(scope, args.task_id, args.project_id)
        view = self._task_view(task, ctx.principal.user_id)
        view["description"] = task.description
        history = self.repo.list_progress(scope.tenant_id, task.project_id, task.task_id, limit=10)
        view["history"] = [
            {"at": _when(u.at), "percent": u.percent, "previous": u.previous, "mine": u.by == ctx.principal.user_id}
            for u in history
        ]
        view["can_update"] = scope.can_update(task)
        return view

    def list_documents(self, ctx: ToolContext, args: ProjectArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        project = self._project(ctx, scope, args.project_id)
        docs = self.repo.list_documents(scope.tenant_id, project.project_id)[:10]
        return {
            "project": project.name,
            "documents": [{"title": d.title, "url": self.repo.document_link(d)} for d in docs],
            "expires_in_minutes": LINK_TTL_S // 60,
        }

    def list_incidents(self, ctx: ToolContext, args: ProjectArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        project = self._project(ctx, scope, args.project_id)
        incidents = self.repo.list_incidents(scope.tenant_id, project.project_id, limit=10)
        return {"project": project.name, "incidents": [self._incident_view(i) for i in incidents]}

    def search(self, ctx: ToolContext, args: SearchArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        words = parsing.significant(args.query) or set(parsing.tokens(args.query))
        me = ctx.principal.user_id
        hits: list[tuple[int, dict[str, Any]]] = []
        for project in scope.projects:
            if words & parsing.significant(f"{project.name} {project.address}"):
                hits.append((2, {"kind": "project", "project_id": project.project_id, "project": project.name}))
            for task in self.repo.list_tasks(scope.tenant_id, project.project_id):
                score = len(words & parsing.significant(f"{task.title} {task.description}"))
                if score:
                    hits.append((score, {"kind": "task", **self._task_view(task, me)}))
            for doc in self.repo.list_documents(scope.tenant_id, project.project_id):
                score = len(words & parsing.significant(doc.title))
                if score:
                    hits.append((score, {"kind": "document", "title": doc.title, "project_id": project.project_id}))
        hits.sort(key=lambda h: -h[0])
        return {"results": [h for _, h in hits[:10]], "more": len(hits) > 10}

    def update_progress(self, ctx: ToolContext, args: ProgressArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        task = self._task(scope, args.task_id, args.project_id)
        if not scope.can_update(task):
            raise ToolError("NOT_ALLOWED", "This task is assigned to someone else; only they or a manager update it.")
        updated, update = self.repo.record_progress(task, args.percent, by=ctx.principal.user_id, note=args.note)
        ctx.state_updates["current_project"] = task.project_id
        return {
            "task_id": updated.task_id,
            "title": updated.title,
            "progress": updated.progress,
            "previous": update.previous,
            "status": updated.status,
        }

    def report_incident(self, ctx: ToolContext, args: IncidentArgs) -> dict[str, Any]:
        scope = self.scope(ctx)
        project = self._project(ctx, scope, args.project_id)
        incident = self.repo.create_incident(
            tenant_id=scope.tenant_id,
            project_id=project.project_id,
            reporter_id=ctx.principal.user_id,
            description=args.description,
            severity=args.severity,
        )
        out: dict[str, Any] = {"number": incident.reference, "project": project.name, "severity": incident.severity}
        if args.severity in ("high", "critical"):
            self.escalations.open(
                ctx.session,
                f"Incident {incident.reference} ({args.severity}) on {project.name}",
                urgency="urgent" if args.severity == "critical" else "normal",
                incident=incident.reference,
                project=project.project_id,
            )
            out["manager_alerted"] = True
        return out

    def escalate_to_human(self, ctx: ToolContext, args: EscalateArgs) -> dict[str, Any]:
        escalation = self.escalations.open(ctx.session, args.reason, urgency="urgent" if args.urgent else "normal")
        return {"reference": escalation.escalation_id[-6:].upper()}

    # -- approval prompts ------------------------------------------------------------------------
    def progress_prompt(self, ctx: ToolContext, args: ProgressArgs) -> str:
        try:
            task = self._task(self.scope(ctx), args.task_id, args.project_id)
        except ToolError:
            return f"Set this task to {args.percent}%?"
        return f"Set “{task.title}” to {args.percent}% (now {task.progress}%)?"

    def incident_prompt(self, ctx: ToolContext, args: IncidentArgs) -> str:
        try:
            project = self._project(ctx, self.scope(ctx), args.project_id)
        except ToolError:
            return f"Report a {args.severity}-severity incident?"
        return f"Report a {args.severity}-severity incident on {project.name}: “{args.description[:120]}”?"


def registry(tools: SiteworkTools) -> ToolRegistry:
    """The field-work tool registry (names stable: status labels and MCP use them)."""
    return ToolRegistry(
        [
            Tool("list_projects", "The user's projects (ids, names, addresses) and the current one.", NoArgs,
                 tools.list_projects),
            Tool("select_project", "Make a project the current one (used by default by the other tools).",
                 SelectProjectArgs, tools.select_project, read_only=False),
            Tool("list_tasks", "Tasks of a project: status, progress %, due date, whether assigned to the user.",
                 TaskListArgs, tools.list_tasks),
            Tool("task_details", "One task with its description and its latest progress updates.", TaskArgs,
                 tools.task_details),
            Tool("list_documents", "A project's documents with download links valid 15 minutes.", ProjectArgs,
                 tools.list_documents),
            Tool("list_incidents", "A project's latest incidents (number, severity, status).", ProjectArgs,
                 tools.list_incidents),
            Tool("search", "Find tasks, documents and projects of the user by words.", SearchArgs, tools.search),
            Tool("update_progress", "Set a task's progress percentage (kept in its history). The user is asked to "
                 "approve before it happens.", ProgressArgs, tools.update_progress, read_only=False,
                 requires_approval=True, approval_prompt=tools.progress_prompt),
            Tool("report_incident", "Record a safety or site incident with its severity; high and critical ones "
                 "alert the site manager. The user is asked to approve before it happens.", IncidentArgs,
                 tools.report_incident, read_only=False, requires_approval=True,
                 approval_prompt=tools.incident_prompt),
            Tool("escalate_to_human", "Ask the site office to contact the user.", EscalateArgs,
                 tools.escalate_to_human, read_only=False),
        ]
    )  # fmt: skip


STATIC_PROMPT = (
    "You are the site assistant of a construction company. You help field workers and site managers, mostly "
    "on WhatsApp: their projects, tasks and progress, project documents, incident reports, and getting the "
    "site office on the line.\n"
    "Rules:\n"
    "- Use the tools for anything about projects, tasks, documents or incidents; never invent ids, numbers, "
    "percentages, dates or links. The tools only see the user's own projects.\n"
    "- Tools default to the current project; when the user has several projects and none is current, ask "
    "which one (or call list_projects).\n"
    "- Progress updates and incident reports ask the user to approve; if they decline, say nothing changed.\n"
    "- If someone is injured or in danger, tell them to call 112 first, then record the incident as critical "
    "and offer escalate_to_human.\n"
    "- You give no payroll, HR, legal or engineering sign-off answers: offer escalate_to_human instead.\n"
    "- Be brief: two or three short sentences, plain text, no markdown tables (WhatsApp). Write dates in words "
    "(e.g. Friday 5 December), not as numbers.\n"
)


def session_context(session: Session, *, worker_name: str | None, role: str | None, project: str | None,
                    now: datetime | None = None) -> str:  # fmt: skip
    """What changes per turn: the site's time, the session's language, who the user is, the current project."""
    today = (now or datetime.now(ZoneInfo(TIMEZONE))).strftime("%A %d %B %Y, %H:%M")
    language = LANGUAGE_NAMES.get(session.language, "English")
    context = f"Now: {today} (site time). Answer in {language}."
    if worker_name:
        who = "a site manager" if role == "manager" else "a field worker"
        context += f" The user is {worker_name.split()[0]}, {who}."
    else:
        context += " The user is not a registered worker: no site data is available to them."
    context += f" Current project: {project}." if project else " No current project."
    return context


def system_prompt(session: Session, *, worker_name: str | None, role: str | None, project: str | None,
                  now: datetime | None = None) -> str:  # fmt: skip
    """The instructions and this session's context in one text (what the model reads, in that order)."""
    context = session_context(session, worker_name=worker_name, role=role, project=project, now=now)
    return f"{STATIC_PROMPT}\n{context}"
