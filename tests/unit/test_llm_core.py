"""LLM layer without a network: lazy imports, types, pricing, retry policy, breaker, provider choice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
    build_provider,
    get_provider,
    reset_providers,
)
from luma.llm.anthropic_provider import AnthropicProvider, build_params
from luma.llm.base import BaseProvider
from luma.llm.errors import status_error
from luma.llm.openai_provider import OpenAIProvider, to_openai_messages
from luma.llm.resilience import parse_retry_after


def test_importing_luma_llm_loads_no_provider_sdk() -> None:
    code = (
        "import sys, luma.llm, luma.llm.anthropic_provider, luma.llm.openai_provider\n"
        "from luma.config import Settings\n"
        "luma.llm.build_provider(Settings(ANTHROPIC_API_KEY='k', OPENAI_API_KEY='k'))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('anthropic', 'openai')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_usage_cost_uses_longest_prefix() -> None:
    prices = {"claude": {"input": 100.0}, "claude-sonnet-4": {"input": 3.0, "output": 15.0, "cache_read": 0.3}}
    u = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=1_000_000)
    assert u.cost_usd("claude-sonnet-4-5-20250929", prices) == pytest.approx(3.0 + 1.5 + 0.3)
    assert u.cost_usd("mystery-model", prices) is None
    assert (u + u).input_tokens == 2_000_000


def test_default_price_table_covers_default_models() -> None:
    s = Settings()
    u = Usage(input_tokens=1000, output_tokens=1000)
    assert u.cost_usd(s.llm_model_anthropic, s.llm_prices)
    assert u.cost_usd(s.llm_model_openai, s.llm_prices)


def test_content_blocks_validate_from_json() -> None:
    msg = ChatMessage.model_validate(
        {"role": "assistant", "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "1", "name": "t"}]}
    )
    assert isinstance(msg.content[1], ToolUseBlock) and msg.text == "hi"


def test_retry_policy() -> None:
    policy = RetryPolicy(max_retries=3, backoff_base_s=1.0, backoff_max_s=3.0, retry_after_max_s=5.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 3.0)):
        delay = policy.delay(attempt, None)
        assert delay is not None and ceiling / 2 <= delay <= ceiling
    assert policy.delay(4, None) is None
    assert policy.delay(1, 4.5) == 4.5  # retry-after wins
    assert policy.delay(1, 60) is None  # too long to wait: give the error back


def test_parse_retry_after() -> None:
    assert parse_retry_after({"retry-after": "0.2"}) == 0.2
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": when}) or 0) <= 30


def test_circuit_breaker_states() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=2, cooldown_s=5, clock=lambda: now[0])
    b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow() and b.retry_in() == 5
    now[0] = 5
    assert b.state == "half_open"
    assert b.allow() and not b.allow()  # one trial at a time
    b.record_failure()  # the trial failed: open again
    assert b.state == "open"
    now[0] = 10
    assert b.allow()
    b.record_success()
    assert b.state == "closed"


@pytest.mark.parametrize(
    ("status", "etype", "text", "code", "retryable"),
    [
        (429, "", "", LlmErrorCode.LLM_RATE_LIMITED, True),
        (500, "", "", LlmErrorCode.LLM_UNAVAILABLE, True),
        (529, "overloaded_error", "", LlmErrorCode.LLM_UNAVAILABLE, True),
        (200, "overloaded_error", "", LlmErrorCode.LLM_UNAVAILABLE, True),  # error event inside a stream
        (504, "", "", LlmErrorCode.LLM_TIMEOUT, True),
        (400, "invalid_request_error", "prompt is too long: 210000 tokens", LlmErrorCode.LLM_CONTEXT_TOO_LONG, False),
        (401, "", "", LlmErrorCode.LLM_UNAVAILABLE, False),
        (400, "", "", LlmErrorCode.LLM_BAD_RESPONSE, False),
    ],
)
def test_status_mapping(status: int, etype: str, text: str, code: LlmErrorCode, retryable: bool) -> None:
    err = status_error(status, etype, text, None, "p")
    assert err.code is code and err.retryable is retryable
    assert "Traceback" not in err.message and str(status) not in err.message


def test_anthropic_params_mark_the_cached_prefix() -> None:
    tools = [ToolSpec(name="a", description="A"), ToolSpec(name="b", description="B")]
    params = build_params(LlmRequest(system="sys", messages=[ChatMessage.user("x")], tools=tools), "m", 10)
    assert params["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in params["tools"][0] and params["tools"][1]["cache_control"]
    assert "system" not in build_params(LlmRequest(messages=[ChatMessage.user("x")]), "m", 10)


def test_openai_message_conversion() -> None:
    msgs = [
        ChatMessage.user("hi"),
        ChatMessage(role="assistant", content=[ToolUseBlock(id="c1", name="t", input={"a": 1})]),
        ChatMessage(role="user", content=[ToolResultBlock(tool_use_id="c1", content="boom", is_error=True)]),
    ]
    out = to_openai_messages("sys", msgs)
    assert out[0] == {"role": "system", "content": "sys"}
    assert out[2]["content"] is None and out[2]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert out[3] == {"role": "tool", "tool_call_id": "c1", "content": "ERROR: boom"}


def test_get_provider_choice() -> None:
    reset_providers()
    assert build_provider(Settings()) is None
    only_anthropic = build_provider(Settings(ANTHROPIC_API_KEY="k"))
    assert isinstance(only_anthropic, AnthropicProvider) and only_anthropic.model == "claude-sonnet-4-5"
    compat = build_provider(Settings(OPENAI_BASE_URL="http://127.0.0.1:1/v1", llm_model_openai="llama3"))
    assert isinstance(compat, OpenAIProvider) and compat.model == "llama3"
    both = build_provider(Settings(ANTHROPIC_API_KEY="k", OPENAI_API_KEY="k2", llm_provider="openai"))
    assert isinstance(both, FallbackProvider) and isinstance(both.primary, OpenAIProvider)
    no_fb = build_provider(Settings(ANTHROPIC_API_KEY="k", OPENAI_API_KEY="k2", llm_fallback=False))
    assert isinstance(no_fb, AnthropicProvider)
    assert "k2" not in repr(both)
    s = Settings(ANTHROPIC_API_KEY="k")
    assert get_provider(s) is get_provider(s)  # one provider (and breaker) per process
    reset_providers()


class Scripted(BaseProvider):
    """A provider whose attempts are given as a list of outcomes."""

    name = "scripted"

    def __init__(self, outcomes: list[LlmError | list[LlmEvent]], **kw: object) -> None:
        super().__init__(
            model="m",
            max_tokens=10,
            retry=RetryPolicy(max_retries=2, backoff_base_s=0),
            breaker=CircuitBreaker(threshold=10),
            sleep=lambda _s: None,
        )
        self.outcomes = outcomes
        self.calls = 0

    def _attempt(self, request: LlmRequest, model: str, max_tokens: int) -> Iterator[LlmEvent]:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, LlmError):
            raise outcome
        yield from outcome


DONE = Done(stop_reason="end_turn", usage=Usage())
REQ = LlmRequest(messages=[ChatMessage.user("x")])


def test_non_retryable_errors_are_not_retried() -> None:
    p = Scripted([LlmError(LlmErrorCode.LLM_CONTEXT_TOO_LONG, retryable=False)])
    with pytest.raises(LlmError):
        list(p.stream(REQ))
    assert p.calls == 1


def test_fallback_after_primary_exhausts_retries() -> None:
    down = LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=True)
    primary = Scripted([down, down, down])
    secondary = Scripted([[TextDelta(text="ok"), DONE]])
    events = list(FallbackProvider(primary, secondary).stream(REQ))
    assert primary.calls == 3 and secondary.calls == 1
    assert events[0] == TextDelta(text="ok")


def test_abandoned_half_open_trial_does_not_wedge_the_breaker() -> None:
    now = [0.0]
    p = Scripted([[TextDelta(text="a"), TextDelta(text="b"), DONE]])
    p.breaker = CircuitBreaker(threshold=1, cooldown_s=1, clock=lambda: now[0])
    p.breaker.record_failure()
    now[0] = 2
    stream = p.stream(REQ)
    assert next(stream) == TextDelta(text="a")
    stream.close()  # the consumer stops reading mid-stream
    assert p.breaker.state == "closed" and p.breaker.allow()
