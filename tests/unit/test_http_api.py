"""The HTTP API (luma.http.app) in process: status, client events, session close and report, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.http import client_events
from luma.http.app import create_app
from luma.http.status import Check, default_checks, run_checks
from luma.store.repos import SessionStore

from tests.fakes import MemorySessionStore
from tests.unit.test_http_sessions import seed


def auth(user: str = "u-alice", tenant: str = "demo", **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(user, tenant, **kw)}"}


def _ok() -> str:
    return "fine"


def _boom() -> str:
    raise RuntimeError("table luma-x unreachable")


class Emitted(list[tuple[str, float, dict[str, str] | None]]):
    pass


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Emitted:
    calls = Emitted()
    monkeypatch.setattr(
        client_events,
        "emit",
        lambda name, value, unit=None, *, dimensions=None: calls.append((name, value, dimensions)),
    )
    return calls


@pytest.fixture
def client(store: MemorySessionStore) -> Iterator[TestClient]:
    def provider() -> SessionStore:
        return store

    checks = [Check("dynamodb", _ok), Check("llm", _boom, required=False)]
    with TestClient(create_app(provider, status_checks=lambda: checks), raise_server_exceptions=False) as c:
        yield c


# -- /status ---------------------------------------------------------------------------------
def test_status_is_ok_when_every_required_check_passes(client: TestClient) -> None:
    res = client.get("/status")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "ok"
    assert body["checks"]["dynamodb"] == {
        "ok": True,
        "ms": body["checks"]["dynamodb"]["ms"],
        "detail": "fine",
        "required": True,
    }
    assert body["checks"]["llm"]["ok"] is False and body["checks"]["llm"]["required"] is False


def test_status_is_503_degraded_when_a_required_check_fails_or_hangs(store: MemorySessionStore) -> None:
    def hang() -> str:
        time.sleep(1.0)
        return "late"

    checks = [Check("dynamodb", _boom), Check("classifier", hang, timeout_s=0.1)]
    app = create_app(lambda: store, status_checks=lambda: checks)
    started = time.perf_counter()
    with TestClient(app) as c:
        res = c.get("/status")
    assert time.perf_counter() - started < 0.9
    assert res.status_code == 503 and res.json()["status"] == "degraded"
    checks_out = res.json()["checks"]
    assert checks_out["dynamodb"]["detail"] == "table luma-x unreachable"
    assert checks_out["classifier"]["ok"] is False and "timed out" in checks_out["classifier"]["detail"]


def test_a_check_failing_with_a_foreign_exception_reports_only_its_type() -> None:
    def leaky() -> str:
        raise ValueError("https://secret-host.example/with?key=abc")

    healthy, results = run_checks([Check("x", leaky)])
    assert not healthy and results["x"]["detail"] == "failed: ValueError"


def test_default_checks_report_classifier_llm_and_management_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from luma.config import Settings

    settings = Settings(ws_management_endpoint="https://abc.execute-api/prod", OPENAI_API_KEY="sk-very-secret")
    checks = [c for c in default_checks(settings) if c.name != "dynamodb"]
    healthy, results = run_checks(checks)
    assert healthy, results
    assert results["classifier"]["ok"] and "prebuilt fit present" in results["classifier"]["detail"]
    assert results["llm"] == {**results["llm"], "ok": True, "detail": "configured: openai"}
    assert results["websocket_management"]["detail"] == "endpoint configured"
    assert "secret" not in json.dumps(results) and "execute-api" not in json.dumps(results)
    _, results = run_checks([c for c in default_checks(Settings()) if c.name == "llm"])
    assert results["llm"]["ok"] is False and "no LLM provider configured" in results["llm"]["detail"]


# -- /events ---------------------------------------------------------------------------------
def test_events_are_emitted_as_metrics_and_answered_202(client: TestClient, emitted: Emitted) -> None:
    one = {"name": "page_view", "ts": "2026-03-02T09:00:00Z", "props": {"path": "/chat"}}
    assert client.post("/events", json=one).status_code == 202
    batch = [one, {"name": "my_custom_thing", "ts": 1772442000, "sessionId": "01ABC", "props": {"n": 3}}]
    res = client.post("/events", json=batch, headers=auth())
    assert res.status_code == 202 and res.json() == {"accepted": 2, "dropped": None}
    assert [(n, d) for n, _, d in emitted] == [
        ("ClientEvents", {"event": "page_view"}),
        ("ClientEvents", {"event": "page_view"}),
        ("ClientEvents", {"event": "other"}),  # unknown names never become a metric series of their own
    ]


@pytest.mark.parametrize(
    ("body", "headers", "dropped"),
    [
        (b"{oops", {"content-type": "application/json"}, "malformed_json"),
        (b"", {}, "malformed_json"),
        (json.dumps({"name": "x"}).encode(), {}, "invalid"),
        (json.dumps({"name": "x", "ts": "now-ish"}).encode(), {}, "invalid"),
        (json.dumps({"name": "p", "ts": 1, "props": {f"k{i}": i for i in range(21)}}).encode(), {}, "invalid"),
        (json.dumps({"name": "p", "ts": 1, "props": {"nested": {"a": 1}}}).encode(), {}, "invalid"),
        (json.dumps([{"name": "p", "ts": 1}] * 21).encode(), {}, "too_many"),
        (json.dumps({"name": "p", "ts": 1, "props": {"big": "x" * 17_000}}).encode(), {}, "too_large"),
        (b"\xff\xfe\x00garbage", {"content-type": "application/octet-stream"}, "malformed_json"),
    ],
)
def test_bad_event_bodies_are_still_202_and_ignored(
    client: TestClient, emitted: Emitted, body: bytes, headers: dict[str, str], dropped: str
) -> None:
    res = client.post("/events", content=body, headers=headers)
    assert res.status_code == 202 and res.json() == {"accepted": 0, "dropped": dropped}
    assert emitted == []


def test_events_with_a_bad_or_expired_token_are_still_accepted(client: TestClient, emitted: Emitted) -> None:
    one = {"name": "ws_error", "ts": "2026-03-02T09:00:00Z"}
    for headers in ({"Authorization": "Bearer nope"}, auth(ttl_s=-5)):
        assert client.post("/events", json=one, headers=headers).status_code == 202
    assert len(emitted) == 2


def test_oversized_body_is_not_read_beyond_the_limit(client: TestClient, emitted: Emitted) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'[{"name": "page_view", "ts": 1},'
        for _ in range(100):
            yield b" " * 1024
        yield b"]"

    res = client.post("/events", content=chunks())
    assert res.status_code == 202 and res.json()["dropped"] == "too_large" and emitted == []


# -- close and report --------------------------------------------------------------------------
def test_close_returns_the_report_and_get_report_returns_it_after(
    client: TestClient, store: MemorySessionStore
) -> None:
    s = seed(store)
    assert client.get(f"/sessions/{s.session_id}/report", headers=auth()).status_code == 404
    assert client.get(f"/sessions/{s.session_id}/report", headers=auth()).json()["code"] == "REPORT_NOT_FOUND"
    res = client.post(f"/sessions/{s.session_id}/close", headers=auth(), json={"rating": 5})
    assert res.status_code == 200
    report = res.json()
    assert report["sessionId"] == s.session_id and report["summary"]["total"] == 6 and report["rating"] == 5
    assert report["routes"] == {"fast_path": 2, "agent": 1} and report["escalations"] == ["esc-1"]
    again = client.post(f"/sessions/{s.session_id}/close", headers=auth())
    assert again.status_code == 200 and again.json() == report
    got = client.get(f"/sessions/{s.session_id}/report", headers=auth())
    assert got.status_code == 200 and got.json() == report
    listed = client.get("/sessions", headers=auth()).json()["items"]
    assert [i["status"] for i in listed if i["sessionId"] == s.session_id] == ["closed"]


def test_another_users_or_tenants_session_is_404_and_stays_open(client: TestClient, store: MemorySessionStore) -> None:
    s = seed(store)
    for headers in (auth("u-bruno"), auth("u-alice", "other-tenant")):
        for method, path in (("POST", "close"), ("GET", "report"), ("GET", "messages")):
            res = client.request(method, f"/sessions/{s.session_id}/{path}", headers=headers)
            assert res.status_code == 404 and res.json()["code"] == "SESSION_NOT_FOUND", (method, path)
    assert store.sessions[("demo", s.session_id)].status.value == "active" and not store.reports


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "AUTH_REQUIRED"),
        ({"Authorization": "Basic abc"}, "AUTH_REQUIRED"),
        ({"Authorization": "Bearer garbage"}, "AUTH_INVALID_TOKEN"),
        (None, "AUTH_EXPIRED_TOKEN"),
    ],
)
def test_auth_failures_are_401_with_a_json_error(
    client: TestClient, store: MemorySessionStore, headers: dict[str, str] | None, code: str
) -> None:
    s = seed(store)
    headers = auth(ttl_s=-5) if headers is None else headers
    for method, path in (("POST", f"/sessions/{s.session_id}/close"), ("GET", f"/sessions/{s.session_id}/report")):
        res = client.request(method, path, headers=headers)
        assert res.status_code == 401 and res.json()["code"] == code
        assert res.headers["www-authenticate"] == "Bearer"
    assert not store.reports


def test_malformed_or_invalid_json_elsewhere_is_422_with_a_json_error(
    client: TestClient, store: MemorySessionStore
) -> None:
    s = seed(store)
    bad = client.post(
        f"/sessions/{s.session_id}/close", content=b"{oops", headers={**auth(), "content-type": "application/json"}
    )
    assert bad.status_code == 422
    body = bad.json()
    assert body["code"] == "VALIDATION_FAILED" and body["message"] and body["errors"][0]["type"] == "json_invalid"
    assert "input" not in body["errors"][0]
    out_of_range = client.post(f"/sessions/{s.session_id}/close", json={"rating": 9}, headers=auth())
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"][0]["loc"] == ["body", "rating"]
    for path in ("/sessions/" + "x" * 65 + "/report", "/sessions/bad%20id/close", "/sessions?limit=0"):
        res = client.request("POST" if path.endswith("close") else "GET", path, headers=auth())
        assert res.status_code == 422 and res.json()["code"] == "VALIDATION_FAILED", path
    assert not store.reports


def test_an_unexpected_fault_is_a_500_json_error_without_details(store: MemorySessionStore) -> None:
    def broken() -> SessionStore:
        raise ConnectionError("ddb at 10.0.0.1 refused")

    with TestClient(create_app(broken, status_checks=list), raise_server_exceptions=False) as c:
        res = c.get("/sessions", headers=auth())
    assert res.status_code == 500 and res.json() == {
        "code": "INTERNAL",
        "message": "Something went wrong on our side. Please try again.",
    }


def test_openapi_documents_the_new_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/status", "/events", "/sessions/{session_id}/close", "/sessions/{session_id}/report"} <= set(spec["paths"])
    events_body = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert events_body["anyOf"][1]["maxItems"] == 20
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_framework_errors_keep_the_json_error_shape(client: TestClient, store: MemorySessionStore) -> None:
    s = seed(store)
    unparsable = client.post(
        f"/sessions/{s.session_id}/close",
        content=b"\xff\x69\xfe",
        headers={**auth(), "content-type": "application/json"},
    )
    assert unparsable.status_code == 400 and unparsable.json()["code"] == "BAD_REQUEST"
    assert client.get("/nope").json() == {"code": "NOT_FOUND", "message": "Not Found"}
    wrong = client.delete("/status")
    assert wrong.status_code == 405 and wrong.json()["code"] == "METHOD_NOT_ALLOWED" and wrong.headers["allow"] == "GET"


def test_root_path_makes_the_docs_load_their_spec_under_it(
    monkeypatch: pytest.MonkeyPatch, store: MemorySessionStore
) -> None:
    from luma.config import reset_settings

    monkeypatch.setenv("LUMA_HTTP_ROOT_PATH", "/api")
    reset_settings()
    try:
        app = create_app(lambda: store, status_checks=list)
    finally:
        monkeypatch.delenv("LUMA_HTTP_ROOT_PATH")
        reset_settings()
    with TestClient(app) as c:
        assert "url: '/api/openapi.json'" in c.get("/docs").text
        assert c.get("/openapi.json").json()["servers"] == [{"url": "/api"}]
        assert c.get("/sessions", headers=auth()).status_code == 200  # routing is unchanged


def test_events_and_auth_through_the_lambda_handler() -> None:
    import base64

    from tests.unit.test_handlers import Ctx, event, in_lambda_thread, load

    handler = load("http_api").handler
    ev = event("http_health")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/events"
    ev["requestContext"]["http"]["method"] = "POST"
    ev["headers"] = {**ev.get("headers", {}), "content-type": "application/octet-stream"}
    ev["body"], ev["isBase64Encoded"] = base64.b64encode(b"\x00\xffnot json").decode(), True
    result = in_lambda_thread(handler, ev, Ctx())
    assert result["statusCode"] == 202 and json.loads(result["body"])["dropped"] == "malformed_json"
    ev = event("http_health")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/sessions/01ABC/report"
    ev["headers"] = {**ev.get("headers", {}), "authorization": auth(ttl_s=-5)["Authorization"]}
    result = in_lambda_thread(handler, ev, Ctx())
    assert result["statusCode"] == 401 and json.loads(result["body"])["code"] == "AUTH_EXPIRED_TOKEN"


def test_status_is_cached_for_a_few_seconds(store: MemorySessionStore) -> None:
    calls: list[int] = []

    def counted() -> str:
        calls.append(1)
        return "fine"

    with TestClient(create_app(lambda: store, status_checks=lambda: [Check("dynamodb", counted)])) as c:
        assert c.get("/status").status_code == 200 and c.get("/status").status_code == 200
    assert len(calls) == 1
    with TestClient(
        create_app(lambda: store, status_checks=lambda: [Check("dynamodb", counted)], status_cache_s=0)
    ) as c:
        c.get("/status")
        c.get("/status")
    assert len(calls) == 3


@pytest.mark.parametrize(("rating", "status"), [(True, 422), ("2", 422), (2.5, 422), (0, 422), (2.0, 200), (None, 200)])
def test_rating_is_a_json_integer_from_1_to_5(
    client: TestClient, store: MemorySessionStore, rating: object, status: int
) -> None:
    s = seed(store)
    res = client.post(f"/sessions/{s.session_id}/close", json={"rating": rating}, headers=auth())
    assert res.status_code == status, res.json()
    if status == 200:
        assert res.json()["rating"] == (2 if rating else None)
