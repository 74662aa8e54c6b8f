"""Anthropic Messages API (official SDK, imported on first use): streaming, tools, prompt caching."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from luma.llm._json import parse_tool_input
from luma.llm.base import SdkProvider
from luma.llm.errors import LlmError, LlmErrorCode
from luma.llm.types import (
    ChatMessage,
    Done,
    LlmEvent,
    LlmRequest,
    StopReason,
    TextBlock,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "pause_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
}
_EPHEMERAL = {"type": "ephemeral"}


def to_anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Neutral messages as Messages-API params."""
    out: list[dict[str, Any]] = []
    for m in messages:
        blocks: list[dict[str, Any]] = []
        for b in m.content:
            if isinstance(b, TextBlock):
                blocks.append({"type": "text", "text": b.text})
            elif isinstance(b, ToolUseBlock):
                blocks.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
            elif isinstance(b, ToolResultBlock):
                blocks.append(
                    {"type": "tool_result", "tool_use_id": b.tool_use_id, "content": b.content, "is_error": b.is_error}
                )
        out.append({"role": m.role, "content": blocks})
    return out


def build_params(request: LlmRequest, model: str, max_tokens: int) -> dict[str, Any]:
    """Request params with ``cache_control`` on the system prompt and the last tool (the cached prefix)."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "messages": to_anthropic_messages(request.messages),
    }
    system: list[dict[str, Any]] = []
    if request.system:
        system.append({"type": "text", "text": request.system, "cache_control": _EPHEMERAL})
    if request.context:
        system.append({"type": "text", "text": request.context})
    if system:
        params["system"] = system
    if request.tools:
        tools = [{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in request.tools]
        tools[-1]["cache_control"] = _EPHEMERAL
        params["tools"] = tools
    return params


class AnthropicProvider(SdkProvider):
    """Claude through the official ``anthropic`` SDK (SDK retries off; our policy applies)."""

    name = "anthropic"

    sdk_module = "anthropic"  # importing it costs ~1.3 s: only the function that calls the model pays

    def _make_client(self, timeout: Any) -> Any:
        return self._sdk().Anthropic(api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=timeout)

    def _attempt(self, request: LlmRequest, model: str, max_tokens: int) -> Iterator[LlmEvent]:
        client = self.client()
        try:
            stream = client.messages.create(**build_params(request, model, max_tokens), stream=True)
            yield from self._events(stream, model)
        except LlmError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None

    def _events(self, stream: Any, model: str) -> Iterator[LlmEvent]:
        usage = Usage()
        stop: StopReason | None = None
        tools: dict[int, dict[str, Any]] = {}
        finished = False
        with stream:
            for event in stream:
                kind = event.type
                if kind == "message_start":
                    u = event.message.usage
                    usage = Usage(
                        input_tokens=u.input_tokens or 0,
                        output_tokens=u.output_tokens or 0,
                        cache_read_tokens=u.cache_read_input_tokens or 0,
                        cache_write_tokens=u.cache_creation_input_tokens or 0,
                    )
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        tools[event.index] = {"id": block.id, "name": block.name, "json": ""}
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta" and delta.text:
                        yield TextDelta(text=delta.text)
                    elif delta.type == "input_json_delta" and event.index in tools:
                        tools[event.index]["json"] += delta.partial_json
                elif kind == "content_block_stop":
                    call = tools.pop(event.index, None)
                    if call is not None:
                        yield ToolCall(
                            id=call["id"], name=call["name"], input=parse_tool_input(call["json"], self.name)
                        )
                elif kind == "message_delta":
                    stop = _STOP.get(event.delta.stop_reason or "", "error")
                    u = event.usage
                    # message_delta usage is cumulative.
                    usage = Usage(
                        input_tokens=u.input_tokens if u.input_tokens is not None else usage.input_tokens,
                        output_tokens=u.output_tokens or usage.output_tokens,
                        cache_read_tokens=(
                            u.cache_read_input_tokens
                            if u.cache_read_input_tokens is not None
                            else usage.cache_read_tokens
                        ),
                        cache_write_tokens=(
                            u.cache_creation_input_tokens
                            if u.cache_creation_input_tokens is not None
                            else usage.cache_write_tokens
                        ),
                    )
                elif kind == "message_stop":
                    finished = True
        if not finished or stop is None:
            raise LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=True, provider=self.name, detail="stream_cut")
        yield Done(
            stop_reason=stop, usage=usage, cost_usd=usage.cost_usd(model, self.prices), model=model, provider=self.name
        )
