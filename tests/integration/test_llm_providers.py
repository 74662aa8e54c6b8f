"""The real anthropic and openai SDKs, through Luma's providers, against the fake LLM server on loopback."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from luma.config import Settings
from luma.llm import (
    ChatMessage,
    CircuitBreaker,
    Done,
    FallbackProvider,
    LlmError,
    LlmErrorCode,
    LlmEvent,
    LlmRequest,
    RetryPolicy,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    build_provider,
)
from luma.llm.anthropic_provider import AnthropicProvider
from luma.llm.base import BaseProvider
from luma.llm.openai_provider import OpenAIProvider

from local.fake_llm import FakeLlmServer, Script, ScriptToolCall

PRICES = {
    "claude-test": {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75},
    "gpt-test": {"input": 0.4, "output": 1.6, "cache_read": 0.1},
}
TOOL = ToolSpec(
    name="list_appointments",
    description="List the patient's appointments.",
    input_schema={"type": "object", "properties": {"when": {"type": "string"}}},
)
REQ = LlmRequest(system="You are the clinic assistant.", messages=[ChatMessage.user("Hi there")], tools=[TOOL])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeLlmServer) -> None:
    fake.clear()


Factory = Callable[..., BaseProvider]


class Sleeper:
    """Records the waits the retry policy asks for, and really waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def make(kind: str, base: str, *, sleeper: Sleeper | None = None, **kw: Any) -> BaseProvider:
    breaker = kw.pop("breaker", None) or CircuitBreaker(threshold=kw.pop("threshold", 50), cooldown_s=30)
    common: dict[str, Any] = {
        "max_tokens": 256,
        "retry": RetryPolicy(max_retries=kw.pop("max_retries", 2), backoff_base_s=0.02, backoff_max_s=0.1),
        "breaker": breaker,
        "prices": PRICES,
        "read_timeout_s": kw.pop("read_timeout_s", 5.0),
        "sleep": sleeper or Sleeper(),
        **kw,
    }
    if kind == "anthropic":
        return AnthropicProvider(api_key="fake-key", base_url=base, model="claude-test-1", **common)
    return OpenAIProvider(api_key="fake-key", base_url=base + "/v1", model="gpt-test-1", **common)


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest, fake: FakeLlmServer) -> Factory:
    def factory(**kw: Any) -> BaseProvider:
        return make(request.param, fake.url, **kw)

    return factory


def collect(events: Iterator[LlmEvent]) -> tuple[str, list[ToolCall], Done]:
    evs = list(events)
    assert isinstance(evs[-1], Done)
    text = "".join(e.text for e in evs if isinstance(e, TextDelta))
    return text, [e for e in evs if isinstance(e, ToolCall)], evs[-1]


def test_streamed_text_usage_and_cost(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["Hel", "lo ", "there"], input_tokens=1000, output_tokens=200, cache_read_tokens=500))
    p = provider()
    text, calls, done = collect(p.stream(REQ))
    assert text == "Hello there"
    assert calls == []
    assert done.stop_reason == "end_turn"
    assert done.usage.input_tokens == 1000 and done.usage.output_tokens == 200
    assert done.usage.cache_read_tokens == 500
    price = PRICES[done.model.rsplit("-", 1)[0]]
    expected = (1000 * price["input"] + 200 * price["output"] + 500 * price["cache_read"]) / 1e6
    assert done.cost_usd == pytest.approx(expected)
    assert fake.requests[0].auth_ok
    assert fake.requests[0].body["stream"] is True


def test_tool_call_arguments_streamed_in_pieces(provider: Factory, fake: FakeLlmServer) -> None:
    args = {"when": "tomorrow", "filters": {"doctor": "Dr. Ana Ruiz", "ids": [1, 2, 3]}}
    fake.enqueue(
        Script(text=["Let me check."], tool_calls=[ScriptToolCall(name="list_appointments", input=args, pieces=5)])
    )
    text, calls, done = collect(provider().stream(REQ))
    assert text == "Let me check."
    assert done.stop_reason == "tool_use"
    assert len(calls) == 1 and calls[0].name == "list_appointments" and calls[0].input == args
    assert calls[0].id


def test_tool_history_round_trips(provider: Factory, fake: FakeLlmServer) -> None:
    """A tool-use/tool-result exchange in the history is accepted by both wire formats."""
    history = [
        ChatMessage.user("What do I have tomorrow?"),
        ChatMessage(role="assistant", content=[ToolUseBlock(id="call_1", name="list_appointments", input={})]),
        ChatMessage(role="user", content=[ToolResultBlock(tool_use_id="call_1", content="[]")]),
    ]
    fake.enqueue(Script(text=["Nothing tomorrow."]))
    text, _, _ = collect(provider().stream(LlmRequest(system="s", messages=history, tools=[TOOL])))
    assert text == "Nothing tomorrow."
    body = fake.requests[0].body
    if fake.requests[0].path.endswith("/messages"):
        assert body["messages"][2]["content"][0]["type"] == "tool_result"
    else:
        assert body["messages"][2]["tool_calls"][0]["id"] == "call_1"
        assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "[]"}


