"""The CloudFront origin check (issue 12, finding 7): with LUMA_ORIGIN_VERIFY_SECRET_ARN set (AWS), the
HTTP app and the WebSocket authorizer refuse requests that went around CloudFront and its WAF, and take
the client's address from CloudFront-Viewer-Address; against moto's Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.config import Settings, reset_settings
from luma.domain.models import Principal
from luma.http.app import create_app
from luma.limits import RateDecision
from luma.secrets import origin_verified, reset_secrets, viewer_ip

from tests.fakes import MemorySessionStore
from tests.unit.test_handlers import Ctx, event, load

moto = pytest.importorskip("moto")
HEADER = "X-Luma-Origin-Verify"


@pytest.fixture
def origin_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3

    reset_secrets()
    with moto.mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn: str = client.create_secret(
            Name="luma-test/origin-verify", SecretString=json.dumps({"current": "c" * 48, "previous": "p" * 48})
        )["ARN"]
        monkeypatch.setenv("LUMA_ORIGIN_VERIFY_SECRET_ARN", arn)
        monkeypatch.setenv("LUMA_REGION", "us-east-1")
        reset_settings()
        yield arn
    reset_settings()
    reset_secrets()


class RecordingLimiter:
    def __init__(self) -> None:
        self.ips: list[str | None] = []

    def check(self, principal: Principal, source_ip: str | None) -> RateDecision:
        self.ips.append(source_ip)
        return RateDecision(allowed=True)


def test_the_http_api_refuses_requests_without_cloudfronts_header(origin_secret: str) -> None:
    store = MemorySessionStore()
    with TestClient(create_app(lambda: store, status_checks=list), raise_server_exceptions=False) as client:
        for headers in ({}, {HEADER: "wrong"}, {HEADER: ""}):
            res = client.get("/health", headers=headers)
            assert res.status_code == 403 and res.json()["code"] == "FORBIDDEN", headers
        assert client.post("/twilio/whatsapp", content=b"", headers={HEADER: "x"}).status_code == 403
        assert client.get("/health", headers={HEADER: "c" * 48}).status_code == 200
        assert client.get("/health", headers={HEADER: "p" * 48}).status_code == 200  # during a rotation
        token = f"Bearer {issue_dev_token('u-alice', 'demo')}"
        mcp = client.post("/mcp/any", json={}, headers={"Authorization": token})  # mounted outside the routers
        assert mcp.status_code == 403 and mcp.json()["code"] == "FORBIDDEN"


def test_behind_cloudfront_the_rate_limit_key_is_the_viewer_address(origin_secret: str) -> None:
    store = MemorySessionStore()
    limiter = RecordingLimiter()
    app = create_app(lambda: store, status_checks=list, limiter=lambda: limiter)
    headers = {
        "Authorization": f"Bearer {issue_dev_token('u-alice', 'demo')}",
        HEADER: "c" * 48,
        "CloudFront-Viewer-Address": "2001:db8::7:46532",
    }
    with TestClient(app) as client:
        assert client.get("/sessions", headers=headers).status_code == 200
        other = {**headers, "CloudFront-Viewer-Address": "203.0.113.9:443"}
        assert client.get("/sessions", headers=other).status_code == 200
    assert limiter.ips == ["2001:db8::7", "203.0.113.9"]


def test_without_the_origin_check_the_viewer_header_is_not_trusted() -> None:
    settings = Settings()
    assert origin_verified({}, settings)  # local stack: nothing to check
    assert viewer_ip({"CloudFront-Viewer-Address": "203.0.113.9:443"}, settings) is None


def test_the_authorizer_refuses_a_handshake_around_cloudfront(origin_secret: str) -> None:
    handler = load("ws_authorizer").handler
    ev = event("ws_authorizer")
    ev["queryStringParameters"]["token"] = issue_dev_token("u-alice", "demo")
    ev["headers"] = {k: v for k, v in (ev.get("headers") or {}).items() if k.lower() != HEADER.lower()}
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(ev, Ctx())
    ev["headers"][HEADER] = "c" * 48
    ev["headers"]["CloudFront-Viewer-Address"] = "198.51.100.4:50123"
    context: dict[str, Any] = handler(ev, Ctx())["context"]
    assert context["clientIp"] == "198.51.100.4" and context["userId"] == "u-alice"


def test_an_unreadable_origin_secret_refuses_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_secrets()
    with moto.mock_aws():
        settings = Settings(origin_verify_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:none")
        assert not origin_verified({HEADER: "anything"}, settings)
