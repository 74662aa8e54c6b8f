"""Identity-check attempts: a lockout per (tenant, user) and per (tenant, claimed identity).

A pack that verifies people (a name and a date of birth, a code...) calls :meth:`IdentityAttempts.reserve`
**before** it looks anything up: one conditional UpdateItem per counter takes an attempt while
fewer than ``identity_max_attempts`` were taken in the window, so parallel calls (the agent's Map
state runs tool calls side by side) can never try more guesses than allowed. A successful check
gives the attempts back with :meth:`IdentityAttempts.succeeded`; a failed one keeps them. When
the counter is full the user (or the claimed identity, whoever tries it) is locked until the window
ends: ``IDENTITY_LOCKED`` with ``retryAfter``, in every session and on every channel.

Counters are items of the ``usage`` table: ``pk = T#<tenant>#IDA#U#<user>`` or
``T#<tenant>#IDA#C#<sha256 of the normalized claim>`` (the claim itself is never stored),
``sk = ATTEMPTS``, with ``n`` (attempts taken), ``until`` (end of the window, epoch seconds) and
a TTL at the window's end.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from luma.errors import ErrorCode, LumaError
from luma.observability import logger
from luma.usage.table import UsageTable

SK = "ATTEMPTS"


def user_key(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#IDA#U#{user_id}"


def claim_key(tenant_id: str, claim: str) -> str:
    digest = hashlib.sha256(claim.casefold().encode("utf-8")).hexdigest()
    return f"T#{tenant_id}#IDA#C#{digest}"


def locked_error(retry_after_s: int) -> LumaError:
    """``IDENTITY_LOCKED`` with the wait in seconds (and in minutes for the user's text)."""
    return LumaError(
        ErrorCode.IDENTITY_LOCKED,
        text_values={"minutes": max(1, math.ceil(retry_after_s / 60))},
        retryAfter=retry_after_s,
    )


class IdentityAttempts(UsageTable):
    """Attempt counters in the usage table; every call is one conditional UpdateItem (or two)."""

    def check(self, tenant_id: str, user_id: str) -> None:
        """Raise ``IDENTITY_LOCKED`` when the user may not try now (one GetItem; no attempt taken)."""
        item = self.client.get_item(
            TableName=self.settings.usage_table,
            Key={"pk": {"S": user_key(tenant_id, user_id)}, "sk": {"S": SK}},
            ConsistentRead=True,
        ).get("Item")
        wait = self._wait(item)
        if wait:
            raise locked_error(wait)

    def reserve(self, tenant_id: str, user_id: str, claim: str | None = None) -> int:
        """Take one attempt for the user (and for the claimed identity); returns the user's attempts left.

        Raises ``IDENTITY_LOCKED`` (nothing taken) when either counter is full. The user's counter is
        taken first, so a locked claim costs the user an attempt too: guessing is never free.
        """
        left = self._take(user_key(tenant_id, user_id))
        if claim:
            self._take(claim_key(tenant_id, claim))
        return left

    def succeeded(self, tenant_id: str, user_id: str, claim: str | None = None) -> None:
        """A check passed: the user's counter starts again and the claim gets this attempt back.

        The claim's counter keeps the failures others made against it; only the attempt this
        successful check took is returned, so the rightful owner verifying often is never locked.
        """
        self.client.delete_item(
            TableName=self.settings.usage_table, Key={"pk": {"S": user_key(tenant_id, user_id)}, "sk": {"S": SK}}
        )
        if claim:
            try:
                self.client.update_item(
                    TableName=self.settings.usage_table,
                    Key={"pk": {"S": claim_key(tenant_id, claim)}, "sk": {"S": SK}},
                    UpdateExpression="ADD n :minus",
                    ConditionExpression="n > :zero",
                    ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
                )
            except Exception as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise

    def remaining(self, tenant_id: str, user_id: str) -> int:
        """Attempts the user has left in the current window."""
        item = self.client.get_item(
            TableName=self.settings.usage_table,
            Key={"pk": {"S": user_key(tenant_id, user_id)}, "sk": {"S": SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None or int(item["until"]["N"]) <= self.clock():
            return self.settings.identity_max_attempts
        return max(0, self.settings.identity_max_attempts - int(item["n"]["N"]))

    # -- internals -------------------------------------------------------------------------------
    def _wait(self, item: dict[str, Any] | None) -> int:
        if item is None:
            return 0
        now = self.clock()
        until = int(item["until"]["N"])
        if until <= now or int(item["n"]["N"]) < self.settings.identity_max_attempts:
            return 0
        return max(1, math.ceil(until - now))

    def _take(self, pk: str) -> int:
        limit = self.settings.identity_max_attempts
        for _ in range(4):
            now = int(self.clock())
            try:
                out = self.client.update_item(
                    TableName=self.settings.usage_table,
                    Key={"pk": {"S": pk}, "sk": {"S": SK}},
                    UpdateExpression="ADD n :one",
                    ConditionExpression="#u > :now AND n < :limit",
                    ExpressionAttributeNames={"#u": "until"},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":now": {"N": str(now)},
                        ":limit": {"N": str(limit)},
                    },
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return limit - int(out["Attributes"]["n"]["N"])
            except Exception as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                old = _item(exc)
            if old is not None and int(old["until"]["N"]) > now:
                wait = max(1, int(old["until"]["N"]) - now)
                logger.info("identity check locked", extra={"retry_after_s": wait})
                raise locked_error(wait)
            # No window yet (or an expired one): open a new one with this attempt, unless another
            # caller just did (then take from theirs).
            until = now + self.settings.identity_lockout_s
            try:
                self.client.put_item(
                    TableName=self.settings.usage_table,
                    Item={
                        "pk": {"S": pk},
                        "sk": {"S": SK},
                        "n": {"N": "1"},
                        "until": {"N": str(until)},
                        "ttl": {"N": str(until)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR #u <= :now",
                    ExpressionAttributeNames={"#u": "until"},
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
                return limit - 1
            except Exception as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
        raise LumaError(ErrorCode.INTERNAL)


def _code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


def _item(exc: Exception) -> dict[str, Any] | None:
    response = getattr(exc, "response", None)
    return response.get("Item") if isinstance(response, dict) else None
