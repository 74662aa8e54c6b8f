"""A reload must not lose a run: the catch-up lists the run's text so far and its pending approval
card, the new connection can still answer it, and the rest of the run arrives there."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.integration.test_agent_run import verified
from tests.integration.test_turn_ws import client, http_get, send, until

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def fake_llm(local_stack: Any) -> Any:
    fake = local_stack.fake_llm
    fake.clear()
    yield fake
    fake.clear()


def _items(local_stack: Any, session_id: str, user: str = "u-alice") -> list[dict[str, Any]]:
    status, page = http_get(local_stack, f"/api/sessions/{session_id}/messages?limit=100", user=user)
    assert status == 200
    return list(page["items"])


def _wait_for(pred: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pred()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("not in time")


def test_a_page_reloaded_during_a_run_gets_its_text_and_its_approval_card(local_stack: Any) -> None:
    with client(local_stack) as first:
        sid = verified(first)
        cid = uuid.uuid4().hex[:12]
        send(first, "can I move my Tuesday appointment to the afternoon?", cid, sid)
        request = until(first, lambda f: f["type"] == "approval_request", timeout=30)
    # The page is gone (reloaded): the run waits for an answer nobody can see yet.
    items = _items(local_stack, sid)
    card = next(i for i in items if i["kind"] == "approval_request")
    assert card["approvalId"] == request["approvalId"] and card["approvalStatus"] == "pending"
    assert card["prompt"] == request["prompt"] and card["runId"] == request["runId"]
    run = next(i for i in items if i["kind"] == "run")
    assert run["runId"] == request["runId"] and run["status"] == "running"
    assert run["text"].startswith("Let me look up your appointments.") and run["seq"] >= 1
    with client(local_stack) as second:  # the new page answers the card from the catch-up
        second.send(json.dumps({"action": "approve", "approvalId": card["approvalId"], "approved": True}))
        until(second, lambda f: f.get("status") == "approval_recorded")
        final = until(second, lambda f: f["type"] == "message" and f.get("runId") == request["runId"], timeout=30)
    assert "Done! Your appointment is now on" in final["text"]
    items = _items(local_stack, sid)
    card = next(i for i in items if i["kind"] == "approval_request")
    assert card["approvalStatus"] == "approved"
    reply = next(i for i in items if i.get("runId") == request["runId"] and i["kind"] == "message")
    assert reply["text"] == final["text"] and not any(i["kind"] == "run" for i in items)


def test_another_user_cannot_see_or_answer_the_card(local_stack: Any) -> None:
    with client(local_stack) as ws:
        sid = verified(ws)
        send(ws, "please reschedule my appointment to the morning", uuid.uuid4().hex[:12], sid)
        request = until(ws, lambda f: f["type"] == "approval_request", timeout=30)
        status, _ = http_get(local_stack, f"/api/sessions/{sid}/messages", user="u-bruno")
        assert status == 404
        with client(local_stack, user="u-bruno") as bruno:
            bruno.send(json.dumps({"action": "approve", "approvalId": request["approvalId"], "approved": True}))
            assert until(bruno, lambda f: f["type"] == "error")["code"] == "BAD_REQUEST"
        ws.send(json.dumps({"action": "approve", "approvalId": request["approvalId"], "approved": False}))
        until(ws, lambda f: f["type"] == "message" and f.get("runId") == request["runId"], timeout=30)
