"""OpenAI chat completions (official SDK, imported on first use), also any OpenAI-compatible server."""

from __future__ import annotations

import json
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
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


def to_openai_messages(system: str, messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Neutral messages as chat-completions messages (tool results become ``role: tool`` messages)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        text = "".join(b.text for b in m.content if isinstance(b, TextBlock))
        if m.role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            calls = [
                {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json.dumps(b.input)}}
                for b in m.content
                if isinstance(b, ToolUseBlock)
            ]
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
            continue
        for b in m.content:
            if isinstance(b, ToolResultBlock):
                content = f"ERROR: {b.content}" if b.is_error else b.content
                out.append({"role": "tool", "tool_call_id": b.tool_use_id, "content": content})
        if text:
            out.append({"role": "user", "content": text})
    return out


class OpenAIProvider(SdkProvider):
    """OpenAI (or a compatible server via ``base_url``) through the official ``openai`` SDK."""

    name = "openai"

    sdk_module = "openai"
    stream_error_retryable = True

    @staticmethod
    def _error_type(error: dict[str, Any]) -> str:
        return str(error.get("code") or error.get("type") or "")

    def __init__(self, *, api_key: str | None, **kwargs: Any) -> None:
        # Compatible servers often need no key; the SDK insists on one.
        super().__init__(api_key=api_key or "not-needed", **kwargs)

    def _make_client(self, timeout: Any) -> Any:
        return self._sdk().OpenAI(api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=timeout)

    def build_params(self, request: LlmRequest, model: str, max_tokens: int) -> dict[str, Any]:
        """Chat-completions params; OpenAI itself gets ``max_completion_tokens``, compatible servers ``max_tokens``."""
        params: dict[str, Any] = {
            "model": model,
            "messages": to_openai_messages(
                "\n\n".join(part for part in (request.system, request.context) if part), request.messages
            ),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        params["max_tokens" if self._base_url else "max_completion_tokens"] = max_tokens
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in request.tools
            ]
        return params

    def _attempt(self, request: LlmRequest, model: str, max_tokens: int) -> Iterator[LlmEvent]:
        client = self.client()
        try:
            stream = client.chat.completions.create(**self.build_params(request, model, max_tokens))
            yield from self._events(stream, model)
        except LlmError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None

    def _events(self, stream: Any, model: str) -> Iterator[LlmEvent]:
        usage: Usage | None = None
        stop: StopReason | None = None
        calls: dict[int, dict[str, str]] = {}
        with stream:
            for chunk in stream:
                if chunk.usage is not None:
                    u = chunk.usage
                    details = getattr(u, "prompt_tokens_details", None)
                    cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
                    usage = Usage(
                        input_tokens=max(0, (u.prompt_tokens or 0) - cached),
                        output_tokens=u.completion_tokens or 0,
                        cache_read_tokens=cached,
                    )
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                if delta is not None:
                    if delta.content:
                        yield TextDelta(text=delta.content)
                    for tc in delta.tool_calls or []:
                        slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                        if tc.id:
                            slot["id"] = tc.id
                        if tc.function is not None:
                            if tc.function.name:
                                slot["name"] += tc.function.name
                            if tc.function.arguments:
                                slot["args"] += tc.function.arguments
                if choice.finish_reason:
                    stop = _STOP.get(choice.finish_reason, "error")
        if stop is None:
            raise LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=True, provider=self.name, detail="stream_cut")
        for index in sorted(calls):
            slot = calls[index]
            if not slot["name"]:
                raise LlmError(LlmErrorCode.LLM_BAD_RESPONSE, retryable=False, provider=self.name, detail="tool_name")
            yield ToolCall(
                id=slot["id"] or f"call_{index}", name=slot["name"], input=parse_tool_input(slot["args"], self.name)
            )
        usage = usage or Usage()
        yield Done(
            stop_reason=stop, usage=usage, cost_usd=usage.cost_usd(model, self.prices), model=model, provider=self.name
        )
