"""The local gateway (issue 12, findings 9, 14 and 18): the role travels like on API Gateway, browser
requests to the SDK endpoints are refused, the web pages carry a strict Content-Security-Policy.

A real uvicorn server on loopback runs the real ``ws_authorizer`` with the recording fixtures for the
other routes (``tests/fixtures/functions``); boto3 is the SDK client that must keep working.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.config import Config
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local.gateway import CONTENT_SECURITY_POLICY, create_app  # noqa: E402
from local.runtime import LambdaRuntime  # noqa: E402
from local.server import AppServer, bind_socket  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "functions"
SECRET = "test-secret-for-the-security-gateway-tests-0123"
BOTO = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10)
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    functions = tmp_path_factory.mktemp("functions")
    (functions / "ws_authorizer").symlink_to(REPO / "functions" / "ws_authorizer")
    for name in ("ws_connect", "ws_disconnect", "classify", "echo"):
        (functions / name).symlink_to(FIXTURES / name)
    web = tmp_path_factory.mktemp("web")
    (web / "index.html").write_text("<!doctype html><title>Luma</title>")
    runtime = LambdaRuntime(functions, max_workers=4)
    app_server = AppServer(create_app(runtime, web_dir=web), bind_socket("127.0.0.1", 0))
    app_server.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMA_WS_MANAGEMENT_ENDPOINT", f"{app_server.url}/local")
        mp.setenv("LUMA_DEV_JWT_SECRET", SECRET)
        from luma.config import reset_settings

        reset_settings()
        try:
            yield app_server
        finally:
            app_server.stop()
            runtime.shutdown(timeout=5)
            reset_settings()


def _request(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[int, Any, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def _token(server: AppServer, **body: str) -> str:
    status, _, raw = _request(
        f"{server.url}/dev/token",
        "POST",
        json.dumps({"userId": "u-olga", "tenantId": "demo", **body}).encode(),
        **{"Content-Type": "application/json"},
    )
    assert status == 200, raw
    token: str = json.loads(raw)["token"]
    return token


@pytest.mark.parametrize("role", ["user", "operator"])
def test_the_role_travels_in_the_authorizer_context_of_every_message(server: AppServer, role: str) -> None:
    token = _token(server, role=role)
    assert jwt.decode(token, options={"verify_signature": False})["role"] == role
    with connect(f"ws://{server.host}:{server.port}/ws?token={token}", open_timeout=5) as ws:
        ws.send("hello")
        echo = json.loads(ws.recv(timeout=5))  # posted back by the fixture through boto3's @connections call
    assert echo["authorizer"]["userId"] == "u-olga" and echo["authorizer"]["role"] == role


def test_dev_token_refuses_an_unknown_role(server: AppServer) -> None:
    body = json.dumps({"userId": "u-olga", "tenantId": "demo", "role": "admin"}).encode()
    status, _, raw = _request(f"{server.url}/dev/token", "POST", body)
    assert status == 400 and b"role" in raw


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    ],
    ids=["origin", "opaque-origin", "fetch-metadata"],
)
def test_browser_requests_to_the_sdk_endpoints_are_refused(server: AppServer, browser: dict[str, str]) -> None:
    token = _token(server)
    with connect(f"ws://{server.host}:{server.port}/ws?token={token}", open_timeout=5) as ws:
        ws.send("hello")
        connection_id = json.loads(ws.recv(timeout=5))["connectionId"]
        for method, url, body in (
            ("POST", f"{server.url}/2015-03-31/functions/echo/invocations", b'{"n": 1}'),
            ("POST", f"{server.url}/local/@connections/{connection_id}", b"injected"),
            ("DELETE", f"{server.url}/@connections/{connection_id}", None),
            ("GET", f"{server.url}/local/@connections/{connection_id}", None),
        ):
            status, _, raw = _request(url, method, body, **browser)
            assert status == 403, (method, url, status)
            assert b"Browser requests are refused" in raw
        # Nothing reached the connection, and it is still open.
        ws.send("still here")
        assert json.loads(ws.recv(timeout=5))["body"] == "still here"


def test_sdk_clients_keep_working(server: AppServer) -> None:
    def client(service: str, endpoint: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=BOTO,
        )

    out = client("lambda", server.url).invoke(FunctionName="echo", Payload=b'{"n": 1}')
    assert out["StatusCode"] == 200 and json.loads(out["Payload"].read())["event"] == {"n": 1}
    token = _token(server)
    with connect(f"ws://{server.host}:{server.port}/ws?token={token}", open_timeout=5) as ws:
        ws.send("hello")
        connection_id = json.loads(ws.recv(timeout=5))["connectionId"]
        client("apigatewaymanagementapi", f"{server.url}/local").post_to_connection(
            ConnectionId=connection_id, Data=b'{"from": "boto3"}'
        )
        assert json.loads(ws.recv(timeout=5)) == {"from": "boto3"}


def test_web_pages_carry_a_strict_content_security_policy(server: AppServer) -> None:
    assert CONTENT_SECURITY_POLICY == STRICT_CSP
    status, headers, _ = _request(f"{server.url}/")
    assert status == 200
    assert headers["Content-Security-Policy"] == STRICT_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
