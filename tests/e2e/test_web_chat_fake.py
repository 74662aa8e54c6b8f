"""The web chat against the fake gateway of conftest.py: deterministic protocol edge cases.

The fake drops connections on cue, so reconnect, catch-up, dedupe and resend-with-the-same-id are
checked without timing luck; streaming, heartbeats, status and error frames are scripted too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _expect() -> Any:
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def sign_in(page: Any, url: str, name: str = "Alice Martin") -> None:
    page.goto(f"{url}/")
    page.get_by_test_id("demo-user").filter(has_text=name).click()
    _expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")


def send(page: Any, text: str) -> None:
    composer = page.get_by_test_id("composer")
    composer.fill(text)
    composer.press("Enter")


def wait_until(page: Any, predicate: Any, timeout_ms: int = 5000) -> None:
    """Poll a server-side condition while letting the page run."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return
        page.wait_for_timeout(50)
    raise AssertionError("condition not met in time")


def session_storage(page: Any, key: str) -> Any:
    raw = page.evaluate("(k) => sessionStorage.getItem(k)", key)
    return None if raw is None else json.loads(raw)


def test_sign_in_send_and_session(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    page.goto(f"{fake_stack.url}/")
    users = page.get_by_test_id("demo-user")
    expect(users).to_have_count(4)
    expect(users.first).to_contain_text("Verify with: Alice Martin, born 1987-03-14")
    users.first.click()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("debug-panel")).to_be_visible()  # open by default on a wide screen
    assert session_storage(page, "luma.token")

    send(page, "what are your opening hours?")
    expect(page.get_by_test_id("message-assistant")).to_contain_text("Monday: 08:00–19:00")
    expect(page.get_by_test_id("message-user")).to_have_attribute("data-status", "answered")
    expect(page.get_by_test_id("system-line").filter(has_text="New conversation started")).to_have_count(1)
    row = page.get_by_test_id("debug-row")
    expect(row.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    expect(row.get_by_test_id("debug-confidence")).to_have_text("0.93")
    expect(row.get_by_test_id("debug-route")).to_have_text("fast_path")

    first = fake_stack.received[0]
    assert first["action"] == "sendMessage" and first["text"] == "what are your opening hours?"
    assert UUID_RE.match(first["clientMessageId"]) and "sessionId" not in first
    session_id = session_storage(page, "luma.sessionId")
    assert session_id in fake_stack.sessions

    send(page, "show me my appointments")
    expect(page.get_by_test_id("message-assistant")).to_have_count(2)
    second = fake_stack.received[1]
    assert second["sessionId"] == session_id and second["clientMessageId"] != first["clientMessageId"]
    expect(page.get_by_test_id("debug-row")).to_have_count(2)

    # "New conversation" clears the view and the next message starts a new session.
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("message-assistant")).to_have_count(0)
    expect(page.get_by_test_id("debug-row")).to_have_count(0)
    assert session_storage(page, "luma.sessionId") is None
    send(page, "what are your opening hours?")
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert "sessionId" not in fake_stack.received[-1]
    assert session_storage(page, "luma.sessionId") not in (None, session_id)


def test_composer_keys_counter_safe_text_and_disconnect(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, fake_stack.url)
    composer = page.get_by_test_id("composer")

    # Shift+Enter is a newline, Enter sends; line breaks survive in the bubbles.
    composer.type("line one")
    composer.press("Shift+Enter")
    composer.type("line two")
    composer.press("Enter")
    reply = page.get_by_test_id("message-assistant").last
    expect(reply).to_contain_text("line two")
    assert fake_stack.received[-1]["text"] == "line one\nline two"
    assert "line one\nline two" in reply.inner_text()

    # Server text is text, never markup.
    send(page, '<img src=x onerror="window.__pwned = 1"><b>bold</b>')
    expect(page.get_by_test_id("message-assistant")).to_have_count(2)
    expect(page.get_by_test_id("message-assistant").last).to_contain_text("<b>bold</b>")
    assert page.locator("#messages img, #messages b").count() == 0
    assert page.evaluate("window.__pwned") is None

    # The 2,000-character limit.
    composer.fill("a" * 2001)
    expect(page.get_by_test_id("char-counter")).to_contain_text("2,001 / 2,000")
    expect(page.get_by_test_id("send")).to_be_disabled()
    sent = len(fake_stack.received)
    composer.press("Enter")
    assert len(fake_stack.received) == sent
    composer.fill("a" * 2000)
    expect(page.get_by_test_id("send")).to_be_enabled()
    composer.fill("draft kept while offline")

    # Disconnected: the composer is disabled and the state is shown; "Retry now" reconnects.
    fake_stack.refuse_connections = True
    fake_stack.kick_all()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", re.compile("reconnecting|offline"))
    expect(page.get_by_test_id("conn-banner")).to_be_visible()
    expect(composer).to_be_disabled()
    expect(page.get_by_test_id("send")).to_be_disabled()
    fake_stack.refuse_connections = False
    page.get_by_test_id("reconnect-now").click()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect(composer).to_be_enabled()
    expect(composer).to_have_value("draft kept while offline")
    expect(page.get_by_test_id("conn-banner")).to_be_hidden()


