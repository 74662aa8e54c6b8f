"""Usage: plans and credits (:mod:`~luma.usage.ledger`), per-turn metrics (:mod:`~luma.usage.metrics`),
prices and estimates (:mod:`~luma.usage.pricing`).

The credit ledger is the quota part of the limiter (:attr:`luma.limits.DynamoLimiter.credits`); the
metrics are written beside the conversations (the same DynamoDB), so services built over in-memory
fakes count nothing (:func:`metrics_beside`).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from luma.usage.metrics import NoTurnMetrics, TurnMetrics, TurnRecord

if TYPE_CHECKING:
    from luma.domain.models import Principal
    from luma.usage.ledger import Reservation, UsageStatus
    from luma.usage.plans import Plan

__all__ = ["Credits", "NoCredits", "TurnMetrics", "TurnRecord", "credits_of", "metrics_beside"]


class Credits(Protocol):
    """What agent runs and the usage routes ask of the credit ledger (:class:`~luma.usage.ledger.CreditLedger`)."""

    def plan(self, tenant_id: str) -> Plan: ...
    def reserve(self, principal: Principal, run_id: str, credits: int) -> Reservation: ...
    def settle(
        self, principal: Principal, run_id: str, reservation: Reservation | None, *, credits: int, tokens: int
    ) -> str: ...
    def status(self, principal: Principal) -> UsageStatus: ...


class NoCredits:
    """No balance and nothing counted (the limiter of unit tests and callers that opt out)."""

    def plan(self, tenant_id: str) -> Plan:
        from luma.usage.plans import Plan

        return Plan(credits_per_day=0)

    def reserve(self, principal: Principal, run_id: str, credits: int) -> Reservation:
        from luma.usage.ledger import Reservation, renewal

        now = time.time()
        return Reservation(run_id=run_id, day=renewal(now)[0], credits=0, expires_at=int(now), held=False)

    def settle(
        self, principal: Principal, run_id: str, reservation: Reservation | None, *, credits: int, tokens: int
    ) -> str:
        return "skipped"

    def status(self, principal: Principal) -> UsageStatus:
        from luma.usage.ledger import UsageStatus

        now = datetime.now(UTC)
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        return UsageStatus(
            plan="none", day=now.date().isoformat(), tokens=0, spent=0, held=0, limit=0, renews_at=midnight
        )


NO_CREDITS = NoCredits()


def credits_of(limiter: object) -> Credits:
    """The credit ledger of a limiter (:class:`~luma.limits.DynamoLimiter`), else :class:`NoCredits`."""
    found = getattr(limiter, "credits", None)
    return found if found is not None else NO_CREDITS


_metrics: dict[int, TurnMetrics] = {}
_metrics_lock = threading.Lock()


def metrics_beside(repository: object) -> TurnMetrics:
    """The turn metrics of a deployment: DynamoDB beside a DynamoDB conversations repository (one
    recorder per settings), nothing beside an in-memory one or with ``LUMA_USAGE_METRICS=false``."""
    from luma.store.repos import DynamoConversationRepository

    if not isinstance(repository, DynamoConversationRepository) or not repository.settings.usage_metrics:
        return NoTurnMetrics()
    settings = repository.settings
    with _metrics_lock:
        found = _metrics.get(id(settings))
        if found is None or getattr(found, "settings", None) is not settings:
            from luma.usage.metrics import DynamoTurnMetrics

            _metrics.clear()
            found = _metrics[id(settings)] = DynamoTurnMetrics(settings)
        return found
