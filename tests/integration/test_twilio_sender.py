"""The real twilio SDK, through TwilioSender, against the fake Twilio REST API on loopback."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator

import pytest
import requests
from luma.channels.twilio import TwilioSender, TwilioSendError, split_message, validate_signature
from luma.errors import ErrorCode
from pydantic import SecretStr

from local.fake_twilio import FakeTwilioServer, sign

ACCOUNT = "AC" + "1" * 32
TOKEN = "fake-token-0123456789abcdef"
FROM = "whatsapp:+14155238886"
TO = "whatsapp:+14155550123"


@pytest.fixture
def fake() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(ACCOUNT, TOKEN) as server:
        yield server


def _sender(fake: FakeTwilioServer, token: str | SecretStr = TOKEN) -> TwilioSender:
    return TwilioSender(ACCOUNT, token, FROM, base_url=fake.url, timeout_s=5)


def test_sends_one_message(fake: FakeTwilioServer) -> None:
    sids = _sender(fake, SecretStr(TOKEN)).send(TO, "Your card is blocked.")
    assert len(sids) == 1 and sids[0].startswith("SM") and len(sids[0]) == 34
    [message] = fake.messages
    assert (message.sid, message.to, message.from_, message.body) == (sids[0], TO, FROM, "Your card is blocked.")
    assert fake.requests[0]["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"


def test_long_reply_is_sent_in_order(fake: FakeTwilioServer) -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 150 for i in range(6))
    sids = _sender(fake).send(TO, text)
    expected = split_message(text)
    assert len(expected) > 1
    assert [m.body for m in fake.messages] == expected
    assert [m.sid for m in fake.messages] == sids
    assert all(len(m.body) <= 1600 for m in fake.messages)


def test_sdk_environment_is_ignored(fake: FakeTwilioServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")  # would send the SDK to api.sydney.us1.twilio.com
    monkeypatch.setenv("TWILIO_REGION", "au1")
    assert _sender(fake).send(TO, "hi")
    assert fake.messages[0].body == "hi"


def test_blank_reply_sends_nothing(fake: FakeTwilioServer) -> None:
    assert _sender(fake).send(TO, "  ") == []
    assert fake.requests == []


def test_wrong_token_is_401_without_the_token_in_the_error(fake: FakeTwilioServer) -> None:
    wrong = "wrong-token-do-not-leak"
    with pytest.raises(TwilioSendError) as exc:
        _sender(fake, wrong).send(TO, "hi")
    err = exc.value
    assert err.status == 401 and not err.retryable and err.code is ErrorCode.INTERNAL
    assert err.twilio_code == 20003
    for text in (str(err), repr(err), str(err.to_dict()), err.message):
        assert wrong not in text and TOKEN not in text
    assert fake.messages == [] and fake.requests[0]["authorized"] is False


def test_basic_auth_is_checked_by_the_fake(fake: FakeTwilioServer) -> None:
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    data = {"To": TO, "From": FROM, "Body": "hi"}
    assert requests.post(url, data=data, timeout=5).status_code == 401
    assert requests.post(url, data=data, auth=(ACCOUNT, "nope"), timeout=5).status_code == 401
    other = url.replace(ACCOUNT, "AC" + "2" * 32)
    assert requests.post(other, data=data, auth=(ACCOUNT, TOKEN), timeout=5).status_code == 401
    response = requests.post(url, data=data, auth=(ACCOUNT, TOKEN), timeout=5)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued" and body["to"] == TO and body["from"] == FROM and body["body"] == "hi"
    assert body["date_created"].endswith("GMT") and body["sid"].startswith("SM") and len(body["sid"]) == 34
    header = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert (
        requests.post(url, data={"From": FROM, "Body": "x"}, headers={"Authorization": header}, timeout=5).status_code
        == 400
    )


def test_message_list_is_paged_newest_first(fake: FakeTwilioServer) -> None:
    sender = _sender(fake)
    sent = [sender.send(TO if i % 3 else "whatsapp:+14155550999", f"m{i}")[0] for i in range(7)]
    url: str | None = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json?PageSize=2&To={TO.replace('+', '%2B')}"
    seen, pages = [], 0
    while url:
        body = requests.get(url, auth=(ACCOUNT, TOKEN), timeout=5).json()
        assert body["page"] == pages and len(body["messages"]) <= 2
        seen += [m["sid"] for m in body["messages"]]
        url = f"{fake.url}{body['next_page_uri']}" if body["next_page_uri"] else None
        pages += 1
    assert seen == [sid for i, sid in reversed(list(enumerate(sent))) if i % 3]  # newest first, To only
    assert pages == 2  # four messages to TO, two a page, no empty third page
    bad = requests.get(
        url or f"{fake.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json?Page=x", auth=(ACCOUNT, TOKEN), timeout=5
    )
    assert bad.status_code == 400


def test_500_is_a_retryable_typed_error_with_sent_parts(
    fake: FakeTwilioServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = _sender(fake)
    text = "a" * 1500 + " " + "b" * 1500 + " " + "c" * 10
    fake.fail_next(1, status=500, after=1)  # the second part fails
    with pytest.raises(TwilioSendError) as exc:
        sender.send(TO, text)
    err = exc.value
    assert err.status == 500 and err.retryable and err.code is ErrorCode.INTERNAL
    assert err.details["part"] == 1 and err.details["sent_sids"] == [fake.messages[0].sid]
    assert [m.body for m in fake.messages] == ["a" * 1500]
    assert TOKEN not in str(err.to_dict()) and TOKEN not in caplog.text
    assert "a" * 100 not in caplog.text  # the SDK's request/response logging is kept quiet


def test_429_is_rate_limited(fake: FakeTwilioServer) -> None:
    fake.fail_next(1, status=429, code=20429)
    with pytest.raises(TwilioSendError) as exc:
        _sender(fake).send(TO, "hi")
    assert exc.value.code is ErrorCode.RATE_LIMITED and exc.value.retryable and exc.value.http_status == 429
    assert exc.value.twilio_code == 20429
    assert _sender(fake).send(TO, "hi again")  # only the next request failed
    assert [m.body for m in fake.messages] == ["hi again"]


def test_network_error_is_typed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = TwilioSender(ACCOUNT, TOKEN, FROM, base_url=f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(TwilioSendError) as exc:
        sender.send(TO, "hi")
    assert exc.value.status is None and exc.value.retryable
    assert TOKEN not in str(exc.value.to_dict())


def test_fake_sign_helper_matches_validation() -> None:
    url = "https://example.com/twilio/whatsapp?tenant=acme"
    params = {"Body": "hi", "From": FROM, "MediaUrl0": ["a", "b"]}
    signature = sign(url, params, TOKEN)
    assert validate_signature(url, params, signature, TOKEN)
    assert not validate_signature(url, {**params, "Body": "hj"}, signature, TOKEN)
