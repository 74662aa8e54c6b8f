"""Rate limits and credits: token buckets per user and per source IP; the daily credit balance.

**Buckets (GCRA, the token bucket stored as one number).** Each bucket is one item of the
``usage`` table, ``pk = T#<tenant>#RL#U#<user>`` or ``T#<tenant>#RL#IP#<ip>``, ``sk = BUCKET``,
holding ``tat``: the *theoretical arrival time* in microseconds. A bucket of ``burst`` tokens that
refills one token every ``interval = 60 s / per_minute`` is exactly "``tat`` ≤ now + (burst − 1) ×
interval": taking a token sets ``tat = max(tat, now) + interval``. DynamoDB can't compute ``max``,
so the two cases are two conditional UpdateItems, each atomic on the current value:

- idle (``tat`` missing or ≤ now): ``SET tat = :now + :interval`` if ``attribute_not_exists(tat) OR tat <= :now``;
- busy (now < ``tat`` ≤ now + tolerance): ``SET tat = tat + :interval`` if ``tat > :now AND tat <= :max``.

The process remembers the last ``tat`` it wrote per bucket and tries the likely case first, so the
common case is **one round trip**. A failed condition returns the stored item
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``), which says at once whether to try the other case
or to refuse (``tat`` > now + tolerance; ``Retry-After`` = ``tat`` − tolerance − now, rounded up): no
read-modify-write, no extra read, at most three calls under contention. Concurrent writers can only
push ``tat`` forward, and every write is conditional on the value it extends, so N threads hammering
one bucket never take more than ``burst`` tokens plus the refill.

**Verified and unverified users.** The user bucket's limits depend on who is writing
(:class:`RateTier`, chosen after the session is read, so the updates still ride in the message's
transaction): a pack may declare ``rate_limits = {"verified": {...}, "unverified": {...}}``. Levels,
the later winning: the built-in defaults, the pack's tier, the ``LUMA_RATE_LIMIT_*`` values the
deployment set explicitly, the tenant's plan (``LUMA_PLANS``: flat keys, then its tier), and
``LUMA_RATE_LIMITS`` for the tenant. A check with no tier (HTTP routes, a settled inline check) uses
the tier last seen for that user in this process.

**Credits.** The daily credit balance (per user, reserved before an agent run and settled after it)
is :class:`luma.usage.ledger.CreditLedger`, reached as :attr:`DynamoLimiter.credits`; its items live
under ``T#<tenant>#Q#<user>#<yyyy-mm-dd>`` (:func:`quota_pk`).

``0`` disables a limit. A store failure while taking a token fails open (logged): rate limits
protect the service, they must not take it down. Credits fail closed (see the ledger).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from luma.config import Settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from luma.observability import logger
from luma.usage.table import UsageTable

if TYPE_CHECKING:
    from luma.usage.ledger import CreditLedger

BUCKET_SK = "BUCKET"
QUOTA_SK = "QUOTA"
_US = 1_000_000


def rate_pk(tenant_id: str, scope: str, ident: str) -> str:
    """Bucket key: ``scope`` is ``U`` (user) or ``IP`` (source address)."""
    return f"T#{tenant_id}#RL#{scope}#{ident}"


def calling_code(phone: str) -> str:
    """The country calling code of an E.164 number (``+33…`` → ``33``); ``0`` when it can't be told."""
    import phonenumbers

    try:
        return str(phonenumbers.parse(phone, None).country_code or 0)
    except phonenumbers.NumberParseException:
        return "0"


def quota_pk(tenant_id: str, user_id: str, day: str) -> str:
    return f"T#{tenant_id}#Q#{user_id}#{day}"


@dataclass(frozen=True)
class Limits:
    """The effective rate limits of one tenant (0 = no limit)."""

    user_per_minute: int
    user_burst: int
    ip_per_minute: int
    ip_burst: int


@dataclass(frozen=True)
class RateTier:
    """Who is writing: a verified user or not, and the limits the session's pack sets for each."""

    verified: bool
    pack_limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "verified" if self.verified else "unverified"


_EXPLICIT = {
    "rate_limit_user_per_minute": "user_per_minute",
    "rate_limit_user_burst": "user_burst",
    "rate_limit_ip_per_minute": "ip_per_minute",
    "rate_limit_ip_burst": "ip_burst",
}