def test_prompt_cache_markers_on_system_and_last_tool(fake: FakeLlmServer) -> None:
    other = ToolSpec(name="clinic_hours", description="Opening hours.")
    fake.enqueue(Script(text=["ok"], cache_write_tokens=1500))
    p = make("anthropic", fake.url)
    _, _, done = collect(p.stream(REQ.model_copy(update={"tools": [other, TOOL]})))
    body = fake.requests[0].body
    assert body["system"] == [
        {"type": "text", "text": "You are the clinic assistant.", "cache_control": {"type": "ephemeral"}}
    ]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert done.usage.cache_write_tokens == 1500


def test_openai_request_shape(fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["ok"]))
    collect(make("openai", fake.url).stream(REQ))
    body = fake.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are the clinic assistant."}
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"][0]["function"]["name"] == "list_appointments"
    assert body["max_tokens"] == 256  # a compatible server (base_url set) gets max_tokens
    assert fake.requests[0].headers["authorization"] == "Bearer fake-key"


def test_429_retry_after_is_honoured(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script.error(429, retry_after=0.2), Script(text=["after the wait"]))
    sleeper = Sleeper()
    text, _, _ = collect(provider(sleeper=sleeper).stream(REQ))
    assert text == "after the wait"
    assert sleeper.waits == [0.2]  # the header, not the (shorter) backoff
    assert len(fake.requests) == 2
    assert fake.requests[1].at - fake.requests[0].at >= 0.2


def test_500_is_retried_with_backoff(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script.error(500), Script.error(500), Script(text=["fine"]))
    sleeper = Sleeper()
    text, _, _ = collect(provider(sleeper=sleeper).stream(REQ))
    assert text == "fine"
    assert len(sleeper.waits) == 2 and all(0 < w <= 0.1 for w in sleeper.waits)


