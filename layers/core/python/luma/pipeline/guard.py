"""The input guard stage: every message, on every channel, before it is routed.

The message is scanned (:func:`luma.guard.scan_input`: prompt injection, crisis, personal data; its
embedding is the classifier's, so it is computed once) and the assistant's policy decides
(:class:`luma.guard.policy.GuardPolicy`: defaults ← the pack's ``guard_policy`` ← the tenant's
``LUMA_GUARD_POLICIES`` entry):

* ``pass`` — routed as usual; findings are flags on the message;
* ``refuse`` — a fixed refusal instead of a route (the message is stored, the refusal persisted);
* ``block`` — the message is stored and answered with ``BLOCKED``;
* ``safety`` — the fixed crisis reply (the tenant's resources for the person's locale), an urgent
  escalation opened at once, a referral counted. The conversation stays open.

A finding the policy counts as a violation is remembered per user; enough of them within the
window block the user for a while (``BLOCKED`` with ``retryAfter``, every session and channel).
Every event is audited: a ``G#`` item in the session's partition (kind, score, action, policy — no
text) and a per-tenant daily counter the security summary reads, plus a metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from luma.config import Settings
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.observability import emit, logger
from luma.usage.table import UsageTable

if TYPE_CHECKING:
    import numpy as np

    from luma.assistants.contract import AssistantPack
    from luma.domain.models import Message, Session
    from luma.guard.policy import Decision, GuardPolicy
    from luma.guard.scan import GuardResult

GUARD_EVENTS = "GuardEvents"  # metric: count, dimensions kind and action
SK = "GUARD"


def blocked_error(retry_after_s: int) -> LumaError:
    """``BLOCKED`` with the wait in seconds (and in minutes for the person's text)."""
    return LumaError(
        ErrorCode.BLOCKED, text_values={"minutes": max(1, math.ceil(retry_after_s / 60))}, retryAfter=retry_after_s
    )


@dataclass(frozen=True)
class Screened:
    """A message's scan and the policy's decision about it."""

    result: GuardResult
    decision: Decision

    @property
    def action(self) -> str:
        return self.decision.action

    def meta(self) -> dict[str, Any]:
        """What the stored message keeps of it (kinds and action; never the findings' details)."""
        return {"kinds": sorted(self.result.kinds), "action": self.decision.action}


def guard_policy(pack: AssistantPack, tenant_id: str, settings: Settings) -> GuardPolicy:
    """An assistant's guard policy for a tenant: defaults, the pack's overrides, then the tenant's."""
    from luma.guard.policy import GuardPolicy

    return GuardPolicy.layered(dict(pack.guard_policy) or None, settings.guard_policies.get(tenant_id))


class GuardStore(UsageTable):
    """The per-user guard state (violations, block) and the tenant's daily counters, in the usage table."""

    @staticmethod
    def user_key(tenant_id: str, user_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"T#{tenant_id}#GUARD#U#{user_id}"}, "sk": {"S": SK}}

    @staticmethod
    def day_key(tenant_id: str, day: str) -> dict[str, Any]:
        return {"pk": {"S": f"T#{tenant_id}#SEC#{day}"}, "sk": {"S": SK}}

    def blocked_for(self, tenant_id: str, user_id: str) -> int | None:
        """Seconds the user stays blocked, or None (one GetItem)."""
        item = self.client.get_item(
            TableName=self.settings.usage_table, Key=self.user_key(tenant_id, user_id), ConsistentRead=True
        ).get("Item")
        until = float(item.get("blocked_until", {}).get("N", 0)) if item else 0.0
        now = self.clock()
        return max(1, math.ceil(until - now)) if until > now else None

    def violation(self, tenant_id: str, user_id: str, policy: GuardPolicy) -> int | None:
        """Count a violation (an atomic list append); the seconds the user is now blocked for, or None."""
        now = round(self.clock(), 3)
        blocking = policy.blocking
        key = self.user_key(tenant_id, user_id)
        out = self.client.update_item(
            TableName=self.settings.usage_table,
            Key=key,
            UpdateExpression="SET violations = list_append(if_not_exists(violations, :empty), :now), #t = :ttl",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":now": {"L": [{"N": str(now)}]},
                ":ttl": {"N": str(int(now + blocking.window_s + blocking.block_s))},
            },
            ReturnValues="ALL_NEW",
        )
        times = [float(v["N"]) for v in out["Attributes"].get("violations", {}).get("L", [])]
        wait = blocking.retry_after(times, now)
        if wait is not None or len(times) > 2 * blocking.violations:
            expression = "SET violations = :recent"
            values: dict[str, Any] = {":recent": {"L": [{"N": str(t)} for t in times[-blocking.violations :]]}}
            if wait is not None:
                expression += ", blocked_until = :until"
                values[":until"] = {"N": str(round(now + wait, 3))}
            self.client.update_item(
                TableName=self.settings.usage_table,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
            )
        return wait

    def count(self, tenant_id: str, counters: dict[str, int]) -> None:
        """Add to the tenant's counters of today (``<kind>#<action>``, ``crisis_referrals``)."""
        day = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":v{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
        sets = ", ".join(f"#c{i} :v{i}" for i in range(len(counters)))
        self.client.update_item(
            TableName=self.settings.usage_table,
            Key=self.day_key(tenant_id, day),
            UpdateExpression=f"ADD {sets} SET #ttl = :ttl",
            ExpressionAttributeNames={**names, "#ttl": "ttl"},
            ExpressionAttributeValues={**values, ":ttl": {"N": str(int(self.clock()) + 400 * 86400)}},
        )

    def summary(self, tenant_id: str, days: int) -> list[dict[str, Any]]:
        """The tenant's counters of the last ``days`` days, oldest first (one BatchGetItem)."""
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        wanted = [(today - timedelta(days=i)).isoformat() for i in reversed(range(days))]
        found: dict[str, dict[str, int]] = {}
        keys = [self.day_key(tenant_id, day) for day in wanted]
        for start in range(0, len(keys), 100):
            request = {self.settings.usage_table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                out = self.client.batch_get_item(RequestItems=request)
                for item in out.get("Responses", {}).get(self.settings.usage_table, []):
                    day = item["pk"]["S"].rsplit("#", 1)[-1]
                    found[day] = {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "ttl"}
                request = out.get("UnprocessedKeys") or {}
        return [{"day": day, "counts": found.get(day, {})} for day in wanted]


class InputGuard:
    """Scans a message and applies the assistant's (and tenant's) policy; audits what it found."""

    def __init__(
        self,
        settings: Settings,
        *,
        packs: Callable[[str], AssistantPack],
        store: GuardStore | None = None,
    ) -> None:
        self.settings = settings
        self.packs = packs
        self.store = store or GuardStore(settings)
        self._policies: dict[tuple[str, str], GuardPolicy] = {}

    def warm_up(self) -> None:
        """Compile the rules and load the learned head at init."""
        from luma.guard.scan import warm_up

        warm_up()

    def policy(self, assistant: str, tenant_id: str) -> GuardPolicy:
        """Defaults, then the pack's overrides, then the tenant's."""
        key = (assistant, tenant_id)
        found = self._policies.get(key)
        if found is None:
            found = self._policies[key] = guard_policy(self.packs(assistant), tenant_id, self.settings)
        return found

    def screen(
        self, text: str, *, language: str, assistant: str, tenant_id: str, embedding: np.ndarray | None
    ) -> Screened | None:
        """The message's scan and decision; None when it is empty or the guard itself fails (logged)."""
        if not text.strip():
            return None
        try:
            from luma.guard.scan import scan_input

            result = scan_input(text, language=language, embedding=embedding)
            return Screened(result, self.policy(assistant, tenant_id).decide(result, stage="input"))
        except Exception:  # a guard fault must not lose the message: it is routed unscreened
            logger.exception("input guard failed; the message is routed unscreened")
            return None

    def audit(self, session: Session, message: Message, screened: Screened, *, stage: str = "input") -> None:
        """Record the findings (no text), count them per tenant and day, emit the metric."""
        from luma.store.models import GuardEventRow

        decision = screened.decision
        now = datetime.now(UTC)
        counters: dict[str, int] = {}
        for finding in screened.result.findings:
            action = decision.action if finding.kind == decision.kind else "pass"
            counters[f"{finding.kind}#{action}"] = counters.get(f"{finding.kind}#{action}", 0) + 1
            emit(GUARD_EVENTS, 1, dimensions={"kind": finding.kind, "action": action})
        if decision.action == "safety" and decision.kind == "crisis":
            counters["crisis_referrals"] = 1
        try:
            GuardEventRow(
                pk=f"T#{session.tenant_id}#S#{session.session_id}",
                sk=f"G#{new_id()}",
                tenant_id=session.tenant_id,
                session_id=session.session_id,
                created_at=now,
                ttl=now + timedelta(days=self.settings.guard_audit_retention_days),
                user_id=session.user_id,
                message_id=message.message_id,
                stage=stage,
                data={
                    "findings": [
                        {"kind": f.kind, "score": f.score, "detail": f.detail} for f in screened.result.findings
                    ],
                    "action": decision.action,
                    "decidedBy": decision.kind,
                    "violation": decision.violation,
                    "assistant": session.assistant,
                },
            ).save()
            if counters:
                self.store.count(session.tenant_id, counters)
        except Exception:  # the audit must never take the answer down
            logger.exception("guard audit not written")
        logger.info(
            "guard event",
            extra={
                "kinds": sorted(screened.result.kinds),
                "action": decision.action,
                "stage": stage,
                "session_id": session.session_id,
            },
        )
