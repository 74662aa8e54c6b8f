"""Provider-neutral request, message and stream-event models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class TextBlock(BaseModel):
    """Plain text content."""

    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(BaseModel):
    """A tool call the assistant made (kept in the history for the next step)."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(BaseModel):
    """The result of a tool call, sent back in a user message."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


ContentBlock = Annotated[TextBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")]


class ChatMessage(BaseModel):
    """One message of the conversation sent to the model."""

    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @classmethod
    def user(cls, text: str) -> ChatMessage:
        """A user message with one text block."""
        return cls(role="user", content=[TextBlock(text=text)])

    @classmethod
    def assistant(cls, text: str) -> ChatMessage:
        """An assistant message with one text block."""
        return cls(role="assistant", content=[TextBlock(text=text)])

    @property
    def text(self) -> str:
        """The concatenated text blocks."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


class ToolSpec(BaseModel):
    """A tool the model may call: name, description and JSON schema of its input."""

    name: str
    description: str
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class LlmRequest(BaseModel):
    """One model call. ``model``/``max_tokens`` default to the provider's profile from config."""

    system: str = ""
    # Per-session text placed after the cached prefix (the session's facts, remembered context):
    # it changes from turn to turn, so it never invalidates the provider's prompt cache.
    context: str = ""
    messages: list[ChatMessage]
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tokens: int | None = Field(None, gt=0)
    model: str | None = None


class Usage(BaseModel):
    """Token counts of one call; ``input_tokens`` excludes cached input on every provider."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    def cost_usd(self, model: str, prices: dict[str, dict[str, float]]) -> float | None:
        """Cost from a price table (USD per million tokens, longest model-prefix match); None if unpriced."""
        keys = [k for k in prices if model.startswith(k)]
        if not keys:
            return None
        price = prices[max(keys, key=len)]
        total = (
            self.input_tokens * price.get("input", 0.0)
            + self.output_tokens * price.get("output", 0.0)
            + self.cache_read_tokens * price.get("cache_read", 0.0)
            + self.cache_write_tokens * price.get("cache_write", 0.0)
        )
        return round(total / 1_000_000, 8)


class TextDelta(BaseModel):
    """A piece of assistant text, as streamed."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class ToolCall(BaseModel):
    """A complete tool call (its streamed arguments reassembled and parsed)."""

    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    input: dict[str, Any]


StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]


class Done(BaseModel):
    """The last event of a stream. ``error`` = the provider refused or filtered the output."""

    type: Literal["done"] = "done"
    stop_reason: StopReason
    usage: Usage
    cost_usd: float | None = None
    model: str = ""
    provider: str = ""


LlmEvent = TextDelta | ToolCall | Done
