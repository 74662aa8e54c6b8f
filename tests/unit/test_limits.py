"""Rate limits without DynamoDB: configuration, per-tenant and per-tier levels, the GCRA arithmetic.

The bucket logic runs against a tiny in-memory stand-in that evaluates exactly the two conditional
updates :class:`luma.limits.DynamoLimiter` sends; tests/integration/test_limits.py runs it on moto.
"""

from __future__ import annotations

from typing import Any

import pytest
from luma.config import Settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from luma.limits import DynamoLimiter, NoLimits, RateTier, limits_for, quota_pk, rate_pk
from pydantic import ValidationError

ALICE = Principal(tenant_id="demo", user_id="u-alice")


class ConditionFailedError(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("ConditionalCheckFailedException")
        self.item = item
        self.response: dict[str, Any] = {"Error": {"Code": "ConditionalCheckFailedException"}}
        if item:
            self.response["Item"] = item


class TransactionCanceledError(Exception):
    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("TransactionCanceledException")
        self.response = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}


class MiniDynamo:
    """Understands the limiter's update/get expressions, and nothing else."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls = 0

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        saved, reasons, failed = dict(self.items), [], False
        for op in TransactItems:
            try:
                self._update(**op["Update"])
                reasons.append({"Code": "None"})
            except ConditionFailedError as exc:
                reasons.append({"Code": "ConditionalCheckFailed", **({"Item": exc.item} if exc.item else {})})
                failed = True
        if failed:
            self.items = saved
            raise TransactionCanceledError(reasons)
        return {}

    def update_item(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        return self._update(**kw)

    def _update(self, **kw: Any) -> dict[str, Any]:
        key = (kw["Key"]["pk"]["S"], kw["Key"]["sk"]["S"])
        v = {k: int(x["N"]) for k, x in kw["ExpressionAttributeValues"].items()}
        item = self.items.get(key)
        tat = int(item["tat"]["N"]) if item and "tat" in item else None
        expr = kw["UpdateExpression"]
        if "tat + :i" in expr:
            ok, new = tat is not None and v[":now"] < tat <= v[":max"], (tat or 0) + v[":i"]
        else:
            ok, new = tat is None or tat <= v[":now"], v[":tat"]
        if not ok:
            raise ConditionFailedError(item)
        self.items[key] = {"tat": {"N": str(new)}, "ttl": {"N": str(v[":ttl"])}}
        return {"Attributes": {"tat": {"N": str(new)}}}

    def get_item(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        item = self.items.get((kw["Key"]["pk"]["S"], kw["Key"]["sk"]["S"]))
        return {"Item": item} if item else {}


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def limiter(settings: Settings | None = None) -> tuple[DynamoLimiter, MiniDynamo, Clock]:
    ddb, clock = MiniDynamo(), Clock()
    return DynamoLimiter(settings or Settings(), clock=clock, client=ddb), ddb, clock


def test_defaults_and_tenant_override_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMA_RATE_LIMITS", '{"demo": {"user_per_minute": 5}}')
    monkeypatch.setenv("LUMA_RATE_LIMIT_IP_PER_MINUTE", "90")
    monkeypatch.delenv("LUMA_RATE_LIMIT_USER_PER_MINUTE", raising=False)  # the local stack raises it
    settings = Settings()
    demo, other = limits_for(settings, "demo"), limits_for(settings, "acme")
    assert (demo.user_per_minute, demo.user_burst, demo.ip_per_minute) == (5, 5, 90)
    assert (other.user_per_minute, other.user_burst) == (30, 30)


@pytest.fixture
def no_stack_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack (when it runs in the same process) raises the limits through the environment."""
    for name in ("LUMA_RATE_LIMIT_USER_PER_MINUTE", "LUMA_RATE_LIMIT_IP_PER_MINUTE", "LUMA_RATE_LIMITS", "LUMA_PLANS"):
        monkeypatch.delenv(name, raising=False)


PACK_TIERS = {"verified": {"user_per_minute": 40}, "unverified": {"user_per_minute": 6, "ip_per_minute": 1}}


@pytest.mark.usefixtures("no_stack_limits")
def test_verified_and_unverified_users_get_the_packs_user_limits() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    verified = limits_for(settings, "demo", RateTier(True, PACK_TIERS))
    unverified = limits_for(settings, "demo", RateTier(False, PACK_TIERS))
    assert (verified.user_per_minute, verified.user_burst) == (40, 40)
    assert (unverified.user_per_minute, unverified.user_burst) == (6, 6)
    assert unverified.ip_per_minute == verified.ip_per_minute == 120  # a pack sets user limits only
    assert limits_for(settings, "demo", RateTier(False)).user_per_minute == 30  # no declaration: the defaults


@pytest.mark.usefixtures("no_stack_limits")
def test_what_the_deployment_sets_wins_over_the_pack() -> None:
    unverified = RateTier(False, PACK_TIERS)
    explicit = Settings(_env_file=None, rate_limit_user_per_minute=100)  # type: ignore[call-arg]
    assert limits_for(explicit, "demo", unverified).user_per_minute == 100
    plans = Settings(
        _env_file=None,  # type: ignore[call-arg]
        rate_limit_user_per_minute=100,
        plans={"gold": {"rate_limits": {"user_per_minute": 50, "unverified": {"user_per_minute": 3}}}},
        tenant_plans={"demo": "gold"},
    )
    assert limits_for(plans, "demo", unverified).user_per_minute == 3  # the plan's tier
    assert limits_for(plans, "demo", RateTier(True, PACK_TIERS)).user_per_minute == 50  # the plan's flat limit
    assert limits_for(plans, "acme", unverified).user_per_minute == 100  # another tenant: default plan
    tenant = plans.model_copy(update={"rate_limits": {"demo": {"user_per_minute": 7}}})
    assert limits_for(tenant, "demo", unverified).user_per_minute == 7  # LUMA_RATE_LIMITS last