def test_retries_exhausted_raise_typed_error(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script.error(429, retry_after=0), times=3)
    with pytest.raises(LlmError) as info:
        collect(provider().stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_RATE_LIMITED and info.value.retryable
    assert len(fake.requests) == 3


def test_persistent_500_opens_the_circuit_then_half_open_recovers(provider: Factory, fake: FakeLlmServer) -> None:
    now = [1000.0]
    breaker = CircuitBreaker(threshold=3, cooldown_s=10, clock=lambda: now[0])
    p = provider(breaker=breaker)
    fake.enqueue(Script.error(500), times=3)
    with pytest.raises(LlmError) as first:
        collect(p.stream(REQ))
    assert first.value.code is LlmErrorCode.LLM_UNAVAILABLE
    assert breaker.state == "open"
    with pytest.raises(LlmError) as second:
        collect(p.stream(REQ))
    assert second.value.detail == "circuit_open" and second.value.retry_after == pytest.approx(10)
    assert len(fake.requests) == 3  # the open circuit sent nothing
    now[0] += 10
    assert breaker.state == "half_open"
    fake.enqueue(Script(text=["back"]))
    text, _, _ = collect(p.stream(REQ))
    assert text == "back" and breaker.state == "closed"


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def test_fallback_used_when_primary_is_down(fake: FakeLlmServer) -> None:
    primary = make("anthropic", _dead_url(), max_retries=1)
    secondary = make("openai", fake.url)
    fake.enqueue(Script(text=["from the secondary"]))
    fb = FallbackProvider(primary, secondary)
    text, _, done = collect(fb.stream(REQ.model_copy(update={"model": "claude-test-9"})))
    assert text == "from the secondary"
    assert done.provider == "openai" and done.model == "gpt-test-1"  # the secondary's own model


def test_fallback_not_used_for_non_retryable_errors(fake: FakeLlmServer) -> None:
    fake.enqueue(Script.error(400, error_type="invalid_request_error"))
    fb = FallbackProvider(make("anthropic", fake.url), make("openai", fake.url))
    with pytest.raises(LlmError) as info:
        collect(fb.stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_BAD_RESPONSE
    assert len(fake.requests) == 1


def test_slow_first_token_times_out(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["late"], first_token_delay_ms=1500))
    started = time.monotonic()
    with pytest.raises(LlmError) as info:
        collect(provider(read_timeout_s=0.3, max_retries=0).stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_TIMEOUT and info.value.retryable
    assert time.monotonic() - started < 1.2


def test_cut_stream_before_any_token_is_retried(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["never"], cut_after_events=1), Script(text=["second try"]))
    text, _, _ = collect(provider().stream(REQ))
    assert text == "second try"
    assert len(fake.requests) == 2


def test_cut_stream_after_tokens_raises_typed_error(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["partial", " answer", " lost"], cut_after_events=4))
    got: list[LlmEvent] = []
    with pytest.raises(LlmError) as info:
        got.extend(provider().stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_UNAVAILABLE and info.value.retryable
    assert any(isinstance(e, TextDelta) for e in got)
    assert len(fake.requests) == 1  # not replayed: tokens were already out


def test_malformed_tool_json_is_bad_response(provider: Factory, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(tool_calls=[ScriptToolCall(name="list_appointments", raw_arguments='{"when": "tomor')]))
    with pytest.raises(LlmError) as info:
        collect(provider().stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_BAD_RESPONSE and not info.value.retryable
    assert len(fake.requests) == 1


def test_context_too_long(fake: FakeLlmServer) -> None:
    fake.enqueue(Script.error(400, error_type="context_length_exceeded"))
    with pytest.raises(LlmError) as info:
        collect(make("openai", fake.url).stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_CONTEXT_TOO_LONG


def test_errors_never_leak_keys_or_tracebacks(provider: Factory, fake: FakeLlmServer, caplog: Any) -> None:
    fake.enqueue(Script.error(500), times=3)
    with caplog.at_level(logging.DEBUG, logger="luma.llm"), pytest.raises(LlmError) as info:
        collect(provider().stream(REQ))
    assert "fake-key" not in caplog.text and "Traceback" not in caplog.text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "fake-key" not in str(info.value) and "fake 500" not in info.value.message


def test_get_provider_from_settings_end_to_end(fake: FakeLlmServer) -> None:
    settings = Settings(
        ANTHROPIC_API_KEY="fake-key",
        ANTHROPIC_BASE_URL=fake.url,
        OPENAI_BASE_URL=fake.url + "/v1",
        OPENAI_API_KEY="fake-key",
        llm_model_anthropic="claude-test-2",
    )
    p = build_provider(settings)
    assert isinstance(p, FallbackProvider)
    assert "fake-key" not in repr(p)
    fake.enqueue(Script(text=["configured"]))
    text, _, done = collect(p.stream(REQ))
    assert text == "configured" and done.model == "claude-test-2"
    assert fake.requests[0].body["model"] == "claude-test-2"


def test_default_echo_script_and_non_streaming(fake: FakeLlmServer) -> None:
    import anthropic
    import openai

    a = anthropic.Anthropic(api_key=fake.api_key, base_url=fake.url, max_retries=0)
    msg = a.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "ping"}])
    assert msg.content[0].text == "echo: ping" and msg.stop_reason == "end_turn"
    o = openai.OpenAI(api_key=fake.api_key, base_url=fake.url + "/v1", max_retries=0)
    fake.enqueue(Script(tool_calls=[ScriptToolCall(name="t", input={"a": 1})]))
    done = o.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.choices[0].message.tool_calls[0].function.arguments == '{"a": 1}'


def test_wrong_key_is_unavailable_not_retried(fake: FakeLlmServer) -> None:
    p = make("anthropic", fake.url)
    p._api_key = "wrong-key"  # type: ignore[attr-defined]
    with pytest.raises(LlmError) as info:
        collect(p.stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_UNAVAILABLE and not info.value.retryable
    assert info.value.status == 401 and len(fake.requests) == 1 and not fake.requests[0].auth_ok


def test_provider_faults_switched_on_over_http_reach_the_sdks_as_typed_errors(
    provider: Factory, fake: FakeLlmServer
) -> None:
    import httpx

    control = f"{fake.url}/_fake/faults"
    assert httpx.post(control, json={"rate429": 1.0}).status_code == 200  # counting starts again
    with pytest.raises(LlmError) as info:
        collect(provider().stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_RATE_LIMITED
    answered = httpx.post(control, json={"rate500": 1.0}).json()
    assert answered["injected"]["429"] == len(fake.requests) >= 1  # every attempt got its 429
    with pytest.raises(LlmError) as info:
        collect(provider().stream(REQ))
    assert info.value.code is LlmErrorCode.LLM_UNAVAILABLE
    httpx.post(control, json={"cutRate": 1.0})
    with pytest.raises(LlmError):
        collect(provider().stream(REQ))
    assert httpx.post(control, json={}).json()["injected"]["cut"] >= 1
    text, _, _ = collect(provider().stream(REQ))  # faults off: answered again
    assert text
    assert httpx.post(control, json={"rate": 2}).status_code == 400
