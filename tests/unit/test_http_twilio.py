"""The Twilio webhooks and the HTTP error mapping (429 + Retry-After) in process: real signatures
(the SDK's RequestValidator), a recording invoker instead of Lambda."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.channels.twilio import sign
from luma.channels.twilio_account import TwilioAccount, load_account
from luma.config import Settings
from luma.http.app import create_app
from luma.http.twilio_webhook import TwilioWebhook
from mangum import Mangum
from pydantic import SecretStr

from tests.fakes import FakeLimiter, MemorySessionStore, RecordingInvoker
from tests.unit.test_handlers import in_lambda_thread
from tests.unit.test_http_sessions import seed

ACCOUNT = "AC" + "1" * 32
TOKEN = "webhook-test-token"
URL = "http://testserver/twilio/whatsapp"
EVENTS = Path(__file__).parent.parent / "events"


def form(**changes: str) -> dict[str, str]:
    base = {
        "MessageSid": "SM" + "0" * 31 + "1",
        "AccountSid": ACCOUNT,
        "From": "whatsapp:+33612345001",
        "To": "whatsapp:+14155238886",
        "Body": "¿Cuál es el horario?",
        "NumMedia": "0",
        "ProfileName": "Alice",
    }
    base.update(changes)
    return base


def signed(params: dict[str, str], url: str = URL, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(url, params, token), "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


@pytest.fixture
def settings() -> Settings:
    return Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN), twilio_default_tenant="demo")


@pytest.fixture
def client(invoker: RecordingInvoker, settings: Settings) -> Iterator[TestClient]:
    store = MemorySessionStore()
    hook = TwilioWebhook(settings, lambda: load_account(settings), invoker)
    app = create_app(lambda: store, status_checks=list, twilio_webhook=lambda: hook)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_a_signed_whatsapp_form_is_answered_with_empty_twiml_and_handed_to_classify(
    client: TestClient, invoker: RecordingInvoker
) -> None:
    params = form()
    res = client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/xml")
    assert res.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    ((name, payload),) = invoker.calls
    assert name == "classify"
    assert payload["kind"] == "channel_message" and payload["channel"] == "whatsapp"
    assert payload["tenant_id"] == "demo" and payload["external_id"] == params["MessageSid"]
    assert payload["sender"] == "whatsapp:+33612345001" and payload["text"] == "¿Cuál es el horario?"
    assert payload["profile_name"] is None  # not carried: personal data nobody needs


def test_sms_goes_to_its_own_route(client: TestClient, invoker: RecordingInvoker) -> None:
    params = form(From="+33612345001", To="+14155238886")
    url = "http://testserver/twilio/sms"
    assert client.post("/twilio/sms", content=urlencode(params), headers=signed(params, url)).status_code == 200
    assert invoker.calls[0][1]["channel"] == "sms"
    wrong = client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert wrong.status_code == 422 and wrong.json()["fields"] == ["From"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},  # no signature at all
        {"X-Twilio-Signature": "bm90IGl0", "Content-Type": "application/x-www-form-urlencoded"},
    ],
)
def test_a_wrong_or_missing_signature_is_403(client: TestClient, invoker: RecordingInvoker, headers: Any) -> None:
    res = client.post("/twilio/whatsapp", content=urlencode(form()), headers=headers)
    assert res.status_code == 403 and res.json()["code"] == "SIGNATURE_INVALID"
    assert "www-authenticate" not in res.headers and invoker.calls == []


def test_a_signature_for_another_token_or_tampered_form_is_403(client: TestClient, invoker: RecordingInvoker) -> None:
    params = form()
    assert (
        client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params, token="other")).status_code
        == 403
    )
    tampered = {**params, "Body": "transfer everything"}
    assert client.post("/twilio/whatsapp", content=urlencode(tampered), headers=signed(params)).status_code == 403
    assert invoker.calls == []


def test_a_form_for_another_account_is_403(client: TestClient) -> None:
    params = form(AccountSid="AC" + "2" * 32)
    res = client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert res.status_code == 403 and "another Twilio account" in res.json()["message"]


def test_no_auth_token_configured_refuses_every_webhook(invoker: RecordingInvoker) -> None:
    empty = Settings(twilio_default_tenant="demo")
    hook = TwilioWebhook(empty, lambda: TwilioAccount(None, None), invoker)
    with TestClient(create_app(MemorySessionStore, status_checks=list, twilio_webhook=lambda: hook)) as c:
        params = form()
        res = c.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert res.status_code == 403 and invoker.calls == []


def test_an_oversized_body_is_413_before_anything_else(client: TestClient, invoker: RecordingInvoker) -> None:
    params = form(Body="x" * 70_000)
    res = client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert res.status_code == 413 and res.json()["code"] == "FRAME_TOO_LARGE" and invoker.calls == []


@pytest.mark.parametrize("body", ["Body=%ZZ&From=x", "Body=caf%C3", "Body&From=x", "Body=\u00e9"])
def test_a_broken_form_encoding_is_400(client: TestClient, invoker: RecordingInvoker, body: str) -> None:
    headers = {"X-Twilio-Signature": "c2lnbmF0dXJl", "Content-Type": "application/x-www-form-urlencoded"}
    res = client.post("/twilio/whatsapp", content=body.encode(), headers=headers)
    assert res.status_code == 400 and res.json()["code"] == "BAD_REQUEST" and invoker.calls == []


def test_a_signed_form_with_invalid_fields_is_422_naming_them(client: TestClient) -> None:
    params = form(MessageSid="not-a-sid")
    res = client.post("/twilio/whatsapp", content=urlencode(params), headers=signed(params))
    assert res.status_code == 422 and res.json()["fields"] == ["MessageSid"]
    assert "not-a-sid" not in res.text


def test_a_number_of_no_tenant_is_refused(invoker: RecordingInvoker) -> None:
    settings = Settings(
        twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN), twilio_numbers={"+14155238886": "acme"}
    )
    hook = TwilioWebhook(settings, lambda: load_account(settings), invoker)
    with TestClient(create_app(MemorySessionStore, status_checks=list, twilio_webhook=lambda: hook)) as c:
        served = form()
        assert c.post("/twilio/whatsapp", content=urlencode(served), headers=signed(served)).status_code == 200
        other = form(To="whatsapp:+15005550006")
        res = c.post("/twilio/whatsapp", content=urlencode(other), headers=signed(other))
    assert res.status_code == 422 and res.json()["fields"] == ["To"]
    assert [p["tenant_id"] for _, p in invoker.calls] == ["acme"]


def test_the_published_whatsapp_event_through_mangum_uses_the_api_gateway_url(invoker: RecordingInvoker) -> None:
    """The recorded event (base64 body, host example.com, https) is verified against the URL Twilio signed."""
    event = json.loads((EVENTS / "twilio_whatsapp_inbound.json").read_text())
    settings = Settings(twilio_auth_token=SecretStr("12345"), twilio_default_tenant="demo")
    hook = TwilioWebhook(settings, lambda: load_account(settings), invoker)
    handler = Mangum(create_app(MemorySessionStore, status_checks=list, twilio_webhook=lambda: hook), lifespan="off")

    class Ctx:
        aws_request_id = "r1"

    ok = in_lambda_thread(handler, copy.deepcopy(event), Ctx())
    assert ok["statusCode"] == 200 and ok["body"].endswith("<Response/>")
    assert invoker.calls[0][1]["media"][0]["content_type"] == "image/jpeg"
    tampered = copy.deepcopy(event)
    raw = base64.b64decode(tampered["body"]).replace(b"Hi", b"Yo")
    tampered["body"] = base64.b64encode(raw).decode()
    assert in_lambda_thread(handler, tampered, Ctx())["statusCode"] == 403


# -- 429 + Retry-After on the authenticated routes ------------------------------------------------


def test_over_the_rate_limit_an_authenticated_route_is_429_with_retry_after() -> None:
    store = MemorySessionStore()
    s = seed(store)
    limiter = FakeLimiter(per_user=2, retry_after_s=12)
    with TestClient(create_app(lambda: store, status_checks=list, limiter=lambda: limiter)) as c:
        headers = {"Authorization": f"Bearer {issue_dev_token('u-alice', 'demo')}"}
        assert c.get("/sessions", headers=headers).status_code == 200
        assert c.get(f"/sessions/{s.session_id}/messages", headers=headers).status_code == 200
        res = c.get("/sessions", headers=headers)
        assert res.status_code == 429 and res.headers["retry-after"] == "12"
        assert res.json()["code"] == "RATE_LIMITED" and res.json()["retryAfter"] == 12
        assert c.get("/health").status_code == 200  # unauthenticated routes take no token
    assert limiter.checks[0] == ("demo", "u-alice", "testclient")


def test_expired_token_is_401_and_takes_no_token_from_the_bucket() -> None:
    limiter = FakeLimiter(per_user=1)
    with TestClient(create_app(MemorySessionStore, status_checks=list, limiter=lambda: limiter)) as c:
        expired = {"Authorization": f"Bearer {issue_dev_token('u-alice', 'demo', ttl_s=-5)}"}
        res = c.get("/sessions", headers=expired)
    assert res.status_code == 401 and res.json()["code"] == "AUTH_EXPIRED_TOKEN" and limiter.checks == []


def test_another_tenants_session_ids_are_404() -> None:
    store = MemorySessionStore()
    s = seed(store)
    with TestClient(create_app(lambda: store, status_checks=list)) as c:
        intruder = {"Authorization": f"Bearer {issue_dev_token('u-alice', 'acme')}"}
        for method, path in (
            ("GET", f"/sessions/{s.session_id}/messages"),
            ("GET", f"/sessions/{s.session_id}/report"),
            ("POST", f"/sessions/{s.session_id}/close"),
        ):
            res = c.request(method, path, headers=intruder)
            assert res.status_code == 404 and res.json()["code"] == "SESSION_NOT_FOUND", path
    assert not store.reports


def test_quota_errors_map_to_429_with_retry_after_in_one_place() -> None:
    from luma.errors import ErrorCode, LumaError
    from luma.http.app import error_headers

    assert error_headers(LumaError(ErrorCode.QUOTA_EXCEEDED, retryAfter=3600)) == {"Retry-After": "3600"}
    assert error_headers(LumaError(ErrorCode.RATE_LIMITED)) == {"Retry-After": "1"}
    assert error_headers(LumaError(ErrorCode.AUTH_REQUIRED)) == {"WWW-Authenticate": "Bearer"}
    assert error_headers(LumaError(ErrorCode.SIGNATURE_INVALID)) is None


def test_openapi_documents_the_webhooks(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/twilio/whatsapp", "/twilio/sms"):
        post = spec["paths"][path]["post"]
        assert "application/x-www-form-urlencoded" in post["requestBody"]["content"]
        assert "text/xml" in post["responses"]["200"]["content"] and "403" in post["responses"]
    assert "Retry-After" in spec["paths"]["/sessions"]["get"]["responses"]["429"]["headers"]
