"""Agent runs end to end on the local stack: real WebSocket → classify → Step Functions (moto's
interpreter running statemachines/agent_run.asl.json) → agent_* handlers → the real Anthropic SDK
→ the fake LLM server → token/approval/message frames back to the client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from local.fake_llm import Script, ScriptToolCall
from tests.integration.test_turn_ws import client, http_get, send, until

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def fake_llm(local_stack: Any) -> Any:
    fake = local_stack.fake_llm
    assert fake is not None, "the test stack runs with llm='fake'"
    fake.clear()
    yield fake
    fake.clear()
    # An outage test opens the provider's circuit breaker (it lives as long as the process): close it.
    from luma.llm import reset_providers

    reset_providers()


def sfn(local_stack: Any) -> Any:
    import boto3

    return boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        endpoint_url=local_stack.dynamodb_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def execution(local_stack: Any, run_id: str, timeout: float = 20.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The finished execution of a run and its history."""
    client_ = sfn(local_stack)
    arn = local_stack.state_machines["agent_run"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    deadline = time.monotonic() + timeout
    while True:
        desc = client_.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    events = client_.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return desc, events


def entered(events: list[dict[str, Any]], state: str) -> int:
    return sum(1 for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state)


def turn(
    ws: ClientConnection, text: str, sid: str | None = None, *, approve: bool | None = None, timeout: float = 20.0
) -> dict[str, Any]:
    """Send a message; collect its frames until its ``message`` (answering approval requests with ``approve``)."""
    cid = uuid.uuid4().hex[:12]
    send(ws, text, cid, sid)
    out: dict[str, Any] = {"cid": cid, "tokens": [], "status": [], "approvals": [], "message": None}
    run_id = None
    deadline = time.monotonic() + timeout
    while out["message"] is None:
        left = deadline - time.monotonic()
        assert left > 0, f"no answer in time; got {out}"
        frame = json.loads(ws.recv(timeout=left))
        kind = frame["type"]
        if kind == "status" and (frame.get("clientMessageId") == cid or (run_id and frame.get("runId") == run_id)):
            out["status"].append(frame)
            run_id = frame.get("runId") or run_id
        elif kind == "token" and frame.get("runId") == run_id:
            out["tokens"].append(frame)
        elif kind == "approval_request" and frame.get("runId") == run_id:
            out["approvals"].append(frame)
            assert approve is not None, f"unexpected approval request {frame}"
            ws.send(json.dumps({"action": "approve", "approvalId": frame["approvalId"], "approved": approve}))
        elif kind in ("message", "error") and (frame.get("replyTo") == cid or frame.get("clientMessageId") == cid):
            out["message"] = frame
    out["run_id"] = run_id
    return out


def verified(ws: ClientConnection) -> str:
    """A session where Alice has verified her identity (fast path + flow, no model)."""
    ask, answer = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    send(ws, "show me my appointments", ask)
    sid = until(ws, lambda f: f.get("status") == "session_started")["sessionId"]
    until(ws, lambda f: f.get("replyTo") == ask)
    send(ws, "Alice Martin, 14/03/1987", answer, sid)
    until(ws, lambda f: f.get("replyTo") == answer)
    return str(sid)


# -- tests ---------------------------------------------------------------------------------------
def test_a_plain_answer_streams_then_arrives_whole_and_is_persisted(local_stack: Any, fake_llm: Any) -> None:
    fake_llm.enqueue(Script(text=["Please bring ", "your ID card. ", "Arrive ten minutes ", "early."]))
    with client(local_stack) as ws:
        res = turn(ws, "what should I bring to my first visit?")
    assert [s["status"] for s in res["status"]][-1] == "thinking"
    assert "".join(t["text"] for t in res["tokens"]) == "Please bring your ID card. Arrive ten minutes early."
    assert res["tokens"][0]["text"] == "Please bring your ID card. "  # whole sentences only
    message = res["message"]
    assert message["route"] == "agent" and message["text"] == "Please bring your ID card. Arrive ten minutes early."
    desc, events = execution(local_stack, res["run_id"])
    assert desc["status"] == "SUCCEEDED" and entered(events, "AgentStep") == 1 and entered(events, "Finalize") == 1
    status, page = http_get(local_stack, f"/api/sessions/{message['sessionId']}/messages")
    assert status == 200
    replies = [m for m in page["items"] if m["role"] == "assistant"]
    assert [m["text"] for m in replies] == [message["text"]]
    request = next(r for r in reversed(fake_llm.requests) if "tools" in r.body)
    assert request.body["system"][0]["cache_control"] == {"type": "ephemeral"}  # prompt caching
    assert {t["name"] for t in request.body["tools"]} >= {"list_appointments", "reschedule_appointment"}


def test_reschedule_with_a_tool_loop_and_an_approval(local_stack: Any) -> None:
    with client(local_stack) as ws:
        sid = verified(ws)
        res = turn(ws, "can I move my Tuesday appointment to the afternoon?", sid, approve=True, timeout=30)
        assert res["message"]["route"] == "agent", res
        # The message is everything the run said, in order (what the client saw streamed).
        assert res["message"]["text"].startswith("Let me look up your appointments.")
        assert "Done! Your appointment is now on" in res["message"]["text"]
        tools = [s["tool"] for s in res["status"] if s["status"] == "tool"]
        assert tools == ["list_appointments", "find_available_slots", "reschedule_appointment"]
        [approval] = res["approvals"]
        assert "Move your appointment" in approval["prompt"]
        desc, events = execution(local_stack, res["run_id"])
        assert desc["status"] == "SUCCEEDED"
        assert entered(events, "AgentStep") == 4 and entered(events, "AwaitApproval") == 1
        # The appointment really moved: the fast path lists it at the new time.
        send(ws, "show me my appointments", "after", sid)
        listing = until(ws, lambda f: f.get("replyTo") == "after")["text"]
        when = res["message"]["text"].split("now on ")[1].split(". ")[0]
        assert when.split(" at ")[1] in listing


def test_a_declined_approval_keeps_the_appointment(local_stack: Any) -> None:
    with client(local_stack) as ws:
        sid = verified(ws)
        res = turn(ws, "please reschedule my appointment to the morning", sid, approve=False, timeout=30)
        assert res["approvals"] and "left your appointment" in res["message"]["text"]
        desc, _ = execution(local_stack, res["run_id"])
        assert desc["status"] == "SUCCEEDED"


def test_rate_limited_step_is_retried_by_the_state_machine(local_stack: Any, fake_llm: Any) -> None:
    # 3 × 429 exhausts the provider's own retries (2); the ASL's Retry on LlmRateLimited runs the step again.
    fake_llm.enqueue(Script.error(429, retry_after=0), times=3)
    fake_llm.enqueue(Script(text=["Here you are."]))
    with client(local_stack) as ws:
        res = turn(ws, "what is your policy on late arrivals?", timeout=30)
    assert res["message"]["text"] == "Here you are."
    desc, events = execution(local_stack, res["run_id"])
    assert desc["status"] == "SUCCEEDED" and entered(events, "AgentStep") == 1
    assert sum(1 for e in events if e["type"] == "TaskFailed") == 1  # one failed attempt, then the retry


def test_a_provider_outage_is_caught_and_apologised_for(local_stack: Any, fake_llm: Any) -> None:
    fake_llm.enqueue(Script.error(500), times=6)  # 2 attempts × (1 + 2 provider retries)
    with client(local_stack) as ws:
        res = turn(ws, "what is your policy on late arrivals?", timeout=40)
    text = res["message"]["text"]
    assert "sorry" in text.lower() and "500" not in text and "Traceback" not in text
    desc, events = execution(local_stack, res["run_id"])
    assert desc["status"] == "SUCCEEDED" and entered(events, "HandleFailure") == 1
    _, page = http_get(local_stack, f"/api/sessions/{res['message']['sessionId']}/messages")
    assert [m["text"] for m in page["items"] if m["role"] == "assistant"] == [text]


def _slot_hunt(local_stack: Any, fake_llm: Any, steps: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A model that keeps calling a read-only tool with new arguments; returns the turn and the history."""
    with client(local_stack) as ws:
        sid = verified(ws)
        for day in range(1, steps + 1):
            fake_llm.enqueue(
                Script(tool_calls=[ScriptToolCall("find_available_slots", {"date": f"2030-01-{day:02d}"})])
            )
        res = turn(ws, "any free slot next january?", sid, timeout=40)
    _, events = execution(local_stack, res["run_id"])
    return res, events


@pytest.fixture
def agent_limits(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set LUMA_AGENT_LIMITS for the handlers running in this process."""
    from luma import wiring
    from luma.config import reset_settings

    def apply(limits: dict[str, Any]) -> None:
        monkeypatch.setenv("LUMA_AGENT_LIMITS", json.dumps(limits))
        reset_settings()
        wiring.reset()

    yield apply
    monkeypatch.undo()
    reset_settings()
    wiring.reset()


def test_the_iteration_limit_forces_an_answer(local_stack: Any, fake_llm: Any, agent_limits: Any) -> None:
    agent_limits({"max_iterations": 3})
    res, events = _slot_hunt(local_stack, fake_llm, steps=6)
    requests = [r for r in fake_llm.requests if r.path.endswith("/v1/messages")]
    assert [bool(r.body.get("tools")) for r in requests] == [True, True, False]  # the last step may not call tools
    assert entered(events, "AgentStep") == 3 and entered(events, "ExecuteTools") == 2
    assert res["message"]["route"] == "agent"


def test_read_only_calls_without_progress_stop_the_hunt(local_stack: Any, fake_llm: Any) -> None:
    res, events = _slot_hunt(local_stack, fake_llm, steps=6)  # default limits: 4 read-only calls in a row
    requests = [r for r in fake_llm.requests if r.path.endswith("/v1/messages")]
    assert [bool(r.body.get("tools")) for r in requests] == [True] * 4 + [False]
    assert entered(events, "AgentStep") == 5 and res["message"]["route"] == "agent"


def test_malformed_tool_arguments_go_back_to_the_model(local_stack: Any, fake_llm: Any) -> None:
    with client(local_stack) as ws:
        sid = verified(ws)
        fake_llm.enqueue(Script(tool_calls=[ScriptToolCall("find_available_slots", {"part_of_day": "midnight"})]))
        fake_llm.enqueue(Script(text=["Which day would suit you?"]))
        res = turn(ws, "find me a slot please", sid)
    assert res["message"]["text"] == "Which day would suit you?"
    result = fake_llm.requests[-1].body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and "INVALID_ARGUMENTS" in json.dumps(result)


def test_broken_tool_json_is_retried_then_answered(local_stack: Any, fake_llm: Any) -> None:
    fake_llm.enqueue(Script(tool_calls=[ScriptToolCall("list_appointments", raw_arguments='{"x": ')]))
    fake_llm.enqueue(Script(text=["Sorry about that, here is my answer."]))
    with client(local_stack) as ws:
        res = turn(ws, "what is your cancellation policy?")
    assert res["message"]["text"] == "Sorry about that, here is my answer."
    _, events = execution(local_stack, res["run_id"])
    assert sum(1 for e in events if e["type"] == "TaskFailed") == 1


def test_a_client_gone_mid_answer_gets_it_on_reconnect_exactly_once(local_stack: Any, fake_llm: Any) -> None:
    fake_llm.enqueue(Script(text=["First sentence. ", "Second one. ", "Third."], first_token_delay_ms=300))
    cid = uuid.uuid4().hex[:12]
    with client(local_stack) as ws:
        send(ws, "tell me about your vaccination service", cid)
        thinking = until(ws, lambda f: f.get("status") == "thinking")
    sid, run_id = thinking["sessionId"], thinking["runId"]
    desc, _ = execution(local_stack, run_id)
    assert desc["status"] == "SUCCEEDED"
    status, page = http_get(local_stack, f"/api/sessions/{sid}/messages")
    assert status == 200
    replies = [m for m in page["items"] if m["role"] == "assistant"]
    assert [m["text"] for m in replies] == ["First sentence. Second one. Third."]


def test_answering_an_unknown_or_foreign_approval_is_an_error(local_stack: Any) -> None:
    with client(local_stack) as ws:
        ws.send(json.dumps({"action": "approve", "approvalId": "01NOSUCHAPPROVAL", "approved": True}))
        err = until(ws, lambda f: f["type"] == "error")
        assert err["code"] == "BAD_REQUEST" and "not found" in err["message"]
        ws.send(json.dumps({"action": "approve", "approvalId": "x y", "approved": "maybe"}))
        assert until(ws, lambda f: f["type"] == "error")["code"] == "VALIDATION_FAILED"


@pytest.fixture
def openai_wire(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The same stack with the agent on the OpenAI SDK (chat completions) against the same fake model."""
    from luma import wiring
    from luma.config import reset_settings
    from luma.llm import reset_providers

    fake = local_stack.fake_llm
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")

    def rebind() -> None:
        reset_settings()
        wiring.reset()
        reset_providers()

    rebind()
    yield
    monkeypatch.undo()
    rebind()


@pytest.mark.usefixtures("openai_wire")
def test_reschedule_through_the_openai_wire_format(local_stack: Any, fake_llm: Any) -> None:
    with client(local_stack) as ws:
        sid = verified(ws)
        res = turn(ws, "can I move my Tuesday appointment to the afternoon?", sid, approve=True, timeout=30)
    assert "Done! Your appointment is now on" in res["message"]["text"], res["message"]["text"]
    assert res["approvals"] and [s["tool"] for s in res["status"] if s["status"] == "tool"] == [
        "list_appointments",
        "find_available_slots",
        "reschedule_appointment",
    ]
    paths = {r.path for r in fake_llm.requests}
    assert paths == {"/v1/chat/completions"}
    tool_messages = [m for m in fake_llm.requests[-1].body["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 3 and "APPROVAL" not in tool_messages[-1]["content"]
