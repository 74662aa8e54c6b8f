"""The field-work fast paths and flows: deterministic answers with no LLM.

The caller is known by their linked phone or account (``turn.principal``); every handler reads
through :class:`~luma.assistants.sitework.access.WorkerScope` and answers politely when the account
is not a known worker. Multi-turn flows keep their pending step in the session state
(:mod:`luma.assistants.sitework.state`); :meth:`SiteworkPack.pre_route` hands the next message to
the step (``pick_project``, ``incident_step``, ``progress_step``, ``cancel_flow``) before
classification. Starting any intent abandons a pending step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from luma import texts
from luma.assistants.contract import Choice, FastPathResult
from luma.assistants.sitework import parsing
from luma.assistants.sitework.access import NotAWorkerError, NotFoundError, WorkerScope
from luma.assistants.sitework.repo import (
    LINK_TTL_S,
    Project,
    SiteworkRepository,
    Task,
)
from luma.assistants.sitework.state import FLOWS, MENU, IncidentDraft, Option, ProgressDraft, SiteworkState, load
from luma.config import Settings
from luma.domain.models import Turn
from luma.operators.escalations import EscalationRepository

PACK = "sitework"
TIMEZONE = "Europe/Paris"
MAX_LINES = 10  # tasks listed in one message
MAX_DOCUMENTS = 5  # presigned links in one message (they are long)
MAX_CHOICES = 10  # a WhatsApp list picker shows at most ten rows
LABEL_CHARS = 20  # a WhatsApp quick-reply title (a list row takes 24)
CANCEL = "flow:cancel"
SKIP = "incident:skip"


def t(key: str, lang: str, **values: Any) -> str:
    """A text of this pack in ``lang``."""
    return texts.text(key, lang, assistant=PACK, **values)


def label(text: str) -> str:
    """A choice label short enough for a WhatsApp list row."""
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def media_of(turn: Turn) -> list[dict[str, Any]]:
    """The attachments of the message that are worth keeping: stored images and transcribed voice notes."""
    refs = turn.message.meta.get("media") or []
    out: list[dict[str, Any]] = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict):
            continue
        kind = str(ref.get("type", ""))
        if kind.startswith("image/") and ref.get("key"):
            out.append({k: ref[k] for k in ("type", "bucket", "key", "size", "bytes", "sha256") if k in ref})
        elif kind.startswith("audio/") and ref.get("transcribed"):
            out.append({"type": kind, "transcribed": True})
    return out


def choice_of(turn: Turn) -> str:
    """The id of the option the user picked (buttons, list, chips), or ""."""
    value = turn.message.meta.get("choice")
    return value if isinstance(value, str) else ""


class SiteworkFastPaths:
    """Handlers keyed by intent or flow step; each takes a turn and returns a :class:`FastPathResult`."""

    def __init__(
        self,
        repo: SiteworkRepository,
        settings: Settings,
        *,
        escalations: EscalationRepository | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self._escalations = escalations
        self._now = now

    @property
    def escalations(self) -> EscalationRepository:
        if self._escalations is None:
            self._escalations = EscalationRepository(self.settings)
        return self._escalations

    def now(self) -> datetime:
        return self._now() if self._now else datetime.now(ZoneInfo(TIMEZONE))

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, intent: str, turn: Turn) -> FastPathResult:
        handler = self._handlers().get(intent)
        if handler is None:
            return FastPathResult(handoff="no_fast_path")
        state = load(turn.session.state)
        if intent not in FLOWS:
            state.clear_step()  # a new request abandons whatever was pending
        scope = WorkerScope(self.repo, turn.principal.tenant_id, turn.principal.user_id)
        try:
            scope.require()
            result = handler(turn, scope, state)
        except NotAWorkerError:
            state.clear_step()
            result = FastPathResult(t("not_worker", turn.session.language), meta={"worker": "unknown"})
        if result.state is None and not result.handoff:
            result.state = state.dump()
        if result.state == turn.session.state:
            result.state = None  # unchanged: nothing to write
        return result

    def _handlers(self) -> dict[str, Callable[[Turn, WorkerScope, SiteworkState], FastPathResult]]:
        return {
            "greeting": self.greeting,
            "list_projects": self.list_projects,
            "view_tasks": self.view_tasks,
            "view_documents": self.view_documents,
            "report_incident": self.report_incident,
            "update_progress": self.update_progress,
            "escalate_to_human": self.escalate_to_human,
            "pick_project": self.pick_project,
            "incident_step": self.incident_step,
            "progress_step": self.progress_step,
            "cancel_flow": self.cancel_flow,
        }

    # -- menu and projects ----------------------------------------------------------------------
    def menu(self, lang: str) -> list[Choice]:
        keys = ("projects", "tasks", "documents", "incident", "progress", "human")
        return [Choice(id=f"menu:{k}", label=label(t(f"menu.{k}", lang))) for k in keys]

    def greeting(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        worker = scope.require()
        lang = turn.session.language
        return FastPathResult(t("greeting", lang, name=worker.first_name), choices=self.menu(lang))

    def list_projects(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        projects = scope.projects
        if not projects:
            return FastPathResult(t("no_projects", lang))
        lines = [t("projects_header", lang)]
        for p in projects:
            mark = f" ({t('current', lang)})" if p.project_id == state.current_project else ""
            lines.append(f"• {p.name}{mark} — {p.address}")
        lines.append(t("projects_pick", lang))
        choices = [Choice(id=f"project:{p.project_id}", label=label(p.name)) for p in projects[:MAX_CHOICES]]
        return FastPathResult("\n".join(lines), choices=choices, meta={"projects": [p.project_id for p in projects]})

    def _resolve_project(
        self, turn: Turn, scope: WorkerScope, state: SiteworkState, intent: str
    ) -> Project | FastPathResult:
        """The project a request is about: named in it, else the current one, else the only one; or a question."""
        lang = turn.session.language
        projects = scope.projects
        if not projects:
            return FastPathResult(t("no_projects", lang))
        named = parsing.best_match(turn.message.text, [(p, p.name) for p in projects])
        chosen = named or next((p for p in projects if p.project_id == state.current_project), None)
        if chosen is None and len(projects) == 1:
            chosen = projects[0]
        if chosen is not None:
            state.current_project = chosen.project_id
            return chosen
        # Options keep the full names (a typed answer is matched against them); buttons get short labels.
        options = [Option(id=f"project:{p.project_id}", label=p.name) for p in projects[:MAX_CHOICES]]
        state.wait_for("project", options=options)
        state.pending_intent = intent
        return FastPathResult(
            t("ask_project", lang),
            choices=[Choice(o.id, label(o.label)) for o in options],
            meta={"awaiting": "project"},
        )

    def pick_project(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        """A project chosen from a list: it becomes the current project, then the pending request goes on."""
        lang = turn.session.language
        picked = choice_of(turn)
        if not picked.startswith("project:"):
            option = parsing.pick_option(turn.message.text, state.options)
            picked = option.id if option is not None else ""
        intent = state.pending_intent or "view_tasks"
        state.clear_step()
        try:
            project = scope.project(picked.removeprefix("project:"))
        except NotFoundError:
            result = self.list_projects(turn, scope, state)
            result.text = f"{t('project_not_found', lang)}\n\n{result.text}"
            return result
        state.current_project = project.project_id
        follow_state = state.dump()
        message = turn.message.model_copy(update={"text": project.name, "meta": {}})
        session = turn.session.model_copy(update={"state": follow_state})
        follow = turn.model_copy(update={"session": session, "message": message})
        handler = self._handlers()[intent if intent in MENU.values() else "view_tasks"]
        result = handler(follow, scope, state)
        result.intent = intent
        return result

    # -- tasks and documents -------------------------------------------------------------------
    def _due(self, task: Task, lang: str, today: date) -> str:
        if task.due is None:
            return ""
        when = task.due.strftime("%d/%m")
        if task.due < today and task.status != "done":
            return t("overdue", lang, date=when)
        return t("due", lang, date=when)

    def task_line(self, task: Task, lang: str, *, today: date, me: str) -> str:
        parts = [t(f"status.{task.status}", lang), f"{task.progress}%"]
        due = self._due(task, lang, today)
        if due:
            parts.append(due)
        mine = f" ({t('you', lang)})" if task.assignee == me else ""
        return f"• {task.title}{mine}: {', '.join(parts)}"

    def view_tasks(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        project = self._resolve_project(turn, scope, state, "view_tasks")
        if isinstance(project, FastPathResult):
            return project
        me = turn.principal.user_id
        tasks = [x for x in self.repo.list_tasks(scope.tenant_id, project.project_id) if x.status != "done"]
        if not tasks:
            return FastPathResult(t("no_tasks", lang, project=project.name), meta={"project": project.project_id})
        far = date.max
        tasks.sort(key=lambda x: (x.assignee != me, x.due or far, x.title))
        today = self.now().date()
        lines = [t("tasks_header", lang, project=project.name)]
        lines += [self.task_line(x, lang, today=today, me=me) for x in tasks[:MAX_LINES]]
        if len(tasks) > MAX_LINES:
            lines.append(t("more", lang, count=len(tasks) - MAX_LINES))
        choices = [
            Choice("menu:progress", label(t("menu.progress", lang))),
            Choice("menu:incident", label(t("menu.incident", lang))),
            Choice("menu:documents", label(t("menu.documents", lang))),
        ]
        meta = {"project": project.project_id, "tasks": [x.task_id for x in tasks[:MAX_LINES]]}
        return FastPathResult("\n".join(lines), choices=choices, meta=meta)

    def view_documents(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        project = self._resolve_project(turn, scope, state, "view_documents")
        if isinstance(project, FastPathResult):
            return project
        docs = self.repo.list_documents(scope.tenant_id, project.project_id)
        if not docs:
            return FastPathResult(t("no_documents", lang, project=project.name), meta={"project": project.project_id})
        lines = [t("documents_header", lang, project=project.name, minutes=LINK_TTL_S // 60)]
        for doc in docs[:MAX_DOCUMENTS]:
            link = self.repo.document_link(doc)
            lines.append(f"• {doc.title}: {link}" if link else f"• {doc.title}")
        if len(docs) > MAX_DOCUMENTS:
            lines.append(t("more", lang, count=len(docs) - MAX_DOCUMENTS))
        meta = {"project": project.project_id, "documents": [d.document_id for d in docs[:MAX_DOCUMENTS]]}
        return FastPathResult("\n".join(lines), meta=meta)

    # -- incidents ------------------------------------------------------------------------------
    def _cancel_choice(self, lang: str) -> Choice:
        return Choice(CANCEL, label(t("cancel", lang)))

    def _severity_choices(self, lang: str) -> list[Choice]:
        return [Choice(f"severity:{s}", label(t(f"severity.{s}", lang))) for s in parsing.SEVERITIES]

    def report_incident(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        project = self._resolve_project(turn, scope, state, "report_incident")
        if isinstance(project, FastPathResult):
            return project
        state.incident = IncidentDraft(project_id=project.project_id, media=media_of(turn))
        state.wait_for("incident_description", options=[Option(id=CANCEL, label=t("cancel", lang))])
        return FastPathResult(
            t("incident.ask_description", lang, project=project.name),
            choices=[self._cancel_choice(lang)],
            meta={"awaiting": "incident_description", "project": project.project_id},
        )

    def incident_step(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        draft = state.incident
        step = state.pending()
        if draft is None or step not in ("incident_description", "incident_media", "incident_severity"):
            state.clear_step()
            return self.report_incident(turn, scope, state)
        try:
            project = scope.project(draft.project_id)
        except NotFoundError:
            state.clear_step()
            return FastPathResult(t("project_not_found", lang))
        media = media_of(turn)
        draft.media += media
        text = turn.message.text.strip()
        photo = any(m["type"].startswith("image/") for m in media)
        if step == "incident_description":
            if len(parsing.tokens(text)) < 2 and len(text) < 8:
                key = "incident.photo_ask_description" if photo else "incident.too_short"
                state.wait_for("incident_description", options=state.options)
                return FastPathResult(t(key, lang), choices=[self._cancel_choice(lang)], meta={"awaiting": step})
            draft.description = text
            if not draft.media:
                options = [Option(id=SKIP, label=t("incident.skip", lang)), Option(id=CANCEL, label=t("cancel", lang))]
                state.wait_for("incident_media", options=options)
                return FastPathResult(
                    t("incident.ask_media", lang),
                    choices=[Choice(o.id, label(o.label)) for o in options],
                    meta={"awaiting": "incident_media"},
                )
            return self._ask_severity(lang, state, received=photo)
        if step == "incident_media":
            skipped = choice_of(turn) == SKIP or (not media and parsing.is_skip(text))
            if text and not skipped:
                draft.description = f"{draft.description}\n{text}".strip()[:2000]
            return self._ask_severity(lang, state, received=photo)
        severity = self._severity(turn, state)
        if severity is None:
            state.wait_for("incident_severity", options=state.options)
            return FastPathResult(
                t("incident.severity_again", lang),
                choices=[*self._severity_choices(lang), self._cancel_choice(lang)],
                meta={"awaiting": step},
            )
        return self._record_incident(turn, state, project, draft, severity)

    def _ask_severity(self, lang: str, state: SiteworkState, *, received: bool) -> FastPathResult:
        choices = self._severity_choices(lang)
        state.wait_for("incident_severity", options=[Option(id=c.id, label=c.label) for c in choices])
        text = t("incident.ask_severity", lang)
        if received:
            text = f"{t('incident.photo_received', lang)} {text}"
        choices.append(self._cancel_choice(lang))
        return FastPathResult(text, choices=choices, meta={"awaiting": "incident_severity"})

    def _severity(self, turn: Turn, state: SiteworkState) -> str | None:
        picked = choice_of(turn)
        if picked.startswith("severity:") and picked.removeprefix("severity:") in parsing.SEVERITIES:
            return picked.removeprefix("severity:")
        found = parsing.parse_severity(turn.message.text)
        if found is not None:
            return found
        option = parsing.pick_option(turn.message.text, state.options)
        if option is not None and option.id.startswith("severity:"):
            return option.id.removeprefix("severity:")
        return None

    def _record_incident(
        self, turn: Turn, state: SiteworkState, project: Project, draft: IncidentDraft, severity: str
    ) -> FastPathResult:
        lang = turn.session.language
        incident = self.repo.create_incident(
            tenant_id=project.tenant_id,
            project_id=project.project_id,
            reporter_id=turn.principal.user_id,
            description=draft.description,
            severity=severity,  # type: ignore[arg-type]  # checked against SEVERITIES
            media=draft.media,
        )
        state.clear_step()
        lines = [
            t(
                "incident.recorded",
                lang,
                number=incident.reference,
                project=project.name,
                severity=t(f"severity.{severity}", lang),
            )
        ]
        meta: dict[str, Any] = {"incident": incident.reference, "severity": severity, "media": len(draft.media)}
        if severity in ("high", "critical"):
            escalation = self.escalations.open(
                turn.session,
                f"Incident {incident.reference} ({severity}) on {project.name}",
                urgency="urgent" if severity == "critical" else "normal",
                incident=incident.reference,
                project=project.project_id,
            )
            meta["escalationId"] = escalation.escalation_id
            lines.append(t("incident.alerted", lang))
        if severity == "critical":
            lines.append(t("incident.danger", lang))
        return FastPathResult(" ".join(lines), meta=meta)

    # -- progress -------------------------------------------------------------------------------
    def _updatable(self, scope: WorkerScope, projects: list[Project]) -> list[Task]:
        me = scope.user_id
        out = [
            x
            for p in projects
            for x in self.repo.list_tasks(scope.tenant_id, p.project_id)
            if x.status != "done" and scope.can_update(x)
        ]
        far = date.max
        return sorted(out, key=lambda x: (x.assignee != me, x.due or far, x.title))

    def update_progress(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        projects = scope.projects
        if not projects:
            return FastPathResult(t("no_projects", lang))
        text = turn.message.text
        named = parsing.best_match(text, [(p, p.name) for p in projects])
        current = next((p for p in projects if p.project_id == state.current_project), None)
        candidates = [named] if named else [current] if current else projects
        all_tasks = [x for p in candidates for x in self.repo.list_tasks(scope.tenant_id, p.project_id)]
        task = parsing.best_match(text, [(x, x.title) for x in all_tasks])
        percent = parsing.parse_percent(text)
        if task is None:
            tasks = self._updatable(scope, candidates)
            if not tasks:
                focus = named or current
                where = focus.name if focus else ", ".join(p.name for p in projects)
                return FastPathResult(t("progress.no_tasks", lang, project=where))
            options = [Option(id=f"task:{x.project_id}:{x.task_id}", label=x.title) for x in tasks]
            options = options[: MAX_CHOICES - 1]  # and Cancel
            state.progress = ProgressDraft(project_id=candidates[0].project_id, percent=percent)
            state.wait_for("progress_task", options=options)
            return FastPathResult(
                t("progress.ask_task", lang),
                choices=[*(Choice(o.id, label(o.label)) for o in options), self._cancel_choice(lang)],
                meta={"awaiting": "progress_task"},
            )
        return self._progress_for(turn, scope, state, task, percent)

    def _progress_for(
        self, turn: Turn, scope: WorkerScope, state: SiteworkState, task: Task, percent: int | None
    ) -> FastPathResult:
        lang = turn.session.language
        if not scope.can_update(task):
            state.clear_step()
            return FastPathResult(t("progress.not_allowed", lang, task=task.title))
        state.current_project = task.project_id
        state.progress = ProgressDraft(
            project_id=task.project_id, task_id=task.task_id, title=task.title, percent=percent, previous=task.progress
        )
        if percent is None:
            # No buttons here: the core reads a typed "1" as the first option, and 1 is a percentage.
            state.wait_for("progress_percent")
            return FastPathResult(
                t("progress.ask_percent", lang, task=task.title, previous=task.progress),
                meta={"awaiting": "progress_percent", "task": task.task_id},
            )
        return self._ask_confirm(lang, state)

    def _ask_confirm(self, lang: str, state: SiteworkState) -> FastPathResult:
        draft = state.progress
        assert draft is not None and draft.percent is not None
        options = [Option(id="confirm:yes", label=t("yes", lang)), Option(id="confirm:no", label=t("no", lang))]
        state.wait_for("progress_confirm", options=options)
        return FastPathResult(
            t("progress.confirm", lang, task=draft.title, percent=draft.percent, previous=draft.previous),
            choices=[Choice(o.id, label(o.label)) for o in options],
            meta={"awaiting": "progress_confirm", "task": draft.task_id, "percent": draft.percent},
        )

    def progress_step(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        draft = state.progress
        step = state.pending()
        text = turn.message.text
        if draft is None or step not in ("progress_task", "progress_percent", "progress_confirm"):
            state.clear_step()
            return self.update_progress(turn, scope, state)
        if step == "progress_task":
            picked = choice_of(turn)
            if not picked.startswith("task:"):
                option = parsing.pick_option(text, state.options)
                picked = option.id if option is not None else ""
            _, _, rest = picked.partition(":")
            project_id, _, task_id = rest.partition(":")
            try:
                task = scope.task(task_id, project_id)
            except NotFoundError:
                return FastPathResult(
                    t("choose", lang),
                    choices=[Choice(o.id, label(o.label)) for o in state.options],
                    meta={"awaiting": step},
                )
            percent = draft.percent if draft.percent is not None else parsing.parse_percent(text)
            return self._progress_for(turn, scope, state, task, percent)
        if step == "progress_percent":
            percent = parsing.parse_percent(text, bare=True)
            if percent is None or draft.task_id is None:
                return FastPathResult(t("progress.percent_again", lang), meta={"awaiting": step})
            draft.percent = percent
            return self._ask_confirm(lang, state)
        answer = choice_of(turn)
        yes = answer == "confirm:yes" or (not answer and parsing.is_yes(text))
        no = answer == "confirm:no" or (not answer and parsing.is_no(text))
        if not (yes or no) or draft.task_id is None or draft.percent is None:
            return self._ask_confirm(lang, state)
        state.clear_step()
        state.current_project = draft.project_id
        if no:
            return FastPathResult(t("progress.kept", lang), meta={"task": draft.task_id, "updated": False})
        try:
            task = scope.task(draft.task_id, draft.project_id)
        except NotFoundError:
            return FastPathResult(t("project_not_found", lang))
        if not scope.can_update(task):
            return FastPathResult(t("progress.not_allowed", lang, task=task.title))
        updated, update = self.repo.record_progress(task, draft.percent, by=turn.principal.user_id)
        return FastPathResult(
            t("progress.saved", lang, task=updated.title, percent=updated.progress),
            meta={"task": updated.task_id, "updated": True, "percent": updated.progress, "seq": update.seq},
        )

    # -- the rest -------------------------------------------------------------------------------
    def cancel_flow(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        lang = turn.session.language
        had = state.awaiting is not None
        state.clear_step()
        return FastPathResult(t("cancelled" if had else "nothing_pending", lang), choices=self.menu(lang))

    def escalate_to_human(self, turn: Turn, scope: WorkerScope, state: SiteworkState) -> FastPathResult:
        escalation = self.escalations.open(turn.session, "user_request", urgency="normal")
        ref = escalation.escalation_id[-6:].upper()
        return FastPathResult(
            t("escalated", turn.session.language, reference=ref), meta={"escalationId": escalation.escalation_id}
        )
