"""Credits, usage and metrics end to end on the local stack: WebSocket → classify → the credit ledger
(moto) → Step Functions → agent_* handlers → the Anthropic SDK → the fake model → finalize (settled,
counted); ``GET /api/me/usage`` and ``GET /api/metrics`` through the gateway; model routing checked
on what the fake model received."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from luma.auth import issue_dev_token
from websockets.sync.client import ClientConnection, connect

from local.fake_llm import Script
from tests.integration.test_agent_run import execution, turn
from tests.integration.test_turn_ws import client, until


@pytest.fixture
def fake_llm(local_stack: Any) -> Iterator[Any]:
    fake = local_stack.fake_llm
    assert fake is not None, "the test stack runs with llm='fake'"
    fake.clear()
    yield fake
    fake.clear()
    from luma.llm import reset_providers

    reset_providers()


@pytest.fixture
def environment(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set variables for the handlers of this process (they re-read the settings after a reset)."""
    from luma import wiring
    from luma.config import reset_settings

    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))
        reset_settings()
        wiring.reset()

    yield apply
    monkeypatch.undo()
    reset_settings()
    wiring.reset()


@pytest.fixture(autouse=True)
def usage_routes(local_stack: Any) -> None:
    """The usage router on the running HTTP API (a no-op once the app includes it itself)."""
    urllib.request.urlopen(f"{local_stack.url}/api/health", timeout=10).read()  # loads http_api
    from luma.http.usage import router

    for name, module in list(sys.modules.items()):
        asgi = getattr(module, "_asgi", None) if name.endswith("_http_api.handler") else None
        app = getattr(asgi, "app", None)
        if app is not None and not any(getattr(r, "path", "") == "/me/usage" for r in app.routes):
            app.include_router(router)


def fresh_tenant() -> str:
    return f"usage-{uuid.uuid4().hex[:8]}"


def token(user: str, tenant: str, **kw: Any) -> str:
    return issue_dev_token(user, tenant, **kw)


@contextmanager
def ws_as(stack: Any, user: str, tenant: str) -> Iterator[ClientConnection]:
    with connect(f"{stack.ws_url}?token={token(user, tenant)}", open_timeout=10, max_size=2**20) as ws:
        yield ws


