"""mem0-style extraction calls through both wire formats of the fake model (Anthropic and OpenAI SDKs):
facts with their cited messages, update decisions that cannot name a memory that does not exist,
answers wrapped in prose or code fences, and answers that are not the JSON asked for."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from luma.llm import BaseProvider, CircuitBreaker, RetryPolicy
from luma.llm.anthropic_provider import AnthropicProvider
from luma.llm.openai_provider import OpenAIProvider
from luma.memory.llm import Fact, MemoryLlmError, decide, extract_facts, summarize
from luma.memory.model import MemoryItem, MemoryKind, SourceMessage

from local.fake_llm import FakeLlmServer, Script

AT = datetime(2024, 2, 12, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest, fake: FakeLlmServer) -> BaseProvider:
    fake.clear()
    common = {"max_tokens": 256, "retry": RetryPolicy(max_retries=0), "breaker": CircuitBreaker(50, 30)}
    if request.param == "anthropic":
        return AnthropicProvider(api_key=fake.api_key, base_url=fake.url, model="claude-test", **common)  # type: ignore[arg-type]
    return OpenAIProvider(api_key=fake.api_key, base_url=fake.url + "/v1", model="gpt-test", **common)  # type: ignore[arg-type]


def _messages() -> list[SourceMessage]:
    return [
        SourceMessage("m1", "s1", "assistant", "What brings you here today?", AT),
        SourceMessage("m2", "s1", "user", "My knee hurts since I fell skiing last week.", AT + timedelta(seconds=5)),
        SourceMessage("m3", "s1", "user", "I'm Tom, by the way.", AT + timedelta(seconds=9), speaker="Tom"),
    ]


def _memory(n: int, text: str) -> MemoryItem:
    return MemoryItem(f"mem{n}", "t", "u", MemoryKind.FACT, text, "s0", ("m0",), AT)


def test_facts_cite_their_messages_and_the_prompt_shows_dates_and_roles(
    provider: BaseProvider, fake: FakeLlmServer
) -> None:
    answer = {"facts": [{"text": "Tom hurt his knee skiing around 5 February 2024.", "sources": [2]}, {"text": "Tom"}]}
    fake.enqueue(Script(text=["```json\n", json.dumps(answer), "\n```"]))
    facts = extract_facts(provider, _messages())
    assert facts == [
        Fact("Tom hurt his knee skiing around 5 February 2024.", ("m2",)),
        Fact("Tom", ("m2", "m3")),  # no citation: the user's messages of the batch
    ]
    body = json.dumps(fake.requests[-1].body)
    assert "[2] (12 February 2024) User (user): My knee hurts" in body
    assert "[3] (12 February 2024) Tom (user)" in body and "[1] (12 February 2024) Assistant (assistant)" in body
    assert extract_facts(provider, [_messages()[0]]) == []  # nothing the user said: no call
    assert len(fake.requests) == 1


def test_decisions_map_short_ids_back_and_never_invent_a_target(provider: BaseProvider, fake: FakeLlmServer) -> None:
    facts = [Fact("User lives in Paris.", ("m5",)), Fact("User has a cat.", ("m5",)), Fact("User is 40.", ("m6",))]
    existing = [_memory(1, "User lives in Lyon."), _memory(2, "User is 39.")]
    actions = [
        {"fact": "f0", "event": "UPDATE", "id": "m0", "text": "User lives in Paris (moved from Lyon)."},
        {"fact": "f1", "event": "DELETE", "id": "m9"},  # no such memory: added instead
        {"fact": "f0", "event": "NOOP", "id": "m0"},  # a second action for one fact is ignored
        {"fact": "f7", "event": "ADD"},  # no such fact
    ]
    fake.enqueue(Script(text=["Here you go: ", json.dumps({"actions": actions})]))
    decisions = decide(provider, facts, existing)
    assert [(d.event, d.target.memory_id if d.target else None, d.text) for d in decisions] == [
        ("UPDATE", "mem1", "User lives in Paris (moved from Lyon)."),
        ("ADD", None, "User has a cat."),
        ("ADD", None, "User is 40."),  # left out by the model: added
    ]
    prompt = json.dumps(fake.requests[-1].body)
    assert "mem1" not in prompt and "m0" in prompt  # the model sees short ids only
    calls = len(fake.requests)
    assert [d.event for d in decide(provider, facts, [])] == ["ADD", "ADD", "ADD"]  # nothing to compare with
    assert len(fake.requests) == calls


@pytest.mark.parametrize(
    "answer", ["I could not find any facts.", '{"facts": "none"}', '{"facts": [{"text": ""}]}', "{not json}"]
)
def test_answers_that_are_not_the_json_asked_for_are_typed_errors(
    provider: BaseProvider, fake: FakeLlmServer, answer: str
) -> None:
    fake.enqueue(Script(text=[answer]))
    with pytest.raises(MemoryLlmError):
        extract_facts(provider, _messages())


def test_summary_is_the_models_text(provider: BaseProvider, fake: FakeLlmServer) -> None:
    fake.enqueue(Script(text=["Tom hurt his knee ", "skiing; he asked about physiotherapy."]))
    assert summarize(provider, _messages()) == "Tom hurt his knee skiing; he asked about physiotherapy."
    fake.enqueue(Script(text=["  "]))
    with pytest.raises(MemoryLlmError):
        summarize(provider, _messages())
