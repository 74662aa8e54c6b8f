"""The operator console (``/operator``) with the web chat, both in Chromium, on the real local stack: a
user asks for a person, the operator sees the request in the queue, takes over, replies, the user reads
the reply, and the bot stays silent until the operator hands the conversation back."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import REPLY_TIMEOUT_MS, csp_violations, expect, record_csp, send, sign_in, ws_frames

pytestmark = pytest.mark.e2e

SEEN_WITHIN_MS = 5_000  # the notice crosses the stream poller (one batching window)


@pytest.fixture
def stack(web_stack: Any) -> Iterator[Any]:
    if getattr(web_stack, "kind", None) == "fake":
        pytest.skip("needs the real local stack")
    yield web_stack


def operator_sign_in(page: Any, url: str, operator: str = "op-1", tenant: str = "demo") -> None:
    page.goto(f"{url}/operator/")
    page.get_by_test_id("signin-operator").fill(operator)
    page.get_by_test_id("signin-tenant").fill(tenant)
    page.get_by_test_id("signin-submit").click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)


def session_of(user_frames: list[dict[str, Any]]) -> str:
    started = [f for f in user_frames if f.get("status") == "session_started"]
    assert started, "the chat has no session yet"
    return str(started[-1]["sessionId"])


def test_a_person_is_asked_for_the_operator_takes_over_replies_and_hands_back(
    new_page: Any, stack: Any, screenshot_dir: Path
) -> None:
    console = new_page(1400, 900)
    complaints = record_csp(console)
    operator_sign_in(console, stack.url)
    # The operator role reads GET /api/security/summary: the panel shows it (per day, nothing yet).
    expect()(console.get_by_test_id("security-panel")).to_be_visible(timeout=15_000)
    expect()(console.get_by_test_id("security-panel")).to_contain_text('"crisisReferrals": 0')

    chat = new_page()
    user_frames = ws_frames(chat)
    sign_in(chat, stack.url, "Dariusz Nowak")
    assistant = chat.get_by_test_id("message-assistant")
    send(chat, "I want to talk to a human")
    expect()(assistant.last).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    asked = time.monotonic()
    session_id = session_of(user_frames)

    item = console.locator(f"[data-testid=queue-item][data-session-id='{session_id}']")
    expect()(item).to_be_visible(timeout=SEEN_WITHIN_MS)
    seen_s = time.monotonic() - asked
    expect()(item.get_by_test_id("queue-new")).to_be_visible()
    expect()(item.get_by_test_id("first-response")).to_have_attribute("data-state", "ok")
    expect()(item.get_by_test_id("waiting")).to_contain_text(re.compile(r"\d"))

    item.click()
    expect()(item.get_by_test_id("queue-new")).to_have_count(0)  # opening it acknowledges it
    transcript = console.get_by_test_id("transcript")
    expect()(transcript.locator("[data-role=user]").first).to_contain_text("I want to talk to a human")
    expect()(console.get_by_test_id("session-status")).to_have_attribute("data-status", "active")
    console.get_by_test_id("take-over").click()
    expect()(console.get_by_test_id("session-status")).to_have_attribute("data-status", "taken_over")
    expect()(item.get_by_test_id("first-response")).to_have_attribute("data-state", "done")

    # The user writes during the takeover: the operator reads it, the bot says nothing.
    answers_before = assistant.count()
    send(chat, "what are your opening hours?")
    expect()(transcript.locator("[data-route=user]").last).to_contain_text("what are your opening hours?")
    chat.wait_for_timeout(2_000)
    expect()(assistant).to_have_count(answers_before)

    # A canned reply in the conversation's language, then the operator's own words.
    console.get_by_test_id("canned-reply").first.click()
    expect()(console.get_by_test_id("reply-input")).to_have_value(re.compile(r"member of our team"))
    console.get_by_test_id("reply-input").fill("Hello, this is Dana from the front desk. We open at 8.")
    console.get_by_test_id("reply-send").click()
    expect()(assistant.last).to_contain_text("Hello, this is Dana from the front desk.", timeout=REPLY_TIMEOUT_MS)
    mine = transcript.locator("[data-route=operator]").last
    expect()(mine).to_have_attribute("data-state", "delivered")
    console.screenshot(path=str(screenshot_dir / "operator-console.png"), full_page=True)

    # Hand back: the bot answers again.
    console.get_by_test_id("hand-back").click()
    expect()(console.get_by_test_id("session-status")).to_have_attribute("data-status", "active")
    send(chat, "what are your opening hours?")
    expect()(assistant.last).to_contain_text(re.compile(r"opening hours", re.I), timeout=REPLY_TIMEOUT_MS)

    # Close the request with a note: it leaves the queue.
    console.get_by_test_id("close-escalation").click()
    console.get_by_test_id("close-note").fill("Opening hours given by phone.")
    console.get_by_test_id("close-confirm").click()
    expect()(item).to_have_count(0)
    assert not csp_violations(console) and not complaints
    print(f"operator saw the request {seen_s:.2f} s after the assistant's answer")


def test_the_console_refuses_a_user_token_and_speaks_nine_languages(new_page: Any, stack: Any) -> None:
    page = new_page(locale="fr-FR")
    page.goto(f"{stack.url}/operator/")
    expect()(page.get_by_test_id("signin-submit")).to_have_text("Se connecter")
    page.get_by_test_id("lang-select").select_option("ar")
    expect()(page.locator("html")).to_have_attribute("dir", "rtl")
    page.get_by_test_id("lang-select").select_option("en")
    operator_sign_in(page, stack.url, operator="u-alice-as-operator")
    # The same page with a plain user's token: every action is refused.
    from luma.auth import issue_dev_token

    frames = ws_frames(page)
    page.evaluate("() => sessionStorage.clear()")
    page.goto(f"{stack.url}/operator/")
    page.locator("details.token-box summary").click()
    page.get_by_test_id("token-input").fill(issue_dev_token("u-alice", "demo"))
    page.get_by_test_id("token-submit").click()
    expect()(page.get_by_test_id("toast")).to_contain_text("Not allowed", timeout=10_000)
    assert any(f.get("type") == "error" and f.get("code") == "FORBIDDEN" for f in frames)
