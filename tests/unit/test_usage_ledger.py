"""The credit ledger against a moto server of its own: reserve, settle, refund, expiry, concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from luma.config import Settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from luma.limits import QUOTA_SK, quota_pk
from luma.usage.ledger import CreditLedger, LedgerUnavailableError, Reservation

from local.devstack import MotoServer

PLAN = {"credits_per_day": 1000}


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:  # 2026-09-21 (UTC), mid-morning
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def moto() -> Iterator[Settings]:
    server = MotoServer()
    server.start()
    try:
        table = f"usage-{uuid.uuid4().hex[:8]}"
        settings = Settings(_env_file=None, dynamodb_endpoint_url=server.endpoint, usage_table=table)  # type: ignore[call-arg]
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield settings
    finally:
        server.stop()


def who() -> Principal:
    return Principal(tenant_id=f"t{uuid.uuid4().hex[:8]}", user_id=f"u-{uuid.uuid4().hex[:8]}")


def ledger(settings: Settings, principal: Principal, clock: Clock | None = None, **plan: Any) -> CreditLedger:
    configured = settings.model_copy(
        update={"plans": {"p": {**PLAN, **plan}}, "tenant_plans": {principal.tenant_id: "p"}}
    )
    return CreditLedger(configured, clock=clock or Clock())


def stored(lg: CreditLedger, principal: Principal, day: str, sk: str) -> dict[str, Any]:
    item = lg.client.get_item(
        TableName=lg.table, Key={"pk": {"S": quota_pk(principal.tenant_id, principal.user_id, day)}, "sk": {"S": sk}}
    ).get("Item", {})
    return {k: v.get("N", v.get("S")) for k, v in item.items()}


def test_reserve_then_settle_refunds_the_difference(moto: Settings) -> None:
    alice = who()
    lg = ledger(moto, alice)
    held = lg.reserve(alice, "run-1", 300)
    assert held.held and held.credits == 300 and held.day == "2026-09-21"
    status = lg.status(alice)
    assert (status.held, status.spent, status.credits_left) == (300, 0, 700)
    assert lg.settle(alice, "run-1", held, credits=120, tokens=5000) == "settled"
    status = lg.status(alice)
    assert (status.held, status.spent, status.tokens, status.credits_left) == (0, 120, 5000, 880)
    assert status.cost_usd == pytest.approx(0.00012)
    counter = stored(lg, alice, held.day, QUOTA_SK)
    assert counter["committed"] == "120" and int(counter["ttl"]) > Clock().t
    assert stored(lg, alice, held.day, "RES#run-1")["state"] == "settled"


def test_a_run_that_costs_more_than_it_reserved_is_charged_in_full(moto: Settings) -> None:
    alice = who()
    lg = ledger(moto, alice)
    held = lg.reserve(alice, "run-1", 100)
    lg.settle(alice, "run-1", held, credits=250, tokens=10)
    assert lg.status(alice).spent == 250 and lg.status(alice).credits_left == 750


def test_reserve_and_settle_are_idempotent_per_run(moto: Settings) -> None:
    alice = who()
    lg = ledger(moto, alice)
    first = lg.reserve(alice, "run-1", 300)
    again = lg.reserve(alice, "run-1", 300)  # a retried start of the same run holds nothing more
    assert again == first and lg.status(alice).held == 300
    assert lg.settle(alice, "run-1", first, credits=100, tokens=1) == "settled"
    assert lg.settle(alice, "run-1", first, credits=100, tokens=1) == "already"  # a retried finalize
    status = lg.status(alice)
    assert (status.spent, status.held, status.tokens) == (100, 0, 1)


def test_no_credits_is_quota_exceeded_naming_when_they_renew(moto: Settings) -> None:
    alice = who()
    clock = Clock()
    lg = ledger(moto, alice, clock)
    lg.reserve(alice, "run-1", 800)
    with pytest.raises(LumaError) as caught:
        lg.reserve(alice, "run-2", 300)
    err = caught.value
    assert err.code is ErrorCode.QUOTA_EXCEEDED and err.http_status == 429
    assert err.details["renewsAt"] == "2026-09-22T00:00:00Z" and err.details["creditsLeft"] == 200
    assert err.details["retryAfter"] == 86400 - int(clock.t) % 86400
    assert "00:00 UTC" in err.message and "renouvellent à 00:00 UTC" in err.user_text("fr")
    assert lg.status(alice).held == 800  # the refusal held nothing
    clock.t += 86400  # a new UTC day, a new balance
    assert lg.reserve(alice, "run-3", 900).credits == 900


def test_an_estimate_over_the_whole_balance_reserves_the_balance(moto: Settings) -> None:
    alice = who()
    lg = ledger(moto, alice)
    assert lg.reserve(alice, "run-1", 50_000).credits == 1000


def test_an_unsettled_reservation_expires_and_a_late_settlement_still_charges(moto: Settings) -> None:
    alice = who()
    clock = Clock()
    lg = ledger(moto, alice, clock)
    crashed = lg.reserve(alice, "run-1", 900)
    clock.t += moto.credit_reservation_ttl_s - 1
    with pytest.raises(LumaError):  # not expired yet: still held
        lg.reserve(alice, "run-2", 500)
    clock.t += 2
    second = lg.reserve(alice, "run-2", 500)  # the refusal gave the expired reservation back first
    assert second.credits == 500
    assert stored(lg, alice, crashed.day, "RES#run-1")["state"] == "expired"
    assert lg.status(alice).held == 500
    assert lg.settle(alice, "run-1", crashed, credits=40, tokens=7) == "settled"  # the run did finish, late
    status = lg.status(alice)
    assert (status.spent, status.held, status.credits_left) == (40, 500, 460)


def test_parallel_reservations_never_overdraw(moto: Settings) -> None:
    alice = who()
    results: list[Reservation | str] = []
    lock = threading.Lock()

    def reserve(i: int) -> None:
        try:
            got: Reservation | str = ledger(moto, alice).reserve(alice, f"run-{i}", 100)
        except LumaError as err:
            got = err.code.value
        with lock:
            results.append(got)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    held = [r for r in results if isinstance(r, Reservation)]
    assert len(results) == 16 and len(held) == 10
    assert sorted(r for r in results if isinstance(r, str)) == ["QUOTA_EXCEEDED"] * 6
    status = ledger(moto, alice).status(alice)
    assert status.held == 1000 and status.credits_left == 0


def test_an_unlimited_plan_holds_nothing_and_still_counts_usage(moto: Settings) -> None:
    alice = who()
    lg = ledger(moto, alice, credits_per_day=0)
    held = lg.reserve(alice, "run-1", 10**9)
    assert not held.held and held.credits == 0
    lg.settle(alice, "run-1", held, credits=77, tokens=900)
    assert lg.settle(alice, "run-1", held, credits=77, tokens=900) == "already"
    status = lg.status(alice)
    assert (status.spent, status.tokens, status.credits_left) == (77, 900, None)


def test_users_and_tenants_have_their_own_balances(moto: Settings) -> None:
    alice = who()
    bob = Principal(tenant_id=alice.tenant_id, user_id="u-bob")
    other_alice = Principal(tenant_id=alice.tenant_id + "x", user_id=alice.user_id)
    lg = ledger(moto, alice)
    lg.reserve(alice, "run-1", 1000)
    assert ledger(moto, bob).reserve(bob, "run-1", 1000).credits == 1000
    assert ledger(moto, other_alice).status(other_alice).held == 0


def test_a_store_failure_is_unavailable_never_allowed() -> None:
    class Down:
        def transact_write_items(self, **_: Any) -> Any:
            raise ConnectionError("endpoint unreachable")

    alice = who()
    settings = Settings(_env_file=None, plans={"p": PLAN}, tenant_plans={alice.tenant_id: "p"})  # type: ignore[call-arg]
    with pytest.raises(LedgerUnavailableError):
        CreditLedger(settings, client=Down()).reserve(alice, "run-1", 10)