def get(stack: Any, path: str, user: str, tenant: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{stack.url}{path}")
    req.add_header("Authorization", f"Bearer {token(user, tenant, **kw)}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def poll(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fetch()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def finished(stack: Any, run_id: str) -> None:
    desc, _ = execution(stack, run_id)
    assert desc["status"] == "SUCCEEDED", desc


# -- credits ---------------------------------------------------------------------------------------
def test_an_agent_turn_reserves_settles_and_reports_its_usage_then_no_credits_is_refused(
    local_stack: Any, fake_llm: Any, environment: Callable[..., None]
) -> None:
    tenant, user = fresh_tenant(), "u-" + uuid.uuid4().hex[:6]
    environment(LUMA_PLANS={"tiny": {"credits_per_day": 100}}, LUMA_TENANT_PLANS={tenant: "tiny"})
    fake_llm.enqueue(Script(text=["Bring your ID card."], input_tokens=12, output_tokens=7))
    with ws_as(local_stack, user, tenant) as ws:
        first = turn(ws, "what should I bring to my first visit?")
        assert first["message"]["type"] == "message", first
        # 12 input and 7 output tokens of the fast tier's model: $1 and $5 per million → 47 credits.
        assert first["message"]["usage"] == {
            "inputTokens": 12,
            "outputTokens": 7,
            "costUsd": 4.7e-05,
            "credits": 47,
            "model": "claude-haiku-4-5",
        }
        finished(local_stack, first["run_id"])
        status, usage = get(local_stack, "/api/me/usage", user, tenant)
        assert status == 200, usage
        # The run held the whole balance (its estimate is larger), then gave back what it did not use.
        assert (usage["tokensToday"], usage["costToday"], usage["creditsHeld"]) == (19, 4.7e-05, 0)
        assert usage["creditsLeft"] == 53 and usage["creditsPerDay"] == 100 and usage["plan"] == "tiny"
        assert usage["renewsAt"].endswith("T00:00:00Z")

        sid = first["message"]["sessionId"]
        second = turn(ws, "and what about parking?", sid)
    err = second["message"]
    assert err["type"] == "error" and err["code"] == "QUOTA_EXCEEDED", err
    assert err["details"]["renewsAt"] == usage["renewsAt"] and err["details"]["creditsLeft"] == 53
    assert 0 < err["details"]["retryAfter"] <= 86400 and "UTC" in err["message"]
    assert len(fake_llm.requests) == 1  # the refused turn never reached the model
    from luma import wiring

    stored = wiring.conversations().list_messages(tenant, sid).items
    asked = [m for m in stored if m.text == "and what about parking?"]
    refusal = [m for m in stored if m.meta.get("refused") == "quota_exceeded"]
    assert len(asked) == 1 and len(refusal) == 1 and refusal[0].reply_to == asked[0].message_id
    assert refusal[0].meta["error"] == "QUOTA_EXCEEDED" and "UTC" in refusal[0].text


def test_a_limiter_outage_refuses_agent_runs_but_not_fast_paths(
    local_stack: Any, fake_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from luma.limits import DynamoLimiter
    from luma.usage.ledger import CreditLedger

    class Down:
        def __getattr__(self, name: str) -> Any:
            def fail(**_: Any) -> Any:
                raise ConnectionError("usage table unreachable")

            return fail

    monkeypatch.setattr(CreditLedger, "client", property(lambda self: Down()))
    monkeypatch.setattr(DynamoLimiter, "client", property(lambda self: Down()))
    tenant, user = fresh_tenant(), "u-" + uuid.uuid4().hex[:6]
    with ws_as(local_stack, user, tenant) as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": "f1"}))
        fast = until(
            ws, lambda f: f.get("replyTo") == "f1" or (f.get("clientMessageId") == "f1" and f["type"] == "error")
        )
        assert fast["type"] == "message" and fast["route"] == "fast_path", fast  # rate limits fail open
        refused = turn(ws, "what should I bring to my first visit?", fast["sessionId"])
    err = refused["message"]
    assert err["type"] == "error" and err["code"] == "AGENT_UNAVAILABLE", err
    assert err["details"]["reason"] == "limiter_unavailable" and err["details"]["retryAfter"] == 60
    assert fake_llm.requests == []
    from luma import wiring

    stored = wiring.conversations().list_messages(tenant, fast["sessionId"]).items
    assert [m.meta.get("refused") for m in stored if m.role.value == "assistant"][-1] == "limiter_unavailable"


# -- routing ---------------------------------------------------------------------------------------
def test_routing_picks_the_strong_model_for_a_routed_intent(local_stack: Any, fake_llm: Any) -> None:
    user = "u-" + uuid.uuid4().hex[:6]  # no identity needed: the scripted model calls no tool
    fake_llm.enqueue(Script(text=["Of course."]), Script(text=["Let me check."]))
    with ws_as(local_stack, user, "demo") as ws:
        general = turn(ws, "what should I bring to my first visit?")
        routed = turn(ws, "can I move my Tuesday appointment to the afternoon?", general["message"]["sessionId"])
    assert [r.body["model"] for r in fake_llm.requests] == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    assert routed["status"][-1]["intent"] == "reschedule_appointment"
    assert general["message"]["usage"]["model"] == "claude-haiku-4-5"
    assert routed["message"]["usage"]["model"] == "claude-sonnet-4-5"
    from luma import wiring

    sid = routed["message"]["sessionId"]
    reply = wiring.conversations().get_message("demo", sid, routed["message"]["messageId"])
    assert reply is not None and reply.meta["route"] == {
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "tier": "strong",
        "source": "pack",
    }


def test_llm_routes_override_the_pack(local_stack: Any, fake_llm: Any, environment: Callable[..., None]) -> None:
    environment(LUMA_LLM_ROUTES={"clinic": {"*": {"model": "claude-opus-4-1"}}})
    fake_llm.enqueue(Script(text=["Sure."], input_tokens=1000, output_tokens=100))
    with client(local_stack) as ws:
        res = turn(ws, "what should I bring to my first visit?")
    assert fake_llm.requests[-1].body["model"] == "claude-opus-4-1"
    # The cost follows the model used: $15 and $75 per million.
    assert res["message"]["usage"]["credits"] == 1000 * 15 + 100 * 75


# -- metrics ---------------------------------------------------------------------------------------
def test_metrics_count_a_tenants_turns_for_its_operators_only(
    local_stack: Any, fake_llm: Any, environment: Callable[..., None]
) -> None:
    tenant, other, user = fresh_tenant(), fresh_tenant(), "u-" + uuid.uuid4().hex[:6]
    environment(LUMA_PLANS={"tiny": {"credits_per_day": 100}}, LUMA_TENANT_PLANS={tenant: "tiny"})
    fake_llm.enqueue(Script(text=["Bring your ID card."], input_tokens=12, output_tokens=7))
    with ws_as(local_stack, user, tenant) as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": "f1"}))
        sid = until(ws, lambda f: f.get("replyTo") == "f1")["sessionId"]
        answered = turn(ws, "what should I bring to my first visit?", sid)
        finished(local_stack, answered["run_id"])
        refused = turn(ws, "and what about parking?", sid)
        assert refused["message"]["code"] == "QUOTA_EXCEEDED"
    with ws_as(local_stack, user, other) as ws:  # the same user id in another tenant
        ws.send(json.dumps({"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": "o1"}))
        until(ws, lambda f: f.get("replyTo") == "o1")

    def metrics() -> dict[str, Any]:
        status, body = get(local_stack, "/api/metrics?hours=2", "op-1", tenant, role="operator")
        assert status == 200, body
        return body

    body = poll(metrics, lambda b: b["totalRequests"] >= 3)
    assert body["tenantId"] == tenant and body["hours"] == 2
    assert body["totalRequests"] == 3 and body["successRate"] == pytest.approx(2 / 3, abs=1e-4)
    assert body["errorCounts"] == {"QUOTA_EXCEEDED": 1} and body["errorRate"] == pytest.approx(1 / 3, abs=1e-4)
    assert body["routes"] == {"agent": 1, "fast_path": 1} and body["fastPathShare"] == pytest.approx(1 / 3, abs=1e-4)
    assert body["intentDistribution"]["clinic_hours"] == 1 and body["agentTurns"] == 1
    assert body["costCredits"] == 47 and body["cost"] == 4.7e-05 and body["models"] == {"claude-haiku-4-5": 1}
    assert body["avgTokensPerRequest"] == pytest.approx(19 / 3, abs=0.1) and body["tokensPerSecond"] is not None
    assert body["avgResponseMs"] > 0 and body["p95ResponseMs"] is not None

    other_body = poll(
        lambda: get(local_stack, "/api/metrics?hours=2", "op-2", other, role="operator")[1],
        lambda b: b["totalRequests"] >= 1,
    )
    assert other_body["tenantId"] == other and other_body["totalRequests"] == 1  # never the first tenant's
    status, denied = get(local_stack, "/api/metrics", user, tenant)
    assert status == 403 and denied["code"] == "FORBIDDEN"


# -- rate limits per kind of user ------------------------------------------------------------------
def test_unverified_users_get_the_unverified_limit_of_their_plan(
    local_stack: Any, environment: Callable[..., None]
) -> None:
    tenant, user = fresh_tenant(), "u-" + uuid.uuid4().hex[:6]
    strict = {"rate_limits": {"unverified": {"user_per_minute": 1}, "verified": {"user_per_minute": 100}}}
    environment(LUMA_PLANS={"strict": strict}, LUMA_TENANT_PLANS={tenant: "strict"})
    with ws_as(local_stack, user, tenant) as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": "a"}))
        first = until(ws, lambda f: f.get("replyTo") == "a")
        frame = {
            "action": "sendMessage",
            "text": "opening hours?",
            "clientMessageId": "b",
            "sessionId": first["sessionId"],
        }
        ws.send(json.dumps(frame))
        second = until(ws, lambda f: f.get("clientMessageId") == "b" and f["type"] == "error")
    assert first["type"] == "message" and second["code"] == "RATE_LIMITED"  # the session is not verified
    assert 1 <= second["details"]["retryAfter"] <= 60
