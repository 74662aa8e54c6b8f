"""The credit ledger: each user's daily balance, reserved before an agent run and settled after it.

Items of the ``usage`` table, in the user's partition of the day (UTC), ``pk = T#<tenant>#Q#<user>#<day>``:

- ``sk = QUOTA``: ``committed`` (credits settled + credits held), ``held`` (open reservations),
  ``spent`` (credits settled), ``used`` (tokens settled), each changed only by atomic ``ADD``;
- ``sk = RES#<run id>``: one reservation, ``credits`` and ``state`` (``held`` → ``settled``, or
  ``held`` → ``expired`` → ``settled``), ``expires`` (epoch seconds).

**Reserve** is one TransactWriteItems: put the reservation (if it does not exist: a retried start of the
same run reserves nothing more) and ``ADD committed :c`` on the condition ``committed <= limit - c``
(DynamoDB conditions can't add, so the room is computed here), so concurrent runs can never hold more
than the balance. **Settle** moves the reservation to ``settled`` on the condition of the state it
expects and adds ``actual - reserved`` (a refund when negative) in the same transaction, so a retried
finalize settles once. A run that never settles keeps its credits until its reservation expires
(``LUMA_CREDIT_RESERVATION_TTL_S``): a refused reservation first gives back the user's expired ones
(one Query of their day partition, on that path only) and tries again; a run settled after its
reservation was given back is charged its actual cost then.

Items expire (``ttl``) ``quota_ttl_days`` after their day; all live under the user's ``T#<t>#Q#<u>#``
prefix, which the erasure job removes.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from luma.limits import QUOTA_SK, quota_pk
from luma.observability import logger
from luma.usage.plans import CREDITS_PER_USD, Plan, plan_for, plan_name
from luma.usage.table import UsageTable

RES_PREFIX = "RES#"
HELD, SETTLED, EXPIRED = "held", "settled", "expired"


class LedgerUnavailableError(Exception):
    """The ledger could not answer (the store failed): agent runs are refused, never let through."""


class Reservation(BaseModel):
    """Credits held for one run (travels in the run's state to its settlement)."""

    run_id: str
    day: str
    credits: int
    expires_at: int
    held: bool = True  # False: the plan has no limit and nothing was held


@dataclass(frozen=True)
class UsageStatus:
    """A user's day: tokens and cost settled, credits held and left (None: no limit), when it renews."""

    plan: str
    day: str
    tokens: int
    spent: int
    held: int
    limit: int
    renews_at: datetime

    @property
    def credits_left(self) -> int | None:
        return None if self.limit == 0 else max(0, self.limit - self.spent - self.held)

    @property
    def cost_usd(self) -> float:
        return round(self.spent / CREDITS_PER_USD, 6)


def renewal(now: float) -> tuple[str, datetime]:
    """The UTC day of ``now`` and the midnight that ends it."""
    at = datetime.fromtimestamp(now, UTC)
    day = at.date()
    return day.isoformat(), datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def exhausted_error(plan: Plan, renews_at: datetime, now: float, left: int | None) -> LumaError:
    """``QUOTA_EXCEEDED`` naming when the credits renew (``time`` in UTC; ``retryAfter`` in seconds)."""
    return LumaError(
        ErrorCode.QUOTA_EXCEEDED,
        text_key="credits.exhausted",
        text_values={"time": renews_at.strftime("%H:%M")},
        retryAfter=max(1, math.ceil(renews_at.timestamp() - now)),
        renewsAt=renews_at.isoformat().replace("+00:00", "Z"),
        limit=plan.credits_per_day,
        creditsLeft=left,
    )


def unavailable_error() -> LumaError:
    """The refusal of an agent run when the ledger can't answer (typed, with a short retry)."""
    return LumaError(
        ErrorCode.AGENT_UNAVAILABLE, text_key="credits.unavailable", retryAfter=60, reason="limiter_unavailable"
    )


class CreditLedger(UsageTable):
    """Reserve, settle and read credits in the ``usage`` table (see the module docstring)."""

    def plan(self, tenant_id: str) -> Plan:
        return plan_for(self.settings, tenant_id)

    # -- keys -----------------------------------------------------------------------------------
    @staticmethod
    def _key(principal: Principal, day: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": quota_pk(principal.tenant_id, principal.user_id, day)}, "sk": {"S": sk}}

    def _ttl(self, day: str) -> str:
        expires = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1 + self.settings.quota_ttl_days)
        return str(int(expires.timestamp()))

    def _counter(self, principal: Principal, day: str, adds: dict[str, int], **condition: Any) -> dict[str, Any]:
        """An ``ADD`` on the day's counters (attribute -> amount), with an optional condition."""
        values = {f":{name}": {"N": str(n)} for name, n in adds.items()}
        values[":ttl"] = {"N": self._ttl(day)}
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(principal, day, QUOTA_SK),
            "UpdateExpression": "ADD " + ", ".join(f"#{n} :{n}" for n in adds) + " SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#ttl": "ttl", **{f"#{n}": n for n in adds}},
            "ExpressionAttributeValues": values,
        }
        if condition:
            update["ConditionExpression"] = condition["expression"]
            update["ExpressionAttributeNames"].update(condition.get("names", {}))
            update["ExpressionAttributeValues"].update(condition.get("values", {}))
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return update

    # -- reserve --------------------------------------------------------------------------------
    def reserve(self, principal: Principal, run_id: str, credits: int) -> Reservation:
        """Hold ``credits`` (at most the plan's daily balance) for ``run_id``.

        Raises ``QUOTA_EXCEEDED`` (a :class:`LumaError`) when the balance can't cover it and
        :class:`LedgerUnavailableError` when the store fails. Idempotent per run.
        """
        now = self.clock()
        plan = self.plan(principal.tenant_id)
        day, renews_at = renewal(now)
        expires = int(now) + self.settings.credit_reservation_ttl_s
        if plan.unlimited:
            return Reservation(run_id=run_id, day=day, credits=0, expires_at=expires, held=False)
        credits = max(1, min(int(credits), plan.credits_per_day))
        reclaimed = False
        for attempt in range(6):
            try:
                self.client.transact_write_items(
                    TransactItems=self._reserve_items(principal, run_id, day, credits, expires, plan)
                )
                return Reservation(run_id=run_id, day=day, credits=credits, expires_at=expires)
            except Exception as exc:
                reasons = _cancellation(exc)
                if reasons is None:
                    raise LedgerUnavailableError(type(exc).__name__) from exc
            on_hold, on_counter = [*reasons, {}, {}][:2]
            if on_hold.get("Code") == "ConditionalCheckFailed":  # reserved before (a retried start of this run)
                item = on_hold.get("Item") or {}
                return Reservation(
                    run_id=run_id,
                    day=day,
                    credits=_n(item, "credits"),
                    expires_at=_n(item, "expires"),
                    held=_s(item, "state") == HELD,
                )
            if on_counter.get("Code") == "ConditionalCheckFailed":
                old = on_counter.get("Item") or {}
                if not reclaimed and _n(old, "held") > 0:
                    reclaimed = True
                    try:
                        given_back = self.reclaim(principal, day)
                    except Exception as exc:
                        raise LedgerUnavailableError(type(exc).__name__) from exc
                    if given_back > 0:
                        continue
                left = max(0, plan.credits_per_day - _n(old, "committed"))
                raise exhausted_error(plan, renews_at, now, left)
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))  # a conflicting transaction: try again
        raise LedgerUnavailableError("reservation kept conflicting")

    def _reserve_items(
        self, principal: Principal, run_id: str, day: str, credits: int, expires: int, plan: Plan
    ) -> list[dict[str, Any]]:
        hold = {
            "TableName": self.table,
            "Item": {
                **self._key(principal, day, RES_PREFIX + run_id),
                "credits": {"N": str(credits)},
                "state": {"S": HELD},
                "expires": {"N": str(expires)},
                "ttl": {"N": self._ttl(day)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        counter = self._counter(
            principal,
            day,
            {"committed": credits, "held": credits},
            expression="attribute_not_exists(#committed) OR #committed <= :room",
            values={":room": {"N": str(plan.credits_per_day - credits)}},
        )
        return [{"Put": hold}, {"Update": counter}]

    # -- settle ---------------------------------------------------------------------------------
    def settle(
        self, principal: Principal, run_id: str, reservation: Reservation | None, *, credits: int, tokens: int
    ) -> str:
        """Charge the run's actual ``credits`` and ``tokens``, giving back its reservation.

        Returns ``settled``, or ``already`` when this run was settled before. Raises on store failures.
        """
        day = reservation.day if reservation is not None else renewal(self.clock())[0]
        credits, tokens = max(0, int(credits)), max(0, int(tokens))
        expected: str | None = HELD if reservation is not None and reservation.held else None
        held = reservation.credits if expected == HELD and reservation is not None else 0
        for attempt in range(6):
            items = self._settle_items(principal, run_id, day, expected, held, credits, tokens)
            try:
                self.client.transact_write_items(TransactItems=items)
                return SETTLED
            except Exception as exc:
                reasons = _cancellation(exc)
                if reasons is None:
                    raise
            first = reasons[0] if reasons else {}
            if first.get("Code") == "ConditionalCheckFailed":  # the reservation is not as expected: follow it
                item = first.get("Item") or {}
                expected = _s(item, "state") if item else None
                if expected == SETTLED:
                    return "already"
                held = _n(item, "credits")
                continue
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise LedgerUnavailableError("settlement kept conflicting")

    def _settle_items(
        self,
        principal: Principal,
        run_id: str,
        day: str,
        expected: str | None,
        held: int,
        credits: int,
        tokens: int,
    ) -> list[dict[str, Any]]:
        """The reservation marked settled (on the state expected) and the counters, in one transaction."""
        key = self._key(principal, day, RES_PREFIX + run_id)
        record: dict[str, Any]
        if expected is None:  # never reserved (a plan with no limit): recorded settled, once
            record = {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **key,
                        "credits": {"N": "0"},
                        "actual": {"N": str(credits)},
                        "state": {"S": SETTLED},
                        "expires": {"N": str(int(self.clock()))},
                        "ttl": {"N": self._ttl(day)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        else:
            condition = "#st = :expected" + (" AND credits = :held" if expected == HELD else "")
            values = {":settled": {"S": SETTLED}, ":a": {"N": str(credits)}, ":expected": {"S": expected}}
            if expected == HELD:
                values[":held"] = {"N": str(held)}
            record = {
                "Update": {
                    "TableName": self.table,
                    "Key": key,
                    "UpdateExpression": "SET #st = :settled, actual = :a",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#st": "state"},
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        # A held reservation's credits come back in the same write: committed moves by actual - held.
        refund = held if expected == HELD else 0
        adds = {"committed": credits - refund, "spent": credits, "used": tokens}
        if refund:
            adds["held"] = -refund
        return [record, {"Update": self._counter(principal, day, adds)}]

    # -- expiry ---------------------------------------------------------------------------------
    def reclaim(self, principal: Principal, day: str) -> int:
        """Give back the user's reservations of ``day`` that expired unsettled; returns how many."""
        now = int(self.clock())
        pk = quota_pk(principal.tenant_id, principal.user_id, day)
        given_back = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :res)",
            "FilterExpression": "#st = :held AND expires < :now",
            "ExpressionAttributeNames": {"#st": "state"},
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":res": {"S": RES_PREFIX},
                ":held": {"S": HELD},
                ":now": {"N": str(now)},
            },
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                credits = _n(item, "credits")
                release = {
                    "TableName": self.table,
                    "Key": {"pk": item["pk"], "sk": item["sk"]},
                    "UpdateExpression": "SET #st = :expired",
                    "ConditionExpression": "#st = :held AND expires < :now",
                    "ExpressionAttributeNames": {"#st": "state"},
                    "ExpressionAttributeValues": {
                        ":expired": {"S": EXPIRED},
                        ":held": {"S": HELD},
                        ":now": {"N": str(now)},
                    },
                }
                counter = self._counter(principal, day, {"committed": -credits, "held": -credits})
                try:
                    self.client.transact_write_items(TransactItems=[{"Update": release}, {"Update": counter}])
                except Exception as exc:
                    if _cancellation(exc) is None:
                        raise
                    continue  # settled or given back meanwhile
                given_back += 1
                logger.info("expired credit reservation given back", extra={"run_id": item["sk"]["S"][4:]})
            if "LastEvaluatedKey" not in page:
                return given_back
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- read -----------------------------------------------------------------------------------
    def status(self, principal: Principal) -> UsageStatus:
        """Today's tokens, cost and credits of ``principal`` (one GetItem)."""
        day, renews_at = renewal(self.clock())
        resp = self.client.get_item(
            TableName=self.table,
            Key=self._key(principal, day, QUOTA_SK),
            ConsistentRead=True,
            ProjectionExpression="#used, #spent, #held",
            ExpressionAttributeNames={"#used": "used", "#spent": "spent", "#held": "held"},
        )
        item = resp.get("Item", {})
        plan = self.plan(principal.tenant_id)
        return UsageStatus(
            plan=plan_name(self.settings, principal.tenant_id),
            day=day,
            tokens=_n(item, "used"),
            spent=_n(item, "spent"),
            held=_n(item, "held"),
            limit=plan.credits_per_day,
            renews_at=renews_at,
        )


def _cancellation(exc: Exception) -> list[dict[str, Any]] | None:
    """The cancellation reasons of a cancelled transaction; None for any other failure."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return list(response.get("CancellationReasons") or [])


def _n(item: dict[str, Any], name: str) -> int:
    value = (item.get(name) or {}).get("N")
    return int(value) if value is not None else 0


def _s(item: dict[str, Any], name: str) -> str | None:
    value = (item.get(name) or {}).get("S")
    return str(value) if value is not None else None
