"""Long-term memory in the web chat, on the real local stack with the fake model (``llm='fake'``).

A person tells the assistant something in one conversation, starts a new conversation ("New
conversation": the next message opens a new session), asks about it, and the answer shows it was
remembered: the stream poller extracted it into memory (offline, the stack's extractive mode), the
agent run retrieved it, and the demo model answered from the memory block it was given.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import expect, send

pytestmark = pytest.mark.e2e

TOLD = "Please remember that I'm allergic to penicillin."
ASKED = "Do you remember what I told you about my allergy?"
# An agent turn on a cold, loaded stack (classifier, agent and embedder cold starts, Step Functions) can
# take far longer than a fast path: generous, never a latency assertion.
AGENT_REPLY_MS = 90_000


def _fresh_stack(stack: Any) -> Any:
    if getattr(stack, "kind", None) == "fake" or getattr(stack, "fake_llm", None) is None:
        pytest.skip("needs the real local stack with llm='fake'")
    return stack


def _sign_in_with_token(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/")
    page.get_by_test_id("token-box").locator("summary").click()
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    expect()(page.get_by_test_id("conn-state")).to_have_attribute("data-state", "connected", timeout=15_000)


def _session_id(page: Any) -> str | None:
    raw = page.evaluate("() => sessionStorage.getItem('luma.sessionId')")
    return None if raw is None else json.loads(raw)


def test_a_new_conversation_remembers_what_was_told(new_page: Any, web_stack: Any, screenshot_dir: Path) -> None:
    from luma.auth import issue_dev_token
    from luma.config import get_settings
    from luma.memory.vectors import OpenSearchVectorStore

    stack = _fresh_stack(web_stack)
    user = f"u-mem-{uuid.uuid4().hex[:10]}"  # nobody else's memories, nor earlier tests'
    page = new_page()
    _sign_in_with_token(page, stack.url, issue_dev_token(user, "demo", name="Maya Lind"))

    send(page, TOLD)
    replies = page.get_by_test_id("message-assistant")
    expect()(replies.last).to_contain_text("allergic to penicillin", timeout=AGENT_REPLY_MS)
    first = _session_id(page)
    assert first

    # After the turn, the stream consumer extracts the memory (the index refreshes every second).
    assert stack.event_sources.wait_idle(90), "memory extraction did not settle"
    OpenSearchVectorStore(get_settings()).refresh()

    page.get_by_test_id("new-conversation").click()
    expect()(replies).to_have_count(0)
    send(page, ASKED)
    answer = replies.last
    expect()(answer).to_contain_text("you're allergic to penicillin", timeout=AGENT_REPLY_MS)
    expect()(answer).to_contain_text("Yes, I remember.")
    second = _session_id(page)
    assert second and second != first  # a new session remembered what the old one was told
    expect()(page.get_by_test_id("message-user")).to_have_count(1)  # the first conversation is not on screen
    # Leaving a conversation closes it (its report and recap exist at once, not after the idle sweep).
    from luma.domain.models import SessionStatus
    from luma.store.repos import DynamoConversationRepository

    left = DynamoConversationRepository(get_settings()).get_session("demo", first)
    assert left is not None and left.status is SessionStatus.CLOSED
    page.screenshot(path=str(screenshot_dir / "web_chat_memory.png"))
