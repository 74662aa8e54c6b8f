"""One turn end to end on the real local stack: WebSocket client → gateway → handlers → moto → client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from luma.auth import issue_dev_token
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

TENANT = "demo"


def token(user: str, **kw: Any) -> str:
    return issue_dev_token(user, TENANT, **kw)


@contextmanager
def client(stack: Any, user: str = "u-alice") -> Iterator[ClientConnection]:
    with connect(f"{stack.ws_url}?token={token(user)}", open_timeout=10, max_size=2**20) as ws:
        yield ws


def send(ws: ClientConnection, text: str, cid: str, session_id: str | None = None) -> None:
    frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        frame["sessionId"] = session_id
    ws.send(json.dumps(frame))


def until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching frame in time")
        frame = json.loads(ws.recv(timeout=left))
        if pred(frame):
            return frame


def reply_to(cid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f.get("replyTo") == cid
        or (
            f.get("clientMessageId") == cid
            and f["type"] in ("error", "status")
            and f.get("status") != "session_started"
        )
    )


def http_get(stack: Any, path: str, user: str | None = "u-alice") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{stack.url}{path}")
    if user:
        req.add_header("Authorization", f"Bearer {token(user)}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_connect_without_or_with_bad_token_is_401(local_stack: Any) -> None:
    for url in (
        local_stack.ws_url,
        f"{local_stack.ws_url}?token=nope",
        f"{local_stack.ws_url}?token={token('u-alice', ttl_s=-10)}",
    ):
        with pytest.raises(InvalidStatus) as caught:
            connect(url, open_timeout=10)
        assert caught.value.response.status_code == 401


def test_patient_verifies_and_lists_appointments_through_the_fast_path(local_stack: Any) -> None:
    with client(local_stack) as ws:
        send(ws, "what are your opening hours?", "t1")
        started = until(ws, lambda f: f.get("status") == "session_started")
        sid = started["sessionId"]
        hours = until(ws, reply_to("t1"))
        assert hours["type"] == "message" and hours["route"] == "fast_path" and hours["intent"] == "clinic_hours"
        assert "Monday: 08:00–19:00" in hours["text"] and hours["sessionId"] == sid
        send(ws, "show me my appointments", "t2", sid)
        ask = until(ws, reply_to("t2"))
        assert "date of birth" in ask["text"] and "Dr." not in ask["text"]
        send(ws, "Alice Martin, 14/03/1987", "t3", sid)
        listed = until(ws, reply_to("t3"))
        assert listed["route"] == "flow" and "Dr. Anika Patel" in listed["text"]


def test_dev_stats_shows_where_a_fast_path_turn_spent_its_time(local_stack: Any) -> None:
    local_stack.runtime.stage_stats(clear=True)
    with client(local_stack) as ws:
        send(ws, "what are your opening hours?", "st1")
        assert until(ws, reply_to("st1"))["route"] == "fast_path"
    deadline = time.monotonic() + 5
    while True:  # the fast path's last stages (delivery mark, metrics) end after the frame went out
        with urllib.request.urlopen(f"{local_stack.url}/dev/stats", timeout=10) as resp:
            stages = json.loads(resp.read())["stages"]
        if "fast_path" in stages or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    classify, fast_path = stages["classify"], stages["fast_path"]
    assert list(classify["p50Ms"]) == ["parse", "classify", "session", "guard", "record", "dispatch", "total"]
    assert list(fast_path["p50Ms"]) == ["handler", "save", "send", "mark_delivered", "metrics", "total"]
    assert classify["turns"] == 1 and classify["p50Ms"]["total"] >= classify["p50Ms"]["record"] > 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{oops", "MALFORMED_JSON"),
        (json.dumps({"action": "launchRocket"}), "UNKNOWN_ACTION"),
        (json.dumps({"action": "sendMessage", "clientMessageId": "x1"}), "VALIDATION_FAILED"),
        (json.dumps({"action": "sendMessage", "text": "a" * 2001, "clientMessageId": "x2"}), "TEXT_TOO_LONG"),
        (
            json.dumps(
                {
                    "action": "sendMessage",
                    "text": "hi",
                    "clientMessageId": "x3",
                    "sessionId": "01JNOSUCHSESSION0000000000",
                }
            ),
            "SESSION_NOT_FOUND",
        ),
    ],
)
def test_bad_frames_get_error_frames_and_the_connection_stays_open(local_stack: Any, raw: str, code: str) -> None:
    with client(local_stack) as ws:
        ws.send(raw)
        err = until(ws, lambda f: f["type"] == "error")
        assert err["code"] == code and err["message"]
        send(ws, "hello", f"after-{code}")
        assert until(ws, reply_to(f"after-{code}"))["type"] == "message"


def test_oversized_frame_closes_with_1009(local_stack: Any) -> None:
    with client(local_stack) as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "x" * 33_000, "clientMessageId": "big"}))
        with pytest.raises(ConnectionClosed) as caught:
            ws.recv(timeout=10)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009


def test_another_users_session_is_not_found(local_stack: Any) -> None:
    with client(local_stack, "u-alice") as alice:
        send(alice, "hello", "a1")
        sid = until(alice, lambda f: f.get("status") == "session_started")["sessionId"]
    with client(local_stack, "u-bruno") as bruno:
        send(bruno, "show me the appointments", "b1", sid)
        err = until(bruno, lambda f: f["type"] == "error")
        assert err["code"] == "SESSION_NOT_FOUND"
    assert http_get(local_stack, f"/api/sessions/{sid}/messages", user="u-bruno")[0] == 404
    assert http_get(local_stack, f"/api/sessions/{sid}/messages", user=None)[0] == 401


def test_duplicate_client_message_id_is_answered_once(local_stack: Any) -> None:
    with client(local_stack) as ws:
        send(ws, "hello there", "dup-1")
        sid = until(ws, lambda f: f.get("status") == "session_started")["sessionId"]
        until(ws, reply_to("dup-1"))
        send(ws, "hello there", "dup-1", sid)
        dup = until(ws, lambda f: f.get("status") == "duplicate")
        assert dup["clientMessageId"] == "dup-1" and dup["sessionId"] == sid
    status, page = http_get(local_stack, f"/api/sessions/{sid}/messages")
    assert status == 200
    assert [m["role"] for m in page["items"]] == ["user", "assistant"]
    assert [m["assistant"] for m in page["items"]] == [None, "clinic"]


@pytest.fixture
def no_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stack as a deployment with no provider key (the handlers run in this process)."""
    from luma import wiring
    from luma.config import reset_settings

    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    wiring.reset()
    yield
    monkeypatch.undo()
    reset_settings()
    wiring.reset()


