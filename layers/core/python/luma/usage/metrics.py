"""Per-turn operations metrics: hourly counters per tenant, and what ``GET /metrics`` makes of them.

Every turn that ends (a fast-path reply, an agent run's finalize, a refusal, an error frame) is one
``UpdateItem`` of ``ADD`` s on its tenant's item for the hour (UTC), in the ``usage`` table:
``pk = T#<tenant>#MET#<yyyymmddhh>``, ``sk = MET``. Attributes (all counters):

- ``n`` turns, ``ok`` answered, ``err`` not answered (refused or failed), ``ms`` response time sum;
- ``h<i>`` the latency histogram: bucket ``i`` counts response times in (``BOUNDS_MS[i-1]``,
  ``BOUNDS_MS[i]``], the last one everything slower (fixed bounds, so buckets simply add up);
- ``tin`` / ``tout`` input / output tokens, ``gen_ms`` time spent streaming from the model, ``cred``
  model cost in credits (micro-dollars), ``agent`` agent turns;
- ``r_<route>``, ``i_<intent>`` (``none`` without one), ``e_<code>``, ``m_<model>`` turns, ``c_<model>``
  credits per model.

A read is one BatchGetItem of the H hour keys (no Query, no Scan). Recording is best effort: a
failure is logged and never reaches the turn.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from luma.observability import logger
from luma.usage.plans import CREDITS_PER_USD
from luma.usage.table import UsageTable

METRICS_SK = "MET"
# Upper bounds (ms) of the latency histogram's buckets; one more bucket counts anything slower.
BOUNDS_MS: tuple[int, ...] = (
    25, 50, 75, 100, 150, 250, 400, 600, 1000, 1500, 2500, 4000, 6000, 10000, 15000, 25000, 40000, 60000,
)  # fmt: skip
FAST_ROUTES = ("fast_path", "flow")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def metrics_pk(tenant_id: str, hour: datetime) -> str:
    return f"T#{tenant_id}#MET#{hour:%Y%m%d%H}"


def bucket_of(ms: float) -> int:
    """The histogram bucket of a response time."""
    return bisect_left(BOUNDS_MS, max(0.0, ms))


@dataclass(frozen=True)
class TurnRecord:
    """One finished turn, as the metrics count it."""

    tenant_id: str
    route: str | None  # fast_path, flow, agent; None for a message refused or failed before routing
    intent: str | None
    ok: bool
    response_ms: float
    code: str | None = None  # why it was not answered
    input_tokens: int = 0
    output_tokens: int = 0
    generation_ms: float = 0.0
    credits: int = 0
    model: str | None = None

    def adds(self) -> dict[str, int]:
        """The counters this turn adds to its hour's item."""
        out = {
            "n": 1,
            "ok" if self.ok else "err": 1,
            "ms": round(max(0.0, self.response_ms)),
            f"h{bucket_of(self.response_ms)}": 1,
            f"i_{_name(self.intent or 'none')}": 1,
        }
        if self.route:
            out[f"r_{_name(self.route)}"] = 1
        if not self.ok:
            out[f"e_{_name(self.code or 'UNKNOWN')}"] = 1
        if self.route == "agent":
            out["agent"] = 1
        if self.input_tokens or self.output_tokens:
            out.update(tin=self.input_tokens, tout=self.output_tokens, gen_ms=round(self.generation_ms))
        if self.credits:
            out["cred"] = self.credits
        if self.model:
            out[f"m_{_name(self.model)}"] = 1
            if self.credits:
                out[f"c_{_name(self.model)}"] = self.credits
        return out


def _name(value: str) -> str:
    return _UNSAFE.sub("_", value)[:80]


class TurnMetrics(Protocol):
    """Where finished turns are counted."""

    def record(self, turn: TurnRecord) -> None: ...
    def read(self, tenant_id: str, hours: int) -> list[tuple[datetime, dict[str, int]]]: ...


class NoTurnMetrics:
    """Counts nothing (services over in-memory fakes)."""

    def record(self, turn: TurnRecord) -> None:
        return None

    def read(self, tenant_id: str, hours: int) -> list[tuple[datetime, dict[str, int]]]:
        now = _hour(time.time())
        return [(now - timedelta(hours=i), {}) for i in reversed(range(hours))]


