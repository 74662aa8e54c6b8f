"""The web chat against the real local stack (``local_stack`` of tests/conftest.py: seeded demo data,
the scripted fake model for agent turns): desktop and phone, fast paths, approvals, choices, client
events, the gateway's Content-Security-Policy.

``web_stack`` falls back to the fake gateway of conftest.py when the local stack is not defined;
tests that need the real one skip then. Tests marked xfail wait for server pieces (named in each
reason) and pass once the server sends them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import (
    REPLY_TIMEOUT_MS,
    capture_events,
    check_24_hour_times,
    csp_violations,
    expect,
    order_of,
    send,
    send_by_tap,
    sign_in,
    ws_frames,
)

pytestmark = pytest.mark.e2e

RESCHEDULE = "can I move my appointment to another time?"  # any day of the week: the seed is relative to today


def real(stack: Any) -> Any:
    if getattr(stack, "kind", None) == "fake":
        pytest.skip("needs the real local stack")
    return stack


def agent_stack(stack: Any) -> Any:
    if getattr(real(stack), "fake_llm", None) is None:
        pytest.skip("needs the local stack with llm='fake'")
    return stack


def verify_bruno(page: Any) -> None:
    assistant = page.get_by_test_id("message-assistant")
    send(page, "show me my appointments")
    expect()(assistant.last).to_contain_text(re.compile(r"date of birth", re.I), timeout=REPLY_TIMEOUT_MS)
    send(page, "Bruno Silva, 02/11/1972")
    expect()(assistant.last).to_contain_text("Dr.", timeout=REPLY_TIMEOUT_MS)


def approve_reschedule(page: Any, *, tap: bool = False) -> tuple[Any, Any]:
    """Ask to move an appointment, approve the card; the card and the confirmation below it."""
    if tap:
        send_by_tap(page, RESCHEDULE)
    else:
        send(page, RESCHEDULE)
    card = page.get_by_test_id("approval-request").last
    expect()(card).to_have_attribute("data-state", "pending", timeout=REPLY_TIMEOUT_MS)
    expect()(card.get_by_test_id("approval-title")).to_have_text("Your approval is needed")
    expect()(card.get_by_test_id("approval-prompt")).to_contain_text("Move your appointment")
    # What the run said before asking is above the card.
    expect()(page.get_by_test_id("messages")).to_contain_text("Let me look up your appointments.")
    expect()(page.get_by_test_id("activity")).to_be_hidden()  # nobody is typing: the run waits for the person
    button = card.get_by_test_id("approve")
    if tap:
        button.tap()
    else:
        button.click()
    expect()(card).to_have_attribute("data-state", "approved")
    expect()(card.get_by_test_id("approval-title")).to_have_text("Approved")
    done = page.get_by_test_id("message-assistant").filter(has_text="Done! Your appointment is now on")
    expect()(done).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect()(page.get_by_test_id("message-streaming")).to_have_count(0)
    return card, done


def test_clinic_conversation_and_reload(new_page: Any, web_stack: Any, screenshot_dir: Path) -> None:
    page = new_page()
    page.goto(f"{web_stack.url}/")
    alice = page.get_by_test_id("demo-user").filter(has_text="Alice Martin")
    # The hint writes the date of birth the way the assistant asks for it.
    expect()(alice.get_by_test_id("demo-user-hint")).to_contain_text("14/03/1987")
    expect()(alice).not_to_contain_text("1987-03-14")
    alice.click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    expect()(page.get_by_test_id("debug-panel")).to_be_hidden()
    assistant = page.get_by_test_id("message-assistant")
    rows = page.get_by_test_id("debug-row")

    # A fast-path answer, with its routing shown in the debug panel.
    send(page, "what are your opening hours?")
    expect()(assistant.last).to_contain_text(re.compile(r"Monday|08:00"), timeout=REPLY_TIMEOUT_MS)
    expect()(page.get_by_test_id("message-user").last).to_have_attribute("data-status", "answered")
    divider = page.get_by_test_id("system-line").filter(has_text="New conversation")
    expect()(divider).to_have_count(1)
    assert order_of(page, divider, page.get_by_test_id("message-user").first) == [0, 1]
    check_24_hour_times(page)
    page.get_by_test_id("debug-toggle").click()
    first = rows.first
    expect()(first.get_by_test_id("debug-route")).to_have_text("fast_path")
    expect()(first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    expect()(first.get_by_test_id("debug-confidence")).to_have_text(re.compile(r"^[01]\.\d\d$"))
    expect()(first.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))

    # Appointments need the person's identity first.
    send(page, "show me my appointments")
    expect()(assistant.last).to_contain_text(
        re.compile(r"date of birth|birth date|born", re.I), timeout=REPLY_TIMEOUT_MS
    )
    send(page, "Alice Martin, 14/03/1987")
    expect()(assistant.last).to_contain_text("Dr. Anika Patel", timeout=REPLY_TIMEOUT_MS)
    expect()(rows).to_have_count(3)
    expect()(rows.last.get_by_test_id("debug-ms")).to_have_text(re.compile(r"^\d+$"))
    replies = assistant.count()
    page.screenshot(path=str(screenshot_dir / "web_chat.png"))

    # A reload continues the session: the history comes back from the catch-up endpoint, once.
    page.reload()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    expect()(assistant).to_have_count(replies)
    expect()(page.get_by_test_id("message-user")).to_have_count(3)
    expect()(assistant.last).to_contain_text("Dr. Anika Patel")
    expect()(page.get_by_test_id("messages")).to_contain_text("opening hours")
    expect()(rows).to_have_count(3)
    expect()(rows.first.get_by_test_id("debug-intent")).to_have_text("clinic_hours")
    check_24_hour_times(page)
    page.screenshot(path=str(screenshot_dir / "web_chat_reloaded.png"))


def test_the_brand_and_debug_panel_name_the_assistant(new_page: Any, web_stack: Any) -> None:
    real(web_stack)
    page = new_page()
    sign_in(page, web_stack.url, "Alice Martin")
    expect()(page.get_by_test_id("brand-sub")).to_have_text("Clinic assistant")
    assert page.title() == "Clinic assistant · Luma"
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    page.get_by_test_id("debug-toggle").click()
    expect()(page.get_by_test_id("debug-assistant")).to_have_text("clinic")


def test_offline_is_shown_as_offline(new_page: Any, web_stack: Any) -> None:
    page = new_page()
    sign_in(page, web_stack.url, "Alice Martin")
    page.context.set_offline(True)
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "offline")
    expect()(page.get_by_test_id("conn-state")).not_to_contain_text("Connected")
    expect()(page.get_by_test_id("activity")).to_be_hidden()
    expect()(page.get_by_test_id("composer")).to_be_disabled()
    page.context.set_offline(False)
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)


def test_agent_reschedule_streams_asks_for_approval_and_answers(
    new_page: Any, web_stack: Any, screenshot_dir: Path
) -> None:
    """The demo: with the fake model, the answer streams in with a tool call and an approval."""
    agent_stack(web_stack)
    page = new_page()
    sign_in(page, web_stack.url, "Bruno Silva")
    verify_bruno(page)
    card, done = approve_reschedule(page)
    before = page.get_by_test_id("message-assistant").filter(has_text="Let me look up your appointments.")
    expect()(before).to_have_count(1)
    positions = order_of(page, before, card, done)
    assert positions == sorted(positions), positions
    expect()(done).not_to_contain_text("Let me look up your appointments.")
    expect()(page.get_by_test_id("debug-row").last.get_by_test_id("debug-route")).to_have_text("agent")
    page.screenshot(path=str(screenshot_dir / "web_chat_agent.png"))


def test_phone_sign_in_fast_path_and_approval(
    new_page: Any, web_stack: Any, phone_device: dict[str, Any], screenshot_dir: Path
) -> None:
    page = new_page(device=phone_device)
    assert page.evaluate("navigator.maxTouchPoints") > 0
    sign_in(page, web_stack.url, "Bruno Silva", tap=True)
    expect()(page.get_by_test_id("debug-panel")).to_be_hidden()
    send_by_tap(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant").last).to_contain_text(
        re.compile(r"Monday|08:00"), timeout=REPLY_TIMEOUT_MS
    )
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.screenshot(path=str(screenshot_dir / "web_chat_phone_real.png"))
    if getattr(web_stack, "fake_llm", None) is None:
        return
    verify_bruno(page)
    approve_reschedule(page, tap=True)
    page.screenshot(path=str(screenshot_dir / "web_chat_phone_approval_real.png"))


def test_client_events_reach_the_api(new_page: Any, web_stack: Any) -> None:
    real(web_stack)
    page = new_page()
    answers = capture_events(page)
    sign_in(page, web_stack.url, "Alice Martin")
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    page.wait_for_timeout(4500)  # the queue flushes every few seconds
    names = [e["name"] for _, sent, _ in answers for e in sent]
    for name in ("page_view", "ws_connected", "message_sent", "message_shown"):
        assert name in names, names
    for status, sent, answer in answers:
        assert status == 202 and answer == {"accepted": len(sent), "dropped": None}, (status, sent, answer)


def test_the_gateway_policy_holds_without_violations(new_page: Any, web_stack: Any) -> None:
    real(web_stack)
    page = new_page()
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    complaints: list[str] = []
    page.on("console", lambda m: complaints.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(f"{web_stack.url}/")
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, policy
    page.get_by_test_id("demo-user").filter(has_text="Alice Martin").click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    send(page, "what are your opening hours?")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    page.get_by_test_id("debug-toggle").click()
    page.reload()
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1)
    assert csp_violations(page) == [] and complaints == []


def test_choices_from_the_site_assistant(new_page: Any, web_stack: Any) -> None:
    real(web_stack)
    page = new_page()
    frames = ws_frames(page)
    sent = ws_frames(page, "framesent")
    sign_in(page, web_stack.url, "Karim Haddad")
    expect()(page.get_by_test_id("brand-sub")).to_have_text("Site assistant")
    send(page, "hello")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    chips = page.get_by_test_id("message-assistant").first.get_by_test_id("choice")
    expect()(chips.first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect()(chips.filter(has_text="My projects")).to_have_count(1)
    chips.filter(has_text="My projects").click()
    expect()(chips.first).to_be_disabled()
    expect()(page.get_by_test_id("message-user").last).to_contain_text("My projects")
    expect()(page.get_by_test_id("message-assistant")).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
    page.get_by_test_id("debug-toggle").click()
    expect()(page.get_by_test_id("debug-assistant")).to_have_text("sitework")
    assert any(f.get("assistant") == "sitework" for f in frames if f.get("type") == "message")
    picked = [f for f in sent if f.get("text") == "My projects"]
    assert picked and picked[0]["choice"] == chips.filter(has_text="My projects").get_attribute("data-choice-id")


def test_tool_and_approval_labels_come_from_the_server(new_page: Any, web_stack: Any) -> None:
    agent_stack(web_stack)
    page = new_page()
    frames = ws_frames(page)
    sign_in(page, web_stack.url, "Bruno Silva")
    verify_bruno(page)
    approve_reschedule(page)
    tools = [f for f in frames if f.get("type") == "status" and f.get("status") == "tool"]
    recorded = [f for f in frames if f.get("type") == "status" and f.get("status") == "approval_recorded"]
    assert tools and all(isinstance(f.get("label"), str) and f["label"] for f in tools), tools
    assert recorded and all(isinstance(f.get("label"), str) and f["label"] for f in recorded), recorded


def test_reload_during_an_agent_run_keeps_it(new_page: Any, web_stack: Any) -> None:
    agent_stack(web_stack)
    page = new_page()
    sign_in(page, web_stack.url, "Bruno Silva")
    verify_bruno(page)
    send(page, RESCHEDULE)
    card = page.get_by_test_id("approval-request").last
    expect()(card).to_have_attribute("data-state", "pending", timeout=REPLY_TIMEOUT_MS)

    page.reload()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    card = page.get_by_test_id("approval-request").last
    expect()(card).to_have_attribute("data-state", "pending")
    expect()(page.get_by_test_id("messages")).to_contain_text("Let me look up your appointments.")
    card.get_by_test_id("approve").click()
    expect()(card).to_have_attribute("data-state", "approved")
    done = page.get_by_test_id("message-assistant").filter(has_text="Done! Your appointment is now on")
    expect()(done).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    assert order_of(page, card, done)[0] < order_of(page, card, done)[1]
    assert page.get_by_test_id("messages").inner_text().count("Let me look up your appointments.") == 1

    page.reload()
    expect()(page.get_by_test_id("approval-request").last).to_have_attribute("data-state", "approved")
