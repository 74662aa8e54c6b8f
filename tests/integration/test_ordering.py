"""One WhatsApp sender's messages are handled in the order sent, even when they arrive together.

On the real local stack: the webhook puts each message on the inbound FIFO queue (moto's SQS; group:
the conversation, deduplication id: the ``MessageSid``) and ``classify`` consumes it through the local
event-source mapping (local/sqs_source.py). What is promised (docs in twilio_webhook.py):

- one sender's messages are persisted and classified one at a time, in the order the webhook received
  them — a burst of messages is stored in that order, whatever the load and the faults;
- a message that fails is retried before any later message of its conversation is handled, and a
  message that keeps failing ends in the queue's dead-letter queue;
- once classify waits for a queued message's fast path (the dispatcher change proposed with this
  work), a message that depends on the previous answer (an identity answered right after the
  request) is understood as such even when both arrive together.

Answers of the agent are not held back: a run answers when it is done, so a later fast-path answer
can arrive before it.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from luma import wiring
from luma.channels.twilio import sign
from luma.config import Settings, reset_settings
from luma.store.repos import DynamoConversationRepository

from bench.load import LoadUser, make_users, seed_users
from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER
from local.sqs_source import QueueSources, start_queue_sources

_run = iter(range(900, 1000))


@pytest.fixture(scope="module")
def inbox(local_stack: Any) -> Iterator[QueueSources]:
    """The stack's inbound queue; started here (and the webhook redeployed) if the stack has none."""
    existing = getattr(local_stack, "queue_sources", None)
    if existing is not None:
        yield existing
        return
    box = start_queue_sources(local_stack.runtime, local_stack.dynamodb_endpoint, stage="local")
    saved = {k: os.environ.get(k) for k in box.env}
    os.environ.update(box.env)
    reset_settings()
    wiring.reset()
    local_stack.runtime.redeploy("http_api")  # its webhook reads the queue's settings at its cold start
    try:
        yield box
    finally:
        box.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        wiring.reset()
        local_stack.runtime.redeploy("http_api")


@pytest.fixture
def users(local_stack: Any) -> list[LoadUser]:
    """Fresh linked senders (a patient, an account, a phone, an appointment) with no conversation yet."""
    made = make_users(next(_run), 3, "demo")
    seed_users(made, local_stack.dynamodb_endpoint)
    return made


def _post(stack: Any, user: LoadUser, text: str, sid: str | None = None) -> str:
    sid = sid or "SM" + uuid.uuid4().hex
    form = {
        "MessageSid": sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": f"whatsapp:{user.phone}",
        "To": DEV_WHATSAPP_NUMBER,
        "Body": text,
        "NumMedia": "0",
    }
    url = f"{stack.url}/api/twilio/whatsapp"
    req = urllib.request.Request(
        url,
        data=urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, form, DEV_AUTH_TOKEN),
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    return sid


def _conversation(user: LoadUser) -> list[Any]:
    """The user's WhatsApp session, oldest message first."""
    repo = DynamoConversationRepository(Settings())
    pointer = repo.get_channel_session("demo", user.phone, "whatsapp")
    assert pointer is not None, "no session for the sender"
    return list(repo.list_messages("demo", pointer.session_id, limit=200).items)


def _replies(stack: Any, user: LoadUser, count: int, *, settle: float = 0.0) -> list[Any]:
    """The replies the fake Twilio API received for ``user``, once there are ``count`` (then ``settle`` s more)."""
    deadline = time.monotonic() + 30
    while len(got := stack.fake_twilio.messages_to(f"whatsapp:{user.phone}")) < count:
        assert time.monotonic() < deadline, f"{len(got)} of {count} replies arrived"
        time.sleep(0.05)
    time.sleep(settle)
    return list(stack.fake_twilio.messages_to(f"whatsapp:{user.phone}"))


def _settle(stack: Any, inbox: QueueSources) -> None:
    assert inbox.wait_idle(60), "the inbound queue did not drain"
    assert stack.runtime.wait_idle(30), "the fast paths did not finish"


def test_a_burst_from_one_sender_is_stored_in_the_order_sent(local_stack: Any, inbox: QueueSources, users: Any) -> None:
    texts = ["hello", "what are your opening hours?", "where is the clinic located?", "thanks", "hello again"]
    per_user = {u.user_id: [_post(local_stack, u, f"{t} ({n})") for n, t in enumerate(texts)] for u in users}
    _settle(local_stack, inbox)
    for user in users:
        stored = [m.client_message_id for m in _conversation(user) if m.role.value == "user"]
        assert stored == per_user[user.user_id]  # message ids are ULIDs: the stored order is the handling order
        _replies(local_stack, user, len(texts))


def test_a_failing_message_is_retried_before_the_next_of_its_sender(
    local_stack: Any, inbox: QueueSources, users: Any
) -> None:
    runtime = local_stack.runtime
    runtime.faults.configure({"classify": {"before": 0.5}}, seed=3)
    try:
        sent = {u.user_id: [_post(local_stack, u, f"hello number {n}") for n in range(4)] for u in users}
        _settle(local_stack, inbox)
    finally:
        injected = runtime.faults.snapshot()["injected"].get("classify", {}).get("before", 0)
        runtime.faults.clear()
    assert injected > 0
    for user in users:
        stored = [m.client_message_id for m in _conversation(user) if m.role.value == "user"]
        assert stored == sent[user.user_id]


def test_a_redelivered_message_sid_is_handled_once(local_stack: Any, inbox: QueueSources, users: Any) -> None:
    user = users[0]
    sid = _post(local_stack, user, "what are your opening hours?")
    _post(local_stack, user, "what are your opening hours?", sid)
    _settle(local_stack, inbox)
    stored = [m for m in _conversation(user) if m.client_message_id == sid]
    assert len(stored) == 1
    assert len(_replies(local_stack, user, 1, settle=1.0)) == 1


def test_a_message_that_keeps_failing_goes_to_the_dead_letter_queue(local_stack: Any, inbox: QueueSources) -> None:
    from luma.aws import client

    sqs = client("sqs", region="us-east-1", endpoint_url=local_stack.dynamodb_endpoint)
    group = uuid.uuid4().hex
    sqs.send_message(
        QueueUrl=inbox.queue_url(),
        MessageBody=json.dumps({"not": "a channel message"}),
        MessageGroupId=group,
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=inbox.dlq_url(), MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages")
        if got:
            assert json.loads(got[0]["Body"]) == {"not": "a channel message"}
            return
        time.sleep(0.5)
    raise AssertionError("the poison message never reached the dead-letter queue")


def _waits_for_the_fast_path() -> bool:
    from luma.pipeline.dispatch import Dispatcher

    return hasattr(Dispatcher, "dispatch_ordered")


@pytest.mark.skipif(
    not _waits_for_the_fast_path(),
    reason="classify does not wait for a queued message's fast path yet (Dispatcher.dispatch_ordered)",
)
def test_an_identity_sent_right_after_the_request_answers_it(local_stack: Any, inbox: QueueSources, users: Any) -> None:
    for user in users:
        _post(local_stack, user, "show me my appointments")
        _post(local_stack, user, user.identity)
    _settle(local_stack, inbox)
    for user in users:
        replies = [m for m in _conversation(user) if m.role.value == "assistant"]
        assert len(replies) == 2
        assert "verified" in replies[1].text, replies[1].text
