"""The channel delivery with the real twilio REST client against the fake Twilio API on loopback:
what each frame becomes, splitting, and failed sends (redelivery of the parts not sent, never twice)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from luma.channels.delivery import ChannelDelivery, TwilioDelivery, frame_text
from luma.channels.twilio import TwilioSender, TwilioSendError
from luma.config import Settings
from luma.domain.models import DeliveryTarget

from local.fake_twilio import FakeTwilioServer
from tests.fakes import RecordingDelivery, RecordingInvoker

ACCOUNT = "AC" + "3" * 32
TOKEN = "delivery-test-token"
OURS = "whatsapp:+14155238886"
ALICE = "whatsapp:+33612345001"
TARGET = DeliveryTarget(channel="whatsapp", to_address=ALICE, from_address=OURS)


@pytest.fixture
def fake() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(ACCOUNT, TOKEN) as server:
        yield server


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


def delivery(fake: FakeTwilioServer, invoker: RecordingInvoker, **settings: Any) -> TwilioDelivery:
    sender = TwilioSender(ACCOUNT, TOKEN, "whatsapp:+10000000000", base_url=fake.url, timeout_s=5)
    return TwilioDelivery(Settings(**settings), lambda: sender, invoker)


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        ({"type": "message", "text": "Your appointment is confirmed."}, "Your appointment is confirmed."),
        ({"type": "error", "code": "RATE_LIMITED", "message": "Please wait a moment."}, "Please wait a moment."),
        (
            {"type": "status", "status": "agent_unavailable", "message": "I can only help with..."},
            "I can only help with...",
        ),
        ({"type": "approval_request", "prompt": "Cancel Tuesday's visit?", "runId": "r"}, "Cancel Tuesday's visit?"),
        ({"type": "token", "delta": "Your"}, None),
        ({"type": "heartbeat", "ts": 1}, None),
        ({"type": "status", "status": "session_started", "sessionId": "s"}, None),
        ({"type": "status", "status": "duplicate"}, None),
        ({"type": "message", "text": "   "}, None),
    ],
)
def test_what_a_whatsapp_user_reads_of_each_frame(frame: dict[str, Any], text: str | None) -> None:
    assert frame_text(frame) == text


def test_a_reply_goes_out_from_the_number_the_user_wrote_to(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    assert delivery(fake, invoker).send(TARGET, {"type": "message", "text": "Hello Alice", "messageId": "m1"})
    ((sent),) = fake.messages
    assert (sent.to, sent.from_, sent.body) == (ALICE, OURS, "Hello Alice")


def test_frames_without_text_send_nothing_and_succeed(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    d = delivery(fake, invoker)
    assert d.send(TARGET, {"type": "token", "delta": "x"}) and d.send(TARGET, {"type": "heartbeat", "ts": 1})
    assert fake.requests == []


def test_a_long_reply_is_split_at_1600_characters(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    text = " ".join(["word"] * 700)  # 3,499 characters
    assert delivery(fake, invoker).send(TARGET, {"type": "message", "text": text})
    bodies = [m.body for m in fake.messages]
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies) and " ".join(bodies) == text


def test_a_failure_mid_reply_queues_only_the_parts_not_sent(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    text = " ".join(["word"] * 700)
    fake.fail_next(1, status=503, after=1)  # the first part goes through, the second fails
    d = delivery(fake, invoker)
    assert d.send(TARGET, {"type": "message", "text": text, "messageId": "m-long"}) is True
    assert len(fake.messages) == 1
    ((function, job),) = invoker.calls
    assert function == "fast_path" and job["kind"] == "twilio_redelivery" and job["attempt"] == 1
    assert len(job["parts"]) == 2 and job["ref"] == "m-long"
    d.redeliver(job)  # what the fast_path function does with the event
    assert len(fake.messages) == 3 and " ".join(m.body for m in fake.messages) == text


def test_a_redelivery_that_sends_nothing_raises_for_lambda_to_retry(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    d = delivery(fake, invoker)
    job = {"kind": "twilio_redelivery", "target": TARGET.model_dump(mode="json"), "parts": ["a", "b"], "attempt": 1}
    fake.fail_next(1, status=500)
    with pytest.raises(TwilioSendError):
        d.redeliver(job)
    assert fake.messages == [] and invoker.calls == []
    d.redeliver(job)  # Lambda's retry of the same event: nothing was sent, so nothing is sent twice
    assert [m.body for m in fake.messages] == ["a", "b"]


def test_a_partial_redelivery_queues_the_rest_as_a_new_event(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    d = delivery(fake, invoker)
    job = {
        "kind": "twilio_redelivery",
        "target": TARGET.model_dump(mode="json"),
        "parts": ["a", "b", "c"],
        "attempt": 1,
    }
    fake.fail_next(1, status=429, after=1)
    d.redeliver(job)
    ((_, nxt),) = invoker.calls
    assert nxt["parts"] == ["b", "c"] and nxt["attempt"] == 2
    assert [m.body for m in fake.messages] == ["a"]


def test_redeliveries_stop_after_the_limit(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    d = delivery(fake, invoker, twilio_redelivery_max=2)
    job = {"kind": "twilio_redelivery", "target": TARGET.model_dump(mode="json"), "parts": ["a", "b"], "attempt": 2}
    fake.fail_next(1, status=503, after=1)
    d.redeliver(job)
    assert invoker.calls == [] and [m.body for m in fake.messages] == ["a"]


def test_a_refusal_twilio_will_not_change_its_mind_about_is_dropped_not_retried(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    fake.fail_next(1, status=400, code=21211)  # invalid 'To' number
    assert delivery(fake, invoker).send(TARGET, {"type": "message", "text": "hi"}) is False
    assert invoker.calls == [] and fake.messages == []


def test_no_twilio_account_configured_drops_with_an_error_not_a_crash(invoker: RecordingInvoker) -> None:
    d = TwilioDelivery(Settings(), lambda: None, invoker)
    assert d.send(TARGET, {"type": "message", "text": "hi"}) is False


def test_the_channel_delivery_dispatches_on_the_target(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    ws = RecordingDelivery()
    both = ChannelDelivery(ws, delivery(fake, invoker))
    both.send(DeliveryTarget(connection_id="c1"), {"type": "token", "delta": "x"})
    both.send(TARGET, {"type": "message", "text": "to WhatsApp"})
    assert ws.frames == [("c1", {"type": "token", "delta": "x"})]
    assert [m.body for m in fake.messages] == ["to WhatsApp"]


def test_targets_must_be_addressed() -> None:
    with pytest.raises(ValueError, match="connection_id"):
        DeliveryTarget()
    with pytest.raises(ValueError, match="to_address"):
        DeliveryTarget(channel="sms", to_address="+33612345001")
