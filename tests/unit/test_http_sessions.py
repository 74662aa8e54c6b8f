"""Session close and report (luma.sessions) against the in-memory store: no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from luma.domain.models import Message, Role, Route, RoutingDecision, Session, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.sessions import close_session, get_report
from luma.store.repos import InboundRecord

from tests.fakes import MemorySessionStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(store: MemorySessionStore, user: str = "u-alice", tenant: str = "demo") -> Session:
    """A session with two turns: a fast path (hours) and an agent turn that escalated and used tokens."""
    session = Session(
        tenant_id=tenant, session_id=new_id(), user_id=user, assistant="clinic", created_at=T0, last_activity_at=T0
    )
    turns = [
        ("clinic_hours", 0.97, Route.FAST_PATH, {}),
        (None, 0.31, Route.AGENT, {"escalationId": "esc-1", "usage": {"input_tokens": 120, "output_tokens": 30}}),
        ("clinic_hours", 0.95, Route.FAST_PATH, {"costUsd": 0.0015}),
    ]
    for i, (intent, conf, route, meta) in enumerate(turns):
        at = T0 + timedelta(minutes=2 * i)
        user_msg = Message(
            tenant_id=tenant,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.USER,
            text=f"question {i}",
            created_at=at,
        )
        decision = RoutingDecision(
            tenant_id=tenant,
            session_id=session.session_id,
            message_id=user_msg.message_id,
            intent=intent,
            confidence=conf,
            margin=0.1,
            route=route,
            reason="test",
            latency_ms=4.0,
        )
        store.record_inbound(InboundRecord(session=session, message=user_msg, decision=decision, new_session=i == 0))
        reply = Message(
            tenant_id=tenant,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=f"answer {i}",
            created_at=at + timedelta(seconds=1),
            reply_to=user_msg.message_id,
            route=route,
            meta=meta,
        )
        store.save_reply(session, reply)
    return session


def test_close_writes_a_deterministic_report_and_marks_the_session_closed() -> None:
    store = MemorySessionStore()
    s = seed(store)
    report = close_session(store, "demo", s.session_id, user_id="u-alice", now=T0 + timedelta(hours=1), rating=4)
    assert store.sessions[("demo", s.session_id)].status is SessionStatus.CLOSED
    assert report.summary.total == 6 and report.summary.by_role == {"user": 3, "assistant": 3}
    assert report.summary.first_message_at == T0
    assert report.summary.last_message_at == T0 + timedelta(minutes=4, seconds=1)
    assert report.duration_s == 241.0
    assert report.intents == {"clinic_hours": 2, "none": 1}
    assert report.routes == {"fast_path": 2, "agent": 1}
    assert [step.route for step in report.path] == ["fast_path", "agent", "fast_path"]
    assert report.usage.input_tokens == 120 and report.usage.output_tokens == 30
    assert report.usage.cost_usd == pytest.approx(0.0015)
    assert report.escalations == ["esc-1"]
    assert report.closed_by == "user" and report.rating == 4
    json_doc = report.to_json()
    assert json_doc["sessionId"] == s.session_id and json_doc["summary"]["byRole"]["user"] == 3
    assert store.reports[("demo", s.session_id)] == json_doc


def test_closing_twice_returns_the_same_report() -> None:
    store = MemorySessionStore()
    s = seed(store)
    first = close_session(store, "demo", s.session_id, user_id="u-alice", now=T0 + timedelta(hours=1))
    again = close_session(store, "demo", s.session_id, user_id="u-alice", now=T0 + timedelta(hours=2), rating=1)
    assert again == first and again.rating is None


def test_another_users_or_tenants_or_a_missing_session_is_not_found() -> None:
    store = MemorySessionStore()
    s = seed(store)
    for tenant, user, sid in (
        ("demo", "u-bruno", s.session_id),
        ("other", "u-alice", s.session_id),
        ("demo", "u-alice", "01NOSUCHSESSION"),
    ):
        with pytest.raises(LumaError) as caught:
            close_session(store, tenant, sid, user_id=user)
        assert caught.value.code is ErrorCode.SESSION_NOT_FOUND
    assert store.sessions[("demo", s.session_id)].status is SessionStatus.ACTIVE and not store.reports
    with pytest.raises(LumaError):
        get_report(store, "demo", s.session_id, user_id="u-bruno")


def test_report_is_none_before_close() -> None:
    store = MemorySessionStore()
    s = seed(store)
    assert get_report(store, "demo", s.session_id, user_id="u-alice") is None
    close_session(store, "demo", s.session_id, user_id="u-alice")
    found = get_report(store, "demo", s.session_id, user_id="u-alice")
    assert found is not None and found.summary.total == 6


def test_a_sweeper_closes_without_a_user_and_a_restarted_session_still_gets_its_report() -> None:
    store = MemorySessionStore()
    s = seed(store)
    store.sessions[("demo", s.session_id)].status = SessionStatus.CLOSED  # closed by classify (restart)
    report = close_session(store, "demo", s.session_id, closed_by="idle")
    assert report.closed_by == "idle" and report.summary.total == 6
    assert ("demo", s.session_id) in store.reports


def test_a_concurrent_close_that_stored_first_wins() -> None:
    store = MemorySessionStore()
    s = seed(store)
    real_put = store.put_report

    def racing_put(tenant_id: str, session_id: str, user_id: str, report: dict[str, object]) -> bool:
        real_put(tenant_id, session_id, user_id, {**report, "closedBy": "idle"})  # the other close
        return real_put(tenant_id, session_id, user_id, report)

    store.put_report = racing_put  # type: ignore[method-assign]
    report = close_session(store, "demo", s.session_id, user_id="u-alice")
    assert report.closed_by == "idle"


def test_an_empty_session_has_an_empty_report() -> None:
    store = MemorySessionStore()
    s = Session(tenant_id="demo", session_id=new_id(), user_id="u-alice", assistant="clinic", created_at=T0)
    store.sessions[("demo", s.session_id)] = s
    report = close_session(store, "demo", s.session_id, user_id="u-alice")
    assert report.summary.total == 0 and report.summary.first_message_at is None
    assert report.intents == {} and report.usage.cost_usd == 0 and report.escalations == []


def test_a_locked_session_stays_locked_and_gets_its_report() -> None:
    store = MemorySessionStore()
    s = seed(store)
    store.sessions[("demo", s.session_id)].status = SessionStatus.LOCKED
    report = close_session(store, "demo", s.session_id, user_id="u-alice")
    assert store.sessions[("demo", s.session_id)].status is SessionStatus.LOCKED
    assert report.summary.total == 6 and ("demo", s.session_id) in store.reports