class DynamoTurnMetrics(UsageTable):
    """Hourly counters in the ``usage`` table (see the module docstring)."""

    def record(self, turn: TurnRecord) -> None:
        """Add the turn to its hour (one UpdateItem); a failure is logged, never raised."""
        now = self.clock()
        hour = _hour(now)
        adds = turn.adds()
        names = {f"#a{i}": name for i, name in enumerate(adds)}
        values = {f":v{i}": {"N": str(n)} for i, n in enumerate(adds.values())}
        expires = hour + timedelta(days=self.settings.usage_metrics_ttl_days)
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": metrics_pk(turn.tenant_id, hour)}, "sk": {"S": METRICS_SK}},
                UpdateExpression="ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(adds))) + " SET #ttl = :ttl",
                ExpressionAttributeNames={**names, "#ttl": "ttl"},
                ExpressionAttributeValues={**values, ":ttl": {"N": str(int(expires.timestamp()))}},
            )
        except Exception:
            logger.warning("turn metrics not recorded", exc_info=True)

    def read(self, tenant_id: str, hours: int) -> list[tuple[datetime, dict[str, int]]]:
        """The tenant's counters of the last ``hours`` hours (the current one included), oldest first."""
        now = _hour(self.clock())
        slots = [now - timedelta(hours=i) for i in reversed(range(hours))]
        found: dict[str, dict[str, int]] = {}
        keys = [{"pk": {"S": metrics_pk(tenant_id, h)}, "sk": {"S": METRICS_SK}} for h in slots]
        for start in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys
            request: dict[str, Any] = {self.table: {"Keys": keys[start : start + 100]}}
            for attempt in range(6):
                resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"]] = _counters(item)
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.02 * 2**attempt)
            if request:
                raise RuntimeError("metrics read throttled")
        return [(h, found.get(metrics_pk(tenant_id, h), {})) for h in slots]


def _hour(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "ttl"}


# -- aggregation -------------------------------------------------------------------------------------
def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the histogram ``counts`` (bucket ``i`` up to ``BOUNDS_MS[i]``).

    Linear within the bucket that holds the rank; a rank in the last (unbounded) bucket is reported
    as its lower bound. None for an empty histogram.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if c and seen + c >= rank:
            if i >= len(BOUNDS_MS):
                return float(BOUNDS_MS[-1])
            low = BOUNDS_MS[i - 1] if i else 0
            return round(low + (BOUNDS_MS[i] - low) * max(0.0, rank - seen) / c, 1)
        seen += c
    return float(BOUNDS_MS[-1])


def _prefixed(total: dict[str, int], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in sorted(total.items()) if k.startswith(prefix) and v}


def _ratio(a: float, b: float, digits: int = 4) -> float | None:
    return round(a / b, digits) if b else None


def histogram(counters: dict[str, int]) -> list[int]:
    return [counters.get(f"h{i}", 0) for i in range(len(BOUNDS_MS) + 1)]


def summarize(hours: Iterable[tuple[datetime, dict[str, int]]]) -> dict[str, Any]:
    """The ``GET /metrics`` answer from hourly counters (see docs: every rate is over all turns)."""
    hourly: list[dict[str, Any]] = []
    total: dict[str, int] = {}
    slots = list(hours)
    for hour, counters in slots:
        for k, v in counters.items():
            total[k] = total.get(k, 0) + v
        n = counters.get("n", 0)
        hourly.append(
            {
                "hour": hour.isoformat().replace("+00:00", "Z"),
                "totalRequests": n,
                "errorRate": _ratio(counters.get("err", 0), n),
                "avgResponseMs": _ratio(counters.get("ms", 0), n, 1),
                "p95ResponseMs": percentile(histogram(counters), 0.95),
            }
        )
    n = total.get("n", 0)
    tokens = total.get("tin", 0) + total.get("tout", 0)
    hist = histogram(total)
    credits = total.get("cred", 0)
    return {
        "from": slots[0][0].isoformat().replace("+00:00", "Z") if slots else None,
        "hours": len(slots),
        "totalRequests": n,
        "successRate": _ratio(total.get("ok", 0), n),
        "errorRate": _ratio(total.get("err", 0), n),
        "avgResponseMs": _ratio(total.get("ms", 0), n, 1),
        "p50ResponseMs": percentile(hist, 0.50),
        "p95ResponseMs": percentile(hist, 0.95),
        "p99ResponseMs": percentile(hist, 0.99),
        "avgTokensPerRequest": _ratio(tokens, n, 1),
        "avgTokensPerAgentTurn": _ratio(tokens, total.get("agent", 0), 1),
        "tokensPerSecond": _ratio(total.get("tout", 0) * 1000, total.get("gen_ms", 0), 1),
        "inputTokens": total.get("tin", 0),
        "outputTokens": total.get("tout", 0),
        "errorCounts": _prefixed(total, "e_"),
        "intentDistribution": _prefixed(total, "i_"),
        "routes": _prefixed(total, "r_"),
        "fastPathShare": _ratio(sum(total.get(f"r_{r}", 0) for r in FAST_ROUTES), n),
        "agentTurns": total.get("agent", 0),
        "cost": round(credits / CREDITS_PER_USD, 6),
        "costCredits": credits,
        "models": _prefixed(total, "m_"),
        "costByModel": {m: round(c / CREDITS_PER_USD, 6) for m, c in _prefixed(total, "c_").items()},
        "latencyBucketsMs": [*BOUNDS_MS, None],
        "latencyHistogram": hist,
        "hourly": hourly,
    }
