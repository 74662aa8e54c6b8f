"""Repository adapters against a real moto server (the same emulator the local stack runs)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from luma.assistants.clinic.repo import DynamoClinicRepository
from luma.config import Settings
from luma.domain.models import Connection, Message, Role, Route, RoutingDecision, Session, SessionStatus
from luma.errors import LumaError
from luma.ids import new_id
from luma.store.repos import (
    AlreadyAnsweredError,
    DuplicateMessageError,
    DynamoConnectionRepository,
    DynamoConversationRepository,
    InboundRecord,
    SessionConflictError,
)


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def _inbound(session: Session, text: str, cid: str | None, *, new: bool) -> InboundRecord:
    msg = Message(
        tenant_id=session.tenant_id,
        session_id=session.session_id,
        message_id=new_id(),
        role=Role.USER,
        text=text,
        client_message_id=cid,
    )
    dec = RoutingDecision(
        tenant_id=session.tenant_id,
        session_id=session.session_id,
        message_id=msg.message_id,
        intent="greeting",
        confidence=0.91,
        margin=0.2,
        route=Route.FAST_PATH,
        reason="confident",
        latency_ms=3.5,
    )
    return InboundRecord(session=session, message=msg, decision=dec, new_session=new, client_message_id=cid)


@pytest.fixture
def repo(ddb_settings: Settings) -> DynamoConversationRepository:
    return DynamoConversationRepository(ddb_settings)


def test_inbound_transaction_and_reads(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    s = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    first = _inbound(s, "hello", "c1", new=True)
    repo.record_inbound(first)
    stored = repo.get_session(tenant, s.session_id)
    assert stored is not None and stored.user_id == "u1" and stored.status is SessionStatus.ACTIVE
    decision = repo.get_decision(tenant, s.session_id, first.message.message_id)
    assert decision is not None and decision.confidence == pytest.approx(0.91) and decision.route is Route.FAST_PATH
    repo.record_inbound(_inbound(s, "again", "c2", new=False))
    assert repo.get_session(tenant, s.session_id).message_count == 1  # type: ignore[union-attr]


def test_duplicate_client_message_id_cancels_the_whole_transaction(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    s = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    first = _inbound(s, "hello", "dup", new=True)
    repo.record_inbound(first)
    other = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    with pytest.raises(DuplicateMessageError) as caught:
        repo.record_inbound(_inbound(other, "hello", "dup", new=True))
    assert caught.value.record is not None
    assert caught.value.record.session_id == s.session_id
    assert caught.value.record.message_id == first.message.message_id
    assert repo.get_session(tenant, other.session_id) is None  # no orphan session


def test_locked_session_rejects_inbound(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    s = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    repo.record_inbound(_inbound(s, "hello", "a", new=True))
    reply = Message(tenant_id=tenant, session_id=s.session_id, message_id=new_id(), role=Role.ASSISTANT, text="locked")
    repo.save_reply(s, reply, state={"identity_attempts": 3}, status=SessionStatus.LOCKED)
    stored = repo.get_session(tenant, s.session_id)
    assert stored is not None and stored.status is SessionStatus.LOCKED and stored.state["identity_attempts"] == 3
    with pytest.raises(SessionConflictError):
        repo.record_inbound(_inbound(s, "let me in", "b", new=False))


def test_a_message_gets_one_answer_and_its_delivery_is_recorded(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    s = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    question = _inbound(s, "opening hours?", "q", new=True)
    repo.record_inbound(question)

    def answer(text: str, **changes: Any) -> Message:
        reply = Message(
            tenant_id=tenant,
            session_id=s.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=text,
            reply_to=question.message.message_id,
        )
        repo.save_reply(s, reply, answers=True, **changes)
        return reply

    first = answer("9 to 5")
    with pytest.raises(AlreadyAnsweredError) as again:
        answer("9 to 5, again", state={"seen": 1})  # a retried run: nothing of it is written
    assert (again.value.reply_id, again.value.delivered) == (first.message_id, False)
    stored = repo.get_session(tenant, s.session_id)
    assert stored is not None and "seen" not in stored.state
    repo.mark_delivered(tenant, s.session_id, question.message.message_id)
    with pytest.raises(AlreadyAnsweredError) as later:
        answer("9 to 5, once more")
    assert later.value.delivered is True
    replies = [m for m in repo.list_messages(tenant, s.session_id).items if m.role is Role.ASSISTANT]
    assert [m.text for m in replies] == ["9 to 5"]


def test_restart_closes_the_old_session(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    old = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    repo.record_inbound(_inbound(old, "hello", None, new=True))
    new = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    record = _inbound(new, "back", None, new=True)
    record.close_session = old
    repo.record_inbound(record)
    assert repo.get_session(tenant, old.session_id).status is SessionStatus.CLOSED  # type: ignore[union-attr]
    sessions = repo.list_sessions(tenant, "u1").items
    assert {x.session_id for x in sessions} == {old.session_id, new.session_id}


def test_messages_paginate_in_order(repo: DynamoConversationRepository) -> None:
    tenant = _tenant()
    s = Session(tenant_id=tenant, session_id=new_id(), user_id="u1", assistant="clinic")
    repo.record_inbound(_inbound(s, "m0", "k0", new=True))
    for i in range(1, 7):
        repo.record_inbound(_inbound(s, f"m{i}", f"k{i}", new=False))
    seen: list[str] = []
    ids: list[str] = []
    after = None
    while True:
        page = repo.list_messages(tenant, s.session_id, after=after, limit=3)
        seen += [m.text for m in page.items]
        ids += [m.message_id for m in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == [f"m{i}" for i in range(7)]
    tail = repo.list_messages(tenant, s.session_id, after=ids[-2])
    assert [m.text for m in tail.items] == ["m6"]


def test_tampered_cursor_is_a_typed_error(repo: DynamoConversationRepository) -> None:
    with pytest.raises(LumaError) as caught:
        repo.list_sessions("demo", "u1", cursor="not-base64-json!")
    assert caught.value.code.value == "VALIDATION_FAILED"


def test_connections(ddb_settings: Settings) -> None:
    conns = DynamoConnectionRepository(ddb_settings)
    tenant = _tenant()
    conns.put(
        Connection(
            connection_id="abc=", tenant_id=tenant, user_id="u1", connected_at=datetime.now(UTC) - timedelta(seconds=1)
        )
    )
    got = conns.get(tenant, "abc=")
    assert got is not None and got.user_id == "u1"
    assert conns.get("someone-else", "abc=") is None
    conns.mark_gone(tenant, "abc=")
    conns.delete(tenant, "abc=")
    assert conns.get(tenant, "abc=") is None
    conns.mark_gone(tenant, "abc=")  # already gone: recorded as nothing, never raises


def test_clinic_seed_is_queryable(ddb_settings: Settings) -> None:
    clinic = DynamoClinicRepository(ddb_settings)
    patient = clinic.find_patient("demo", "alice martin", date(1987, 3, 14))
    assert patient is not None and patient.patient_id == "p-alice"
    assert clinic.find_patient("demo", "alice martin", date(1987, 3, 15)) is None
    assert clinic.find_patient("other-tenant", "alice martin", date(1987, 3, 14)) is None
    appts = clinic.list_appointments("demo", "p-alice")
    assert {a.doctor_id for a in appts} == {"d-patel", "d-kowalski"}
    assert all(a.start.tzinfo is not None for a in appts)
