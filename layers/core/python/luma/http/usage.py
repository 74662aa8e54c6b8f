"""Usage routes: the caller's credits today (``GET /me/usage``) and a tenant's operations metrics for
operators (``GET /metrics?hours=H``).

Both are scoped by the token: a user reads their own balance, an operator their own tenant's hourly
counters (one BatchGetItem of H keys, :mod:`luma.usage.metrics`); nobody names another tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from luma.http.app import Caller, Operator, _limiter, _repo
from luma.limits import Limiter
from luma.store.repos import SessionStore
from luma.usage import Credits, TurnMetrics, credits_of, metrics_beside
from luma.usage.metrics import summarize

router = APIRouter(tags=["usage"])
MAX_HOURS = 24 * 7


def _credits(limiter: Annotated[Limiter, Depends(_limiter)]) -> Credits:
    return credits_of(limiter)


def _metrics(repo: Annotated[SessionStore, Depends(_repo)]) -> TurnMetrics:
    return metrics_beside(repo)


class UsageOut(BaseModel):
    """The caller's day (UTC): what was spent, what is left, when it renews."""

    plan: str
    day: str
    tokensToday: int
    costToday: float = Field(description="USD of model cost settled today")
    creditsPerDay: int | None = Field(description="the daily credits (1 credit = 1 micro-dollar); null: no limit")
    creditsHeld: int = Field(description="credits reserved by agent runs still running")
    creditsLeft: int | None = Field(description="null when the plan has no limit")
    renewsAt: str


@router.get("/me/usage", response_model=UsageOut)
def my_usage(caller: Caller, credits: Annotated[Credits, Depends(_credits)]) -> UsageOut:
    """The caller's tokens, cost and credits today, and when the credits renew."""
    status = credits.status(caller)
    return UsageOut(
        plan=status.plan,
        day=status.day,
        tokensToday=status.tokens,
        costToday=status.cost_usd,
        creditsPerDay=status.limit or None,
        creditsHeld=status.held,
        creditsLeft=status.credits_left,
        renewsAt=status.renews_at.isoformat().replace("+00:00", "Z"),
    )


@router.get("/metrics")
def metrics(
    operator: Operator,
    store: Annotated[TurnMetrics, Depends(_metrics)],
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS, description="the last H hours, this one included")] = 24,
) -> dict[str, Any]:
    """The operator's tenant over the last ``hours``: requests, success and error rates, response times
    (mean, p50/p95/p99 from a fixed histogram), tokens and streaming speed, errors by code, intents,
    fast-path share, cost (USD, credits, per model), and the same per hour."""
    return {"tenantId": operator.tenant_id, **summarize(store.read(operator.tenant_id, hours))}
