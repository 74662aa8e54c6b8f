"""Model routing: tiers from packs, overrides from LUMA_LLM_ROUTES, the provider a run asks, and the
credits, usage and metrics that follow the model used."""

from __future__ import annotations

from typing import Any

import pytest
from luma.agent.limits import resolve_limits
from luma.agent.run import new_run
from luma.config import Settings
from luma.llm import Done, FallbackProvider, TextDelta, Usage, get_provider, reset_providers
from luma.llm.routing import ModelRoute, resolve_route
from luma.usage.metrics import TurnRecord
from pydantic import ValidationError

from tests.unit.test_agent import ScriptedProvider, make_turn, service

TIERS = {"*": "fast", "refund_order": "strong"}


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_no_declaration_is_the_deployments_default_model() -> None:
    route = resolve_route(settings(), "shop", "refund_order")
    assert route == ModelRoute(provider="anthropic", model="claude-sonnet-4-5", source="default")


def test_the_packs_tier_per_intent() -> None:
    s = settings()
    default = resolve_route(s, "shop", None, TIERS)
    assert (default.model, default.tier, default.source) == ("claude-haiku-4-5", "fast", "pack")
    assert default.alternates == {"openai": "gpt-4.1-mini"}
    strong = resolve_route(s, "shop", "refund_order", TIERS)
    assert (strong.provider, strong.model, strong.tier) == ("anthropic", "claude-sonnet-4-5", "strong")
    assert resolve_route(s, "shop", "track_order", TIERS).model == "claude-haiku-4-5"  # "*" for the rest


def test_the_tier_on_the_configured_provider() -> None:
    only_openai = settings(OPENAI_API_KEY="k")
    route = resolve_route(only_openai, "shop", "refund_order", TIERS)
    assert (route.provider, route.model, route.alternates) == ("openai", "gpt-4.1", {"anthropic": "claude-sonnet-4-5"})
    assert resolve_route(settings(llm_provider="openai"), "shop", None, TIERS).model == "gpt-4.1-mini"


def test_routes_override_per_assistant_and_intent() -> None:
    s = settings(
        llm_routes={
            "*": {"*": {"tier": "strong"}},
            "shop": {"refund_order": {"provider": "openai", "model": "gpt-4.1-nano"}, "track_order": {"tier": "fast"}},
        }
    )
    refund = resolve_route(s, "shop", "refund_order", TIERS)
    assert (refund.provider, refund.model, refund.source) == ("openai", "gpt-4.1-nano", "route")
    assert resolve_route(s, "shop", "track_order", TIERS).model == "claude-haiku-4-5"
    # The "*" route of every assistant wins over a pack's "*" (the environment wins, like LUMA_AGENT_LIMITS).
    assert resolve_route(s, "shop", None, TIERS).model == "claude-sonnet-4-5"
    assert resolve_route(s, "other", None).model == "claude-sonnet-4-5"
    switched = resolve_route(settings(llm_routes={"shop": {"*": {"provider": "openai"}}}), "shop", None, TIERS)
    assert (switched.provider, switched.model) == ("openai", "gpt-4.1-mini")  # the same tier, on OpenAI


def test_unknown_tiers_keep_the_route_and_bad_routes_fail_at_cold_start() -> None:
    assert resolve_route(settings(), "shop", None, {"*": "huge"}).model == "claude-sonnet-4-5"
    with pytest.raises(ValidationError):
        settings(llm_routes={"shop": {"*": {"provider": "mistral"}}})
    with pytest.raises(ValidationError):
        settings(llm_routes={"shop": {"*": {"temperature": "1"}}})
    with pytest.raises(ValidationError):
        settings(tenant_plans={"demo": "gold"})  # a plan LUMA_PLANS does not define


def test_get_provider_by_name_shares_the_instances() -> None:
    reset_providers()
    s = settings(ANTHROPIC_API_KEY="k", OPENAI_API_KEY="k2")
    try:
        default, openai_first = get_provider(s), get_provider(s, "openai")
        assert isinstance(default, FallbackProvider) and isinstance(openai_first, FallbackProvider)
        assert default.primary is openai_first.secondary and default.secondary is openai_first.primary
        assert openai_first.primary.name == "openai" and get_provider(s, "openai") is openai_first
        only = settings(ANTHROPIC_API_KEY="k")
        assert get_provider(only, "openai") is None and get_provider(only, "anthropic") is not None
    finally:
        reset_providers()


