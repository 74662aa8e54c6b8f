"""The field-work pack against a real moto server (DynamoDB and S3): fast paths and flows, tools,
tenant and user scoping, incident numbers and progress history under concurrency, seed data."""

from __future__ import annotations

import itertools
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from luma.agent.tools import ToolContext, ToolResult, execute_tool
from luma.assistants.contract import FastPathResult
from luma.assistants.sitework.agent import SiteworkTools, registry, system_prompt
from luma.assistants.sitework.pack import SiteworkPack
from luma.assistants.sitework.repo import Project, SiteworkRepository, Task, Worker
from luma.assistants.sitework.seed import demo_users, seed_demo_data
from luma.config import Settings, get_settings, reset_settings
from luma.domain.models import (
    DeliveryTarget,
    Message,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    Turn,
)
from luma.ids import new_id
from luma.operators.escalations import EscalationRepository
from luma.store.models import ConversationRow, bind_models
from luma.store.packdata import pack_table

from local.devstack import MotoServer

TODAY = date(2026, 12, 2)  # a Wednesday
BUCKET = "sitework-test-media"


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    """A moto server of our own with the pack's table, the conversations table and the media bucket."""
    moto = MotoServer()
    moto.start()
    try:
        prefix = f"t{uuid.uuid4().hex[:8]}"
        s = Settings(
            dynamodb_endpoint_url=moto.endpoint,
            s3_endpoint_url=moto.endpoint,
            media_bucket=BUCKET,
            pack_table_prefix=prefix,
            conversations_table=f"{prefix}-conversations",
            connections_table=f"{prefix}-connections",
            usage_table=f"{prefix}-usage",
        )
        bind_models(s)
        for model in (ConversationRow, pack_table("sitework", "data", s)):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        from luma.store.models import PhoneLinkRow

        PhoneLinkRow.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield s
    finally:
        moto.stop()
        reset_settings()
        bind_models(get_settings())  # give the core models back to whatever the environment points at


@pytest.fixture
def tenant(settings: Settings) -> str:
    """A freshly seeded tenant (the demo company under another name), so tests don't share state."""
    name = f"t{uuid.uuid4().hex[:10]}"
    seed_demo_data(settings, today=TODAY, tenant=name)
    return name


@pytest.fixture
def repo(settings: Settings) -> SiteworkRepository:
    return SiteworkRepository(settings)


class Chat:
    """One person's conversation with the pack: pre_route, then the fast path, state carried over."""

    def __init__(self, settings: Settings, repo: SiteworkRepository, tenant: str, user: str, lang: str = "en") -> None:
        self.pack = SiteworkPack(repo=repo)
        self.pack.bind(settings)
        self.pack.handlers._now = lambda: datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
        self.tenant, self.user = tenant, user
        self.session = Session(
            tenant_id=tenant, session_id=new_id(), user_id=user, assistant="sitework", language=lang, channel="whatsapp"
        )

    def say(
        self, text: str, intent: str | None = None, *, choice: str | None = None, media: list[Any] | None = None
    ) -> FastPathResult:
        meta: dict[str, Any] = {}
        if choice:
            meta["choice"] = choice
        if media:
            meta["media"] = media
        message = Message(
            tenant_id=self.tenant,
            session_id=self.session.session_id,
            message_id=new_id(),
            role=Role.USER,
            text=text,
            meta=meta,
        )
        flow = self.pack.pre_route(self.session, message)
        chosen = flow.intent if flow else intent
        assert chosen is not None, f"nothing claimed {text!r} and no intent was given"
        handler = self.pack.fast_path(chosen)
        assert handler is not None, chosen
        decision = RoutingDecision(
            tenant_id=self.tenant,
            session_id=self.session.session_id,
            message_id=message.message_id,
            intent=chosen,
            confidence=1.0,
            margin=1.0,
            route=Route.FLOW if flow else Route.FAST_PATH,
            reason=flow.reason if flow else "test",
            latency_ms=1,
        )
        turn = Turn(
            principal=Principal(tenant_id=self.tenant, user_id=self.user),
            session=self.session,
            message=message,
            decision=decision,
            delivery=DeliveryTarget(channel="whatsapp", to_address="whatsapp:+33612345101", from_address="whatsapp:+1"),
        )
        result = handler(turn)
        if result.state is not None:
            self.pack.apply_state(self.session, result.state)  # the state model accepts it
            self.session = self.session.model_copy(update={"state": result.state})
        return result

    @property
    def state(self) -> dict[str, Any]:
        return self.session.state

    def claimed(self, text: str) -> str | None:
        """The flow step ``pre_route`` hands ``text`` to, if any."""
        message = Message(
            tenant_id=self.tenant, session_id=self.session.session_id, message_id=new_id(), role=Role.USER, text=text
        )
        flow = self.pack.pre_route(self.session, message)
        return flow.intent if flow else None