def test_reconnect_catches_up_and_dedupes(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")
    send(page, "what are your opening hours?")
    expect(assistant).to_have_count(1)
    first_id = assistant.first.get_attribute("data-message-id")

    # The reply is stored but the connection drops before delivery; after reconnecting, the page
    # catches up (the fake also ignores `after` and pushes the reply live again: both deduped).
    fake_stack.sloppy_catch_up = True
    connects = fake_stack.connects
    send(page, "please drop this one")
    expect(assistant).to_have_count(2)
    expect(assistant.last).to_contain_text("You said: please drop this one")
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert fake_stack.connects == connects + 1
    page.wait_for_timeout(600)  # the late live copy arrives 0.2 s after the reconnect
    expect(assistant).to_have_count(2)
    ids = [el.get_attribute("data-message-id") for el in assistant.all()]
    assert len(set(ids)) == 2 and ids[0] == first_id
    expect(page.get_by_test_id("message-user")).to_have_count(2)
    expect(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")
    assert any(call["after"] == first_id for call in fake_stack.catch_up_calls)
    assert len(fake_stack.frames("drop")) == 1  # answered by the catch-up: not sent again
    last_row = page.get_by_test_id("debug-row").last
    expect(last_row.get_by_test_id("debug-route")).to_have_text("agent")
    expect(last_row.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))


def test_unconfirmed_message_is_resent_with_the_same_id(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "what are your opening hours?")
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)

    # The frame is lost and the connection dies: after reconnecting the page sends it again.
    send(page, "into the blackhole")
    expect(page.get_by_test_id("message-assistant")).to_have_count(2)
    expect(page.get_by_test_id("message-assistant").last).to_contain_text("You said: into the blackhole")
    frames = fake_stack.frames("blackhole")
    assert len(frames) == 2
    assert frames[0]["clientMessageId"] == frames[1]["clientMessageId"]
    assert frames[0]["sessionId"] == frames[1]["sessionId"]
    expect(page.get_by_test_id("message-user")).to_have_count(2)
    expect(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")


def test_reload_restores_history_across_pages(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    fake_stack.page_size_cap = 2  # the history needs several catch-up pages
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")
    for n, text in enumerate(["what are your opening hours?", "show me my appointments", "Alice Martin, 14/03/1987"]):
        send(page, text)
        expect(assistant).to_have_count(n + 1)
    expect(assistant.last).to_contain_text("Dr. Anika Patel")
    session_id = session_storage(page, "luma.sessionId")

    page.reload()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect(assistant).to_have_count(3)
    expect(page.get_by_test_id("message-user")).to_have_count(3)
    expect(assistant.last).to_contain_text("Dr. Anika Patel")
    expect(page.get_by_test_id("debug-row")).to_have_count(3)
    expect(page.get_by_test_id("debug-row").first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    history_calls = [c for c in fake_stack.catch_up_calls if c["after"] is None]
    assert history_calls and len(fake_stack.catch_up_calls) >= 4  # 6 messages, 2 per page

    send(page, "what are your opening hours?")
    expect(assistant).to_have_count(4)
    assert fake_stack.received[-1]["sessionId"] == session_id


def test_unknown_session_starts_a_new_one(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, fake_stack.url)
    page.evaluate("sessionStorage.setItem('luma.sessionId', JSON.stringify('01JGONE0000000000000000000'))")
    page.reload()
    expect(page.get_by_test_id("system-line").filter(has_text="no longer available")).to_be_visible()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    send(page, "what are your opening hours?")
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert "sessionId" not in fake_stack.received[-1]


def test_streaming_heartbeat_status_and_error_frames(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")

    # token frames grow a streaming bubble that the final message replaces.
    send(page, "stream an answer please")
    streaming = page.get_by_test_id("message-streaming")
    expect(streaming).to_contain_text("Streaming an answer")
    expect(streaming).to_have_count(0)
    expect(assistant).to_have_count(1)
    expect(assistant).to_have_text(re.compile(r"Streaming an answer\s+in parts\."))

    # heartbeats show "still working".
    send(page, "a slow question")
    expect(page.get_by_test_id("activity")).to_have_attribute("data-kind", "heartbeat")
    expect(page.get_by_test_id("activity")).to_contain_text("Still working")
    expect(assistant).to_have_count(2)
    expect(page.get_by_test_id("activity")).to_be_hidden()

    # agent_unavailable: its message and hint, and the turn is over.
    send(page, "an agent question")
    line = page.get_by_test_id("system-line").filter(has_text="only answer common questions")
    expect(line).to_be_visible()
    expect(line.get_by_test_id("system-hint")).to_have_text("Set LUMA_LLM_PROVIDER to enable the agent.")
    expect(page.get_by_test_id("debug-row").last.get_by_test_id("debug-route")).to_have_text("agent")
    expect(page.get_by_test_id("activity")).to_be_hidden()
    # That answer is stored as a message: a reconnect's catch-up must not show it again.
    fake_stack.sloppy_catch_up = True
    calls = len(fake_stack.catch_up_calls)
    fake_stack.kick_all()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    wait_until(page, lambda: len(fake_stack.catch_up_calls) > calls)
    page.wait_for_timeout(200)
    expect(assistant).to_have_count(2)
    expect(page.get_by_test_id("system-line").filter(has_text="only answer common questions")).to_have_count(1)
    fake_stack.sloppy_catch_up = False

    # error: a red line with the code; the bubble can be retried with the same clientMessageId.
    send(page, "boom")
    error = page.get_by_test_id("system-error")
    expect(error).to_contain_text("Something went wrong on our side.")
    expect(error).to_have_attribute("data-code", "INTERNAL")
    bubble = page.get_by_test_id("message-user").last
    expect(bubble).to_have_attribute("data-status", "failed")
    bubble.get_by_test_id("retry").click()
    expect(bubble).to_have_attribute("data-status", "answered")
    frames = fake_stack.frames("boom")
    assert len(frames) == 2 and frames[0]["clientMessageId"] == frames[1]["clientMessageId"]


def test_token_sign_in_when_no_demo_users(fake_stack: Any, new_page: Any) -> None:
    expect = _expect()
    fake_stack.demo_users_enabled = False
    page = new_page()
    page.goto(f"{fake_stack.url}/")
    expect(page.get_by_test_id("token-box")).to_have_attribute("open", "")
    expect(page.get_by_test_id("demo-user")).to_have_count(0)
    token_input = page.get_by_test_id("token-input")

    token_input.fill("not a token")
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("does not look like a JWT")

    # A well-formed token the server refuses: handshake 401, the page says so.
    token_input.fill(fake_stack.token("u-bruno", secret="some-other-secret-of-32-bytes-long"))
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("refused")
    expect(page.get_by_test_id("token-input")).to_be_visible()

    token_input.fill(fake_stack.token("u-bruno", name="Bruno Silva"))
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("who")).to_have_text("Bruno Silva")

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("token-input")).to_be_visible()
    assert session_storage(page, "luma.token") is None


def test_phone_layout(fake_stack: Any, new_page: Any, screenshot_dir: Path) -> None:
    expect = _expect()
    page = new_page(390, 844)
    sign_in(page, fake_stack.url)
    expect(page.get_by_test_id("debug-panel")).to_be_hidden()  # closed by default on a phone
    send(page, "what are your opening hours?")
    expect(page.get_by_test_id("message-assistant")).to_contain_text("Monday")
    send(page, "show me my appointments")
    expect(page.get_by_test_id("message-assistant")).to_have_count(2)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.screenshot(path=str(screenshot_dir / "web_chat_phone.png"))

    page.get_by_test_id("debug-toggle").click()
    expect(page.get_by_test_id("debug-panel")).to_be_visible()
    expect(page.get_by_test_id("debug-row")).to_have_count(2)
    page.screenshot(path=str(screenshot_dir / "web_chat_phone_debug.png"))
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("debug-panel")).to_be_hidden()


def test_protocol_helpers(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{fake_stack.url}/")
    result = page.evaluate(
        """async () => {
          const p = await import('/protocol.js');
          const delays = [0, 1, 2, 3, 4, 5, 9].map((n) => [p.backoffDelay(n, () => 0), p.backoffDelay(n, () => 1)]);
          return {
            delays,
            gateway: p.parseFrame('{"message": "Internal server error", "connectionId": "c", "requestId": "r"}'),
            junk: p.parseFrame('[1, 2]'),
            send: p.buildSendMessage({text: 'hi', clientMessageId: 'c1', sessionId: null}),
            chars: p.countChars('a😀b'),
            ws: p.wsUrl(new URL('https://chat.example/?ws=wss://api.example/prod'), 'T'),
            wsDefault: p.wsUrl(new URL('http://127.0.0.1:8787/'), 'T'),
          };
        }"""
    )
    lows, highs = zip(*result["delays"], strict=True)
    assert lows[0] >= 500 and highs[0] <= 600
    assert all(500 <= d <= 8000 for d in lows + highs)
    assert highs[-1] == 8000 and lows[-1] >= 6400
    assert list(lows) == sorted(lows)
    assert result["gateway"]["type"] == "error" and result["gateway"]["code"] == "GATEWAY_ERROR"
    assert result["junk"] is None
    assert result["send"] == {"action": "sendMessage", "text": "hi", "clientMessageId": "c1"}
    assert result["chars"] == 3
    assert result["ws"] == "wss://api.example/prod?token=T"
    assert result["wsDefault"] == "ws://127.0.0.1:8787/ws?token=T"
