"""Context of an agent step: recent messages within a token budget, the session summary, the run so far."""

from __future__ import annotations

from luma.domain.models import Message, Role
from luma.llm.types import ChatMessage, TextBlock

# A rough, provider-neutral estimate (about 4 characters per token, plus per-message overhead);
# the budget is a guard against runaway context, not an exact count.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """Approximate tokens of a text."""
    return len(text) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD


def _usable(message: Message) -> bool:
    if message.meta.get("refused"):
        return False  # rate-limited / over-quota messages were never answered
    return not (message.role is Role.ASSISTANT and message.meta.get("status") == "agent_unavailable")


def recent_history(messages: list[Message], budget_tokens: int) -> list[ChatMessage]:
    """The newest messages (``messages`` oldest first) that fit the budget, as alternating chat messages.

    The result starts with a user message (providers require it) and merges consecutive messages
    of the same role, so the model sees a well-formed conversation.
    """
    picked: list[Message] = []
    used = 0
    for message in reversed([m for m in messages if _usable(m) and m.role in (Role.USER, Role.ASSISTANT)]):
        cost = estimate_tokens(message.text)
        if picked and used + cost > budget_tokens:
            break
        picked.append(message)
        used += cost
    picked.reverse()
    while picked and picked[0].role is not Role.USER:
        picked.pop(0)
    out: list[ChatMessage] = []
    for message in picked:
        role = "user" if message.role is Role.USER else "assistant"
        if out and out[-1].role == role:
            out[-1] = ChatMessage(role=role, content=[TextBlock(text=f"{out[-1].text}\n\n{message.text}")])
        else:
            out.append(ChatMessage(role=role, content=[TextBlock(text=message.text)]))
    return out


def summary_block(summary: str | None) -> str:
    """The session summary as a context block ('' when there is none)."""
    return f"Summary of the earlier conversation:\n{summary}" if summary else ""
