"""The agent's parts without AWS: guardrail, streamer, tools, limits, failures, context, steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from luma.agent import failures
from luma.agent.approve import parse_approve
from luma.agent.context import recent_history
from luma.agent.limits import resolve_limits
from luma.agent.run import AgentService, RunState, new_run
from luma.agent.stream import SentenceGuard, TokenStreamer, default_check
from luma.agent.tools import Tool, ToolContext, ToolError, ToolRegistry, execute_tool
from luma.assistants.clinic import ClinicPack
from luma.assistants.clinic.agent import ClinicTools, registry, session_context, system_prompt
from luma.assistants.clinic.info import timezone
from luma.assistants.clinic.repo import Appointment, Patient
from luma.assistants.contract import IdentityRule
from luma.config import Settings
from luma.domain.models import (
    DeliveryTarget,
    Message,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)
from luma.errors import ErrorCode, LumaError
from luma.llm import Done, FallbackProvider, LlmError, LlmErrorCode, LlmRequest, TextDelta, ToolCall, Usage
from pydantic import BaseModel

from tests.fakes import MemoryAttempts, MemoryClinic, MemoryConversations, MemoryEscalations, RecordingDelivery

TENANT = "demo"
PRINCIPAL = Principal(tenant_id=TENANT, user_id="u-alice")


# -- fakes -------------------------------------------------------------------------------------
class ScriptedProvider:
    """Streams scripted events per call; an ``LlmError`` in a script is raised at that point."""

    name = "scripted"

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = list(scripts)
        self.requests: list[LlmRequest] = []

    def stream(self, request: LlmRequest) -> Iterator[Any]:
        self.requests.append(request)
        for event in self.scripts.pop(0):
            if isinstance(event, LlmError):
                raise event
            yield event


def done(stop: str = "end_turn", **usage: int) -> Done:
    return Done(stop_reason=stop, usage=Usage(input_tokens=100, output_tokens=20, **usage), cost_usd=0.001, model="m")  # type: ignore[arg-type]


class MemoryAgentStore:
    def __init__(self, conversations: MemoryConversations) -> None:
        self.conversations = conversations
        self.approvals: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[dict[str, Any], SessionStatus | None]] = []

    def recent_messages(self, tenant_id: str, session_id: str, limit: int) -> list[Message]:
        return self.conversations.messages.get((tenant_id, session_id), [])[-limit:]

    def update_session(self, session: Session, change: Any) -> None:
        stored = self.conversations.sessions[(session.tenant_id, session.session_id)]
        state, status = change(stored)
        self.updates.append((state, status))
        stored.state = dict(state)
        if status is not None:
            stored.status = status

    def count_tool_call(self, session: Session) -> None:
        self.conversations.sessions[(session.tenant_id, session.session_id)].tool_calls += 1

    def put_approval(self, tenant_id: str, approval: dict[str, Any], ttl_s: int) -> None:
        self.approvals[approval["approval_id"]] = approval

    def take_approval(self, tenant_id: str, approval_id: str, user_id: str) -> dict[str, Any] | None:
        found = self.approvals.get(approval_id)
        if found is None or found["user_id"] != user_id:
            return None
        return self.approvals.pop(approval_id)


class OrderedDelivery(RecordingDelivery):
    """Records frames and, for ``message`` frames, whether the reply was already persisted."""

    def __init__(self, conversations: MemoryConversations) -> None:
        super().__init__()
        self.conversations = conversations
        self.persisted_before: list[bool] = []

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        if frame["type"] == "message":
            ids = {m.message_id for ms in self.conversations.messages.values() for m in ms}
            self.persisted_before.append(frame["messageId"] in ids)
        return super().send(target, frame)


class Clinic(MemoryClinic):
    def reschedule(self, appointment: Appointment, start: datetime) -> Appointment:
        moved = appointment.model_copy(update={"start": start, "status": "scheduled"})
        self.appointments = [moved if a.appointment_id == appointment.appointment_id else a for a in self.appointments]
        return moved


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone())  # a Monday


def clinic_repo() -> Clinic:
    repo = Clinic()
    repo.patients[(TENANT, "alice martin", date(1987, 3, 14))] = Patient(
        patient_id="p-alice", tenant_id=TENANT, name="Alice Martin", dob=date(1987, 3, 14), user_id="u-alice"
    )
    tue = datetime(2026, 11, 24, 9, 30, tzinfo=timezone())
    repo.appointments.append(
        Appointment(
            appointment_id="a1",
            tenant_id=TENANT,
            patient_id="p-alice",
            doctor_id="d-patel",
            start=tue,
            minutes=30,
            reason="check-up",
            status="scheduled",
        )
    )
    return repo


def make_turn(conversations: MemoryConversations, text: str, *, verified: bool = True) -> Turn:
    state = {"verified_patient_id": "p-alice", "verified_name": "Alice Martin"} if verified else {}
    session = Session(tenant_id=TENANT, session_id="S1", user_id="u-alice", assistant="clinic", state=state)
    conversations.sessions[(TENANT, "S1")] = session.model_copy(deep=True)
    message = Message(tenant_id=TENANT, session_id="S1", message_id="01INBOUND", role=Role.USER, text=text)
    conversations.messages.setdefault((TENANT, "S1"), []).append(message)
    decision = RoutingDecision(
        tenant_id=TENANT,
        session_id="S1",
        message_id="01INBOUND",
        intent=None,
        confidence=0.3,
        margin=0.1,
        route=Route.AGENT,
        reason="low_confidence",
        latency_ms=5,
    )
    return Turn(
        principal=PRINCIPAL,
        session=session,
        message=message,
        decision=decision,
        delivery=DeliveryTarget(connection_id="c1"),
        client_message_id="m1",
    )


class ClinicAt(ClinicPack):
    """The clinic pack over in-memory adapters, with the clock stopped at ``NOW``."""

    def tools(self) -> ToolRegistry:
        tools = ClinicTools(self.repo, self.settings, attempts=self.attempts, escalations=self.escalations, now=NOW)
        return registry(tools)

    def session_context(self, session: Session) -> str:
        return session_context(session, now=NOW)


def clinic_at(repo: MemoryClinic | None = None) -> ClinicAt:
    pack = ClinicAt(
        repo=repo or clinic_repo(),
        attempts=MemoryAttempts(),  # type: ignore[arg-type]
        escalations=MemoryEscalations(),  # type: ignore[arg-type]
    )
    pack.bind(Settings(_env_file=None))  # type: ignore[call-arg]
    return pack


def service(
    provider: Any, conversations: MemoryConversations | None = None, **kw: Any
) -> tuple[AgentService, MemoryConversations, OrderedDelivery, MemoryAgentStore]:
    conversations = conversations or MemoryConversations()
    delivery = OrderedDelivery(conversations)
    store = MemoryAgentStore(conversations)
    pack = clinic_at(kw.pop("repo", None))
    svc = AgentService(
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        conversations=conversations,
        store=store,
        delivery=delivery,
        provider=lambda: provider,
        packs=lambda _name: pack,
        escalations=pack.escalations,
        **kw,
    )
    svc.pack = pack  # type: ignore[attr-defined]
    return svc, conversations, delivery, store


# -- guardrail and streaming --------------------------------------------------------------------
def test_guard_releases_whole_sentences_and_flushes_the_tail() -> None:
    guard = SentenceGuard()
    out = [guard.feed(p) for p in ["Hello the", "re. Dr. Patel is ", "free at 3 p", "m. And the", "n"]]
    assert out[0] == ""
    assert out[1] == "Hello there. "  # "Dr. " is not a sentence end
    assert "".join(out) + guard.flush() == "Hello there. Dr. Patel is free at 3 pm. And then"
    assert guard.flush() == ""


def test_guard_masks_personal_data_but_keeps_allowed_strings() -> None:
    guard = SentenceGuard(default_check(frozenset({"+33 1 84 88 00 00"})))
    text = guard.feed("Call +33 1 84 88 00 00 or mail bob@example.com. Your DOB is 14/03/1987.\n")
    assert "+33 1 84 88 00 00" in text and "bob@example.com" not in text and "14/03/1987" not in text
    assert guard.flagged == 2


def test_guard_releases_a_very_long_sentence_at_a_word_boundary() -> None:
    guard = SentenceGuard(max_sentence_chars=50)
    released = guard.feed("word " * 30)
    assert released and released.endswith(" ") and len(released) <= 50


def test_streamer_coalesces_to_the_interval_and_survives_a_gone_client() -> None:
    now = [0.0]
    sent: list[str] = []
    streamer = TokenStreamer(lambda t: sent.append(t) or len(sent) < 2, min_interval_s=0.06, clock=lambda: now[0])
    streamer.feed("One. ")
    streamer.feed("Two. ")  # released, but within 60 ms of the first frame
    streamer.feed("Three")
    assert sent == ["One. "]
    now[0] = 0.1
    streamer.tick()
    assert sent == ["One. ", "Two. "] and streamer.gone  # the send answered False: client gone
    assert streamer.finish() == "One. Two. Three"
    assert sent == ["One. ", "Two. "]  # nothing more sent to a gone client, all of it kept


# -- tools ----------------------------------------------------------------------------------------
class EchoArgs(BaseModel):
    text: str
    times: int = 1


def _ctx(state: dict[str, Any] | None = None, approved: bool = False) -> ToolContext:
    session = Session(tenant_id=TENANT, session_id="S1", user_id="u-alice", assistant="clinic", state=state or {})
    return ToolContext(PRINCIPAL, session, "run1", approved=approved)


def _registry(fn: Any, **kw: Any) -> ToolRegistry:
    return ToolRegistry([Tool("echo", "Echo.", EchoArgs, fn, **kw)])


def test_tool_spec_is_the_arguments_json_schema() -> None:
    spec = _registry(lambda c, a: {}).specs()[0]
    assert spec.name == "echo" and spec.input_schema["required"] == ["text"]
    assert spec.input_schema["properties"]["times"]["type"] == "integer"


def test_malformed_arguments_become_a_result_the_model_can_correct() -> None:
    r = execute_tool(_registry(lambda c, a: {}), "t1", "echo", {"times": "many"}, _ctx(), timeout_s=1)
    assert not r.ok and r.error and r.error["code"] == "INVALID_ARGUMENTS" and "text" in r.error["message"]
    assert (
        execute_tool(_registry(lambda c, a: {}), "t1", "nope", {}, _ctx(), timeout_s=1).error["code"] == "UNKNOWN_TOOL"
    )  # type: ignore[index]


def test_pre_checks_identity_and_approval() -> None:
    reg = _registry(lambda c, a: {"ok": 1}, requires_identity=True, requires_approval=True)
    rule = IdentityRule(verified=lambda s: "who" in s, instructions="Ask who they are, then call whoami.")
    refused = execute_tool(reg, "t", "echo", {"text": "x"}, _ctx(), timeout_s=1, identity=rule)
    assert refused.error == {"code": "IDENTITY_NOT_VERIFIED", "message": "Ask who they are, then call whoami."}
    verified = {"who": "p"}
    declined = execute_tool(reg, "t", "echo", {"text": "x"}, _ctx(verified), timeout_s=1, identity=rule)
    assert declined.error and declined.error["code"] == "APPROVAL_DECLINED"
    assert execute_tool(reg, "t", "echo", {"text": "x"}, _ctx(verified, approved=True), timeout_s=1, identity=rule).ok
    # A pack with no identity rule: the signed-in user is enough.
    assert execute_tool(reg, "t", "echo", {"text": "x"}, _ctx(approved=True), timeout_s=1).ok


def test_a_locked_session_runs_no_tool() -> None:
    ran: list[str] = []
    reg = _registry(lambda c, a: ran.append(a.text) or {})
    ctx = _ctx()
    ctx.session = ctx.session.model_copy(update={"status": SessionStatus.LOCKED})
    result = execute_tool(reg, "t", "echo", {"text": "x"}, ctx, timeout_s=1)
    assert result.error and result.error["code"] == "SESSION_LOCKED" and ran == []


def test_a_tool_that_hangs_times_out_and_one_that_raises_is_reported() -> None:
    slow = _registry(lambda c, a: time.sleep(0.5) or {})
    started = time.monotonic()
    r = execute_tool(slow, "t", "echo", {"text": "x"}, _ctx(), timeout_s=0.05)
    assert r.error and r.error["code"] == "TOOL_TIMEOUT" and time.monotonic() - started < 0.4

    def boom(c: ToolContext, a: EchoArgs) -> dict[str, Any]:
        raise RuntimeError("db down: secret detail")

    r = execute_tool(_registry(boom), "t", "echo", {"text": "x"}, _ctx(), timeout_s=1)
    assert r.error and r.error["code"] == "TOOL_ERROR" and "secret" not in r.content()

    def refuse(c: ToolContext, a: EchoArgs) -> dict[str, Any]:
        raise ToolError("NOT_FOUND", "no such thing")

    assert execute_tool(_registry(refuse), "t", "echo", {"text": "x"}, _ctx(), timeout_s=1).error == {
        "code": "NOT_FOUND",
        "message": "no such thing",
    }


def test_results_are_masked_and_bounded() -> None:
    r = execute_tool(
        _registry(lambda c, a: {"note": "reach me at +33612345001", "when": "Tue 14:00"}),
        "t",
        "echo",
        {"text": "x"},
        _ctx(),
        timeout_s=1,
    )
    assert r.ok and r.data == {"note": "reach me at <phone>", "when": "Tue 14:00"}
    big = execute_tool(
        _registry(lambda c, a: {"x": "y" * 5000}),
        "t",
        "echo",
        {"text": "x"},
        _ctx(),
        timeout_s=1,
        max_result_chars=1000,
    )
    assert big.error and big.error["code"] == "RESULT_TOO_LARGE"


# -- limits, failures, context ---------------------------------------------------------------------
def test_limits_resolve_defaults_then_pack_then_env() -> None:
    pack = {"max_iterations": 5, "intents": {"reschedule": {"max_iterations": 8}}}
    assert resolve_limits(None).max_iterations == 6
    assert resolve_limits("other", pack=pack).max_iterations == 5
    assert resolve_limits("reschedule", pack=pack).max_iterations == 8
    assert resolve_limits("reschedule", pack=pack, env={"max_iterations": 3}).max_iterations == 3
    with pytest.raises(ValueError):
        resolve_limits(None, env={"max_iterations": 0})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"Error": "LlmRateLimited", "Cause": "{}"}, failures.FailureKind.RATE_LIMIT),
        ({"Error": "States.Timeout"}, failures.FailureKind.TIMEOUT),
        ({"Error": "LoopDetected"}, failures.FailureKind.LOOP_DETECTED),
        ({"Error": "IterationLimit"}, failures.FailureKind.LOOP_DETECTED),
        (
            {"Error": "States.TaskFailed", "Cause": '{"errorType": "LlmContextTooLong"}'},
            failures.FailureKind.CONTEXT_TOO_LONG,
        ),
        ({"Error": "KeyError"}, failures.FailureKind.INTERNAL),
        (None, failures.FailureKind.INTERNAL),
    ],
)
def test_failures_are_classified(error: dict[str, Any] | None, kind: failures.FailureKind) -> None:
    assert failures.classify_failure(error) is kind


def test_recoveries() -> None:
    rec, kind = failures.Recovery, failures.FailureKind
    assert failures.choose_recovery(kind.RATE_LIMIT, has_fallback=True, recoveries_left=1) is rec.FALLBACK
    assert failures.choose_recovery(kind.RATE_LIMIT, has_fallback=True, recoveries_left=0) is rec.APOLOGIZE
    assert failures.choose_recovery(kind.PROVIDER_DOWN, has_fallback=False, recoveries_left=1) is rec.APOLOGIZE
    assert failures.choose_recovery(kind.LOOP_DETECTED, has_fallback=False, recoveries_left=1) is rec.ANSWER_NOW
    assert failures.choose_recovery(kind.TOOL_ERROR, has_fallback=False, recoveries_left=1) is rec.ESCALATE
    assert failures.choose_recovery(kind.CONTEXT_TOO_LONG, has_fallback=True, recoveries_left=1) is rec.APOLOGIZE
    assert (
        type(failures.step_error(LlmError(LlmErrorCode.LLM_RATE_LIMITED, retryable=True))).__name__ == "LlmRateLimited"
    )


def _msg(i: int, role: Role, text: str, **meta: Any) -> Message:
    return Message(tenant_id=TENANT, session_id="S1", message_id=f"{i:04d}", role=role, text=text, meta=meta)


def test_history_fits_the_budget_starts_with_the_user_and_alternates() -> None:
    msgs = [
        _msg(1, Role.ASSISTANT, "welcome"),
        _msg(2, Role.USER, "a" * 400),
        _msg(3, Role.ASSISTANT, "b" * 40),
        _msg(4, Role.USER, "too fast", refused="rate_limited"),
        _msg(5, Role.USER, "first"),
        _msg(6, Role.USER, "second"),
    ]
    out = recent_history(msgs, budget_tokens=40)
    assert [m.role for m in out] == ["user"]  # the 400-char message doesn't fit; the assistant one can't lead
    assert out[0].text == "first\n\nsecond"
    everything = recent_history(msgs, budget_tokens=10_000)
    assert [m.role for m in everything] == ["user", "assistant", "user"] and "too fast" not in everything[-1].text


# -- steps ----------------------------------------------------------------------------------------
def test_a_plain_answer_streams_sentences_then_persists_and_delivers_one_message() -> None:
    provider = ScriptedProvider(
        [TextDelta(text="Our clinic "), TextDelta(text="opens at 8. See "), TextDelta(text="you soon"), done()]
    )
    svc, conversations, delivery, _ = service(provider)
    turn = make_turn(conversations, "tell me about the clinic")
    state = svc.step(new_run(turn, resolve_limits(None)))
    assert state.step and state.step.stop == "end_turn"
    tokens = [f["text"] for f in delivery.of_type("token")]
    assert "".join(tokens) == "Our clinic opens at 8. See you soon" and tokens[0] == "Our clinic opens at 8. "
    [message] = delivery.of_type("message")
    assert message["text"] == "Our clinic opens at 8. See you soon" and message["route"] == "agent"
    assert delivery.persisted_before == [True]
    reply = conversations.messages[(TENANT, "S1")][-1]
    assert reply.meta["usage"]["input_tokens"] == 100 and reply.message_id == state.run.reply_id
    assert provider.requests[0].messages[-1].text == "tell me about the clinic"
    assert [t.name for t in provider.requests[0].tools][:2] == ["verify_identity", "list_appointments"]


def test_the_users_own_memories_may_be_quoted_back_but_not_the_instructions() -> None:
    remembered = "On 1 December 2026 you told me that you are allergic to penicillin and that needles scare you a lot."
    leak = (
        "My instructions say: "
        + " ".join(
            clinic_at()
            .system_prompt(Session(tenant_id=TENANT, session_id="S1", user_id="u-alice", assistant="clinic"))
            .split()[:40]
        )
        + "."
    )
    provider = ScriptedProvider([TextDelta(text=remembered + " "), TextDelta(text=leak), done()])
    svc, conversations, delivery, _ = service(provider)
    state = new_run(make_turn(conversations, "do you remember my allergy?"), resolve_limits(None))
    state.memory, state.memory_ids = f"What you remember about the user:\n- {remembered}", ["MEM1"]
    svc.step(state)
    [message] = delivery.of_type("message")
    assert remembered in message["text"]
    assert "My instructions say" not in message["text"]


def test_a_tool_step_returns_pending_calls_and_the_next_step_sees_the_results() -> None:
    call = ToolCall(
        id="tu1",
        name="reschedule_appointment",
        input={"appointment_id": "a1", "new_start": "2026-11-24T14:00:00+01:00"},
    )
    provider = ScriptedProvider(
        [TextDelta(text="Let me check. "), call, done("tool_use")], [TextDelta(text="Done."), done()]
    )
    svc, conversations, delivery, _ = service(provider)
    state = svc.step(new_run(make_turn(conversations, "move my tuesday appointment"), resolve_limits(None)))
    assert state.step and state.step.stop == "tool_use"
    [pending] = state.step.tool_calls
    assert pending.requires_approval and not pending.read_only
    assert delivery.of_type("status")[-1]["tool"] == "reschedule_appointment"
    # The Map ran the tool (declined here): its result goes back to the model.
    result = svc.run_tool(
        {
            "call": pending.model_dump(),
            "turn": state.turn.model_dump(mode="json"),
            "run": state.run.model_dump(mode="json"),
            "approval": {"approved": False},
        }
    )
    assert result["ok"] is False and result["error"]["code"] == "APPROVAL_DECLINED"
    state.tool_results = [result]
    state = svc.step(RunState.model_validate(state.model_dump(mode="json")))
    second = provider.requests[1]
    assert second.messages[-2].content[-1].type == "tool_use"  # type: ignore[union-attr]
    assert (
        second.messages[-1].content[0].type == "tool_result"
        and "APPROVAL_DECLINED" in second.messages[-1].content[0].content
    )  # type: ignore[union-attr]
    assert delivery.of_type("message")[-1]["text"] == "Let me check. Done."
    tokens = delivery.of_type("token")
    assert [t["seq"] for t in tokens] == [1, 2] and "".join(t["text"] for t in tokens) == "Let me check. Done."


def test_the_last_allowed_step_has_no_tools_and_repeated_calls_are_a_loop() -> None:
    provider = ScriptedProvider([TextDelta(text="Answer."), done()])
    svc, conversations, _, _ = service(provider)
    state = new_run(make_turn(conversations, "x"), resolve_limits(None, env={"max_iterations": 2}))
    state.run.iteration = 1
    svc.step(state)
    assert provider.requests[0].tools == [] and "answer the user now" in provider.requests[0].context

    call = ToolCall(id="t", name="list_appointments", input={})
    provider = ScriptedProvider(*[[call, done("tool_use")] for _ in range(3)])
    svc, conversations, _, _ = service(provider)
    state = new_run(make_turn(conversations, "x"), resolve_limits(None))
    state = svc.step(state)
    state = svc.step(state)
    with pytest.raises(failures.LoopDetected):
        svc.step(state)


def test_a_provider_failure_is_a_named_error_and_partial_text_is_reset() -> None:
    provider = ScriptedProvider(
        [TextDelta(text="Half a sentence. And"), LlmError(LlmErrorCode.LLM_RATE_LIMITED, retryable=True)]
    )
    svc, conversations, delivery, _ = service(provider)
    with pytest.raises(failures.LlmRateLimited):
        svc.step(new_run(make_turn(conversations, "x"), resolve_limits(None)))
    assert delivery.of_type("token") and delivery.of_type("status")[-1]["status"] == "stream_reset"
    assert not delivery.of_type("message")


def test_anti_paralysis_after_read_only_calls() -> None:
    svc, conversations, _, _ = service(ScriptedProvider())
    state = new_run(make_turn(conversations, "x"), resolve_limits(None, env={"max_readonly_streak": 2}))
    state.tool_results = [
        {"tool_use_id": f"t{i}", "name": "list_appointments", "ok": True, "data": {}, "read_only": True}
        for i in range(2)
    ]
    svc.fold_results(state)
    assert state.run.final and state.transcript[-1].role == "user"


def test_failure_handler_recovers_or_apologises_and_persists_the_answer() -> None:
    provider = FallbackProvider(ScriptedProvider(), ScriptedProvider())
    svc, conversations, delivery, _ = service(provider)
    state = new_run(make_turn(conversations, "x"), resolve_limits(None))
    state.error = {"Error": "LlmRateLimited", "Cause": "429"}
    state = svc.handle_failure(state)
    assert state.recovery == "fallback" and state.run.provider == "fallback" and not delivery.of_type("message")
    state.error = {"Error": "LlmRateLimited", "Cause": "429"}
    state = svc.handle_failure(state)
    assert state.recovery == "apologize"
    [message] = delivery.of_type("message")
    assert "sorry" in message["text"].lower() and "Traceback" not in message["text"]
    assert conversations.messages[(TENANT, "S1")][-1].meta["failure"] == "rate_limit"
    summary = svc.finalize(state)
    assert summary["outcome"] == "apologized"


def test_tool_errors_escalate_to_a_person() -> None:
    repo = clinic_repo()
    svc, conversations, delivery, _ = service(ScriptedProvider(), repo=repo)
    state = new_run(make_turn(conversations, "x"), resolve_limits(None))
    state.error = {"Error": "ToolFailed"}
    svc.handle_failure(state)
    assert svc.pack.escalations.opened[0].reason == "agent run failed: tool_error"  # type: ignore[attr-defined]
    assert delivery.of_type("message")[-1]["text"].startswith("I'm sorry, I couldn't finish")


def test_approval_request_and_answer() -> None:
    svc, conversations, delivery, _store = service(ScriptedProvider())

    class Tokens:
        sent: list[dict[str, Any]] = []

        def send_task_success(self, **kw: Any) -> None:
            self.sent.append(kw)

    svc.approvals.task_tokens = Tokens()
    turn = make_turn(conversations, "x")
    state = new_run(turn, resolve_limits(None))
    call = {
        "id": "tu1",
        "name": "reschedule_appointment",
        "input": {"appointment_id": "a1", "new_start": "2026-11-24T14:00:00+01:00"},
        "requires_approval": True,
    }
    svc.request_approval(
        {"token": "TOKEN", "call": call, "turn": turn.model_dump(mode="json"), "run": state.run.model_dump(mode="json")}
    )
    [frame] = delivery.of_type("approval_request")
    assert "Dr. Anika Patel" in frame["prompt"] and "14:00" in frame["prompt"]
    card = conversations.get_message(TENANT, "S1", frame["approvalId"])
    assert card and card.meta["kind"] == "approval_request" and card.meta["approvalStatus"] == "pending"
    assert conversations.sessions[(TENANT, "S1")].state["_approval"] == frame["approvalId"]
    with pytest.raises(LumaError):
        svc.answer_approval(Principal(tenant_id=TENANT, user_id="u-bruno"), frame["approvalId"], True)  # not theirs
    svc.answer_approval(PRINCIPAL, frame["approvalId"], True)
    assert Tokens.sent[0]["taskToken"] == "TOKEN" and '"approved": true' in Tokens.sent[0]["output"]
    settled = conversations.get_message(TENANT, "S1", frame["approvalId"])
    assert settled and settled.meta["approvalStatus"] == "approved"
    assert "_approval" not in conversations.sessions[(TENANT, "S1")].state
    with pytest.raises(LumaError):  # answered once only
        svc.answer_approval(PRINCIPAL, frame["approvalId"], True)


def test_an_approval_that_times_out_says_so_and_is_never_a_decline() -> None:
    svc, conversations, delivery, _store = service(ScriptedProvider())
    turn = make_turn(conversations, "x")
    state = new_run(turn, resolve_limits(None))
    call = {
        "id": "tu1",
        "name": "reschedule_appointment",
        "input": {"appointment_id": "a1", "new_start": "2026-11-24T14:00:00+01:00"},
        "requires_approval": True,
    }
    item = {"call": call, "turn": turn.model_dump(mode="json"), "run": state.run.model_dump(mode="json")}
    svc.request_approval({"token": "TOKEN", **item})
    [frame] = delivery.of_type("approval_request")
    # What the state machine passes on when the wait for the answer times out (ApprovalTimedOut).
    result = svc.run_tool({**item, "approval": {"approved": False, "reason": "timed_out"}})
    assert result["error"]["code"] == "APPROVAL_TIMED_OUT" and "not that they declined" in result["error"]["message"]
    card = conversations.get_message(TENANT, "S1", frame["approvalId"])
    assert card and card.meta["approvalStatus"] == "timed_out"
    # An answer after the timeout gets a clear message.
    svc.approvals.task_tokens = None
    with pytest.raises(LumaError) as late:
        svc.answer_approval(PRINCIPAL, frame["approvalId"], True)
    assert late.value.code is ErrorCode.APPROVAL_EXPIRED and "timed out" in late.value.message


@pytest.mark.parametrize(
    "body", ["nope", "[]", '{"action":"approve"}', '{"action":"approve","approvalId":"a b","approved":true}']
)
def test_approve_frames_are_validated(body: str) -> None:
    with pytest.raises(LumaError) as info:
        parse_approve(body)
    assert info.value.code in (ErrorCode.MALFORMED_JSON, ErrorCode.VALIDATION_FAILED)


# -- clinic tools ----------------------------------------------------------------------------------
def test_clinic_reschedule_flow_with_tools() -> None:
    repo = clinic_repo()
    tools = ClinicTools(repo, Settings(_env_file=None), now=NOW)  # type: ignore[call-arg]
    reg = registry(tools)
    ctx = _ctx({"verified_patient_id": "p-alice"})
    listed = execute_tool(reg, "1", "list_appointments", {}, ctx, timeout_s=2)
    assert listed.ok and listed.data["appointments"][0]["weekday"] == "Tuesday"  # type: ignore[index]
    slots = execute_tool(
        reg, "2", "find_available_slots", {"appointment_id": "a1", "part_of_day": "afternoon"}, ctx, timeout_s=2
    )
    assert slots.ok and slots.data["slots"]  # type: ignore[index]
    starts = [datetime.fromisoformat(s["start"]) for s in slots.data["slots"]]  # type: ignore[index]
    assert all(12 <= s.hour < 17 and s.date() == date(2026, 11, 24) for s in starts)
    target = starts[0].isoformat()
    ctx_ok = _ctx({"verified_patient_id": "p-alice"}, approved=True)
    moved = execute_tool(
        reg, "3", "reschedule_appointment", {"appointment_id": "a1", "new_start": target}, ctx_ok, timeout_s=2
    )
    assert moved.ok and repo.appointments[0].start == starts[0]
    taken = execute_tool(
        reg,
        "4",
        "reschedule_appointment",
        {"appointment_id": "a1", "new_start": (starts[0] + timedelta(minutes=1)).isoformat()},
        ctx_ok,
        timeout_s=2,
    )
    assert taken.error and taken.error["code"] == "SLOT_UNAVAILABLE"


def test_clinic_identity_tool_counts_attempts_per_user_and_locks() -> None:
    attempts = MemoryAttempts()
    tools = ClinicTools(
        clinic_repo(), Settings(_env_file=None), attempts=attempts, escalations=MemoryEscalations(), now=NOW
    )  # type: ignore[call-arg,arg-type]
    reg = registry(tools)
    ok = execute_tool(
        reg, "1", "verify_identity", {"full_name": "Alice Martin", "date_of_birth": "14/03/1987"}, _ctx(), timeout_s=2
    )
    assert ok.ok and ok.state_updates["verified_patient_id"] == "p-alice"
    codes = []
    for n in range(4):  # a fresh session each time: the lockout is the user's, not the session's
        guess = {"full_name": "Eve Martin", "date_of_birth": f"0{n + 1}/01/1990"}
        codes.append(execute_tool(reg, "1", "verify_identity", guess, _ctx(), timeout_s=2).error["code"])  # type: ignore[index]
    assert codes == ["IDENTITY_MISMATCH", "IDENTITY_MISMATCH", "IDENTITY_LOCKED", "IDENTITY_LOCKED"]
    # Locked: even the right details are not looked up.
    right = {"full_name": "Alice Martin", "date_of_birth": "14/03/1987"}
    assert execute_tool(reg, "1", "verify_identity", right, _ctx(), timeout_s=2).error["code"] == "IDENTITY_LOCKED"  # type: ignore[index]


def test_system_prompt_names_the_language_and_verification() -> None:
    session = Session(
        tenant_id=TENANT,
        session_id="S1",
        user_id="u",
        assistant="clinic",
        language="es",
        state={"verified_name": "Alice Martin"},
    )
    context = session_context(session, now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert "Answer in Spanish" in context and "verified as Alice" in context
    assert "Spanish" not in system_prompt() and system_prompt() == system_prompt()  # the cached part never varies


def test_fixed_agent_texts_come_from_the_pack_then_the_core() -> None:
    from luma import texts

    assert texts.text("agent.apology", "es", assistant="clinic").startswith("Lo siento")
    assert "clinic" in texts.text("agent.apology", "en", assistant="clinic")
    assert "clinic" not in texts.text("agent.apology", "en")  # the core's own wording names no assistant
    assert texts.text("agent.apology", "xx", assistant="clinic") == texts.text(
        "agent.apology", "en", assistant="clinic"
    )


def test_the_apology_is_in_the_session_language() -> None:
    svc, conversations, delivery, _ = service(ScriptedProvider())
    turn = make_turn(conversations, "x")
    conversations.sessions[(TENANT, "S1")].language = "fr"
    state = new_run(turn, resolve_limits(None))
    state.error = {"Error": "LlmContextTooLong"}
    svc.handle_failure(state)
    assert delivery.of_type("message")[-1]["text"].startswith("Désolé")
