"""The web chat against the fake gateway of conftest.py: deterministic protocol edge cases.

The fake drops connections on cue, so reconnect, catch-up, dedupe and resend-with-the-same-id are
checked without timing luck; streaming, heartbeats, status and error frames, approval runs (also
across a reload), choices and client events are scripted too. The same flows run against the real
local stack in test_web_chat.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.helpers import (
    capture_events,
    check_24_hour_times,
    csp_violations,
    expect,
    order_of,
    record_csp,
    send,
    send_by_tap,
    sign_in,
)

pytestmark = pytest.mark.e2e

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


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
    page = new_page(timezone_id="UTC")
    page.goto(f"{fake_stack.url}/")
    users = page.get_by_test_id("demo-user")
    expect()(users).to_have_count(5)
    alice = users.filter(has_text="Alice Martin")
    # The hint is the server's text, day first like the assistant asks for it.
    expect()(alice.get_by_test_id("demo-user-hint")).to_have_text("Alice Martin, 14/03/1987")
    expect()(alice.get_by_test_id("demo-user-assistant")).to_have_text("Clinic assistant")
    expect()(users.filter(has_text="Sam Okafor").get_by_test_id("demo-user-hint")).to_have_count(0)
    alice.click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect()(page.get_by_test_id("debug-panel")).to_be_hidden()  # closed until opened, even on a wide screen
    expect()(page.get_by_test_id("brand-sub")).to_have_text("Clinic assistant")
    assert page.title() == "Clinic assistant · Luma"
    assert fake_stack.ws_queries[-1]["assistant"] == "clinic"
    assert session_storage(page, "luma.token")

    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_contain_text("Monday: 08:00–19:00")
    expect()(page.get_by_test_id("message-user")).to_have_attribute("data-status", "answered")
    divider = page.get_by_test_id("system-line").filter(has_text="New conversation started")
    expect()(divider).to_have_count(1)
    # The divider opens the conversation: above the first message, not below it.
    assert order_of(page, divider, page.get_by_test_id("message-user").first) == [0, 1]
    check_24_hour_times(page)

    page.get_by_test_id("debug-toggle").click()
    row = page.get_by_test_id("debug-row")
    expect()(row.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    expect()(row.get_by_test_id("debug-confidence")).to_have_text("0.93")
    expect()(row.get_by_test_id("debug-route")).to_have_text("fast_path")
    expect()(page.get_by_test_id("debug-assistant")).to_have_text("clinic")

    first = fake_stack.received[0]
    assert first["action"] == "sendMessage" and first["text"] == "what are your opening hours?"
    assert UUID_RE.match(first["clientMessageId"]) and "sessionId" not in first and "choice" not in first
    session_id = session_storage(page, "luma.sessionId")
    assert session_id in fake_stack.sessions

    send(page, "show me my appointments")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2)
    second = fake_stack.received[1]
    assert second["sessionId"] == session_id and second["clientMessageId"] != first["clientMessageId"]
    expect()(page.get_by_test_id("debug-row")).to_have_count(2)

    # The open debug panel is remembered.
    page.reload()
    expect()(page.get_by_test_id("debug-panel")).to_be_visible()

    # "New conversation" clears the view and the next message starts a new session.
    page.get_by_test_id("new-conversation").click()
    expect()(page.get_by_test_id("message-assistant")).to_have_count(0)
    expect()(page.get_by_test_id("debug-row")).to_have_count(0)
    assert session_storage(page, "luma.sessionId") is None
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert "sessionId" not in fake_stack.received[-1]
    assert session_storage(page, "luma.sessionId") not in (None, session_id)


def test_another_assistant_and_page_parameter(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url, "Sam Okafor")
    assert fake_stack.ws_queries[-1]["assistant"] == "sitework"
    expect()(page.get_by_test_id("brand-sub")).to_have_text("Site assistant")
    expect()(page.get_by_test_id("verify-hint")).to_have_count(0)
    send(page, "hello")
    expect()(page.get_by_test_id("message-assistant")).to_have_attribute("data-assistant", "sitework")

    # With a token, the assistant comes from the page's ?assistant= parameter.
    other = new_page()
    other.goto(f"{fake_stack.url}/?assistant=sitework")
    other.get_by_test_id("token-box").locator("summary").click()
    other.get_by_test_id("token-input").fill(fake_stack.token("u-bruno", name="Bruno Silva"))
    other.get_by_test_id("token-submit").click()
    expect()(other.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert fake_stack.ws_queries[-1]["assistant"] == "sitework"


def test_composer_keys_counter_safe_text_and_disconnect(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    composer = page.get_by_test_id("composer")

    # Shift+Enter is a newline, Enter sends; line breaks survive in the bubbles.
    composer.type("line one")
    composer.press("Shift+Enter")
    composer.type("line two")
    composer.press("Enter")
    reply = page.get_by_test_id("message-assistant").last
    expect()(reply).to_contain_text("line two")
    assert fake_stack.received[-1]["text"] == "line one\nline two"
    assert "line one\nline two" in reply.inner_text()

    # Server text is text, never markup.
    send(page, '<img src=x onerror="window.__pwned = 1"><b>bold</b>')
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2)
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text("<b>bold</b>")
    assert page.locator("#messages img, #messages b").count() == 0
    assert page.evaluate("window.__pwned") is None

    # The 2,000-character limit.
    composer.fill("a" * 2001)
    expect()(page.get_by_test_id("char-counter")).to_contain_text("2,001 / 2,000")
    expect()(page.get_by_test_id("send")).to_be_disabled()
    sent = len(fake_stack.received)
    composer.press("Enter")
    assert len(fake_stack.received) == sent
    composer.fill("a" * 2000)
    expect()(page.get_by_test_id("send")).to_be_enabled()
    composer.fill("draft kept while offline")

    # Disconnected: the composer is disabled and the state is shown; "Retry now" reconnects.
    fake_stack.refuse_connections = True
    fake_stack.kick_all()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", re.compile("reconnecting|offline"))
    expect()(page.get_by_test_id("conn-banner")).to_be_visible()
    expect()(composer).to_be_disabled()
    expect()(page.get_by_test_id("send")).to_be_disabled()
    fake_stack.refuse_connections = False
    page.get_by_test_id("reconnect-now").click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect()(composer).to_be_enabled()
    expect()(composer).to_have_value("draft kept while offline")
    expect()(page.get_by_test_id("conn-banner")).to_be_hidden()


def test_offline_shows_offline_and_no_typing(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    conn_state = page.get_by_test_id("conn-state")
    activity = page.get_by_test_id("activity")
    send(page, "hold on, a question that stays unanswered")
    expect()(activity).to_have_attribute("data-kind", "typing")

    page.context.set_offline(True)
    expect()(conn_state).to_have_attribute("data-state", "offline")
    expect()(conn_state).to_have_text("Offline")
    expect()(activity).to_be_hidden()
    expect()(page.get_by_test_id("conn-banner")).to_contain_text("offline")
    expect()(page.get_by_test_id("message-user").last).to_have_attribute("data-status", re.compile("sent|queued"))

    page.context.set_offline(False)
    expect()(conn_state).to_have_attribute("data-state", "connected")
    expect()(conn_state).to_have_text("Connected")
    expect()(page.get_by_test_id("conn-banner")).to_be_hidden()


def test_reconnect_catches_up_and_dedupes(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")
    send(page, "what are your opening hours?")
    expect()(assistant).to_have_count(1)
    first_id = assistant.first.get_attribute("data-message-id")

    # The reply is stored but the connection drops before delivery; after reconnecting, the page
    # catches up (the fake also ignores `after` and pushes the reply live again: both deduped).
    fake_stack.sloppy_catch_up = True
    connects = fake_stack.connects
    send(page, "please drop this one")
    expect()(assistant).to_have_count(2)
    expect()(assistant.last).to_contain_text("You said: please drop this one")
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert fake_stack.connects == connects + 1
    page.wait_for_timeout(600)  # the late live copy arrives 0.2 s after the reconnect
    expect()(assistant).to_have_count(2)
    ids = [el.get_attribute("data-message-id") for el in assistant.all()]
    assert len(set(ids)) == 2 and ids[0] == first_id
    expect()(page.get_by_test_id("message-user")).to_have_count(2)
    expect()(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")
    assert any(call["after"] == first_id for call in fake_stack.catch_up_calls)
    assert len(fake_stack.frames("drop")) == 1  # answered by the catch-up: not sent again
    last_row = page.get_by_test_id("debug-row").last
    expect()(last_row.get_by_test_id("debug-route")).to_have_text("agent")
    expect()(last_row.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))


def test_unconfirmed_message_is_resent_with_the_same_id(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)

    # The frame is lost and the connection dies: after reconnecting the page sends it again.
    send(page, "into the blackhole")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2)
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text("You said: into the blackhole")
    frames = fake_stack.frames("blackhole")
    assert len(frames) == 2
    assert frames[0]["clientMessageId"] == frames[1]["clientMessageId"]
    assert frames[0]["sessionId"] == frames[1]["sessionId"]
    expect()(page.get_by_test_id("message-user")).to_have_count(2)
    expect()(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")


def test_reload_restores_history_across_pages(fake_stack: Any, new_page: Any) -> None:
    fake_stack.page_size_cap = 2  # the history needs several catch-up pages
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")
    for n, text in enumerate(["what are your opening hours?", "show me my appointments", "Alice Martin, 14/03/1987"]):
        send(page, text)
        expect()(assistant).to_have_count(n + 1)
    expect()(assistant.last).to_contain_text("Dr. Anika Patel")
    session_id = session_storage(page, "luma.sessionId")

    page.reload()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect()(assistant).to_have_count(3)
    expect()(page.get_by_test_id("message-user")).to_have_count(3)
    expect()(assistant.last).to_contain_text("Dr. Anika Patel")
    expect()(page.get_by_test_id("debug-row")).to_have_count(3)
    expect()(page.get_by_test_id("debug-row").first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    history_calls = [c for c in fake_stack.catch_up_calls if c["after"] is None]
    assert history_calls and len(fake_stack.catch_up_calls) >= 4  # 6 messages, 2 per page

    send(page, "what are your opening hours?")
    expect()(assistant).to_have_count(4)
    assert fake_stack.received[-1]["sessionId"] == session_id


def test_unknown_session_starts_a_new_one(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    page.evaluate("sessionStorage.setItem('luma.sessionId', JSON.stringify('01JGONE0000000000000000000'))")
    page.reload()
    expect()(page.get_by_test_id("system-line").filter(has_text="no longer available")).to_be_visible()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert "sessionId" not in fake_stack.received[-1]


def test_streaming_heartbeat_status_and_error_frames(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    assistant = page.get_by_test_id("message-assistant")

    # token frames grow a streaming bubble that the final message replaces.
    send(page, "stream an answer please")
    streaming = page.get_by_test_id("message-streaming")
    expect()(streaming).to_contain_text("Streaming an answer")
    expect()(streaming).to_have_count(0)
    expect()(assistant).to_have_count(1)
    expect()(assistant).to_have_text(re.compile(r"Streaming an answer\s+in parts\."))

    # heartbeats show "still working".
    send(page, "a slow question")
    expect()(page.get_by_test_id("activity")).to_have_attribute("data-kind", "heartbeat")
    expect()(page.get_by_test_id("activity")).to_contain_text("Still working")
    expect()(assistant).to_have_count(2)
    expect()(page.get_by_test_id("activity")).to_be_hidden()

    # agent_unavailable: its message and hint, and the turn is over.
    send(page, "an agent question")
    line = page.get_by_test_id("system-line").filter(has_text="only answer common questions")
    expect()(line).to_be_visible()
    expect()(line.get_by_test_id("system-hint")).to_have_text("Set LUMA_LLM_PROVIDER to enable the agent.")
    expect()(page.get_by_test_id("debug-row").last.get_by_test_id("debug-route")).to_have_text("agent")
    expect()(page.get_by_test_id("activity")).to_be_hidden()
    # That answer is stored as a message: a reconnect's catch-up must not show it again.
    fake_stack.sloppy_catch_up = True
    calls = len(fake_stack.catch_up_calls)
    fake_stack.kick_all()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    wait_until(page, lambda: len(fake_stack.catch_up_calls) > calls)
    page.wait_for_timeout(200)
    expect()(assistant).to_have_count(2)
    expect()(page.get_by_test_id("system-line").filter(has_text="only answer common questions")).to_have_count(1)
    fake_stack.sloppy_catch_up = False

    # error: a red line with the code; the bubble can be retried with the same clientMessageId.
    send(page, "boom")
    error = page.get_by_test_id("system-error")
    expect()(error).to_contain_text("Something went wrong on our side.")
    expect()(error).to_have_attribute("data-code", "INTERNAL")
    bubble = page.get_by_test_id("message-user").last
    expect()(bubble).to_have_attribute("data-status", "failed")
    bubble.get_by_test_id("retry").click()
    expect()(bubble).to_have_attribute("data-status", "answered")
    frames = fake_stack.frames("boom")
    assert len(frames) == 2 and frames[0]["clientMessageId"] == frames[1]["clientMessageId"]


def test_stream_reset_drops_the_partial_answer(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    seen_first_try = []
    page.expose_function("sawFirstTry", lambda: seen_first_try.append(True))
    page.evaluate(
        """() => new MutationObserver(() => {
          if (document.getElementById('messages').textContent.includes('first try')) window.sawFirstTry();
        }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true})"""
    )
    send(page, "reset please")
    assistant = page.get_by_test_id("message-assistant")
    expect()(assistant.locator(".text")).to_have_text("The second try works.")
    expect()(page.get_by_test_id("messages")).not_to_contain_text("first try")
    expect()(page.get_by_test_id("message-streaming")).to_have_count(0)
    assert seen_first_try, "the first try was streamed before the reset"


def test_approval_card_shows_the_outcome_and_the_answer_follows_it(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "move it to Tuesday please")
    card = page.get_by_test_id("approval-request")
    activity = page.get_by_test_id("activity")
    # While a tool runs, the activity line shows the label the server sent.
    expect()(activity).to_have_text("Looking for free times…")
    expect()(card).to_be_visible()
    expect()(card).to_have_attribute("data-state", "pending")
    expect()(card.get_by_test_id("approval-title")).to_have_text("Your approval is needed")
    expect()(card.get_by_test_id("approval-prompt")).to_have_text("Move your visit to Tuesday at 14:00?")
    before = page.get_by_test_id("message-assistant").filter(has_text="Let me look that up.")
    expect()(before).to_have_count(1)

    card.get_by_test_id("approve").click()
    expect()(card).to_have_attribute("data-state", "approved")
    expect()(card.get_by_test_id("approval-title")).to_have_text("Approved")
    expect()(card.get_by_test_id("approve")).to_be_hidden()
    expect()(card.get_by_test_id("approval-title")).to_be_focused()  # focus stays on the card, not lost
    approve = next(f for f in fake_stack.received if f.get("action") == "approve")
    assert approve == {"action": "approve", "approvalId": card.get_attribute("data-approval-id"), "approved": True}

    after = page.get_by_test_id("message-assistant").filter(has_text="Done, your visit is now on Tuesday")
    expect()(after).to_have_count(1)
    # The confirmation is below the card, and what was said before it is not repeated.
    assert order_of(page, before, card, after) == sorted(order_of(page, before, card, after))
    expect()(after).not_to_contain_text("Let me look that up.")
    expect()(page.get_by_test_id("messages")).to_contain_text("Let me look that up.")
    assert page.get_by_test_id("messages").inner_text().count("Let me look that up.") == 1
    expect()(page.get_by_test_id("message-streaming")).to_have_count(0)
    expect()(page.get_by_test_id("message-user")).to_have_attribute("data-status", "answered")
    expect()(activity).to_be_hidden()


def test_declined_and_timed_out_approvals(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "move it to Tuesday please")
    card = page.get_by_test_id("approval-request")
    card.get_by_test_id("decline").click()
    expect()(card).to_have_attribute("data-state", "declined")
    expect()(card.get_by_test_id("approval-title")).to_have_text("Declined")
    expect()(page.get_by_test_id("message-assistant").last.locator(".text")).to_have_text("Fine, nothing was changed.")

    fake_stack.approval_expires_s = 1
    send(page, "move it again")
    late = page.get_by_test_id("approval-request").last
    expect()(late).to_have_attribute("data-state", "timed_out", timeout=5000)
    expect()(late.get_by_test_id("approval-title")).to_have_text("Timed out")
    expect()(late.get_by_test_id("approval-note")).to_contain_text("Ask again")
    expect()(late).not_to_contain_text("Declined")
    expect()(late.get_by_test_id("approve")).to_be_hidden()


def test_reload_during_a_run_keeps_it(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "move it to Tuesday please")
    expect()(page.get_by_test_id("approval-request")).to_have_attribute("data-state", "pending")

    page.reload()
    card = page.get_by_test_id("approval-request")
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert fake_stack.ws_queries[-1]["sessionId"] == session_storage(page, "luma.sessionId")
    expect()(card).to_have_attribute("data-state", "pending")
    expect()(page.get_by_test_id("messages")).to_contain_text("Let me look that up.")
    card.get_by_test_id("approve").click()
    expect()(card).to_have_attribute("data-state", "approved")
    after = page.get_by_test_id("message-assistant").filter(has_text="Done, your visit")
    expect()(after).to_have_count(1)
    assert order_of(page, card, after)[0] < order_of(page, card, after)[1]
    assert page.get_by_test_id("messages").inner_text().count("Let me look that up.") == 1

    # Settled: after another reload the card shows the outcome and cannot be answered again.
    page.reload()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect()(card).to_have_attribute("data-state", "approved")
    expect()(card.get_by_test_id("approve")).to_be_hidden()
    expect()(page.get_by_test_id("messages")).to_contain_text("Done, your visit")


def test_choices_are_chips_that_send_their_id(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "show the menu")
    menu = page.get_by_test_id("message-assistant").filter(has_text="What would you like to do?")
    chips = menu.get_by_test_id("choice")
    expect()(chips).to_have_text(["My projects", "Report a problem"])
    # Keyboard: the chips are buttons in the tab order.
    chips.first.focus()
    page.keyboard.press("Tab")
    expect()(chips.last).to_be_focused()
    page.keyboard.press("Enter")
    expect()(page.get_by_test_id("message-user").last).to_have_text(re.compile("Report a problem"))
    wait_until(page, lambda: fake_stack.received[-1].get("text") == "Report a problem")
    frame = fake_stack.received[-1]
    assert frame["action"] == "sendMessage" and frame["text"] == "Report a problem" and frame["choice"] == "report"
    assert frame["sessionId"] and UUID_RE.match(frame["clientMessageId"])
    expect()(chips.first).to_be_disabled()
    expect()(chips.last).to_be_disabled()
    expect()(chips.last).to_have_attribute("aria-pressed", "true")
    expect()(page.get_by_test_id("composer")).to_be_focused()  # the keyboard user can type on
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2)


def test_client_events_are_batched_and_sent(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    answers = capture_events(page)
    sign_in(page, fake_stack.url)
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)
    page.wait_for_timeout(4500)  # the queue flushes every few seconds
    names = fake_stack.event_names()
    for name in ("page_view", "ws_connected", "message_sent", "message_shown"):
        assert name in names, names
    assert answers and all(status == 202 and answer["accepted"] == len(sent) for status, sent, answer in answers)
    # (Beacons of the previous test's closing pages may arrive too: look for this page's events.)
    sent = [e for batch in fake_stack.events for e in batch if e["name"] == "message_sent"]
    assert any(e["props"]["chars"] == len("what are your opening hours?") for e in sent), sent
    assert all("text" not in e["props"] for batch in fake_stack.events for e in batch)
    session_id = session_storage(page, "luma.sessionId")
    shown = [e for batch in fake_stack.events for e in batch if e.get("sessionId") == session_id]
    assert any(e["name"] == "message_shown" and e["props"]["route"] == "fast_path" for e in shown), shown

    # A reconnect, a stream reset, an approval click and an error frame are reported too.
    fake_stack.kick_all()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    send(page, "reset please")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2)
    send(page, "move it to Tuesday please")
    page.get_by_test_id("approval-request").get_by_test_id("approve").click()
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text("Done")
    send(page, "boom")
    expect()(page.get_by_test_id("system-error")).to_have_count(1)

    def mine() -> set[str]:
        return {e["name"] for batch in fake_stack.events for e in batch if e.get("sessionId") == session_id}

    wait_until(page, lambda: "ws_error" in mine(), timeout_ms=8000)
    assert {"ws_reconnect", "stream_reset", "approval_clicked", "ws_error"} <= mine(), mine()
    clicked = [e for batch in fake_stack.events for e in batch if e["name"] == "approval_clicked"]
    assert any(e["props"]["approved"] is True and e.get("sessionId") == session_id for e in clicked), clicked

    # Leaving the page sends what is queued with a beacon.
    fake_stack.events.clear()
    send(page, "stream an answer please")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(5)
    page.goto("about:blank")
    wait_until(page, lambda: "message_sent" in fake_stack.event_names())


def test_endpoint_overrides_only_on_a_local_page(fake_stack: Any, new_page: Any) -> None:
    port = fake_stack.url.rsplit(":", 1)[1]
    crafted = "?ws=ws://evil.test:9/ws&api=http://evil.test:9"

    # Served from another hostname: the overrides are ignored, the token stays with this origin.
    page = new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(f"http://chat.test:{port}/{crafted}")
    page.get_by_test_id("demo-user").first.click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert not [u for u in urls if urlsplit(u).hostname == "evil.test"], urls
    assert any(u.startswith(f"ws://chat.test:{port}/ws?token=") for u in urls)

    # Served from this machine, they are honoured (a developer pointing the page at another stack).
    local = new_page()
    sockets: list[str] = []
    local.on("websocket", lambda ws: sockets.append(ws.url))
    local.goto(f"http://localhost:{port}/?ws=ws://127.0.0.1:{port}/ws")
    local.get_by_test_id("demo-user").first.click()
    expect()(local.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    assert sockets and sockets[-1].startswith(f"ws://127.0.0.1:{port}/ws?token=")


def test_strict_content_security_policy(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    complaints = record_csp(page)
    sign_in(page, fake_stack.url)
    send(page, "show the menu")
    expect()(page.get_by_test_id("choice")).to_have_count(2)
    send(page, "move it to Tuesday please")
    page.get_by_test_id("approval-request").get_by_test_id("approve").click()
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text("Done")
    page.get_by_test_id("debug-toggle").click()
    expect()(page.get_by_test_id("debug-panel")).to_be_visible()
    assert page.evaluate("document.querySelector('meta[http-equiv]')") is None
    assert csp_violations(page) == [] and complaints == []
    # The recorder works: an inline style attribute is refused and reported.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(100)
    assert csp_violations(page), "the CSP recorder saw nothing"


def test_arabic_is_right_to_left(fake_stack: Any, new_page: Any, screenshot_dir: Path) -> None:
    page = new_page(locale="ar")
    page.goto(f"{fake_stack.url}/")
    expect()(page.locator("html")).to_have_attribute("dir", "rtl")
    expect()(page.locator("html")).to_have_attribute("lang", "ar")
    expect()(page.locator("#signin-title")).to_have_text("تسجيل الدخول")
    page.get_by_test_id("demo-user").first.click()
    expect()(page.get_by_test_id("conn-state")).to_have_text("متصل")
    send(page, "مرحبا، ما هي ساعات العمل؟ hours")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)
    user_box = page.get_by_test_id("message-user").bounding_box()
    reply_box = page.get_by_test_id("message-assistant").bounding_box()
    assert user_box["x"] < reply_box["x"], "right to left: the person's bubble is on the left"
    assert re.fullmatch(r"\d\d:\d\d", page.locator("#messages time").first.inner_text())
    page.screenshot(path=str(screenshot_dir / "web_chat_arabic.png"))


def test_page_follows_the_session_language(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    sign_in(page, fake_stack.url)
    send(page, "bonjour")
    expect()(page.get_by_test_id("message-assistant")).to_contain_text("Bonjour")
    expect()(page.locator("html")).to_have_attribute("lang", "fr")
    expect()(page.get_by_test_id("new-conversation")).to_have_text("Nouvelle conversation")
    expect()(page.get_by_test_id("composer")).to_have_attribute("placeholder", "Écrivez votre message…")


def test_token_sign_in_when_no_demo_users(fake_stack: Any, new_page: Any) -> None:
    fake_stack.demo_users_enabled = False
    page = new_page()
    page.goto(f"{fake_stack.url}/")
    expect()(page.get_by_test_id("token-box")).to_have_attribute("open", "")
    expect()(page.get_by_test_id("demo-user")).to_have_count(0)
    token_input = page.get_by_test_id("token-input")

    token_input.fill("not a token")
    page.get_by_test_id("token-submit").click()
    expect()(page.get_by_test_id("signin-error")).to_contain_text("does not look like an access token")

    # A well-formed token the server refuses: handshake 401, the page says so.
    token_input.fill(fake_stack.token("u-bruno", secret="some-other-secret-of-32-bytes-long"))
    page.get_by_test_id("token-submit").click()
    expect()(page.get_by_test_id("signin-error")).to_contain_text("refused")
    expect()(page.get_by_test_id("token-input")).to_be_visible()

    token_input.fill(fake_stack.token("u-bruno", name="Bruno Silva"))
    page.get_by_test_id("token-submit").click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected")
    expect()(page.get_by_test_id("who")).to_have_text("Bruno Silva")

    page.get_by_test_id("sign-out").click()
    expect()(page.get_by_test_id("token-input")).to_be_visible()
    assert session_storage(page, "luma.token") is None


def test_phone(fake_stack: Any, new_page: Any, phone_device: dict[str, Any], screenshot_dir: Path) -> None:
    page = new_page(device=phone_device)
    assert page.evaluate("navigator.maxTouchPoints") > 0 and page.viewport_size["width"] < 500
    sign_in(page, fake_stack.url, tap=True)
    expect()(page.get_by_test_id("debug-panel")).to_be_hidden()
    send_by_tap(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_contain_text("Monday")
    send_by_tap(page, "show the menu")
    page.get_by_test_id("choice").first.tap()
    expect()(page.get_by_test_id("message-user").last).to_have_text(re.compile("My projects"))
    send_by_tap(page, "move it to Tuesday please")
    card = page.get_by_test_id("approval-request")
    approve = card.get_by_test_id("approve")
    box = approve.bounding_box()
    assert box["height"] >= 40, "touch targets are finger-sized"
    page.screenshot(path=str(screenshot_dir / "web_chat_phone_approval.png"))
    approve.tap()
    expect()(card).to_have_attribute("data-state", "approved")
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text("Done")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.screenshot(path=str(screenshot_dir / "web_chat_phone.png"))

    page.get_by_test_id("debug-toggle").tap()
    expect()(page.get_by_test_id("debug-panel")).to_be_visible()
    expect()(page.get_by_test_id("debug-row")).to_have_count(4)
    page.screenshot(path=str(screenshot_dir / "web_chat_phone_debug.png"))
    page.get_by_test_id("debug-close").tap()
    expect()(page.get_by_test_id("debug-panel")).to_be_hidden()


def test_protocol_helpers(fake_stack: Any, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{fake_stack.url}/")
    result = page.evaluate(
        """async () => {
          const p = await import('/protocol.js');
          const e = await import('/events.js');
          const delays = [0, 1, 2, 3, 4, 5, 9].map((n) => [p.backoffDelay(n, () => 0), p.backoffDelay(n, () => 1)]);
          const site = new URL('https://chat.example/?ws=wss://evil.example/x&api=https://evil.example');
          const local = new URL('http://127.0.0.1:8787/?ws=ws://127.0.0.1:9999/ws&api=http://127.0.0.1:9999/');
          const batches = [];
          const q = new e.EventQueue({url: '/api/events', fetch: async (u, o) => batches.push(JSON.parse(o.body)),
                                      beacon: () => false, flushMs: 60000});
          for (let i = 0; i < 12; i += 1) q.track('page_view', {n: i, bad_key$: 1, long: 'x'.repeat(300)});
          q.track('1bad name');
          q.flush();
          return {
            delays,
            gateway: p.parseFrame('{"message": "Internal server error", "connectionId": "c", "requestId": "r"}'),
            junk: p.parseFrame('[1, 2]'),
            send: p.buildSendMessage({text: 'hi', clientMessageId: 'c1', sessionId: null}),
            choice: p.buildSendMessage({text: 'My projects', clientMessageId: 'c2', sessionId: 'S',
                                        choice: 'projects'}),
            chars: p.countChars('a😀b'),
            wsSite: p.wsUrl(site, 'T'),
            apiSite: p.apiBase(site),
            wsLocal: p.wsUrl(local, 'T', {assistant: 'sitework', sessionId: 'S1'}),
            apiLocal: p.apiBase(local),
            wsConfigured: p.wsUrl(site, 'T', {configured: 'wss://api.example/prod'}),
            wsDefault: p.wsUrl(new URL('http://127.0.0.1:8787/'), 'T'),
            wsBadScheme: p.wsUrl(new URL('http://localhost:1/?ws=javascript:alert(1)'), 'T'),
            locals: ['http://localhost/', 'http://127.0.0.1/', 'http://[::1]:8787/', 'http://localhost.evil.test/',
                     'http://127.0.0.1.evil.test/'].map((u) => p.isLocalPage(new URL(u))),
            times: ['en', 'fr', 'ar', 'de'].map((l) => p.formatTime('2026-03-01T14:05:00Z', l)),
            dates: p.dayFirstDates('Alice Martin, born 1987-03-14'),
            rests: [p.afterPrefix('Let me look.  Done!', 'Let me look. '), p.afterPrefix('A.\\nB', 'A. '),
                    p.afterPrefix('Other text', 'Let me'), p.afterPrefix('Short', 'Short but longer')],
            batches,
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
    assert result["choice"] == {
        "action": "sendMessage",
        "text": "My projects",
        "clientMessageId": "c2",
        "sessionId": "S",
        "choice": "projects",
    }
    assert result["chars"] == 3
    assert result["wsSite"] == "wss://chat.example/ws?token=T"
    assert result["apiSite"] == "https://chat.example"
    assert result["wsLocal"] == "ws://127.0.0.1:9999/ws?token=T&assistant=sitework&sessionId=S1"
    assert result["apiLocal"] == "http://127.0.0.1:9999"
    assert result["wsConfigured"] == "wss://api.example/prod?token=T"
    assert result["wsDefault"] == "ws://127.0.0.1:8787/ws?token=T"
    assert result["wsBadScheme"] == "ws://localhost:1/ws?token=T"
    assert result["locals"] == [True, True, True, False, False]
    # 24-hour times in the page's time zone (the context's default: UTC here is not assumed).
    assert all(re.fullmatch(r"\d\d:05", t) for t in result["times"]), result["times"]
    assert len(set(result["times"])) == 1
    assert result["dates"] == "Alice Martin, born 14/03/1987"
    assert result["rests"] == ["Done!", "B", None, None]
    batches = result["batches"]
    assert [len(b) for b in batches] == [10, 2]  # flushed at 10, then the rest; the bad name dropped
    first = batches[0][0]
    assert first["name"] == "page_view" and set(first["props"]) == {"n", "long"} and len(first["props"]["long"]) == 256
