"""The gateway emulator with real parts: uvicorn on a loopback port, websockets and boto3 clients.

Handlers are the fakes in ``tests/fixtures/functions``; they record their events as JSON lines
in ``LUMA_TEST_RECORD_DIR`` and the message route echoes through the management API.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local.gateway import create_app  # noqa: E402
from local.runtime import FunctionNotFoundError, LambdaRuntime  # noqa: E402
from local.server import AppServer, bind_socket  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "functions"
SECRET = "test-secret-for-the-gateway-tests-0123456789"
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
BOTO = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)


class Gateway:
    """A running gateway plus helpers to read what the fake handlers recorded."""

    def __init__(self, server: AppServer, runtime: LambdaRuntime, records: Path) -> None:
        self.server = server
        self.runtime = runtime
        self.records = records
        self.url = server.url
        self.ws_url = f"ws://{server.host}:{server.port}/ws"

    def events(self, name: str) -> list[dict[str, Any]]:
        path = self.records / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def wait_event(self, name: str, match: Callable[[dict[str, Any]], bool], timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(name):
                if match(event):
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no matching {name} event within {timeout} s")

    def connect(self, token: str = "good", query: str = "") -> ClientConnection:
        return connect(f"{self.ws_url}?token={token}{query}", open_timeout=5, close_timeout=2)

    def client(self, service: str, endpoint: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint or self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=BOTO,
        )


def _start(runtime: LambdaRuntime, **options: Any) -> AppServer:
    server = AppServer(create_app(runtime, **options), bind_socket("127.0.0.1", 0))
    server.start()
    return server


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    records = tmp_path_factory.mktemp("records")
    web = tmp_path_factory.mktemp("web")
    (web / "index.html").write_text("<!doctype html><title>Luma</title>")
    runtime = LambdaRuntime(FIXTURES, max_workers=8)
    server = _start(runtime, web_dir=web)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMA_TEST_RECORD_DIR", str(records))
        mp.setenv("LUMA_WS_MANAGEMENT_ENDPOINT", f"{server.url}/local")
        mp.setenv("LUMA_DEV_JWT_SECRET", SECRET)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        from luma.config import reset_settings

        reset_settings()
        try:
            yield Gateway(server, runtime, records)
        finally:
            server.stop()
            runtime.shutdown(timeout=5)
            reset_settings()


def _recv_json(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=5))


def _status_of(exc: pytest.ExceptionInfo[InvalidStatus]) -> int:
    return exc.value.response.status_code


# -- $connect ------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["", "?token=", "?token=bad"])
def test_handshake_without_a_valid_token_is_401(gw: Gateway, query: str) -> None:
    with pytest.raises(InvalidStatus) as exc:
        connect(f"{gw.ws_url}{query}", open_timeout=5)
    assert _status_of(exc) == 401
    assert exc.value.response.body is not None and b"Unauthorized" in exc.value.response.body


def test_deny_policy_is_403(gw: Gateway) -> None:
    with pytest.raises(InvalidStatus) as exc:
        gw.connect("deny")
    assert _status_of(exc) == 403


@pytest.mark.parametrize(("reject", "status"), [("409", 409), ("raise", 500)])
def test_connect_handler_can_refuse_the_handshake(gw: Gateway, reject: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as exc:
        gw.connect(query=f"&reject={reject}")
    assert _status_of(exc) == status


def test_authorizer_and_connect_events_are_api_gateway_shaped(gw: Gateway) -> None:
    with gw.connect(query="&lang=fr") as ws:
        ws.send(json.dumps({"action": "sendMessage"}))
        cid = _recv_json(ws)["connectionId"]
    assert CONNECTION_ID.match(cid)
    connect_event = gw.wait_event("ws_connect", lambda e: e["requestContext"]["connectionId"] == cid)
    ctx = connect_event["requestContext"]
    assert ctx["routeKey"] == "$connect" and ctx["eventType"] == "CONNECT"
    assert ctx["stage"] == "local" and ctx["domainName"] == f"127.0.0.1:{gw.server.port}"
    assert ctx["messageDirection"] == "IN" and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert {"extendedRequestId", "requestTime", "connectedAt", "requestTimeEpoch", "requestId", "apiId"} <= set(ctx)
    assert ctx["authorizer"] == {"principalId": "u-test", "userId": "u-test", "tenantId": "t-test", "verified": True}
    assert connect_event["queryStringParameters"] == {"token": "good", "lang": "fr"}
    assert "Sec-WebSocket-Key" in connect_event["headers"]
    assert connect_event["multiValueHeaders"]["Sec-WebSocket-Key"] == [connect_event["headers"]["Sec-WebSocket-Key"]]
    assert connect_event["isBase64Encoded"] is False

    auth = gw.wait_event("ws_authorizer", lambda e: e["requestContext"]["connectionId"] == cid)
    assert auth["type"] == "REQUEST"
    assert auth["methodArn"].startswith("arn:aws:execute-api:us-east-1:000000000000:")
    assert auth["methodArn"].endswith("/local/$connect")
    assert auth["queryStringParameters"]["token"] == "good"
    assert "authorizer" not in auth["requestContext"]


# -- messages ------------------------------------------------------------------------------
def test_route_selection_and_authorizer_context_on_every_event(gw: Gateway) -> None:
    with gw.connect() as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "hello"}))
        first = _recv_json(ws)
        ws.send(json.dumps({"action": "nope"}))
        second = _recv_json(ws)
        ws.send("not json {")
        third = _recv_json(ws)
        ws.send(b'{"action": "sendMessage"}')  # binary frames that decode are text
        fourth = _recv_json(ws)
        cid = first["connectionId"]
    assert [r["routeKey"] for r in (first, second, third, fourth)] == [
        "sendMessage",
        "$default",
        "$default",
        "sendMessage",
    ]
    assert all(r["authorizer"]["principalId"] == "u-test" for r in (first, second, third, fourth))
    assert third["body"] == "not json {"

    message = gw.wait_event("classify", lambda e: e["requestContext"]["connectionId"] == cid)
    ctx = message["requestContext"]
    assert ctx["eventType"] == "MESSAGE" and ctx["messageDirection"] == "IN"
    assert CONNECTION_ID.match(ctx["messageId"])
    assert ctx["authorizer"]["tenantId"] == "t-test"
    assert message["isBase64Encoded"] is False
    assert json.loads(message["body"]) == {"action": "sendMessage", "text": "hello"}

    gone = gw.wait_event("ws_disconnect", lambda e: e["requestContext"]["connectionId"] == cid)
    assert gone["requestContext"]["routeKey"] == "$disconnect"
    assert gone["requestContext"]["eventType"] == "DISCONNECT"
    assert gone["requestContext"]["disconnectStatusCode"] == 1000
    assert gone["requestContext"]["authorizer"]["principalId"] == "u-test"


def test_a_failing_handler_gets_api_gateways_error_frame(gw: Gateway) -> None:
    with gw.connect() as ws:
        ws.send("raise")
        frame = _recv_json(ws)
        assert frame["message"] == "Internal server error"
        assert CONNECTION_ID.match(frame["connectionId"]) and frame["requestId"]
        ws.send(json.dumps({"action": "sendMessage"}))  # the connection stays open
        assert _recv_json(ws)["routeKey"] == "sendMessage"


def test_a_frame_over_32_kb_closes_with_1009(gw: Gateway) -> None:
    with gw.connect() as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "x" * 30_000}))  # under the limit
        cid = _recv_json(ws)["connectionId"]
        ws.send("x" * (33 * 1024))
        with pytest.raises(ConnectionClosed) as exc:
            ws.recv(timeout=5)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    gone = gw.wait_event("ws_disconnect", lambda e: e["requestContext"]["connectionId"] == cid)
    assert gone["requestContext"]["disconnectStatusCode"] == 1009


# -- management API ------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", "/local"])
def test_management_api_with_boto3(gw: Gateway, suffix: str) -> None:
    api = gw.client("apigatewaymanagementapi", gw.url + suffix)
    with gw.connect() as ws:
        ws.send(json.dumps({"action": "sendMessage"}))
        cid = _recv_json(ws)["connectionId"]

        api.post_to_connection(ConnectionId=cid, Data=b'{"type": "status", "status": "ok"}')
        assert _recv_json(ws) == {"type": "status", "status": "ok"}

        info = api.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert "websockets" in info["Identity"]["UserAgent"].lower()
        assert info["ConnectedAt"] <= info["LastActiveAt"]

        api.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    gw.wait_event("ws_disconnect", lambda e: e["requestContext"]["connectionId"] == cid)
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=cid, Data=b"late")
    with pytest.raises(api.exceptions.GoneException):
        api.get_connection(ConnectionId=cid)


# -- Lambda Invoke API ---------------------------------------------------------------------
def test_invoke_request_response_and_context(gw: Gateway) -> None:
    lam = gw.client("lambda")
    for name in ("echo", "arn:aws:lambda:us-east-1:000000000000:function:echo"):
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 1}).encode())
        assert out["StatusCode"] == 200 and "FunctionError" not in out
        result = json.loads(out["Payload"].read())
        assert result["event"] == {"n": 1}
        assert result["tag"] == "echo"  # its own sibling helpers.py, not fail's
        ctx = result["context"]
        assert ctx["function_name"] == "echo"
        assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
        assert 0 < ctx["remaining_ms"] <= 30_000


def test_invoke_event_is_asynchronous(gw: Gateway) -> None:
    out = gw.client("lambda").invoke(
        FunctionName="echo", InvocationType="Event", Payload=json.dumps({"record": True, "id": "evt-1"}).encode()
    )
    assert out["StatusCode"] == 202
    gw.wait_event("echo", lambda e: e.get("id") == "evt-1")


def test_invoke_unhandled_error_and_unknown_function(gw: Gateway) -> None:
    lam = gw.client("lambda")
    out = lam.invoke(FunctionName="fail", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    error = json.loads(out["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom from fail"
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", Payload=b"{}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nope", InvocationType="Event", Payload=b"{}")


# -- HTTP API ------------------------------------------------------------------------------
def _http(
    url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_http_api_payload_v2_reaches_http_api(gw: Gateway) -> None:
    status, headers, body = _http(
        f"{gw.url}/api/sessions/s-1/messages?after=01H&limit=5&limit=6",
        method="POST",
        body=b'{"hello": "world"}',
        headers={"Content-Type": "application/json", "X-Custom-Header": "Value", "Cookie": "a=1; b=2"},
    )
    assert status == 201
    assert headers["x-fixture"] == "http_api"
    assert headers.get_all("set-cookie") == ["seen=1; Path=/"]
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/sessions/s-1/messages"
    assert event["rawQueryString"] == "after=01H&limit=5&limit=6"
    assert event["queryStringParameters"] == {"after": "01H", "limit": "5,6"}
    assert event["headers"]["x-custom-header"] == "Value"
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == "/sessions/s-1/messages"
    assert ctx["http"]["sourceIp"] == "127.0.0.1" and ctx["stage"] == "$default"
    assert {"accountId", "apiId", "domainName", "domainPrefix", "requestId", "time", "timeEpoch"} <= set(ctx)


def test_http_api_form_bodies_arrive_base64_like_aws(gw: Gateway) -> None:
    status, _, body = _http(
        f"{gw.url}/api/twilio/whatsapp",
        method="POST",
        body=b"Body=hi&From=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    event = json.loads(body)
    assert status == 201 and event["isBase64Encoded"] is True
    assert event["body"] == "Qm9keT1oaSZGcm9tPXg="
    assert "queryStringParameters" not in event


def test_health_from_the_gateway_without_http_api() -> None:
    runtime = LambdaRuntime(FIXTURES)
    server = _start(runtime, http_function=None)
    try:
        status, _, body = _http(f"{server.url}/api/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert _http(f"{server.url}/api/other")[0] == 404
        assert _http(f"{server.url}/")[0] == 404  # no web/ folder configured
    finally:
        server.stop()
        runtime.shutdown(timeout=2)


# -- dev helpers and static files ----------------------------------------------------------
def test_dev_token_is_accepted_by_verify_token(gw: Gateway) -> None:
    from luma.auth import verify_token

    status, _, body = _http(
        f"{gw.url}/dev/token",
        method="POST",
        body=json.dumps({"userId": "u-alice", "tenantId": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200
    principal = verify_token(json.loads(body)["token"])
    assert (principal.user_id, principal.tenant_id) == ("u-alice", "demo")
    for bad in (b"not json", b"{}", b'{"userId": "u alice!", "tenantId": "demo"}', b'{"userId": 1, "tenantId": 2}'):
        assert _http(f"{gw.url}/dev/token", method="POST", body=bad)[0] == 400


def test_dev_demo_users(gw: Gateway) -> None:
    status, _, body = _http(f"{gw.url}/dev/demo-users")
    users = json.loads(body)
    assert status == 200 and users and {"userId", "tenantId", "name"} <= set(users[0])


def test_static_web_is_served_without_cache(gw: Gateway) -> None:
    status, headers, body = _http(f"{gw.url}/")
    assert status == 200 and b"<title>Luma</title>" in body
    assert headers["cache-control"] == "no-cache"
    assert _http(f"{gw.url}/missing.js")[0] == 404
    with pytest.raises(InvalidStatus) as exc:  # WebSocket only on /ws
        connect(f"ws://127.0.0.1:{gw.server.port}/other", open_timeout=5)
    assert _status_of(exc) == 403


# -- runtime -------------------------------------------------------------------------------
def test_runtime_errors_and_async_invocations(gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    runtime = gw.runtime
    assert {"classify", "echo", "fail", "http_api", "ws_authorizer"} <= set(runtime.names())
    with pytest.raises(KeyError, match="nope"):
        runtime.invoke("nope", {})
    with pytest.raises(FunctionNotFoundError):
        runtime.invoke("../fixtures", {})
    with caplog.at_level(logging.ERROR, logger="local.runtime"):
        runtime.invoke_async("fail", {})  # never raises to the caller
        assert runtime.wait_idle(5)
    assert "async invocation of fail failed" in caplog.text
    stats = runtime.stats()
    assert stats["fail"]["errors"] >= 1 and stats["echo"]["invocations"] >= 1
