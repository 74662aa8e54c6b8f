"""``GET /security/summary``: the tenant's guard events per kind, action and day (operator role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from luma.config import get_settings
from luma.http.app import Operator
from luma.pipeline.guard import GuardStore

router = APIRouter(tags=["operators"])


def guard_store() -> GuardStore:
    """The guard's per-tenant counters (overridden in tests)."""
    return GuardStore(get_settings())


class DayOut(BaseModel):
    day: str
    # "<kind>#<action>" -> events (kind: injection, crisis, pii, prompt_leak; action: pass, refuse, block, safety)
    events: dict[str, int]
    crisisReferrals: int


class SecuritySummary(BaseModel):
    days: list[DayOut]
    totals: dict[str, int]
    crisisReferrals: int


@router.get("/security/summary", response_model=SecuritySummary)
def security_summary(
    operator: Operator,
    store: Annotated[GuardStore, Depends(guard_store)],
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> SecuritySummary:
    """Guard events of the caller's tenant over the last ``days`` days (one read per day, no text)."""
    out: list[DayOut] = []
    totals: dict[str, int] = {}
    for entry in store.summary(operator.tenant_id, days):
        counts: dict[str, Any] = dict(entry["counts"])
        referrals = int(counts.pop("crisis_referrals", 0))
        events = {k: int(v) for k, v in counts.items() if "#" in k}
        for key, value in events.items():
            totals[key] = totals.get(key, 0) + value
        out.append(DayOut(day=entry["day"], events=events, crisisReferrals=referrals))
    return SecuritySummary(days=out, totals=totals, crisisReferrals=sum(d.crisisReferrals for d in out))
