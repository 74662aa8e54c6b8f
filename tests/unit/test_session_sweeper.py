"""The idle-session sweeper (luma.sessions.sweep_idle_sessions) against the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from luma.domain.models import Message, Role, Route, RoutingDecision, Session, SessionStatus
from luma.ids import new_id
from luma.sessions import close_session, sweep_idle_sessions
from luma.store.repos import InboundRecord

from tests.fakes import MemorySessionStore

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
IDLE_S = 7 * 3600


def started(store: MemorySessionStore, at: datetime, user: str = "u-alice") -> Session:
    session = Session(
        tenant_id="demo", session_id=new_id(), user_id=user, assistant="clinic", created_at=at, last_activity_at=at
    )
    message = Message(
        tenant_id="demo", session_id=session.session_id, message_id=new_id(), role=Role.USER, text="hi", created_at=at
    )
    decision = RoutingDecision(
        tenant_id="demo",
        session_id=session.session_id,
        message_id=message.message_id,
        intent="greeting",
        confidence=0.9,
        margin=0.4,
        route=Route.FAST_PATH,
        reason="confident",
        latency_ms=2.0,
    )
    store.record_inbound(InboundRecord(session=session, message=message, decision=decision, new_session=True))
    return session


def test_idle_sessions_are_closed_with_a_report_and_recent_ones_kept() -> None:
    store = MemorySessionStore()
    idle = started(store, NOW - timedelta(hours=8))
    recent = started(store, NOW - timedelta(minutes=10))
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert (result.examined, result.closed, result.failed) == (1, 1, 0)
    assert store.sessions[("demo", idle.session_id)].status is SessionStatus.CLOSED
    report = store.reports[("demo", idle.session_id)]
    assert report["closedBy"] == "idle" and report["summary"]["total"] == 1
    assert store.sessions[("demo", recent.session_id)].status is SessionStatus.ACTIVE
    assert ("demo", idle.session_id) not in store.idle and ("demo", recent.session_id) in store.idle


def test_a_stale_index_entry_of_an_active_session_is_moved_forward_not_closed() -> None:
    store = MemorySessionStore()
    s = started(store, NOW - timedelta(hours=8))
    store.sessions[("demo", s.session_id)].last_activity_at = NOW - timedelta(minutes=1)
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert result.still_active == 1 and result.closed == 0
    assert store.idle[("demo", s.session_id)].last_activity_at == NOW - timedelta(minutes=1)
    assert sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW).examined == 0


def test_sessions_closed_by_a_restart_or_locked_get_their_report_and_keep_their_status() -> None:
    store = MemorySessionStore()
    restarted = started(store, NOW - timedelta(hours=9))
    locked = started(store, NOW - timedelta(hours=9))
    store.sessions[("demo", restarted.session_id)].status = SessionStatus.CLOSED
    store.sessions[("demo", locked.session_id)].status = SessionStatus.LOCKED
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert result.reported == 2 and result.closed == 0
    assert store.sessions[("demo", locked.session_id)].status is SessionStatus.LOCKED
    assert {k[1] for k in store.reports} == {restarted.session_id, locked.session_id}


def test_entries_of_reported_or_vanished_sessions_are_dropped() -> None:
    store = MemorySessionStore()
    closed_by_user = started(store, NOW - timedelta(hours=9))
    close_session(store, "demo", closed_by_user.session_id, user_id="u-alice")
    gone = started(store, NOW - timedelta(hours=9))
    del store.sessions[("demo", gone.session_id)]  # expired (TTL)
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert result.cleaned == 2 and store.idle == {}
    assert store.reports[("demo", closed_by_user.session_id)]["closedBy"] == "user"


def test_a_message_arriving_during_the_sweep_wins() -> None:
    store = MemorySessionStore()
    s = started(store, NOW - timedelta(hours=9))
    real_close = store.close_idle_session

    def message_first(tenant_id: str, session_id: str, *, before: datetime) -> None:
        store.sessions[(tenant_id, session_id)].last_activity_at = NOW  # classify wrote a message meanwhile
        real_close(tenant_id, session_id, before=before)

    store.close_idle_session = message_first  # type: ignore[method-assign]
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert result.still_active == 1 and not store.reports
    assert store.sessions[("demo", s.session_id)].status is SessionStatus.ACTIVE


def test_the_budget_stops_a_sweep_and_the_next_run_continues() -> None:
    store = MemorySessionStore()
    for _ in range(7):
        started(store, NOW - timedelta(hours=9))
    first = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW, max_sessions=3, page_size=2)
    assert first.truncated and first.closed == 3
    second = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW, max_sessions=10, page_size=2)
    assert not second.truncated and second.closed == 4


def test_the_time_budget_is_respected() -> None:
    store = MemorySessionStore()
    started(store, NOW - timedelta(hours=9))
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW, time_left_s=lambda: 1.0)
    assert result.truncated and result.examined == 0


def test_one_failing_session_does_not_stop_the_sweep() -> None:
    store = MemorySessionStore()
    bad = started(store, NOW - timedelta(hours=9))
    good = started(store, NOW - timedelta(hours=9))
    real_get = store.get_report

    def flaky(tenant_id: str, session_id: str) -> Any:
        if session_id == bad.session_id:
            raise ConnectionError("throttled")
        return real_get(tenant_id, session_id)

    store.get_report = flaky  # type: ignore[method-assign]
    result = sweep_idle_sessions(store, idle_s=IDLE_S, now=NOW)
    assert result.failed == 1 and result.closed == 1
    assert ("demo", good.session_id) in store.reports
