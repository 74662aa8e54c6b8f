"""Hypothesis on Twilio webhook forms, signed with the real SDK, through the real webhook and classify.

Forms start from a valid WhatsApp/SMS message and get fields dropped, replaced by any text or added
(media, buttons, list items, numbers of every shape), then are signed the way Twilio signs them over
the URL they are posted to (a share is posted unsigned, mis-signed or as raw bytes). The HTTP API app
answers every one with 200 (empty TwiML, the message handed over once) or a typed 4xx — never a 5xx.
Each message handed over then goes through the real ``classify`` handler as an SQS record of the
inbound queue (classify over fakes): no record is reported failed (a failure would be retried, then
dead-lettered) and no ``INTERNAL`` error reaches the sender. Two plain tests pin the batch rules: a
failed message holds back only the rest of its own conversation, and a batch short of time hands
back, untouched, what it did not start.

``make test`` runs a bounded number of examples; for a longer run:
``LUMA_FUZZ_EXAMPLES=2000 .venv/bin/pytest -q -p no:cacheprovider tests/unit/test_fuzz_twilio.py``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from luma import wiring
from luma.channels.twilio import sign
from luma.channels.twilio_account import load_account
from luma.config import Settings
from luma.domain.models import ChannelMessage
from luma.errors import ErrorCode
from luma.http.app import create_app
from luma.http.twilio_webhook import EMPTY_TWIML, TwilioWebhook, conversation_group
from pydantic import SecretStr

from tests.fakes import MemorySessionStore, RecordingInvoker
from tests.unit.test_classify_channel import make_env
from tests.unit.test_handlers import Ctx, load

EXAMPLES = int(os.environ.get("LUMA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ACCOUNT = "AC" + "1" * 32
TOKEN = "fuzz-webhook-token"
TYPED_CODES = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}
ALLOWED_STATUS = {200, 400, 403, 413, 422}


class RecordingHandoff:
    """Stands in for the inbound queue: what the webhook handed over."""

    def __init__(self) -> None:
        self.messages: list[ChannelMessage] = []

    def put(self, message: ChannelMessage) -> None:
        self.messages.append(message)


def _valid(route: str) -> dict[str, str]:
    sid = "SM" + uuid.uuid4().hex
    sender = "whatsapp:+33612345001" if route == "whatsapp" else "+33612345001"
    ours = "whatsapp:+14155238886" if route == "whatsapp" else "+14155238886"
    return {"MessageSid": sid, "AccountSid": ACCOUNT, "From": sender, "To": ours, "Body": "hello", "NumMedia": "0"}


any_text = st.text(max_size=60) | st.sampled_from(["", " ", "0", "-1", "11", "1e3", "whatsapp:", "+", "\u0000"])
phones = st.from_regex(r"(whatsapp:)?\+?[0-9]{0,16}", fullmatch=True) | any_text
media_urls = st.sampled_from(["https://api.twilio.com/2010-04-01/Accounts/x/Media/ME1", "ftp://x", ""]) | any_text
FIELDS: dict[str, st.SearchStrategy[str]] = {
    "MessageSid": st.from_regex(r"(SM|MM)[0-9a-f]{32}", fullmatch=True) | any_text,
    "AccountSid": st.just(ACCOUNT) | any_text,
    "From": phones,
    "To": phones,
    "Body": st.text(max_size=300) | st.text(min_size=1500, max_size=2100),
    "NumMedia": st.integers(-2, 12).map(str) | any_text,
    "MediaUrl0": media_urls,
    "MediaContentType0": st.sampled_from(["image/jpeg", "audio/ogg", "application/pdf", ""]) | any_text,
    "ButtonPayload": any_text,
    "ButtonText": any_text,
    "ListId": any_text,
    "ListTitle": any_text,
    "ProfileName": any_text,
    "WaId": any_text,
}
changes = st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.none() | FIELDS[k] for k in keys})
)
extra = st.dictionaries(st.text(min_size=1, max_size=12), any_text, max_size=3)


@pytest.fixture(scope="module")
def classify() -> Iterator[tuple[ModuleType, dict[str, Any]]]:
    """The real classify handler; its service is a fresh fakes-backed one per example (``holder["env"]``)."""
    holder: dict[str, Any] = {"env": make_env()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wiring, "classify_service", lambda: holder["env"]["service"])
        yield load("classify"), holder


@pytest.fixture(scope="module")
def webhook() -> tuple[TestClient, RecordingHandoff]:
    conf = Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN), twilio_default_tenant="demo")
    handoff = RecordingHandoff()
    hook = TwilioWebhook(conf, lambda: load_account(conf), RecordingInvoker(), handoff=handoff)
    app = create_app(lambda: MemorySessionStore(), status_checks=list, twilio_webhook=lambda: hook)
    return TestClient(app, raise_server_exceptions=False), handoff


def _sqs_event(message: ChannelMessage) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": json.dumps(message.model_dump(mode="json")),
                "attributes": {"MessageGroupId": conversation_group(message), "ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:luma-test-twilio-inbound.fifo",
                "awsRegion": "us-east-1",
            }
        ]
    }


def _post(client: TestClient, route: str, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(f"/twilio/{route}", content=body, headers=headers)


def _check_answer(response: Any) -> None:
    assert response.status_code in ALLOWED_STATUS, (response.status_code, response.text[:300])
    if response.status_code == 200:
        assert response.text == EMPTY_TWIML
    else:
        assert response.json()["code"] in TYPED_CODES, response.text[:300]


@FUZZ
@given(route=st.sampled_from(["whatsapp", "sms"]), change=changes, more=extra, signing=st.sampled_from("ssssuwb"))
def test_no_form_makes_the_webhook_or_classify_fail(
    webhook: tuple[TestClient, RecordingHandoff],
    classify: tuple[ModuleType, dict[str, Any]],
    route: str,
    change: dict[str, str | None],
    more: dict[str, str],
    signing: str,
) -> None:
    client, handoff = webhook
    form = {**_valid(route), **more}
    for key, value in change.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    url = f"http://testserver/twilio/{route}"
    body = urlencode(form).encode()
    signature: str | None = sign(url, form, TOKEN)
    if signing == "u":  # unsigned
        signature = None
    elif signing == "w":  # signed with another token
        signature = sign(url, form, "not-the-token")
    elif signing == "b":  # raw bytes that are not a form
        body = bytes(range(256)) + body
    before = len(handoff.messages)
    response = _post(client, route, body, signature)
    event(f"HTTP {response.status_code}")
    _check_answer(response)
    handed = handoff.messages[before:]
    assert len(handed) == (1 if response.status_code == 200 else 0)
    if signing in "uw":
        assert response.status_code == 403
    for message in handed:
        module, holder = classify
        holder["env"] = make_env()
        result = module.handler(_sqs_event(message), Ctx())
        assert result == {"batchItemFailures": []}, result
        for _, frame in holder["env"]["delivery"].frames:
            assert frame.get("type") != "error" or frame["code"] in TYPED_CODES, frame


@FUZZ
@given(raw=st.binary(max_size=400), route=st.sampled_from(["whatsapp", "sms"]))
def test_any_body_is_a_typed_refusal(webhook: tuple[TestClient, RecordingHandoff], raw: bytes, route: str) -> None:
    client, handoff = webhook
    before = len(handoff.messages)
    _check_answer(_post(client, route, raw, "c2lnbmF0dXJl"))
    assert len(handoff.messages) == before


# -- the queue batch, deterministically ------------------------------------------------------------------


class _Handled:
    """Stands in for the classify service: records the messages it handles, fails the ones asked."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.handled: list[str] = []

    def handle_channel(self, message: ChannelMessage, **_: Any) -> None:
        if message.external_id in self.failing:
            raise RuntimeError("a fault")
        self.handled.append(message.external_id)


