"""The web chat against the local stack: sign in, a fast-path answer, the identity flow, reload.

Runs against the lead's ``local_stack`` fixture (the full local stack with seeded demo data) when
tests/conftest.py defines it; until then ``web_stack`` falls back to the fake gateway of conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPLY_TIMEOUT_MS = 20_000  # the first classification may load the embedding model


def _expect() -> Any:
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect


def sign_in(page: Any, url: str, name: str) -> None:
    expect = _expect()
    page.goto(f"{url}/")
    user = page.get_by_test_id("demo-user").filter(has_text=name)
    expect(user).to_contain_text("Verify with:")
    user.click()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)


def send(page: Any, text: str) -> None:
    composer = page.get_by_test_id("composer")
    composer.fill(text)
    composer.press("Enter")
    _expect()(page.get_by_test_id("message-user").last).to_contain_text(text)


def test_clinic_conversation_and_reload(new_page: Any, web_stack: Any, screenshot_dir: Path) -> None:
    expect = _expect()
    page = new_page()
    sign_in(page, web_stack.url, "Alice Martin")
    assistant = page.get_by_test_id("message-assistant")
    rows = page.get_by_test_id("debug-row")

    # A fast-path answer, with its routing shown in the debug panel.
    send(page, "what are your opening hours?")
    expect(assistant.last).to_contain_text(re.compile(r"Monday|08:00"), timeout=REPLY_TIMEOUT_MS)
    expect(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")
    first = rows.first
    expect(first.get_by_test_id("debug-route")).to_have_text("fast_path")
    expect(first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    expect(first.get_by_test_id("debug-confidence")).to_have_text(re.compile(r"^[01]\.\d\d$"))
    expect(first.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))

    # Appointments need the patient's identity first.
    send(page, "show me my appointments")
    expect(assistant.last).to_contain_text(re.compile(r"date of birth|birth date|born", re.I), timeout=REPLY_TIMEOUT_MS)
    expect(assistant.last).to_contain_text(re.compile(r"name", re.I))
    send(page, "Alice Martin, 14/03/1987")
    expect(assistant.last).to_contain_text("Dr. Anika Patel", timeout=REPLY_TIMEOUT_MS)
    expect(rows).to_have_count(3)
    expect(rows.last.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))
    replies = assistant.count()

    page.screenshot(path=str(screenshot_dir / "web_chat.png"))

    # A reload continues the session: the history comes back from the catch-up endpoint, once.
    page.reload()
    expect(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    expect(assistant).to_have_count(replies)
    expect(page.get_by_test_id("message-user")).to_have_count(3)
    expect(assistant.last).to_contain_text("Dr. Anika Patel")
    expect(page.get_by_test_id("messages")).to_contain_text("opening hours")
    expect(rows).to_have_count(3)
    expect(rows.first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    page.screenshot(path=str(screenshot_dir / "web_chat_reloaded.png"))


def test_agent_reschedule_streams_asks_for_approval_and_answers(
    new_page: Any, web_stack: Any, screenshot_dir: Path
) -> None:
    """The issue's demo: with the fake model, the answer streams in with a tool call and an approval."""
    if getattr(web_stack, "fake_llm", None) is None:
        pytest.skip("needs the local stack with llm='fake'")
    expect = _expect()
    page = new_page()
    sign_in(page, web_stack.url, "Bruno Silva")
    assistant = page.get_by_test_id("message-assistant")
    send(page, "show me my appointments")
    expect(assistant.last).to_contain_text(re.compile(r"date of birth", re.I), timeout=REPLY_TIMEOUT_MS)
    send(page, "Bruno Silva, 02/11/1972")
    expect(assistant.last).to_contain_text("Dr.", timeout=REPLY_TIMEOUT_MS)

    send(page, "can I move my Tuesday appointment to the afternoon?")
    card = page.get_by_test_id("approval-request")
    expect(card).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(card.get_by_test_id("approval-prompt")).to_contain_text("Move your appointment")
    # While the run waits, what it said so far has streamed into a bubble.
    expect(page.get_by_test_id("message-streaming")).to_contain_text("Let me look up your appointments.")
    page.screenshot(path=str(screenshot_dir / "web_chat_approval.png"))
    card.get_by_test_id("approve").click()
    expect(card.get_by_test_id("approval-note")).to_have_text("Approved.")
    expect(assistant.last).to_contain_text("Done! Your appointment is now on", timeout=REPLY_TIMEOUT_MS)
    expect(page.get_by_test_id("debug-row").last.get_by_test_id("debug-route")).to_have_text("agent")
    page.screenshot(path=str(screenshot_dir / "web_chat_agent.png"))