@pytest.mark.usefixtures("no_stack_limits")
def test_a_check_without_a_tier_uses_the_users_last_one() -> None:
    lim, _, _ = limiter(Settings(_env_file=None, rate_limit_ip_per_minute=0))  # type: ignore[call-arg]
    check = lim.inline(ALICE, None, RateTier(False, {"unverified": {"user_per_minute": 2}}))
    assert check is not None and check.buckets[0].burst == 2
    assert [lim.check(ALICE).allowed for _ in range(3)] == [True, True, False]  # 2 per minute, as inline


@pytest.mark.parametrize("raw", ['{"demo": {"per_minute": 5}}', '{"demo": {"user_per_minute": -1}}', "[1]"])
def test_bad_overrides_fail_at_cold_start(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("LUMA_RATE_LIMITS", raw)
    with pytest.raises(ValidationError):
        Settings()


def test_quota_exceeded_is_a_429_with_a_user_safe_message() -> None:
    err = LumaError(ErrorCode.QUOTA_EXCEEDED)
    assert err.http_status == 429 and "today" in err.message


def test_keys_start_with_the_tenant() -> None:
    assert rate_pk("demo", "U", "u-1") == "T#demo#RL#U#u-1"
    assert rate_pk("demo", "IP", "2001:db8::1") == "T#demo#RL#IP#2001:db8::1"
    assert quota_pk("demo", "u-1", "2026-11-20") == "T#demo#Q#u-1#2026-11-20"


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    lim, _, clock = limiter(Settings(rate_limit_user_per_minute=6, rate_limit_user_burst=3))
    results = [lim.check(ALICE) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    assert results[3].scope == "user" and results[3].retry_after_s == 10  # one token every 10 s
    clock.t += 9.5
    assert not lim.check(ALICE).allowed
    clock.t += 0.5
    assert lim.check(ALICE).allowed and not lim.check(ALICE).allowed
    clock.t += 3600  # a long idle period refills to the burst, never beyond it
    assert [lim.check(ALICE).allowed for _ in range(4)] == [True, True, True, False]


def test_common_case_is_one_round_trip() -> None:
    lim, ddb, clock = limiter(Settings(rate_limit_user_per_minute=60, rate_limit_user_burst=5))
    for _ in range(3):  # idle user, then a burst: the hint picks the right update first
        lim.check(ALICE)
    assert ddb.calls == 3
    fresh = DynamoLimiter(Settings(rate_limit_user_per_minute=60, rate_limit_user_burst=5), clock=clock, client=ddb)
    fresh.check(ALICE)  # another process, no hint: idle guess fails, the returned item says "busy"
    assert ddb.calls == 5


def test_ip_and_user_buckets_are_separate() -> None:
    lim, _, _ = limiter(Settings(rate_limit_user_per_minute=2, rate_limit_ip_per_minute=3))
    bob = Principal(tenant_id="demo", user_id="u-bob")
    assert lim.check(ALICE, "203.0.113.1").allowed and lim.check(ALICE, "203.0.113.1").allowed
    refused = lim.check(ALICE, "203.0.113.2")
    assert not refused.allowed and refused.scope == "user"
    assert lim.check(bob, "203.0.113.1").allowed  # the IP's third token
    ip_refused = lim.check(bob, "203.0.113.1")
    assert not ip_refused.allowed and ip_refused.scope == "ip"


def test_both_buckets_in_one_round_trip_all_or_nothing() -> None:
    lim, ddb, clock = limiter(
        Settings(rate_limit_user_per_minute=60, rate_limit_user_burst=2, rate_limit_ip_per_minute=60)
    )
    assert lim.check(ALICE, "203.0.113.1").allowed and ddb.calls == 1  # one TransactWriteItems
    assert lim.check(ALICE, "203.0.113.1").allowed and ddb.calls == 2  # the hint guessed "busy" for the user
    refused = lim.check(ALICE, "203.0.113.1")
    assert not refused.allowed and refused.scope == "user" and refused.retry_after_s == 1
    ip_tat = ddb.items[(rate_pk("demo", "IP", "203.0.113.1"), "BUCKET")]["tat"]["N"]
    assert int(ip_tat) == int(clock.t * 1_000_000) + 2_000_000  # the refusal took no IP token


def test_zero_disables_a_limit() -> None:
    lim, ddb, _ = limiter(Settings(rate_limit_user_per_minute=0, rate_limit_ip_per_minute=0))
    assert all(lim.check(ALICE, "203.0.113.1").allowed for _ in range(50))
    assert lim.inline(ALICE, "203.0.113.1") is None and ddb.calls == 0


def test_store_failures_fail_open() -> None:
    class Down:
        def update_item(self, **_: Any) -> Any:
            raise ConnectionError("endpoint unreachable")

        get_item = transact_write_items = update_item

    lim = DynamoLimiter(Settings(), client=Down())
    assert lim.check(ALICE, "203.0.113.1").allowed
    assert lim.check(ALICE).allowed


def test_no_limits() -> None:
    assert NoLimits().check(ALICE).allowed and NoLimits().inline(ALICE) is None
