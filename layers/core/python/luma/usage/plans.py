"""Plans: what a tenant's users may spend per day and how fast they may write.

A **credit** is one micro-dollar (10⁻⁶ USD) of model cost at the prices of ``Settings.llm_prices``;
``credits_per_day`` is each user's daily balance (UTC days), 0 for no limit. A plan's ``rate_limits``
take the keys of ``LUMA_RATE_LIMITS`` (``user_per_minute``, ``user_burst``, ``ip_per_minute``,
``ip_burst``) and, under ``verified`` / ``unverified``, the user-bucket limits of each kind of user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from luma.config import Settings

CREDITS_PER_USD = 1_000_000
DEFAULT_PLAN = "default"
RATE_KEYS = frozenset({"user_per_minute", "user_burst", "ip_per_minute", "ip_burst"})
TIER_KEYS = frozenset({"user_per_minute", "user_burst"})
TIERS = ("verified", "unverified")


class Plan(BaseModel):
    """One plan (``LUMA_PLANS`` entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credits_per_day: int = Field(500_000, ge=0)
    rate_limits: dict[str, Any] = Field(default_factory=dict)
    # LLM calls an agent run is expected to make, for the cost estimate reserved before it starts.
    estimate_steps: int = Field(2, ge=1, le=50)

    @field_validator("rate_limits")
    @classmethod
    def _known_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, limit in value.items():
            if key in TIERS:
                if not isinstance(limit, dict) or set(limit) - TIER_KEYS:
                    raise ValueError(f"rate_limits.{key}: an object with {sorted(TIER_KEYS)}")
                if any(not isinstance(v, int) or v < 0 for v in limit.values()):
                    raise ValueError(f"rate_limits.{key}: limits must be integers >= 0")
            elif key not in RATE_KEYS:
                raise ValueError(f"rate_limits: unknown key {key!r}")
            elif not isinstance(limit, int) or limit < 0:
                raise ValueError(f"rate_limits.{key}: must be an integer >= 0")
        return value

    @property
    def unlimited(self) -> bool:
        return self.credits_per_day == 0


def plan_name(settings: Settings, tenant_id: str) -> str:
    """The name of the tenant's plan (``default`` when it is not listed)."""
    return settings.tenant_plans.get(tenant_id, DEFAULT_PLAN)


def plan_for(settings: Settings, tenant_id: str) -> Plan:
    """The tenant's plan: its ``LUMA_PLANS`` entry, else the built-in values."""
    return Plan.model_validate(settings.plans.get(plan_name(settings, tenant_id), {}))