@pytest.mark.usefixtures("no_llm")
def test_out_of_scope_gets_agent_unavailable_with_the_setting_to_enable_it(local_stack: Any) -> None:
    with client(local_stack) as ws:
        send(ws, "what is the capital of France?", "oos-1")
        status = until(ws, lambda f: f.get("status") == "agent_unavailable")
        assert status["code"] == "AGENT_UNAVAILABLE" and "ANTHROPIC_API_KEY" in status["hint"]
        assert status["route"] == "agent"


def test_reply_to_a_vanished_client_is_kept_for_catch_up(local_stack: Any) -> None:
    with client(local_stack) as ws:
        send(ws, "hi", "gone-0")
        sid = until(ws, lambda f: f.get("status") == "session_started")["sessionId"]
        last = until(ws, reply_to("gone-0"))["messageId"]
        send(ws, "where is the clinic?", "gone-1", sid)
    # the socket is closed before the reply could be delivered; the client catches up over HTTP
    deadline = time.monotonic() + 10
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        status, page = http_get(local_stack, f"/api/sessions/{sid}/messages?after={last}")
        assert status == 200
        items = page["items"]
        if any(m["role"] == "assistant" for m in items):
            break
        time.sleep(0.1)
    assert [m["role"] for m in items] == ["user", "assistant"]
    assert "Quai des Tanneurs" in items[1]["text"]
