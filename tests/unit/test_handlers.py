"""Thin handlers with API-Gateway-shaped sample events (tests/events/) and fakes behind the ports."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from luma import wiring
from luma.auth import issue_dev_token
from luma.domain.models import Connection

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"


class Ctx:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:test"
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "s"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"handler_{name}", ROOT / "functions" / name / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


class FakeConnections:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Connection] = {}

    def put(self, c: Connection) -> None:
        self.items[(c.tenant_id, c.connection_id)] = c

    def delete(self, tenant_id: str, connection_id: str) -> None:
        self.items.pop((tenant_id, connection_id), None)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> FakeConnections:
    fake = FakeConnections()
    monkeypatch.setattr(wiring, "connections", lambda: fake)
    return fake


def test_authorizer_allows_a_valid_token_and_passes_the_principal() -> None:
    ev = event("ws_authorizer")
    ev["queryStringParameters"]["token"] = issue_dev_token("u-alice", "demo", name="Alice Martin")
    result = load("ws_authorizer").handler(ev, Ctx())
    assert result["principalId"] == "u-alice"
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow" and statement["Resource"] == ev["methodArn"]
    assert result["context"] == {
        "userId": "u-alice",
        "tenantId": "demo",
        "name": "Alice Martin",
        "role": "user",
        "assistant": "",
    }


@pytest.mark.parametrize("token", [None, "", "garbage", "expired"])
def test_authorizer_refuses_with_unauthorized(token: str | None) -> None:
    ev = event("ws_authorizer")
    if token == "expired":
        token = issue_dev_token("u-alice", "demo", ttl_s=-5)
    ev["queryStringParameters"] = {"token": token} if token is not None else None
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        load("ws_authorizer").handler(ev, Ctx())


def test_connect_stores_the_authorized_connection(connections: FakeConnections) -> None:
    ev = event("ws_connect")
    assert load("ws_connect").handler(ev, Ctx()) == {"statusCode": 200}
    stored = connections.items[("demo", ev["requestContext"]["connectionId"])]
    assert stored.user_id == "u-alice" and stored.source_ip == "166.90.225.1"


def test_connect_without_authorizer_context_is_401(connections: FakeConnections) -> None:
    ev = event("ws_connect")
    del ev["requestContext"]["authorizer"]
    assert load("ws_connect").handler(ev, Ctx())["statusCode"] == 401
    assert connections.items == {}


def test_disconnect_forgets_the_connection(connections: FakeConnections) -> None:
    ev = event("ws_disconnect")
    cid = ev["requestContext"]["connectionId"]
    connections.put(Connection(connection_id=cid, tenant_id="demo", user_id="u-alice"))
    assert load("ws_disconnect").handler(ev, Ctx()) == {"statusCode": 200}
    assert connections.items == {}


def in_lambda_thread(fn: Any, *args: Any) -> Any:
    """Run a handler on a fresh thread with its own event loop, as Lambda's runtime would (Mangum needs one;
    the browser tests leave a running loop on the main thread)."""
    result: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        result["value"] = fn(*args)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return result["value"]


def test_http_api_health_through_mangum() -> None:
    result = in_lambda_thread(load("http_api").handler, event("http_health"), Ctx())
    assert result["statusCode"] == 200 and json.loads(result["body"])["status"] == "ok"


def test_http_api_requires_a_bearer_token() -> None:
    ev = event("http_health")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/sessions"
    result = in_lambda_thread(load("http_api").handler, ev, Ctx())
    assert result["statusCode"] == 401 and json.loads(result["body"])["code"] == "AUTH_REQUIRED"