def ids(result: FastPathResult) -> list[str]:
    return [c.id for c in result.choices]


# -- greeting, projects, tasks, documents -----------------------------------------------------------


def test_greeting_offers_the_menu_in_the_session_language(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    result = Chat(settings, repo, tenant, "u-worker").say("hi", "greeting")
    assert "Karim" in result.text
    assert ids(result) == [
        "menu:projects",
        "menu:tasks",
        "menu:documents",
        "menu:incident",
        "menu:progress",
        "menu:human",
    ]
    french = Chat(settings, repo, tenant, "u-worker", lang="fr").say("bonjour", "greeting")
    assert french.text.startswith("Bonjour Karim") and french.choices[0].label == "Mes chantiers"
    assert all(len(c.label) <= 20 for c in french.choices)


def test_a_menu_choice_routes_to_its_intent(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    result = chat.say("My projects", choice="menu:projects")
    assert "Riverside Apartments" in result.text and "Gare Nord Offices" in result.text
    assert "Jules Verne" not in result.text and "Parc Logistique" not in result.text  # not Karim's
    assert ids(result) == ["project:p-1", "project:p-2"]


def test_view_tasks_asks_which_project_then_remembers_it(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    asked = chat.say("what are my tasks", "view_tasks")
    assert ids(asked) == ["project:p-1", "project:p-2"] and chat.state["awaiting"] == "project"
    listed = chat.say("Gare Nord Offices", choice="project:p-2")
    assert listed.intent == "view_tasks" and listed.text.startswith("Tasks on Gare Nord Offices:")
    assert "Plasterboard partitions level 1 (you): in progress, 70%, due 05/12" in listed.text
    assert chat.state == {"current_project": "p-2"}
    again = chat.say("tasks please", "view_tasks")  # the current project, no question
    assert again.text.startswith("Tasks on Gare Nord Offices:") and not again.meta.get("awaiting")
    named = chat.say("show me the tasks for riverside", "view_tasks")  # a project named in the message wins
    assert named.text.startswith("Tasks on Riverside Apartments:") and chat.state["current_project"] == "p-1"
    assert "Balcony railings" not in named.text  # done tasks are not listed
    assert "Window frames level 3 (you): blocked, 10%, overdue since 01/12" in named.text


def test_a_typed_number_answers_the_project_question(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker", lang="es")
    chat.say("mis documentos", "view_documents")
    result = chat.say("1")
    assert result.intent == "view_documents" and result.text.startswith("Documentos de Riverside Apartments")


def test_documents_come_with_working_presigned_links(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    result = chat.say("documents for riverside", "view_documents")
    assert "links valid for 15 minutes" in result.text
    line = next(x for x in result.text.splitlines() if x.startswith("• Safety plan: "))
    url = line.removeprefix("• Safety plan: ")
    assert "Expires=" in url or "X-Amz-Expires=900" in url
    with urllib.request.urlopen(url, timeout=5) as response:  # moto on loopback
        assert response.read().startswith(b"Riverside Apartments - site safety plan")


def test_someone_who_is_not_a_worker_is_refused_politely(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-stranger", lang="de")
    for intent in ("greeting", "list_projects", "view_tasks", "report_incident", "update_progress"):
        result = chat.say("hallo", intent)
        assert result.text.startswith("Leider ist dieses Konto nicht als Baustellenmitarbeiter registriert")
    assert chat.state == {}


def test_another_tenants_projects_and_other_workers_projects_are_not_found(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    other = f"t{uuid.uuid4().hex[:10]}"
    repo.put_worker(Worker(user_id="u-worker", tenant_id=other, name="Other Karim", projects=["p-9"]))
    repo.put_project(
        Project(project_id="p-9", tenant_id=other, name="Other Site", address="x", manager_id="m", members=["u-worker"])
    )
    chat = Chat(settings, repo, tenant, "u-worker")
    refused = chat.say("Jules Verne School", choice="project:p-3")  # a project of the tenant, not Karim's
    assert refused.text.startswith("I couldn't find that project among yours.") and "Jules Verne" not in refused.text
    assert chat.say("x", choice="project:p-9").text.startswith("I couldn't find that project")  # another tenant's id
    tools = SiteworkTools(repo, settings)
    reg = registry(tools)
    for project in ("p-3", "p-9"):
        result = run_tool(reg, "list_tasks", {"project_id": project}, tenant, "u-worker")
        assert not result.ok and result.error and result.error["code"] == "NOT_FOUND"
    result = run_tool(reg, "task_details", {"task_id": "t-301"}, tenant, "u-worker")
    assert result.error and result.error["code"] == "NOT_FOUND"
    theirs = run_tool(reg, "list_projects", {}, other, "u-worker")
    assert [p["project_id"] for p in theirs.data["projects"]] == ["p-9"]  # type: ignore[index]


# -- incidents -----------------------------------------------------------------------------------


def photo(key: str = "demo/2026/12/02/SM1-0.jpg") -> dict[str, Any]:
    return {"type": "image/jpeg", "bucket": BUCKET, "key": key, "bytes": 2048, "sha256": "ab" * 32}


def test_incident_flow_with_a_photo_ends_with_its_number(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    chat.say("Riverside", choice="project:p-1")
    asked = chat.say("I want to report an incident", "report_incident")
    assert asked.text.startswith("Reporting an incident on Riverside Apartments.") and ids(asked) == ["flow:cancel"]
    media_q = chat.say("Water leaking from the ceiling in flat 9, the floor is wet")
    assert ids(media_q) == ["incident:skip", "flow:cancel"]
    severity_q = chat.say("", media=[photo()])
    assert severity_q.text == "Got it. How serious is it?"
    assert ids(severity_q) == ["severity:low", "severity:medium", "severity:high", "severity:critical", "flow:cancel"]
    done = chat.say("High", choice="severity:high")
    assert done.meta["incident"] == "INC-0002"  # the seed has INC-0001
    assert done.text.startswith("Incident INC-0002 is recorded on Riverside Apartments (severity: High).")
    assert "The site manager has been alerted." in done.text and "112" not in done.text
    assert chat.state == {"current_project": "p-1"}
    (incident, _old) = repo.list_incidents(tenant, "p-1")
    assert incident.reference == "INC-0002" and incident.reporter_id == "u-worker" and incident.severity == "high"
    assert incident.description.startswith("Water leaking") and incident.media == [photo()]
    escalation = EscalationRepository(settings).get(tenant, chat.session.session_id, done.meta["escalationId"])
    assert escalation is not None and escalation.data["incident"] == "INC-0002" and escalation.urgency == "normal"


def test_incident_flow_in_french_skipping_the_photo(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker2", lang="fr")  # one project only on... no: two; named in the text
    chat.say("je veux signaler un incident sur Gare Nord", "report_incident")
    chat.say("Un câble électrique est à nu au niveau 2")
    asked = chat.say("passer")
    assert asked.text == "Quelle est la gravité ?" and asked.choices[3].label == "Critique"
    done = chat.say("critique")
    assert "Si quelqu'un est blessé ou en danger, appelez le 112 maintenant." in done.text
    assert done.meta["severity"] == "critical" and done.meta["media"] == 0


def test_a_voice_note_or_a_caption_photo_shortens_the_flow(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    chat.say("riverside", choice="project:p-1")
    chat.say("report an incident", "report_incident")
    voice = [{"type": "audio/ogg", "transcribed": True}]
    asked = chat.say("the hoist on the east side is making a grinding noise", media=voice)  # transcript as text
    assert asked.meta["awaiting"] == "incident_severity"
    chat.say("medium")
    (incident, *_rest) = repo.list_incidents(tenant, "p-1")
    assert incident.media == voice and incident.severity == "medium"
    chat.say("report an incident", "report_incident")
    nothing = chat.say("", media=[photo("k/1.jpg")])  # a photo without a caption: still needs a description
    assert (
        nothing.text.startswith("Photo received. What happened?") and chat.state["awaiting"] == "incident_description"
    )
    assert chat.say("?").text == "Please describe what happened in a few more words."
    assert chat.say("Broken pallet blocking the fire exit").meta["awaiting"] == "incident_severity"
    assert chat.say("not sure").text.startswith("Please choose how serious it is")
    assert chat.say("2").meta["severity"] == "medium"  # the second option as typed on SMS


def test_an_incident_report_can_be_cancelled(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    chat.say("riverside", choice="project:p-1")
    chat.say("report an incident", "report_incident")
    chat.say("Someone left the gate open overnight")
    assert chat.say("cancel").text == "Cancelled: nothing was saved."
    assert chat.state == {"current_project": "p-1"}
    assert [i.reference for i in repo.list_incidents(tenant, "p-1")] == ["INC-0001"]
    assert chat.say("Cancel", choice="flow:cancel").text.startswith("There's nothing to cancel.")


def test_incident_numbers_are_unique_under_concurrency(repo: SiteworkRepository, tenant: str) -> None:
    numbers: list[int] = []
    lock = threading.Lock()

    def report(i: int) -> None:
        incident = repo.create_incident(
            tenant_id=tenant, project_id="p-2", reporter_id="u-worker", description=f"report {i}", severity="low"
        )
        with lock:
            numbers.append(incident.number)

    threads = [threading.Thread(target=report, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(numbers) == list(range(2, 18))  # after the seed's INC-0001, no gap, no duplicate
    assert len(repo.list_incidents(tenant, "p-2", limit=50)) == 16


# -- progress -------------------------------------------------------------------------------------


def test_progress_update_is_confirmed_then_written_with_its_history(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    ask = chat.say("set the scaffolding to 75%", "update_progress")
    assert ask.text == "Set \u201cScaffolding east façade\u201d to 75% (currently 60%)?"
    assert ids(ask) == ["confirm:yes", "confirm:no"]
    assert repo.get_task(tenant, "p-1", "t-101").progress == 60  # type: ignore[union-attr]  # nothing yet
    saved = chat.say("Yes", choice="confirm:yes")
    assert saved.text == "Saved: \u201cScaffolding east façade\u201d is now at 75%." and saved.meta["seq"] == 4
    task = repo.get_task(tenant, "p-1", "t-101")
    assert task is not None and task.progress == 75 and task.updates == 4
    history = repo.list_progress(tenant, "p-1", "t-101")
    assert [(u.percent, u.previous) for u in history] == [(75, 60), (60, 40), (40, 20), (20, 0)]
    assert history[0].by == "u-worker"
    chat.say("the scaffolding is done", "update_progress")
    assert chat.say("non").text == "OK, I haven't changed anything."
    assert repo.get_task(tenant, "p-1", "t-101").progress == 75  # type: ignore[union-attr]


def test_progress_asks_for_the_task_and_the_percentage(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    tasks = chat.say("Update progress", choice="menu:progress")
    assert tasks.text == "Which task do you want to update?"
    assert "task:p-1:t-101" in ids(tasks) and "task:p-2:t-201" not in ids(tasks)  # Ana's task is not offered
    percent = chat.say("Basement waterproofing", choice="task:p-1:t-102")
    assert percent.text.startswith("How far along is \u201cBasement waterproofing\u201d now (currently 30%)?")
    assert chat.claimed("lots") is None  # not a percentage: classified as usual, the step stays
    confirm = chat.say("55")
    assert confirm.meta["percent"] == 55
    chat.say("yes")
    task = repo.get_task(tenant, "p-1", "t-102")
    assert task is not None and task.progress == 55 and task.status == "in_progress"


def test_a_worker_cannot_update_someone_elses_task(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker")
    result = chat.say("concrete slab level 2 is at 90%", "update_progress")
    assert "assigned to someone else" in result.text
    manager = Chat(settings, repo, tenant, "u-manager")
    assert manager.say("concrete slab level 2 is at 90%", "update_progress").meta["percent"] == 90
    manager.say("yes")
    assert repo.get_task(tenant, "p-2", "t-201").progress == 90  # type: ignore[union-attr]


def test_concurrent_progress_updates_all_land_in_the_history(repo: SiteworkRepository, tenant: str) -> None:
    stale = repo.get_task(tenant, "p-2", "t-202")
    assert stale is not None
    errors: list[BaseException] = []

    def update(percent: int) -> None:
        try:
            repo.record_progress(stale, percent, by="u-worker")  # every thread starts from the same read
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=update, args=(71 + i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    history = list(reversed(repo.list_progress(tenant, "p-2", "t-202")))
    assert [u.seq for u in history] == [1, 2, 3, 4] and history[0].previous == 70
    for before, after in itertools.pairwise(history):
        assert after.previous == before.percent  # no lost update: each one records what it replaced
    task = repo.get_task(tenant, "p-2", "t-202")
    assert task is not None and task.progress == history[-1].percent and task.updates == 4


# -- escalation -----------------------------------------------------------------------------------


def test_escalation_opens_one_for_the_session(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    chat = Chat(settings, repo, tenant, "u-worker", lang="pl")
    result = chat.say("chcę rozmawiać z szefem", "escalate_to_human")
    assert result.text.startswith("Poprosiłem biuro budowy o kontakt.")
    escalation = EscalationRepository(settings).get(tenant, chat.session.session_id, result.meta["escalationId"])
    assert escalation is not None and escalation.reason == "user_request" and escalation.assistant == "sitework"


# -- tools ----------------------------------------------------------------------------------------


def run_tool(
    reg: Any,
    name: str,
    args: dict[str, Any],
    tenant: str,
    user: str,
    *,
    approved: bool = False,
    state: dict[str, Any] | None = None,
) -> ToolResult:
    session = Session(tenant_id=tenant, session_id=new_id(), user_id=user, assistant="sitework", state=state or {})
    ctx = ToolContext(
        principal=Principal(tenant_id=tenant, user_id=user), session=session, run_id="r1", approved=approved
    )
    return execute_tool(reg, "c1", name, args, ctx, timeout_s=10, keep_keys=SiteworkPack.keep_keys)


def test_tools_read_the_workers_own_data(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    reg = registry(SiteworkTools(repo, settings))
    projects = run_tool(reg, "list_projects", {}, tenant, "u-worker")
    assert [p["project_id"] for p in projects.data["projects"]] == ["p-1", "p-2"]  # type: ignore[index]
    needs = run_tool(reg, "list_tasks", {}, tenant, "u-worker")
    assert needs.error and needs.error["code"] == "PROJECT_REQUIRED"
    tasks = run_tool(reg, "list_tasks", {"only_mine": True}, tenant, "u-worker", state={"current_project": "p-1"})
    assert [t["task_id"] for t in tasks.data["tasks"]] == ["t-101", "t-102", "t-105"]  # type: ignore[index]
    assert tasks.data["tasks"][0]["due"] == "2026-12-04"  # type: ignore[index]  # the worker's own dates, unmasked
    details = run_tool(reg, "task_details", {"task_id": "t-101"}, tenant, "u-worker")
    assert details.ok and [h["percent"] for h in details.data["history"]] == [60, 40, 20]  # type: ignore[index]
    docs = run_tool(reg, "list_documents", {"project_id": "p-2"}, tenant, "u-worker")
    assert docs.data["expires_in_minutes"] == 15 and docs.data["documents"][0]["url"].startswith("http")  # type: ignore[index]
    found = run_tool(reg, "search", {"query": "scaffolding inspection"}, tenant, "u-worker")
    kinds = {(r["kind"], r.get("task_id") or r.get("title")) for r in found.data["results"]}  # type: ignore[index]
    assert ("task", "t-101") in kinds and ("document", "Scaffolding inspection record") in kinds
    incidents = run_tool(reg, "list_incidents", {"project_id": "p-1"}, tenant, "u-worker")
    assert incidents.data["incidents"][0]["number"] == "INC-0001"  # type: ignore[index]
    selected = run_tool(reg, "select_project", {"project_id": "p-2"}, tenant, "u-worker")
    assert selected.state_updates == {"current_project": "p-2"}
    stranger = run_tool(reg, "list_projects", {}, tenant, "u-nobody")
    assert stranger.error and stranger.error["code"] == "NOT_A_WORKER"


def test_writing_tools_need_approval(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    tools = SiteworkTools(repo, settings)
    reg = registry(tools)
    for name in ("update_progress", "report_incident"):
        tool = reg.get(name)
        assert tool is not None and tool.requires_approval and tool.approval_prompt is not None and not tool.read_only
    args = {"task_id": "t-102", "percent": 40}
    declined = run_tool(reg, "update_progress", args, tenant, "u-worker")
    assert declined.error and declined.error["code"] == "APPROVAL_DECLINED"
    assert repo.get_task(tenant, "p-1", "t-102").progress == 30  # type: ignore[union-attr]
    done = run_tool(reg, "update_progress", args, tenant, "u-worker", approved=True)
    assert done.ok and done.data == {
        "task_id": "t-102",
        "title": "Basement waterproofing",
        "progress": 40,
        "previous": 30,
        "status": "in_progress",
    }
    report = {"description": "Gas smell near the boiler room", "severity": "critical", "project_id": "p-1"}
    incident = run_tool(reg, "report_incident", report, tenant, "u-worker", approved=True)
    assert incident.ok and incident.data["number"] == "INC-0002" and incident.data["manager_alerted"]  # type: ignore[index]
    other = run_tool(reg, "update_progress", {"task_id": "t-201", "percent": 50}, tenant, "u-worker", approved=True)
    assert other.error and other.error["code"] == "NOT_ALLOWED"
    session = Session(tenant_id=tenant, session_id="s", user_id="u-worker", assistant="sitework")
    ctx = ToolContext(principal=Principal(tenant_id=tenant, user_id="u-worker"), session=session, run_id="r")
    from luma.assistants.sitework.agent import IncidentArgs, ProgressArgs

    assert tools.progress_prompt(ctx, ProgressArgs(task_id="t-102", percent=90)) == (
        "Set \u201cBasement waterproofing\u201d to 90% (now 40%)?"
    )
    assert "on Riverside Apartments" in tools.incident_prompt(ctx, IncidentArgs(**report))


def test_system_prompt_is_static_first_then_the_session(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    pack = SiteworkPack(repo=repo)
    pack.bind(settings)
    session = Session(
        tenant_id=tenant, session_id="s", user_id="u-worker", assistant="sitework", language="ro",
        state={"current_project": "p-2"},
    )  # fmt: skip
    prompt, context = pack.system_prompt(session), pack.session_context(session)
    assert prompt.startswith("You are the site assistant of a construction company.")
    assert "Answer in Romanian. The user is Karim, a field worker. Current project: Gare Nord Offices (p-2)." in context
    stranger = system_prompt(session, worker_name=None, role=None, project=None)
    assert "not a registered worker" in stranger
    assert stranger.startswith(prompt)  # the cached instructions do not vary with the session


# -- seed -----------------------------------------------------------------------------------------


def test_seed_is_repeatable_and_links_the_phones(settings: Settings, repo: SiteworkRepository, tenant: str) -> None:
    seed_demo_data(settings, today=TODAY, tenant=tenant)  # a second run changes nothing that matters
    assert repo.next_incident_number(tenant) == 2
    from luma.store.repos import DynamoPhoneRepository

    link = DynamoPhoneRepository(settings).get(tenant, "+33612345101")
    assert link is not None and link.user_id == "u-worker"
    users = {u["userId"]: u for u in demo_users()}
    assert users["u-worker"]["identityHint"] == "Field worker on 2 projects" and users["u-worker"]["tenantId"] == "demo"
    assert users["u-manager"]["identityHint"] == "Site manager of 4 projects"
    tasks = repo.list_tasks(tenant, "p-1")
    assert len(tasks) == 5 and isinstance(tasks[0], Task)
    assert next(t for t in tasks if t.task_id == "t-101").due == date(2026, 12, 4)
    body = repo.s3().get_object(Bucket=BUCKET, Key=f"sitework/{tenant}/p-4/access-plan.txt")["Body"].read()
    assert body.startswith(b"Deliveries through gate 2")


# -- the scripted model of `luma dev --llm fake` ----------------------------------------------------


def agent_loop(reg: Any, tenant: str, user: str, text: str, *, approve: bool = True) -> tuple[str, list[str]]:
    """Drive :class:`SiteworkBrain` the way an agent run does (Anthropic-shaped messages, real tools)."""
    from local.fake_llm_sitework import SiteworkBrain

    brain = SiteworkBrain(chunk_delay_ms=0)
    tools = [{"name": spec.name, "input_schema": spec.input_schema} for spec in reg.specs()]
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    called: list[str] = []
    for _ in range(6):
        script = brain({"tools": tools, "messages": messages})
        if not script.tool_calls:
            return "".join(script.text), called
        uses = [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in script.tool_calls]
        messages.append({"role": "assistant", "content": uses})
        results = []
        for call in script.tool_calls:
            called.append(call.name)
            tool = reg.get(call.name)
            result = run_tool(reg, call.name, call.input, tenant, user, approved=approve and tool.requires_approval)
            results.append({"type": "tool_result", "tool_use_id": call.id, "content": result.content()})
        messages.append({"role": "user", "content": results})
    raise AssertionError("the scripted model did not answer within six steps")


def test_the_scripted_model_plays_the_site_agent_with_the_real_tools(
    settings: Settings, repo: SiteworkRepository, tenant: str
) -> None:
    reg = registry(SiteworkTools(repo, settings))
    text, called = agent_loop(reg, tenant, "u-worker", "how is the scaffolding task going?")
    assert called == ["search", "task_details"]
    assert text == (
        "Scaffolding east façade is in progress at 60%, due Friday 4 December. "
        "The last update set it to 60% (from 40%)."
    )
    text, called = agent_loop(reg, tenant, "u-worker", "bump the waterproofing to 40%")
    assert (
        called == ["search", "update_progress"] and text == "Done: Basement waterproofing is now at 40% (it was 30%)."
    )
    text, _ = agent_loop(reg, tenant, "u-worker", "set the waterproofing to 90 percent", approve=False)
    assert text == "No problem, I haven't changed anything."
    assert repo.get_task(tenant, "p-1", "t-102").progress == 40  # type: ignore[union-attr]
    text, called = agent_loop(reg, tenant, "u-worker", "any incidents lately?")
    assert called == ["list_projects", "list_incidents"]
    assert text == "Latest incidents on Riverside Apartments: INC-0001 (medium, closed)."