def limits_for(settings: Settings, tenant_id: str, tier: RateTier | None = None) -> Limits:
    """The tenant's limits for a kind of user (levels in the module docstring); a burst left unset follows its rate."""
    from luma.usage.plans import plan_for

    merged: dict[str, int | None] = {
        "user_per_minute": settings.rate_limit_user_per_minute,
        "user_burst": settings.rate_limit_user_burst,
        "ip_per_minute": settings.rate_limit_ip_per_minute,
        "ip_burst": settings.rate_limit_ip_burst,
    }
    plan = plan_for(settings, tenant_id).rate_limits
    levels: list[Mapping[str, Any]] = [
        {k: v for k, v in tier.pack_limits.get(tier.name, {}).items() if k.startswith("user_")} if tier else {},
        {key: getattr(settings, name) for name, key in _EXPLICIT.items() if name in settings.model_fields_set},
        {k: v for k, v in plan.items() if not isinstance(v, dict)},
        plan.get(tier.name, {}) if tier else {},
        settings.rate_limits.get(tenant_id, {}),
    ]
    for level in levels:
        for key, value in level.items():
            if key in merged:
                merged[key] = None if value is None else int(value)
    user = merged["user_per_minute"] or 0
    ip = merged["ip_per_minute"] or 0
    return Limits(
        user_per_minute=user,
        user_burst=merged["user_burst"] or user,
        ip_per_minute=ip,
        ip_burst=merged["ip_burst"] or ip,
    )


@dataclass(frozen=True)
class RateDecision:
    """The outcome of a rate-limit check; ``scope`` names the bucket that refused (``user``/``ip``)."""

    allowed: bool
    retry_after_s: int = 0
    scope: str | None = None
    remaining: int | None = None

    def error(self) -> LumaError:
        return LumaError(ErrorCode.RATE_LIMITED, retryAfter=self.retry_after_s)


ALLOWED = RateDecision(True)


class Limiter(Protocol):
    """What the pipeline and the agent ask of the limits (see :class:`DynamoLimiter`)."""

    def warm_up(self) -> None: ...
    def check(self, principal: Principal, source_ip: str | None = None) -> RateDecision: ...
    def inline(
        self, principal: Principal, source_ip: str | None = None, tier: RateTier | None = None
    ) -> InlineCheck | None: ...
    def confirm(self, check: InlineCheck) -> None: ...
    def check_unknown_sender(self, principal: Principal, phone: str) -> RateDecision: ...


class NoLimits:
    """Everything allowed, nothing counted (unit tests and callers that opt out)."""

    def warm_up(self) -> None:
        return None

    def check(self, principal: Principal, source_ip: str | None = None) -> RateDecision:
        return ALLOWED

    def inline(
        self, principal: Principal, source_ip: str | None = None, tier: RateTier | None = None
    ) -> InlineCheck | None:
        return None

    def confirm(self, check: InlineCheck) -> None:
        return None

    def check_unknown_sender(self, principal: Principal, phone: str) -> RateDecision:
        return ALLOWED


_MAX_TIERS = 10_000  # users whose last tier a process remembers


