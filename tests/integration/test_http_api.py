"""The HTTP API on the real local stack (gateway → http_api → moto): status, events, close + report,
OpenAPI docs under /api; and the DynamoDB adapter's session-close methods."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from luma.auth import issue_dev_token
from luma.config import Settings, reset_settings
from luma.domain.models import Message, Role, Route, RoutingDecision, Session, SessionStatus
from luma.ids import new_id
from luma.sessions import close_session
from luma.store.repos import DynamoConversationRepository, InboundRecord, SessionConflictError

from tests.integration.test_turn_ws import client, reply_to, send, until

TENANT = "demo"


def call(
    stack: Any,
    method: str,
    path: str,
    *,
    user: str | None = "u-alice",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"{stack.url}{path}", data=body, method=method, headers=headers or {})
    if user:
        req.add_header("Authorization", f"Bearer {issue_dev_token(user, TENANT)}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def call_json(stack: Any, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    status, _, raw = call(stack, method, path, **kw)
    return status, json.loads(raw or b"null")


def test_status_checks_the_real_tables_and_the_classifier(local_stack: Any) -> None:
    status, body = call_json(local_stack, "GET", "/api/status", user=None)
    assert status == 200, body
    assert body["status"] == "ok"
    checks = body["checks"]
    from luma.config import Settings
    from luma.store.packdata import pack_table_models

    tables = 3 + len(pack_table_models(Settings()))  # connections, conversations, usage + the served packs'
    assert checks["dynamodb"]["ok"] and checks["dynamodb"]["detail"] == f"{tables} tables reachable"
    assert checks["classifier"]["ok"] and checks["llm"]["ok"] is True  # the test stack runs the fake model
    assert checks["websocket_management"]["ok"]
    assert all(isinstance(c["ms"], float | int) for c in checks.values())
    text = json.dumps(body)
    assert "127.0.0.1" not in text and "testing" not in text


def test_events_are_always_202(local_stack: Any) -> None:
    event = json.dumps({"name": "page_view", "ts": "2026-03-02T09:00:00Z", "props": {"path": "/"}}).encode()
    json_ct = {"content-type": "application/json"}
    assert call_json(local_stack, "POST", "/api/events", body=event, headers=json_ct) == (
        202,
        {"accepted": 1, "dropped": None},
    )
    assert call_json(local_stack, "POST", "/api/events", body=b"{oops", headers=json_ct, user=None)[0] == 202
    big = b"[" + b" " * (17 * 1024) + b"]"
    assert call_json(local_stack, "POST", "/api/events", body=big, headers=json_ct) == (
        202,
        {"accepted": 0, "dropped": "too_large"},
    )


def test_close_writes_the_report_once_and_only_for_the_owner(local_stack: Any) -> None:
    with client(local_stack) as ws:
        send(ws, "what are your opening hours?", "rep-1")
        sid = until(ws, lambda f: f.get("status") == "session_started")["sessionId"]
        until(ws, reply_to("rep-1"))
        send(ws, "where is the clinic?", "rep-2", sid)
        until(ws, reply_to("rep-2"))
    assert call_json(local_stack, "GET", f"/api/sessions/{sid}/report")[0] == 404
    assert call_json(local_stack, "POST", f"/api/sessions/{sid}/close", user="u-bruno")[0] == 404
    assert call_json(local_stack, "POST", f"/api/sessions/{sid}/close", user=None)[0] == 401
    status, report = call_json(local_stack, "POST", f"/api/sessions/{sid}/close")
    assert status == 200, report
    assert report["sessionId"] == sid and report["summary"]["total"] == 4
    assert report["summary"]["byRole"] == {"user": 2, "assistant": 2}
    assert report["routes"] == {"fast_path": 2} and sum(report["intents"].values()) == 2
    assert [s["route"] for s in report["path"]] == ["fast_path", "fast_path"]
    assert report["usage"]["inputTokens"] == 0 and report["closedBy"] == "user"
    assert call_json(local_stack, "POST", f"/api/sessions/{sid}/close") == (200, report)
    assert call_json(local_stack, "GET", f"/api/sessions/{sid}/report") == (200, report)
    assert call_json(local_stack, "GET", f"/api/sessions/{sid}/report", user="u-bruno")[0] == 404
    status, page = call_json(local_stack, "GET", "/api/sessions?limit=100")
    assert status == 200 and [s["status"] for s in page["items"] if s["sessionId"] == sid] == ["closed"]
    status, messages = call_json(local_stack, "GET", f"/api/sessions/{sid}/messages")
    assert status == 200 and len(messages["items"]) == 4  # the REPORT item is not a message


def test_malformed_json_is_a_json_422_through_the_gateway(local_stack: Any) -> None:
    status, body = call_json(
        local_stack,
        "POST",
        f"/api/sessions/{new_id()}/close",
        body=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert status == 422 and body["code"] == "VALIDATION_FAILED"


@pytest.fixture
def api_root_path(local_stack: Any) -> Iterator[None]:
    """``LUMA_HTTP_ROOT_PATH=/api`` for http_api, as the local stack should set it (the gateway serves the
    HTTP API under /api and strips the prefix). When the stack does not set it, the test sets it and makes
    the stack's runtime load http_api again (a new cold start), then restores both."""
    if os.environ.get("LUMA_HTTP_ROOT_PATH") == "/api":
        yield
        return
    runtime = local_stack.runtime
    saved = os.environ.get("LUMA_HTTP_ROOT_PATH")
    os.environ["LUMA_HTTP_ROOT_PATH"] = "/api"
    reset_settings()
    runtime._loaded.pop("http_api", None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LUMA_HTTP_ROOT_PATH", None)
        else:
            os.environ["LUMA_HTTP_ROOT_PATH"] = saved
        reset_settings()
        runtime._loaded.pop("http_api", None)


def test_swagger_ui_under_api_loads_its_openapi_through_the_gateway(local_stack: Any, api_root_path: None) -> None:
    status, headers, html = call(local_stack, "GET", "/api/docs", user=None)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"url: '/api/openapi.json'" in html
    status, spec = call_json(local_stack, "GET", "/api/openapi.json", user=None)
    assert status == 200 and spec["openapi"].startswith("3.")
    assert spec["servers"] == [{"url": "/api"}]
    assert "/sessions/{session_id}/close" in spec["paths"] and "/status" in spec["paths"]
    # the routes themselves still answer under /api with the root path set
    assert call_json(local_stack, "GET", "/api/health", user=None)[0] == 200
    assert call_json(local_stack, "GET", "/api/sessions")[0] == 200


# -- the DynamoDB adapter ----------------------------------------------------------------------
def _session(repo: DynamoConversationRepository, user: str = "u-carla") -> Session:
    now = datetime.now(UTC)
    session = Session(tenant_id=TENANT, session_id=new_id(), user_id=user, assistant="clinic", created_at=now)
    for i, (route, intent) in enumerate(((Route.FAST_PATH, "clinic_hours"), (Route.AGENT, None))):
        msg = Message(
            tenant_id=TENANT, session_id=session.session_id, message_id=new_id(), role=Role.USER, text=f"q{i}"
        )
        decision = RoutingDecision(
            tenant_id=TENANT,
            session_id=session.session_id,
            message_id=msg.message_id,
            intent=intent,
            confidence=0.9,
            margin=0.2,
            route=route,
            reason="test",
            latency_ms=3.0,
        )
        repo.record_inbound(InboundRecord(session=session, message=msg, decision=decision, new_session=i == 0))
    return session


def test_dynamo_close_decisions_and_report(ddb_settings: Settings) -> None:
    repo = DynamoConversationRepository(ddb_settings)
    s = _session(repo)
    decisions = repo.list_decisions(TENANT, s.session_id)
    assert [d.route for d in decisions] == [Route.FAST_PATH, Route.AGENT]
    with pytest.raises(SessionConflictError):
        repo.close_session(TENANT, s.session_id, user_id="u-other")
    with pytest.raises(SessionConflictError):
        repo.close_session(TENANT, new_id(), user_id="u-carla")
    assert repo.get_report(TENANT, s.session_id) is None
    report = close_session(repo, TENANT, s.session_id, user_id="u-carla")
    stored = repo.get_session(TENANT, s.session_id)
    assert stored is not None and stored.status is SessionStatus.CLOSED
    assert repo.get_report(TENANT, s.session_id) == report.to_json()
    assert repo.put_report(TENANT, s.session_id, "u-carla", {"other": True}) is False
    assert repo.get_report(TENANT, s.session_id) == report.to_json()
    assert report.routes == {"fast_path": 1, "agent": 1} and report.summary.total == 2
    # the REPORT item neither shows up as a session nor as a message
    sessions = repo.list_sessions(TENANT, "u-carla", limit=100).items
    assert [x.session_id for x in sessions].count(s.session_id) == 1
    assert len(repo.list_messages(TENANT, s.session_id).items) == 2
