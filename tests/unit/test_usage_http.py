"""The usage routes in process: ``GET /me/usage`` (the caller's day) and ``GET /metrics`` (operators, their
own tenant only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.http import usage as usage_routes
from luma.http.app import create_app
from luma.limits import NoLimits
from luma.usage.ledger import UsageStatus
from luma.usage.metrics import TurnRecord

from tests.fakes import MemorySessionStore

HOUR = datetime(2026, 9, 21, 10, tzinfo=UTC)


def auth(user: str, tenant: str = "demo", **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(user, tenant, **kw)}"}


class Balances:
    def status(self, principal: Any) -> UsageStatus:
        return UsageStatus(
            plan="default",
            day="2026-09-21",
            tokens=1234,
            spent=2500,
            held=500,
            limit=10_000 if principal.user_id == "u-alice" else 0,
            renews_at=datetime(2026, 9, 22, tzinfo=UTC),
        )


class Limiter(NoLimits):
    credits = Balances()


class Counters:
    """Hourly counters per tenant, in memory."""

    def __init__(self) -> None:
        self.tenants: dict[str, dict[str, int]] = {}
        self.reads: list[tuple[str, int]] = []

    def add(self, turn: TurnRecord) -> None:
        hour = self.tenants.setdefault(turn.tenant_id, {})
        for k, v in turn.adds().items():
            hour[k] = hour.get(k, 0) + v

    def record(self, turn: TurnRecord) -> None:
        self.add(turn)

    def read(self, tenant_id: str, hours: int) -> list[tuple[datetime, dict[str, int]]]:
        self.reads.append((tenant_id, hours))
        return [(HOUR, dict(self.tenants.get(tenant_id, {})))]


@pytest.fixture
def counters() -> Counters:
    found = Counters()
    found.add(TurnRecord("demo", "fast_path", "hours", True, 20))
    found.add(TurnRecord("demo", "agent", None, False, 900, code="QUOTA_EXCEEDED"))
    found.add(TurnRecord("acme", "fast_path", "hours", True, 20))
    return found


@pytest.fixture
def client(counters: Counters) -> Iterator[TestClient]:
    store = MemorySessionStore()
    app = create_app(lambda: store, limiter=Limiter)
    if not any(getattr(r, "path", "") == "/metrics" for r in app.routes):
        app.include_router(usage_routes.router)  # until the app includes it itself
    app.dependency_overrides[usage_routes._metrics] = lambda: counters
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_my_usage_today(client: TestClient) -> None:
    resp = client.get("/me/usage", headers=auth("u-alice"))
    assert resp.status_code == 200
    assert resp.json() == {
        "plan": "default",
        "day": "2026-09-21",
        "tokensToday": 1234,
        "costToday": 0.0025,
        "creditsPerDay": 10_000,
        "creditsHeld": 500,
        "creditsLeft": 7000,
        "renewsAt": "2026-09-22T00:00:00Z",
    }
    unlimited = client.get("/me/usage", headers=auth("u-bob")).json()
    assert unlimited["creditsLeft"] is None and unlimited["creditsPerDay"] is None
    assert client.get("/me/usage").status_code == 401


def test_metrics_are_for_operators_of_their_own_tenant(client: TestClient, counters: Counters) -> None:
    assert client.get("/metrics", headers=auth("u-alice")).status_code == 403
    resp = client.get("/metrics?hours=12", headers=auth("op-1", role="operator"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["tenantId"] == "demo" and counters.reads == [("demo", 12)]
    assert body["totalRequests"] == 2 and body["errorCounts"] == {"QUOTA_EXCEEDED": 1}
    assert body["successRate"] == 0.5 and body["fastPathShare"] == 0.5
    for key in ("avgResponseMs", "p95ResponseMs", "avgTokensPerRequest", "tokensPerSecond", "intentDistribution"):
        assert key in body
    acme = client.get("/metrics", headers=auth("op-2", tenant="acme", role="operator")).json()
    assert acme["tenantId"] == "acme" and acme["totalRequests"] == 1 and counters.reads[-1] == ("acme", 24)


@pytest.mark.parametrize("hours", ["0", "169", "x"])
def test_hours_are_validated(client: TestClient, hours: str) -> None:
    resp = client.get(f"/metrics?hours={hours}", headers=auth("op-1", role="operator"))
    assert resp.status_code == 422 and resp.json()["code"] == "VALIDATION_FAILED"