class DynamoLimiter(UsageTable):
    """Buckets in the ``usage`` table, one conditional UpdateItem per bucket in the common case; the credit
    ledger beside them (:attr:`credits`)."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], float] = time.time, client: Any | None = None
    ) -> None:
        super().__init__(settings, clock=clock, client=client)
        self._hints: dict[str, int] = {}  # last tat written per bucket: which case to try first
        self._tiers: dict[str, RateTier] = {}  # last tier seen per user bucket
        self._credits: CreditLedger | None = None

    def warm_up(self) -> None:
        """Build the DynamoDB client during Lambda init (~35 ms) rather than on the first message."""
        _ = self.client

    @property
    def credits(self) -> CreditLedger:
        """The users' credit balances (same table, same client)."""
        if self._credits is None:
            from luma.usage.ledger import CreditLedger

            self._credits = CreditLedger(self.settings, clock=self.clock, client=self.client)
        return self._credits

    # -- rate limits ----------------------------------------------------------------------
    def check(self, principal: Principal, source_ip: str | None = None, tier: RateTier | None = None) -> RateDecision:
        """Take a token from the user's bucket and from the source IP's; refuse if either is empty.

        With both buckets the two conditional updates go in one TransactWriteItems (one round trip,
        all or nothing: a refusal by one bucket takes no token from the other).
        """
        buckets = self._buckets(principal, source_ip, tier)
        try:
            if not buckets:
                return ALLOWED
            if len(buckets) == 1:
                return self._take(buckets[0])
            return self._take_all(buckets)
        except Exception:
            logger.warning("rate limiter unavailable; allowing the message", exc_info=True)
            return ALLOWED

    def _buckets(self, principal: Principal, source_ip: str | None, tier: RateTier | None = None) -> list[_Bucket]:
        user_pk = rate_pk(principal.tenant_id, "U", principal.user_id)
        if tier is not None:
            if len(self._tiers) >= _MAX_TIERS:
                self._tiers.clear()
            self._tiers[user_pk] = tier
        limits = limits_for(self.settings, principal.tenant_id, tier or self._tiers.get(user_pk))
        now = int(self.clock() * _US)
        buckets: list[_Bucket] = []
        if limits.user_per_minute > 0:
            pk = user_pk
            buckets.append(_Bucket.make("user", pk, limits.user_per_minute, limits.user_burst, now))
        if source_ip and limits.ip_per_minute > 0:
            pk = rate_pk(principal.tenant_id, "IP", source_ip)
            buckets.append(_Bucket.make("ip", pk, limits.ip_per_minute, limits.ip_burst, now))
        return buckets

    def check_unknown_sender(self, principal: Principal, phone: str) -> RateDecision:
        """A reply to a sender with no account: their own bucket, the tenant's, and their country's.

        Replies to unknown numbers cost money and are what SMS-pumping fraud farms: all of a tenant's
        unknown senders share ``twilio_unknown_replies_per_minute``, each country calling code
        ``twilio_unknown_replies_per_country_per_minute``. Fails closed: no reply when unsure.
        """
        settings = self.settings
        now = int(self.clock() * _US)
        tenant = principal.tenant_id
        buckets = [_Bucket.make("user", rate_pk(tenant, "U", principal.user_id), 2, 2, now)]
        if settings.twilio_unknown_replies_per_minute:
            per = settings.twilio_unknown_replies_per_minute
            buckets.append(_Bucket.make("unknown", rate_pk(tenant, "UNK", "ALL"), per, per, now))
        if settings.twilio_unknown_replies_per_country_per_minute:
            per = settings.twilio_unknown_replies_per_country_per_minute
            code = calling_code(phone)
            buckets.append(_Bucket.make("country", rate_pk(tenant, "UNK", f"CC{code}"), per, per, now))
        try:
            return self._take_all(buckets)
        except Exception:
            logger.warning("rate limiter unavailable; not replying to an unknown sender", exc_info=True)
            return RateDecision(False, retry_after_s=60, scope="unavailable")

    def inline(
        self, principal: Principal, source_ip: str | None = None, tier: RateTier | None = None
    ) -> InlineCheck | None:
        """The bucket updates (for the likely case) to ride in the caller's own transaction.

        No I/O. If the caller's transaction commits, call :meth:`confirm`; if it is cancelled on one
        of these updates, settle with :meth:`check` (which handles the other case and refusals, with
        the tier given here). None when no limit applies.
        """
        buckets = self._buckets(principal, source_ip, tier)
        if not buckets:
            return None
        cases = [self._first_case(b) for b in buckets]
        return InlineCheck([self._update(b, c) for b, c in zip(buckets, cases, strict=True)], buckets, cases)

    def confirm(self, check: InlineCheck) -> None:
        """Record the ``tat`` an inline check wrote (the next check tries the right case first)."""
        for b, c in zip(check.buckets, check.cases, strict=True):
            self._taken(b, b.now + b.interval if c == "idle" else max(self._hints.get(b.pk, b.now), b.now) + b.interval)

    def take(self, scope: str, pk: str, per_minute: int, burst: int, *, now_us: int | None = None) -> RateDecision:
        """Take one token from bucket ``pk`` (GCRA; see the module docstring)."""
        now = int(self.clock() * _US) if now_us is None else now_us
        return self._take(_Bucket.make(scope, pk, per_minute, burst, now))

    def _first_case(self, b: _Bucket) -> str:
        hint = self._hints.get(b.pk)
        return "busy" if hint is not None and b.now < hint <= b.now + b.tolerance else "idle"

    def _update(self, b: _Bucket, case: str) -> dict[str, Any]:
        ttl = {"N": str(math.ceil((b.now + b.burst * b.interval) / _US) + 60)}
        now = {"N": str(b.now)}
        if case == "idle":
            update, condition = "SET tat = :tat, #ttl = :ttl", "attribute_not_exists(tat) OR tat <= :now"
            values = {":tat": {"N": str(b.now + b.interval)}, ":now": now, ":ttl": ttl}
        else:
            update, condition = "SET tat = tat + :i, #ttl = :ttl", "tat > :now AND tat <= :max"
            values = {":i": {"N": str(b.interval)}, ":now": now, ":max": {"N": str(b.now + b.tolerance)}, ":ttl": ttl}
        return {
            "TableName": self.table,
            "Key": {"pk": {"S": b.pk}, "sk": {"S": BUCKET_SK}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _taken(self, b: _Bucket, tat: int) -> RateDecision:
        self._hints[b.pk] = tat
        return RateDecision(True, scope=b.scope, remaining=max(0, (b.now + b.burst * b.interval - tat) // b.interval))

    def _take(self, b: _Bucket) -> RateDecision:
        case = self._first_case(b)
        for _ in range(4):
            try:
                resp = self.client.update_item(**self._update(b, case), ReturnValues="UPDATED_NEW")
            except Exception as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise
                nxt = b.next_case(_old_tat(_item_of(exc)))
                if isinstance(nxt, RateDecision):
                    self._hints[b.pk] = b.now + b.tolerance + nxt.retry_after_s * _US
                    return nxt
                case = nxt
                continue
            return self._taken(b, int(resp["Attributes"]["tat"]["N"]))
        # Only reachable under extreme contention: refusing is the safe answer.
        return RateDecision(False, retry_after_s=1, scope=b.scope, remaining=0)

    def _take_all(self, buckets: list[_Bucket]) -> RateDecision:
        cases = [self._first_case(b) for b in buckets]
        for _ in range(4):
            try:
                self.client.transact_write_items(
                    TransactItems=[{"Update": self._update(b, c)} for b, c in zip(buckets, cases, strict=True)]
                )
            except Exception as exc:
                if _error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                refused: list[RateDecision] = []
                for i, (b, reason) in enumerate(zip(buckets, reasons, strict=False)):
                    if reason.get("Code") != "ConditionalCheckFailed":
                        continue  # None (fine as guessed) or TransactionConflict: same case again
                    nxt = b.next_case(_old_tat(reason.get("Item")))
                    if isinstance(nxt, RateDecision):
                        refused.append(nxt)
                    else:
                        cases[i] = nxt
                if refused:
                    return max(refused, key=lambda r: r.retry_after_s)
                continue
            # Transactions return no values: the new tat is known for "idle", a lower bound for "busy".
            decisions = [
                self._taken(
                    b, b.now + b.interval if c == "idle" else max(self._hints.get(b.pk, b.now), b.now) + b.interval
                )
                for b, c in zip(buckets, cases, strict=True)
            ]
            return min(decisions, key=lambda r: r.remaining or 0)
        # Contention on a shared bucket (many users behind one address): fall back to one update each.
        results = [self._take(b) for b in buckets]
        refusals = [r for r in results if not r.allowed]
        return max(refusals, key=lambda r: r.retry_after_s) if refusals else results[0]


@dataclass(frozen=True)
class InlineCheck:
    """Rate-limit updates for another transaction: raw ``Update`` bodies, with what they assumed."""

    updates: list[dict[str, Any]]
    buckets: list[_Bucket]
    cases: list[str]


@dataclass(frozen=True)
class _Bucket:
    """One bucket check at time ``now`` (microseconds): ``interval`` per token, ``tolerance`` of burst."""

    scope: str
    pk: str
    now: int
    interval: int
    burst: int

    @staticmethod
    def make(scope: str, pk: str, per_minute: int, burst: int, now: int) -> _Bucket:
        return _Bucket(scope, pk, now, max(1, round(60 * _US / per_minute)), max(1, burst))

    @property
    def tolerance(self) -> int:
        return (self.burst - 1) * self.interval

    def next_case(self, old: int | None) -> str | RateDecision:
        """After a failed condition, from the stored ``tat``: the update to try next, or the refusal."""
        if old is None or old <= self.now:
            return "idle"
        if old <= self.now + self.tolerance:
            return "busy"
        wait = max(1, math.ceil((old - self.tolerance - self.now) / _US))
        return RateDecision(False, retry_after_s=wait, scope=self.scope, remaining=0)


def _item_of(exc: Exception) -> dict[str, Any] | None:
    response = getattr(exc, "response", None)
    return response.get("Item") if isinstance(response, dict) else None


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _old_tat(item: dict[str, Any] | None) -> int | None:
    value = (item or {}).get("tat", {}).get("N")
    return int(value) if value is not None else None
