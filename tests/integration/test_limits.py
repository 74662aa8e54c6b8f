"""Rate limits and credits on the real DynamoDB emulator (moto server), and one WebSocket turn end to end."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from luma.auth import issue_dev_token
from luma.config import Settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from luma.limits import BUCKET_SK, DynamoLimiter, rate_pk
from websockets.sync.client import ClientConnection, connect


class Clock:
    def __init__(self, t: float = 1_790_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fresh(tenant: str = "rl") -> Principal:
    return Principal(tenant_id=f"{tenant}-{uuid.uuid4().hex[:8]}", user_id=f"u-{uuid.uuid4().hex[:8]}")


def make(settings: Settings, clock: Clock, **limits: Any) -> DynamoLimiter:
    return DynamoLimiter(settings.model_copy(update=limits), clock=clock)


def test_bucket_refills_over_time(ddb_settings: Settings) -> None:
    clock = Clock()
    lim = make(ddb_settings, clock, rate_limit_user_per_minute=6, rate_limit_user_burst=2)
    who = fresh()
    assert [lim.check(who).allowed for _ in range(3)] == [True, True, False]
    refused = lim.check(who)
    assert refused.retry_after_s == 10 and refused.scope == "user"
    clock.t += 10
    assert lim.check(who).allowed and not lim.check(who).allowed
    clock.t += 600
    assert [lim.check(who).allowed for _ in range(3)] == [True, True, False]
    item = lim.client.get_item(
        TableName=ddb_settings.usage_table,
        Key={"pk": {"S": rate_pk(who.tenant_id, "U", who.user_id)}, "sk": {"S": BUCKET_SK}},
    )["Item"]
    assert int(item["ttl"]["N"]) > clock.t  # idle buckets expire


def test_concurrent_takers_never_exceed_the_burst(ddb_settings: Settings) -> None:
    clock = Clock()  # frozen: no refill during the test, so exactly `burst` tokens exist
    who = fresh()
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        lim = make(ddb_settings, clock, rate_limit_user_per_minute=1, rate_limit_user_burst=10)  # one "container" each
        for _ in range(5):
            ok = lim.check(who).allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(allowed) == 60 and allowed.count(True) == 10


def test_concurrent_users_behind_one_address_never_exceed_the_ip_burst(ddb_settings: Settings) -> None:
    clock = Clock()
    tenant = fresh().tenant_id
    allowed: list[bool] = []
    lock = threading.Lock()

    def user(n: int) -> None:
        lim = make(
            ddb_settings, clock, rate_limit_user_per_minute=100, rate_limit_ip_per_minute=1, rate_limit_ip_burst=7
        )
        who = Principal(tenant_id=tenant, user_id=f"u-{n}")
        for _ in range(4):  # user and IP bucket in one transaction each time
            ok = lim.check(who, "192.0.2.77").allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(allowed) == 32 and allowed.count(True) == 7


def test_per_ip_is_separate_from_per_user(ddb_settings: Settings) -> None:
    clock = Clock()
    lim = make(ddb_settings, clock, rate_limit_user_per_minute=2, rate_limit_ip_per_minute=3)
    alice = fresh()
    bob = Principal(tenant_id=alice.tenant_id, user_id="u-bob")
    ip = "198.51.100.23"
    assert lim.check(alice, ip).allowed and lim.check(alice, ip).allowed
    assert lim.check(alice, "198.51.100.24").scope == "user"  # Alice's bucket is empty whatever the IP
    assert lim.check(bob, ip).allowed  # Bob's bucket is full; the IP has one token left
    refused = lim.check(bob, ip)
    assert not refused.allowed and refused.scope == "ip"
    other_tenant = Principal(tenant_id=alice.tenant_id + "x", user_id=alice.user_id)
    assert lim.check(other_tenant, ip).allowed  # buckets are per tenant


def test_tenant_override(ddb_settings: Settings) -> None:
    clock = Clock()
    strict, lax = fresh("strict"), fresh("lax")
    lim = make(
        ddb_settings,
        clock,
        rate_limit_user_per_minute=100,
        rate_limits={strict.tenant_id: {"user_per_minute": 1}},
    )
    assert [lim.check(strict).allowed for _ in range(2)] == [True, False]
    assert lim.check(strict).retry_after_s == 60
    assert all(lim.check(lax).allowed for _ in range(20))


def test_credits_are_the_limiters_quota_part(ddb_settings: Settings) -> None:
    clock = Clock()
    who = fresh()
    lim = make(ddb_settings, clock, plans={"p": {"credits_per_day": 1000}}, tenant_plans={who.tenant_id: "p"})
    held = lim.credits.reserve(who, "run-1", 600)
    assert held.credits == 600 and lim.credits.status(who).credits_left == 400
    with pytest.raises(LumaError) as caught:
        lim.credits.reserve(who, "run-2", 600)
    assert caught.value.code is ErrorCode.QUOTA_EXCEEDED and caught.value.details["creditsLeft"] == 400
    lim.credits.settle(who, "run-1", held, credits=100, tokens=800)
    status = lim.credits.status(who)
    assert (status.spent, status.tokens, status.credits_left) == (100, 800, 900)
    clock.t += 86400
    assert lim.credits.status(who).credits_left == 1000  # a new UTC day


# -- end to end: WebSocket client → gateway → classify handler → moto ---------------------------

E2E_TENANT = "rl-e2e"


@pytest.fixture
def strict_tenant(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tenant allowed 2 messages a minute; handlers re-read the settings (same process as the gateway)."""
    from luma import wiring
    from luma.config import reset_settings

    monkeypatch.setenv("LUMA_RATE_LIMITS", json.dumps({E2E_TENANT: {"user_per_minute": 2}}))
    reset_settings()
    wiring.reset()
    try:
        yield E2E_TENANT
    finally:
        monkeypatch.delenv("LUMA_RATE_LIMITS")
        reset_settings()
        wiring.reset()


def _answers(ws: ClientConnection, *cids: str, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The reply (``message``) or ``error`` frame of each clientMessageId, in whatever order they come."""
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(cids):
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        cid = frame.get("replyTo") or (frame.get("clientMessageId") if frame["type"] == "error" else None)
        if cid in cids:
            got[cid] = frame
    return got


def test_websocket_turn_over_the_limit_gets_rate_limited(local_stack: Any, strict_tenant: str) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    url = f"{local_stack.ws_url}?token={issue_dev_token(user, strict_tenant)}"
    with connect(url, open_timeout=10, max_size=2**20) as ws:
        ws.send(json.dumps({"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": "r1"}))
        first = _answers(ws, "r1")["r1"]
        assert first["type"] == "message"
        sid = first["sessionId"]
        answers: dict[str, dict[str, Any]] = {}
        for cid in ("r2", "r3"):  # one after the other: the gateway runs concurrent frames concurrently
            frame = {"action": "sendMessage", "text": "opening hours?", "clientMessageId": cid, "sessionId": sid}
            ws.send(json.dumps(frame))
            answers.update(_answers(ws, cid))
        assert answers["r2"]["type"] == "message"
        err = answers["r3"]
    assert err["type"] == "error" and err["code"] == "RATE_LIMITED" and err["sessionId"] == sid
    assert 1 <= err["details"]["retryAfter"] <= 30
    from luma import wiring

    stored = wiring.conversations().list_messages(strict_tenant, sid).items
    refused = [m for m in stored if m.client_message_id == "r3"]
    assert len(refused) == 1 and refused[0].meta == {"refused": "rate_limited"}
    decision = wiring.conversations().get_decision(strict_tenant, sid, refused[0].message_id)
    assert decision is not None and decision.reason == "rate_limited"
