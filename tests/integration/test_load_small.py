"""A small ``luma bench load`` on the test stack: concurrent conversations with faults, each message
answered exactly once.

16 conversations (WebSocket users and WhatsApp senders, identity flows, agent turns through the fake
model) run with the bench's own code; during the run the runtime raises in the turn's functions
before or after their handlers, the fake model answers 429/500/cut streams when it can, clients
leave mid-answer and catch up, Twilio redelivers and reorders. A fast path failed after it answered
is retried and answers nothing more (the last test).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from luma.config import Settings
from luma.domain.models import Message
from luma.store.repos import DynamoConversationRepository

from bench.load import AGENT_QUESTIONS, Config, FaultPlan, InProcessInjector, make_users, run, seed_users
from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from tests.integration.test_ordering import _post, inbox  # noqa: F401  (the inbound queue fixture)

_runs = iter(range(800, 900))


def _config(stack: Any, sessions: int, faults: FaultPlan | None) -> Config:
    return Config(
        base=stack.url,
        sessions=sessions,
        turns=4,
        ws_share=0.5,
        ramp_s=2.0,
        turn_timeout_s=60.0,
        settle_s=15.0,
        faults=faults,
        seed=7,
        dynamodb_endpoint=stack.dynamodb_endpoint,
        twilio_account=DEV_ACCOUNT_SID,
        twilio_token=DEV_AUTH_TOKEN,
        our_number=f"whatsapp:{stack.twilio_numbers['clinic']}",
    )


def test_sixteen_conversations_with_faults_get_one_reply_each(local_stack: Any, inbox: Any) -> None:  # noqa: F811
    users = make_users(next(_runs), 16, "demo")
    seed_users(users, local_stack.dynamodb_endpoint)
    plan = FaultPlan(
        handler_rate=0.1,
        provider_rate=0.15,
        disconnect_rate=0.25,
        redelivery_rate=0.25,
        out_of_order_rate=0.25,
        handlers={
            "classify": ("before", "after"),
            "fast_path": ("before", "after"),
            "agent_turn": ("before", "after"),
            "agent_tool": ("before",),
            "http_api": ("before", "after"),
        },
    )
    figures = asyncio.run(
        run(
            _config(local_stack, 16, plan),
            users,
            fake_twilio=local_stack.fake_twilio.url,
            injector_factory=lambda _http: InProcessInjector(local_stack.runtime, local_stack.fake_llm),
        )
    )
    assert figures["turns"] >= 64
    detail = {k: figures[k] for k in ("lost_detail", "duplicated_ids", "extra_deliveries", "injected")}
    assert (figures["lost"], figures["duplicated"]) == (0, 0), detail
    injected = figures["injected"]["handlers"]
    assert sum(sum(phases.values()) for phases in injected.values()) > 0, injected
    client = figures["client"]
    assert client["disconnects"] > 0 and client["twilio_redeliveries"] > 0, client


def test_a_fast_path_that_fails_after_answering_answers_once(local_stack: Any, inbox: Any) -> None:  # noqa: F811
    user, sid = _post_failing_after(local_stack, inbox, "fast_path", "what are your opening hours?")
    assert len(_stored_replies(user, sid)) == 1
    assert len(local_stack.fake_twilio.messages_to(f"whatsapp:{user.phone}")) == 1


def test_an_agent_step_that_fails_after_answering_sends_no_apology(local_stack: Any, inbox: Any) -> None:  # noqa: F811
    user, sid = _post_failing_after(local_stack, inbox, "agent_turn", f"{AGENT_QUESTIONS[0]}?")
    (reply,) = _stored_replies(user, sid)
    assert reply.route == "agent" and reply.meta["status"] == "answered", reply
    delivered = local_stack.fake_twilio.messages_to(f"whatsapp:{user.phone}")
    assert [m.body for m in delivered] == [reply.text]


def _post_failing_after(stack: Any, queue: Any, function: str, text: str) -> tuple[Any, str]:
    """A new WhatsApp user sends ``text`` while ``function`` fails after every handler run; returns the
    user and the MessageSid once the answer is out and every retry Lambda would make has run."""
    (user,) = make_users(next(_runs), 1, "demo")
    seed_users([user], stack.dynamodb_endpoint)
    runtime = stack.runtime
    runtime.faults.configure({function: {"after": 1.0}})
    try:
        sid = _post(stack, user, f"{text} ({uuid.uuid4().hex[:6]})")
        assert queue.wait_idle(30)
        deadline = time.monotonic() + 30
        while not stack.fake_twilio.messages_to(f"whatsapp:{user.phone}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runtime.wait_idle(30)  # the answer, the retries and (agent) HandleFailure and Finalize
        time.sleep(0.5)
        assert runtime.faults.snapshot()["injected"].get(function, {}).get("after", 0) >= 1
    finally:
        runtime.faults.clear()
    return user, sid


def _stored_replies(user: Any, sid: str) -> list[Message]:
    """The replies stored for the WhatsApp message ``sid`` of ``user``."""
    repo = DynamoConversationRepository(Settings())
    pointer = repo.get_channel_session("demo", user.phone, "whatsapp")
    assert pointer is not None
    items = repo.list_messages("demo", pointer.session_id, limit=50).items
    (question,) = [m for m in items if m.client_message_id == sid]
    return [m for m in items if m.reply_to == question.message_id]