class _Early(Ctx):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class _Late(Ctx):
    def get_remaining_time_in_millis(self) -> int:
        return 1_000


def _batch(*senders: str) -> tuple[dict[str, Any], list[str]]:
    messages = []
    for n, sender in enumerate(senders):
        form = {**_valid("whatsapp"), "From": f"whatsapp:{sender}"}
        messages.append(
            ChannelMessage(
                channel="whatsapp",
                tenant_id="demo",
                external_id=form["MessageSid"],
                sender=form["From"],
                recipient=form["To"],
                text=f"message {n}",
            )
        )
    records = [r for m in messages for r in _sqs_event(m)["Records"]]
    return {"Records": records}, [r["messageId"] for r in records]


def test_a_failed_message_holds_back_the_rest_of_its_conversation_only(
    classify: tuple[ModuleType, dict[str, Any]],
) -> None:
    module, holder = classify
    event, ids = _batch("+33612345001", "+33612345002", "+33612345001", "+33612345002")
    first = json.loads(event["Records"][0]["body"])["external_id"]
    holder["env"] = {"service": (service := _Handled({first}))}
    result = module.handler(event, _Early())
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}, {"itemIdentifier": ids[2]}]}
    assert service.handled == [json.loads(event["Records"][i]["body"])["external_id"] for i in (1, 3)]


def test_a_batch_out_of_time_hands_back_what_it_did_not_start(classify: tuple[ModuleType, dict[str, Any]]) -> None:
    module, holder = classify
    event, ids = _batch("+33612345001", "+33612345002", "+33612345003")
    holder["env"] = {"service": (service := _Handled(set()))}
    result = module.handler(event, _Late())
    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in ids[1:]]}
    assert len(service.handled) == 1