class Named(ScriptedProvider):
    def __init__(self, name: str, *scripts: list[Any]) -> None:
        super().__init__(*scripts)
        self.name = name


def answer(model: str) -> list[Any]:
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=500)
    return [TextDelta(text="Sure, done."), Done(stop_reason="end_turn", usage=usage, cost_usd=0.01, model=model)]


def test_a_run_asks_its_routes_provider_for_its_model_and_pays_that_models_price() -> None:
    anthropic = Named("anthropic", answer("claude-haiku-4-5"))
    default = Named("scripted")
    svc, conversations, delivery, _ = service(default, providers={"anthropic": anthropic}.get)
    route = resolve_route(svc.settings, "clinic", None, TIERS)
    state = new_run(make_turn(conversations, "hello"), resolve_limits(None), route=route)
    assert state.run.model == "claude-haiku-4-5"
    svc.step(state)
    assert anthropic.requests[0].model == "claude-haiku-4-5" and default.requests == []
    # 1000 x $1 + 200 x $5 + 500 x $0.10 per million = $0.00205 = 2050 credits
    assert state.run.credits == 2050
    [frame] = delivery.of_type("message")
    assert frame["usage"] == {
        "inputTokens": 1500,
        "outputTokens": 200,
        "costUsd": 0.01,
        "credits": 2050,
        "model": "claude-haiku-4-5",
    }
    reply = conversations.messages[("demo", "S1")][-1]
    assert reply.meta["route"] == {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "tier": "fast",
        "source": "pack",
    }
    assert reply.meta["model"] == "claude-haiku-4-5" and reply.meta["credits"] == 2050


def test_an_unconfigured_routes_provider_falls_back_to_the_configured_one_with_its_tier_model() -> None:
    openai = Named("openai", answer("gpt-4.1-mini"))
    svc, conversations, _, _ = service(openai, providers=lambda _name: None)
    route = resolve_route(svc.settings, "clinic", None, TIERS)  # anthropic preferred, not configured here
    state = new_run(make_turn(conversations, "hello"), resolve_limits(None), route=route)
    svc.step(state)
    assert openai.requests[0].model == "gpt-4.1-mini" and state.run.model == "gpt-4.1-mini"


class RecordingCredits:
    def __init__(self) -> None:
        self.settled: list[dict[str, Any]] = []

    def settle(self, principal: Any, run_id: str, reservation: Any, *, credits: int, tokens: int) -> str:
        self.settled.append({"run": run_id, "reservation": reservation, "credits": credits, "tokens": tokens})
        return "settled"


class WithCredits:
    def __init__(self) -> None:
        self.credits = RecordingCredits()


class RecordingMetrics:
    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []

    def record(self, turn: TurnRecord) -> None:
        self.turns.append(turn)


def test_finalize_settles_the_run_and_counts_the_turn() -> None:
    limiter, metrics = WithCredits(), RecordingMetrics()
    anthropic = Named("anthropic", answer("claude-haiku-4-5"))
    svc, conversations, _, _ = service(
        Named("scripted"), providers={"anthropic": anthropic}.get, limiter=limiter, metrics=metrics
    )
    route = resolve_route(svc.settings, "clinic", None, TIERS)
    state = new_run(make_turn(conversations, "hello"), resolve_limits(None), route=route)
    svc.step(state)
    summary = svc.finalize(state)
    assert summary["credits"] == 2050 and summary["route"]["model"] == "claude-haiku-4-5"
    [settled] = limiter.credits.settled
    assert settled == {"run": "01INBOUND", "reservation": None, "credits": 2050, "tokens": 1700}
    [turn] = metrics.turns
    assert turn.ok and turn.route == "agent" and turn.credits == 2050 and turn.model == "claude-haiku-4-5"
    assert (turn.input_tokens, turn.output_tokens) == (1500, 200) and turn.generation_ms > 0
