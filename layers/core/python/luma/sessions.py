"""Closing a session and its report: one document per session, written once, deterministic (no LLM).

``close_session`` is what ``POST /sessions/{id}/close`` calls for the session's own user, and what the
idle sweeper (:func:`sweep_idle_sessions`) calls for idle sessions (``user_id=None``). The order makes
it safe to retry:

1. mark the session closed (condition: it is that user's) — from then on classify refuses new
   messages for it, so what is read next is final;
2. read its messages and routing decisions, build the report;
3. store it with ``attribute_not_exists``: two concurrent closes write one report, and both return it.

A session already closed (e.g. restarted by classify after inactivity) but without a report gets one;
a locked session (failed identity checks) keeps its ``locked`` status and gets its report too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from luma.domain.models import Message, RoutingDecision, Session, SessionStatus, utcnow
from luma.errors import ErrorCode, LumaError
from luma.observability import logger
from luma.store import keys
from luma.store.repos import IdleEntry, SessionConflictError, SessionStore, SweepStore

REPORT_VERSION = 1
CloseReason = Literal["user", "idle", "system"]
_MAX_PAGES = 1000  # messages are read in pages of 100: far beyond any real session
_MAX_PATH = 200  # decisions kept in order in the report; counts cover all of them


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class MessageSummary(_Camel):
    total: int = 0
    by_role: dict[str, int] = Field(default_factory=dict)
    first_message_at: datetime | None = None
    last_message_at: datetime | None = None


class RouteStep(_Camel):
    message_id: str
    intent: str | None
    route: str
    confidence: float


class UsageSummary(_Camel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0


class SessionReport(_Camel):
    """The report written when a session closes (stored as JSON under ``sk = REPORT``)."""

    version: int = REPORT_VERSION
    session_id: str
    assistant: str
    channel: str
    language: str
    created_at: datetime
    closed_at: datetime
    closed_by: CloseReason
    duration_s: float
    summary: MessageSummary
    intents: dict[str, int] = Field(default_factory=dict)
    routes: dict[str, int] = Field(default_factory=dict)
    path: list[RouteStep] = Field(default_factory=list)
    path_truncated: bool = False
    usage: UsageSummary = Field(default_factory=UsageSummary)
    escalations: list[str] = Field(default_factory=list)
    rating: int | None = Field(None, ge=1, le=5, description="The user's rating given when closing, if any.")
    # What the conversation was about, written after the close (the memory's session summary), and
    # the memory item that holds it; the models the agent used.
    recap: str | None = None
    recap_memory_id: str | None = None
    models: list[str] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def _all_messages(store: SessionStore, tenant_id: str, session_id: str) -> list[Message]:
    items: list[Message] = []
    after: str | None = None
    for _ in range(_MAX_PAGES):
        page = store.list_messages(tenant_id, session_id, after=after, limit=100)
        items.extend(page.items)
        if not page.next:
            break
        after = page.next
    return items


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _usage(messages: list[Message]) -> UsageSummary:
    """Token usage and cost recorded by the agent in message meta (``usage``, ``costUsd``); 0 until then."""
    total = UsageSummary()
    for m in messages:
        raw = m.meta.get("usage")
        if isinstance(raw, dict):
            total.input_tokens += int(_number(raw.get("input_tokens", raw.get("inputTokens"))))
            total.output_tokens += int(_number(raw.get("output_tokens", raw.get("outputTokens"))))
            total.cache_read_tokens += int(_number(raw.get("cache_read_tokens", raw.get("cacheReadTokens"))))
            total.cache_write_tokens += int(_number(raw.get("cache_write_tokens", raw.get("cacheWriteTokens"))))
            total.cost_usd += _number(raw.get("cost_usd", raw.get("costUsd")))
        total.cost_usd += _number(m.meta.get("costUsd", m.meta.get("cost_usd")))
    total.cost_usd = round(total.cost_usd, 6)
    return total


def build_report(
    session: Session,
    messages: list[Message],
    decisions: list[RoutingDecision],
    *,
    closed_at: datetime,
    closed_by: CloseReason,
    rating: int | None = None,
) -> SessionReport:
    """The report of a session from its messages and routing decisions (pure, deterministic)."""
    messages = sorted(messages, key=lambda m: m.message_id)
    decisions = sorted(decisions, key=lambda d: d.message_id)
    by_role = Counter(m.role.value for m in messages)
    first = messages[0].created_at if messages else None
    last = messages[-1].created_at if messages else None
    end = last or session.last_activity_at
    escalations: list[str] = []
    for m in messages:
        esc = m.meta.get("escalationId")
        if isinstance(esc, str) and esc and esc not in escalations:
            escalations.append(esc)
    return SessionReport(
        session_id=session.session_id,
        assistant=session.assistant,
        channel=session.channel,
        language=session.language,
        created_at=session.created_at,
        closed_at=closed_at,
        closed_by=closed_by,
        duration_s=round(max(0.0, (end - session.created_at).total_seconds()), 3),
        summary=MessageSummary(
            total=len(messages), by_role=dict(by_role), first_message_at=first, last_message_at=last
        ),
        intents=dict(Counter(d.intent or "none" for d in decisions)),
        routes=dict(Counter(d.route.value for d in decisions)),
        path=[
            RouteStep(message_id=d.message_id, intent=d.intent, route=d.route.value, confidence=round(d.confidence, 4))
            for d in decisions[:_MAX_PATH]
        ],
        path_truncated=len(decisions) > _MAX_PATH,
        usage=_usage(messages),
        models=sorted({str(m.meta["model"]) for m in messages if m.meta.get("model")}),
        escalations=escalations,
        rating=rating,
    )


def get_report(store: SessionStore, tenant_id: str, session_id: str, *, user_id: str) -> SessionReport | None:
    """The stored report of the caller's session; ``SESSION_NOT_FOUND`` for another user's or a missing one."""
    session = store.get_session(tenant_id, session_id)
    if session is None or session.user_id != user_id:
        raise LumaError(ErrorCode.SESSION_NOT_FOUND)
    raw = store.get_report(tenant_id, session_id)
    return SessionReport.model_validate(raw) if raw is not None else None


def close_session(
    store: SessionStore,
    tenant_id: str,
    session_id: str,
    *,
    user_id: str | None = None,
    closed_by: CloseReason = "user",
    rating: int | None = None,
    now: datetime | None = None,
    idle_before: datetime | None = None,
) -> SessionReport:
    """Close a session and return its report (the stored one when it was closed before).

    With ``user_id`` the session must be that user's (else ``SESSION_NOT_FOUND``, like a missing one);
    without it (a sweeper closing idle sessions) any session of the tenant is closed. With
    ``idle_before`` an active session is closed only if its last activity is still older than that
    (else :class:`SessionConflictError`: a message arrived meanwhile); ``store`` must then be a
    :class:`SweepStore`.
    """
    session = store.get_session(tenant_id, session_id)
    if session is None or (user_id is not None and session.user_id != user_id):
        raise LumaError(ErrorCode.SESSION_NOT_FOUND)
    existing = store.get_report(tenant_id, session_id)
    if existing is not None:
        return SessionReport.model_validate(existing)
    # A locked session stays locked (audit): it only gets its report. A session an operator took over
    # is closed by its user like an active one (never by the idle sweeper).
    if session.status is SessionStatus.ACTIVE or (session.status is SessionStatus.TAKEN_OVER and idle_before is None):
        if idle_before is not None:
            close_idle = getattr(store, "close_idle_session")  # noqa: B009 - a SweepStore (see the docstring)
            close_idle(tenant_id, session_id, before=idle_before)  # a conflict propagates
        else:
            try:
                store.close_session(tenant_id, session_id, user_id=session.user_id)
            except SessionConflictError as exc:
                raise LumaError(ErrorCode.SESSION_NOT_FOUND) from exc
    report = build_report(
        session,
        _all_messages(store, tenant_id, session_id),
        store.list_decisions(tenant_id, session_id),
        closed_at=now or utcnow(),
        closed_by=closed_by,
        rating=rating,
    )
    if store.put_report(tenant_id, session_id, session.user_id, report.to_json()):
        return report
    # A concurrent close stored its report first: that one is the report.
    stored = store.get_report(tenant_id, session_id)
    return SessionReport.model_validate(stored) if stored is not None else report


def report_closed_session(
    store: SessionStore,
    tenant_id: str,
    session_id: str,
    *,
    summarize: Callable[[str, str, str], Any] | None = None,
) -> SessionReport | None:
    """After a session closed (however it closed): its report, and the conversation's recap in it.

    The report is written if the close did not write it (a session replaced after inactivity); the
    recap comes from ``summarize(tenant, session, user)`` — a memory item whose ``text`` and
    ``memory_id`` are kept on the report. Idempotent: a second call changes nothing.
    """
    try:
        report = close_session(store, tenant_id, session_id, closed_by="idle")
    except LumaError:
        return None  # the session is gone (erased)
    if report.recap is not None or summarize is None:
        return report
    session = store.get_session(tenant_id, session_id)
    item = summarize(tenant_id, session_id, session.user_id) if session is not None else None
    if item is None or not getattr(item, "text", ""):
        return report
    fields = {"recap": item.text, "recapMemoryId": getattr(item, "memory_id", None)}
    store.update_report(tenant_id, session_id, fields)
    return report.model_copy(update={"recap": item.text, "recap_memory_id": fields["recapMemoryId"]})


# -- the idle sweeper ----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one sweep did (logged and returned by the scheduled function)."""

    examined: int = 0
    closed: int = 0  # closed now, report written
    reported: int = 0  # already closed (restarted after inactivity) or locked: report written
    still_active: int = 0  # activity since the index entry was written: entry moved forward
    cleaned: int = 0  # already reported, or gone: entry dropped
    failed: int = 0
    truncated: bool = False  # stopped at the budget; the next run continues

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def sweep_idle_sessions(
    store: SweepStore,
    *,
    idle_s: int,
    now: datetime | None = None,
    max_sessions: int = 500,
    page_size: int = 100,
    time_left_s: Callable[[], float] | None = None,
) -> SweepResult:
    """Close every session idle longer than ``idle_s`` and write its report (``closed_by="idle"``).

    Off the hot path (a scheduled function): walks the idle index shard by shard (``by_user`` GSI,
    ``IDLE#<shard>``, entries older than the cutoff, paginated), at most ``max_sessions`` entries and
    while ``time_left_s()`` stays above a few seconds. An index entry is written once with its session;
    a session that stayed active is found here with a stale entry, which is moved to its real last
    activity. The close is conditional on the session still being idle, so a message arriving during
    the sweep wins; the report is written once whoever gets there first (``close_session``).
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=idle_s)
    result = SweepResult()
    deadline_ok = (lambda: time_left_s() > 5.0) if time_left_s is not None else (lambda: True)
    for shard in range(keys.IDLE_SHARDS):
        cursor: str | None = None
        while True:
            page = store.list_idle(shard, before=cutoff, limit=page_size, cursor=cursor)
            for entry in page.items:
                if result.examined >= max_sessions or not deadline_ok():
                    result.truncated = True
                    return result
                result.examined += 1
                try:
                    _sweep_one(store, entry, cutoff=cutoff, now=now, result=result)
                except Exception:  # one bad session must not stop the sweep: it is retried next run
                    result.failed += 1
                    logger.exception("idle close failed", extra={"session_id": entry.session_id})
            if not page.next:
                break
            cursor = page.next
    return result


def _sweep_one(store: SweepStore, entry: IdleEntry, *, cutoff: datetime, now: datetime, result: SweepResult) -> None:
    session = store.get_session(entry.tenant_id, entry.session_id)
    if session is None:
        store.delete_idle(entry.tenant_id, entry.session_id)
        result.cleaned += 1
        return
    if store.get_report(entry.tenant_id, entry.session_id) is not None:
        store.delete_idle(entry.tenant_id, entry.session_id)  # closed by its user (or swept) already
        result.cleaned += 1
        return
    if session.status is SessionStatus.ACTIVE and session.last_activity_at >= cutoff:
        store.touch_idle(entry.tenant_id, entry.session_id, session.last_activity_at)
        result.still_active += 1
        return
    was_active = session.status is SessionStatus.ACTIVE
    try:
        close_session(store, entry.tenant_id, entry.session_id, closed_by="idle", now=now, idle_before=cutoff)
    except SessionConflictError:
        # A message arrived between our read and the close: the session lives on.
        fresh = store.get_session(entry.tenant_id, entry.session_id)
        if fresh is not None:
            store.touch_idle(entry.tenant_id, entry.session_id, fresh.last_activity_at)
        result.still_active += 1
        return
    store.delete_idle(entry.tenant_id, entry.session_id)
    if was_active:
        result.closed += 1
    else:
        result.reported += 1


def lambda_time_left(context: Any) -> Callable[[], float]:
    """Seconds left of a Lambda invocation (a local context without the method: unlimited)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(getter):
        start = time.monotonic()
        return lambda: 900.0 - (time.monotonic() - start)
    return lambda: float(getter()) / 1000.0
