"""The operator service's rules with in-memory adapters: notices, the inbox, takeover, replies, the relay,
tenant isolation and the operator role. The DynamoDB adapter runs in tests/integration/test_operators.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from luma.domain.models import (
    Connection,
    DeliveryTarget,
    Message,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)
from luma.ids import new_id
from luma.operators.escalations import Escalation, EscalationConflictError
from luma.operators.models import Address, AuditEntry, Notice, OperatorConnection, Takeover, queue_order
from luma.operators.notify import escalation_from_image, on_escalation_change
from luma.operators.relay import OperatorRelay
from luma.operators.service import MAX_FRAME_BYTES, ActionRequest, OperatorService
from luma.operators.settings import OperatorSettings
from luma.operators.store import TakeoverConflictError
from luma.store.repos import Page
from luma.streams import Change

from tests.fakes import MemoryConversations, RecordingDelivery

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEMO, ACME = "demo", "acme"


# -- in-memory adapters -----------------------------------------------------------------------------------


class MemoryEscalationStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Escalation] = {}
        self.conflicts = 0  # the next set_status calls that lose a race

    def add(self, esc: Escalation) -> Escalation:
        self.items[(esc.tenant_id, esc.escalation_id)] = esc
        return esc

    def find(self, tenant_id: str, escalation_id: str, *, session_id: str | None = None) -> Escalation | None:
        esc = self.items.get((tenant_id, escalation_id))
        return esc if esc is not None and (session_id is None or esc.session_id == session_id) else None

    def list_open(self, tenant_id: str) -> list[Escalation]:
        return sorted(
            (e for (t, _), e in self.items.items() if t == tenant_id and e.status != "closed"),
            key=lambda e: e.escalation_id,
        )

    def list_closed(self, tenant_id: str, *, limit: int = 100) -> list[Escalation]:
        return [e for (t, _), e in self.items.items() if t == tenant_id and e.status == "closed"][:limit]

    def list_for_session(self, tenant_id: str, session_id: str) -> list[Escalation]:
        return [e for (t, _), e in self.items.items() if t == tenant_id and e.session_id == session_id]

    def set_status(self, esc: Escalation, status: Any, **data: Any) -> Escalation:
        stored = self.items[(esc.tenant_id, esc.escalation_id)]
        if self.conflicts or stored.status != esc.status:
            self.conflicts = max(0, self.conflicts - 1)
            raise EscalationConflictError(esc.escalation_id)
        merged = {**stored.data, **{k: v for k, v in data.items() if v is not None}}
        updated = stored.model_copy(update={"status": status, "data": merged})
        self.items[(esc.tenant_id, esc.escalation_id)] = updated
        return updated


@dataclass
class MemoryOperatorStore:
    conversations: MemoryConversations
    escalations: MemoryEscalationStore = field(default_factory=MemoryEscalationStore)
    conns: list[OperatorConnection] = field(default_factory=list)
    inbox: dict[str, list[Notice]] = field(default_factory=dict)
    takeovers: dict[tuple[str, str], Takeover] = field(default_factory=dict)
    addresses: dict[tuple[str, str], Address] = field(default_factory=dict)  # newest user message's meta
    audits: list[AuditEntry] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    take_conflicts: int = 0

    def add_connection(self, conn: OperatorConnection) -> None:
        self.conns.append(conn)

    def connections(self, tenant_id: str) -> list[OperatorConnection]:
        return [c for c in self.conns if c.tenant_id == tenant_id]

    def drop_connection(self, tenant_id: str, connection_id: str) -> None:
        self.dropped.append(connection_id)
        self.conns = [c for c in self.conns if not (c.tenant_id == tenant_id and c.connection_id == connection_id)]

    def record_notice(self, esc: Escalation, *, at: datetime) -> tuple[Notice, bool]:
        existing = self.notice_for(esc.tenant_id, esc.escalation_id)
        if existing is not None:
            return existing, False
        notice = Notice(
            tenant_id=esc.tenant_id,
            notice_id=new_id(),
            escalation_id=esc.escalation_id,
            session_id=esc.session_id,
            urgency=esc.urgency,
            created_at=at,
        )
        self.inbox.setdefault(esc.tenant_id, []).append(notice)
        return notice, True

    def notices(self, tenant_id: str, *, after: str | None, limit: int) -> Page[Notice]:
        items = [n for n in self.inbox.get(tenant_id, []) if after is None or n.notice_id > after]
        page = items[:limit]
        return Page(items=page, next=page[-1].notice_id if len(items) > limit else None)

    def notice_for(self, tenant_id: str, escalation_id: str) -> Notice | None:
        return next((n for n in self.inbox.get(tenant_id, []) if n.escalation_id == escalation_id), None)

    def ack(self, notice: Notice, operator_id: str, *, at: datetime) -> Notice:
        kept = self.inbox[notice.tenant_id]
        for i, n in enumerate(kept):
            if n.notice_id == notice.notice_id and n.acked_at is None:
                kept[i] = n.model_copy(update={"acked_by": operator_id, "acked_at": at})
                return kept[i]
        return self.notice_for(notice.tenant_id, notice.escalation_id) or notice

    def holder(self, tenant_id: str, session_id: str) -> Takeover | None:
        return self.takeovers.get((tenant_id, session_id))

    def take_over(self, session: Session, operator_id: str, *, at: datetime) -> Takeover:
        stored = self.conversations.sessions[(session.tenant_id, session.session_id)]
        if self.take_conflicts:
            self.take_conflicts -= 1
            stored.version += 1  # a message arrived meanwhile
            raise TakeoverConflictError(session.session_id)
        if stored.version != session.version or stored.status is not SessionStatus.ACTIVE:
            raise TakeoverConflictError(session.session_id)
        stored.status, stored.version = SessionStatus.TAKEN_OVER, stored.version + 1
        takeover = Takeover(
            tenant_id=session.tenant_id, session_id=session.session_id, operator_id=operator_id, taken_at=at
        )
        self.takeovers[(session.tenant_id, session.session_id)] = takeover
        return takeover

    def hand_back(self, session: Session, operator_id: str) -> None:
        stored = self.conversations.sessions[(session.tenant_id, session.session_id)]
        holder = self.takeovers.get((session.tenant_id, session.session_id))
        if stored.version != session.version or stored.status is not SessionStatus.TAKEN_OVER:
            raise TakeoverConflictError(session.session_id)
        if holder is not None and holder.operator_id != operator_id:
            raise TakeoverConflictError(session.session_id)
        stored.status, stored.version = SessionStatus.ACTIVE, stored.version + 1
        self.takeovers.pop((session.tenant_id, session.session_id), None)

    def remember_address(self, tenant_id: str, session_id: str, address: Address) -> None:
        held = self.takeovers.get((tenant_id, session_id))
        if held is not None:
            self.takeovers[(tenant_id, session_id)] = held.model_copy(update={"address": address})

    def last_address(self, tenant_id: str, session_id: str) -> Address | None:
        return self.addresses.get((tenant_id, session_id))

    def audit(self, entry: AuditEntry) -> None:
        self.audits.append(entry)


class MemoryConnections:
    def __init__(self) -> None:
        self.latest_of: dict[tuple[str, str], Connection] = {}

    def latest(self, tenant_id: str, user_id: str) -> Connection | None:
        return self.latest_of.get((tenant_id, user_id))


class CheckingDelivery(RecordingDelivery):
    """Records frames and, for each operator message, whether it was stored before it was sent."""

    def __init__(self, conversations: MemoryConversations) -> None:
        super().__init__()
        self.conversations = conversations
        self.stored_first: list[bool] = []

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        if frame.get("type") == "message" and frame.get("route") == "operator":
            stored = self.conversations.get_message(DEMO, frame["sessionId"], frame["messageId"])
            self.stored_first.append(stored is not None)
        return super().send(target, frame)


@dataclass
class World:
    conversations: MemoryConversations
    store: MemoryOperatorStore
    connections: MemoryConnections
    delivery: CheckingDelivery
    service: OperatorService

    def session(self, tenant: str = DEMO, channel: str = "websocket", user: str = "u-ann") -> Session:
        session = Session(
            tenant_id=tenant,
            session_id=new_id(),
            user_id=user,
            assistant="clinic",
            channel=channel,  # type: ignore[arg-type]
            created_at=T0,
            last_activity_at=T0,
        )
        self.conversations.sessions[(tenant, session.session_id)] = session.model_copy(deep=True)
        return session

    def escalation(self, session: Session, urgency: str = "normal", at: datetime = T0) -> Escalation:
        return self.store.escalations.add(
            Escalation(
                escalation_id=new_id(),
                tenant_id=session.tenant_id,
                session_id=session.session_id,
                user_id=session.user_id,
                assistant=session.assistant,
                channel=session.channel,
                urgency=urgency,  # type: ignore[arg-type]
                reason="user_request",
                created_at=at,
            )
        )

    def operator(self, user: str = "op-1", tenant: str = DEMO, connection: str | None = None) -> Principal:
        self.store.add_connection(
            OperatorConnection(tenant_id=tenant, user_id=user, connection_id=connection or f"c-{user}-{tenant}")
        )
        return Principal(tenant_id=tenant, user_id=user, role="operator")

    def act(self, who: Principal, action: str, connection: str = "c-act", **fields: Any) -> dict[str, Any]:
        """Run one frame; the answer sent back on ``connection``."""
        before = len(self.delivery.frames)
        body = json.dumps({"action": action, **fields})
        self.service.handle(
            ActionRequest(connection_id=connection, principal=who, body=body, endpoint="https://x/local")
        )
        answers = [f for address, f in self.delivery.frames[before:] if address == connection]
        assert len(answers) == 1, answers
        return answers[0]

    def to(self, address: str) -> list[dict[str, Any]]:
        return [f for a, f in self.delivery.frames if a == address]


@pytest.fixture
def world() -> World:
    conversations = MemoryConversations()
    store = MemoryOperatorStore(conversations)
    connections = MemoryConnections()
    delivery = CheckingDelivery(conversations)
    clock = iter(T0 + timedelta(seconds=i) for i in range(10_000))
    service = OperatorService(
        store=store,
        conversations=conversations,
        connections=connections,  # type: ignore[arg-type]
        delivery=delivery,
        options=OperatorSettings(operator_first_response_tenants={ACME: 60}),
        clock=lambda: next(clock),
    )
    return World(conversations, store, connections, delivery, service)


def _turn(session: Session, text: str, delivery: DeliveryTarget) -> Turn:
    message = Message(
        tenant_id=session.tenant_id,
        session_id=session.session_id,
        message_id=new_id(),
        role=Role.USER,
        text=text,
        client_message_id="cm-1",
    )
    decision = RoutingDecision(
        tenant_id=session.tenant_id,
        session_id=session.session_id,
        message_id=message.message_id,
        confidence=0.9,
        margin=0.5,
        route=Route.FAST_PATH,
        reason="confident",
        latency_ms=1.0,
    )
    principal = Principal(tenant_id=session.tenant_id, user_id=session.user_id)
    return Turn(principal=principal, session=session, message=message, decision=decision, delivery=delivery)


# -- notices ----------------------------------------------------------------------------------------------


def test_a_notice_is_written_once_and_pushed_to_the_tenants_operators_only(world: World) -> None:
    world.operator("op-1")
    world.operator("op-2")
    world.operator("op-9", tenant=ACME)
    esc = world.escalation(world.session(), urgency="urgent")
    notice = world.service.notify(esc)
    again = world.service.notify(esc)  # a redelivered stream record
    assert again.notice_id == notice.notice_id and len(world.store.inbox[DEMO]) == 1
    for conn in ("c-op-1-demo", "c-op-2-demo"):
        frames = world.to(conn)
        assert [f["escalationId"] for f in frames] == [esc.escalation_id] * 2  # told again: clients dedupe by id
        assert frames[0]["urgency"] == "urgent" and frames[0]["noticeId"] == notice.notice_id
        assert frames[0]["type"] == "escalation" and frames[0]["acknowledged"] is False
    assert world.to("c-op-9-acme") == []


def test_a_gone_operator_connection_is_forgotten(world: World) -> None:
    world.operator("op-1")
    world.operator("op-2")
    world.delivery.gone.add("c-op-1-demo")
    world.service.notify(world.escalation(world.session()))
    assert world.store.dropped == ["c-op-1-demo"]
    assert [c.user_id for c in world.store.connections(DEMO)] == ["op-2"]


def test_the_stream_image_of_an_escalation_is_read_back() -> None:
    image = {
        "pk": "T#demo#S#S1",
        "sk": "ESC#E1",
        "kind": "escalation",
        "tenant_id": "demo",
        "session_id": "S1",
        "escalation_id": "E1",
        "user_id": "u-ann",
        "assistant": "clinic",
        "channel": "whatsapp",
        "urgency": "urgent",
        "reason": "user_request",
        "status": "open",
        "created_at": "2026-03-02T09:00:00.000000+0000",
        "data": '{"source": "fast_path"}',
        "ttl": Decimal(1_900_000_000),
    }
    esc = escalation_from_image(image)
    assert esc is not None and esc.created_at == T0 and esc.data == {"source": "fast_path"}
    assert esc.channel == "whatsapp" and esc.urgency == "urgent"
    assert escalation_from_image({**image, "kind": "message", "sk": "M#1"}) is None


def test_only_new_escalations_are_notified(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[str] = []

    class Service:
        def notify(self, esc: Escalation) -> None:
            told.append(esc.escalation_id)

    from luma.operators import wiring

    monkeypatch.setattr(wiring, "service", lambda: Service())
    image = {
        "pk": "T#demo#S#S1",
        "sk": "ESC#E1",
        "kind": "escalation",
        "tenant_id": "demo",
        "session_id": "S1",
        "escalation_id": "E1",
        "user_id": "u",
        "assistant": "clinic",
        "channel": "websocket",
        "urgency": "normal",
        "reason": "r",
        "status": "open",
        "created_at": "2026-03-02T09:00:00.000000+0000",
    }

    def change(name: str) -> Change:
        return Change(name, {}, image if name != "REMOVE" else None, None, "1", "e", None, None)  # type: ignore[arg-type]

    for name in ("MODIFY", "REMOVE", "INSERT"):
        on_escalation_change(change(name))
    assert told == ["E1"]


# -- the inbox --------------------------------------------------------------------------------------------


def test_sync_returns_notices_after_the_cursor_and_the_queue_urgent_first(world: World) -> None:
    op = world.operator()
    early = world.escalation(world.session(), at=T0)
    later = world.escalation(world.session(), urgency="urgent", at=T0 + timedelta(minutes=5))
    world.service.notify(early)
    first = world.act(op, "operatorSync", after=None)
    assert [n["escalationId"] for n in first["notices"]] == [early.escalation_id]
    world.service.notify(later)
    erased = world.escalation(world.session())
    world.service.notify(erased)
    del world.store.escalations.items[(DEMO, erased.escalation_id)]  # erased with its session
    nxt = world.act(op, "operatorSync", after=first["cursor"], clientMessageId="s2")
    assert [n["escalationId"] for n in nxt["notices"]] == [later.escalation_id]
    assert [e["escalationId"] for e in nxt["escalations"]] == [later.escalation_id, early.escalation_id]
    assert nxt["firstResponseS"] == 300 and nxt["clientMessageId"] == "s2" and nxt["queueSize"] == 2


def test_sync_pages_the_inbox(world: World) -> None:
    op = world.operator()
    for _ in range(5):
        world.service.notify(world.escalation(world.session()))
    seen, cursor = [], None
    while True:
        page = world.act(op, "operatorSync", after=cursor, limit=2)
        seen += [n["escalationId"] for n in page["notices"]]
        cursor = page["cursor"]
        if page["next"] is None:
            break
    assert len(seen) == 5 == len(set(seen))


def test_a_sync_frame_stays_under_the_management_api_limit(world: World) -> None:
    op = world.operator()
    for _ in range(60):
        esc = world.escalation(world.session())
        world.store.escalations.add(esc.model_copy(update={"reason": "x" * 3000}))
    frame = world.act(op, "operatorSync", after=None)
    assert len(json.dumps(frame).encode()) <= MAX_FRAME_BYTES and frame["queueSize"] == 60


def test_ack_marks_the_notice_once_and_tells_the_other_operators(world: World) -> None:
    op1, _ = world.operator("op-1"), world.operator("op-2")
    esc = world.escalation(world.session())
    world.service.notify(esc)
    answer = world.act(op1, "ack", escalationId=esc.escalation_id)
    assert answer["status"] == "acknowledged" and answer["ackedBy"] == "op-1"
    assert (
        world.act(world.operator("op-2", connection="c2"), "ack", escalationId=esc.escalation_id)["ackedBy"] == "op-1"
    )
    updates = [f for f in world.to("c-op-2-demo") if f["type"] == "escalation_update"]
    assert updates and updates[0]["acknowledged"] is True


def test_the_first_response_limit_is_per_tenant() -> None:
    options = OperatorSettings(operator_first_response_s=120, operator_first_response_tenants={ACME: 30})
    assert options.first_response_s(DEMO) == 120 and options.first_response_s(ACME) == 30

    class Configured:
        operator_first_response_s = 90
        operator_notice_ttl_days = 3

    loaded = OperatorSettings.from_settings(Configured())
    assert loaded.operator_first_response_s == 90 and loaded.operator_notice_ttl_days == 3
    assert loaded.operator_audit_retention_days == OperatorSettings().operator_audit_retention_days


def test_the_queue_order_is_urgent_first_then_the_longest_waiting(world: World) -> None:
    s = world.session()
    a = world.escalation(s, at=T0 + timedelta(minutes=2))
    b = world.escalation(s, urgency="urgent", at=T0 + timedelta(minutes=9))
    c = world.escalation(s, at=T0)
    d = world.escalation(s, urgency="urgent", at=T0 + timedelta(minutes=1))
    assert [e.escalation_id for e in queue_order([a, b, c, d])] == [
        d.escalation_id,
        b.escalation_id,
        c.escalation_id,
        a.escalation_id,
    ]


# -- roles and tenants ------------------------------------------------------------------------------------


def test_a_user_is_forbidden_every_action_and_the_attempt_is_audited(world: World) -> None:
    session = world.session()
    user = Principal(tenant_id=DEMO, user_id="u-ann")
    for action in ("takeOver", "operatorSync", "ack", "handBack", "operatorMessage", "closeEscalation"):
        answer = world.act(user, action, sessionId=session.session_id, escalationId="E1", text="hi")
        assert answer["type"] == "error" and answer["code"] == "FORBIDDEN" and answer["action"] == action
    assert world.conversations.sessions[(DEMO, session.session_id)].status is SessionStatus.ACTIVE
    assert {a.outcome for a in world.store.audits} == {"FORBIDDEN"} and len(world.store.audits) == 6


def test_another_tenants_ids_are_not_found(world: World) -> None:
    session = world.session()
    esc = world.escalation(session)
    world.service.notify(esc)
    stranger = world.operator("op-9", tenant=ACME)
    for action, fields in (
        ("takeOver", {"sessionId": session.session_id}),
        ("handBack", {"sessionId": session.session_id}),
        ("operatorMessage", {"sessionId": session.session_id, "text": "hi"}),
        ("closeEscalation", {"escalationId": esc.escalation_id}),
        ("ack", {"escalationId": esc.escalation_id}),
    ):
        assert world.act(stranger, action, **fields)["code"] == "SESSION_NOT_FOUND", action
    assert world.store.escalations.items[(DEMO, esc.escalation_id)].status == "open"
    assert world.store.takeovers == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{oops", "MALFORMED_JSON"),
        (json.dumps({"action": "launch"}), "UNKNOWN_ACTION"),
        (json.dumps({"action": "takeOver"}), "VALIDATION_FAILED"),
        (json.dumps({"action": "takeOver", "sessionId": "a b"}), "VALIDATION_FAILED"),
        (json.dumps({"action": "operatorSync", "limit": 500}), "VALIDATION_FAILED"),
        (json.dumps({"action": "operatorMessage", "sessionId": "S1", "text": "x" * 2001}), "TEXT_TOO_LONG"),
    ],
)
def test_bad_frames_are_typed_errors(world: World, body: str, code: str) -> None:
    op = world.operator()
    world.service.handle(ActionRequest(connection_id="c-x", principal=op, body=body))
    (answer,) = world.to("c-x")
    assert answer["type"] == "error" and answer["code"] == code


def test_without_a_principal_nothing_runs(world: World) -> None:
    world.service.handle(ActionRequest(connection_id="c-x", principal=None, body='{"action": "operatorSync"}'))
    assert world.to("c-x")[0]["code"] == "AUTH_REQUIRED"


# -- takeover ---------------------------------------------------------------------------------------------


def test_takeover_holds_the_session_and_marks_its_open_escalations_taken(world: World) -> None:
    op = world.operator("op-1")
    peer = world.operator("op-2")
    session = world.session()
    esc = world.escalation(session)
    world.connections.latest_of[(DEMO, "u-ann")] = Connection(connection_id="c-user", tenant_id=DEMO, user_id="u-ann")
    answer = world.act(op, "takeOver", sessionId=session.session_id)
    assert answer["status"] == "taken_over" and answer["escalationIds"] == [esc.escalation_id]
    assert world.conversations.sessions[(DEMO, session.session_id)].status is SessionStatus.TAKEN_OVER
    assert world.store.escalations.items[(DEMO, esc.escalation_id)].data["takenBy"] == "op-1"
    assert [f["status"] for f in world.to("c-user")] == ["operator_joined"]
    peer_frames = world.to("c-op-2-demo")
    assert {f["type"] for f in peer_frames} == {"session_update", "escalation_update"}
    # Taking it again is harmless for the holder; another operator is refused.
    assert world.act(op, "takeOver", sessionId=session.session_id)["status"] == "taken_over"
    refused = world.act(peer, "takeOver", sessionId=session.session_id)
    assert refused["code"] == "FORBIDDEN" and refused["details"]["heldBy"] == "op-1"
    assert [(a.action, a.outcome) for a in world.store.audits] == [
        ("takeOver", "ok"),
        ("takeOver", "ok"),
        ("takeOver", "FORBIDDEN"),
    ]


def test_takeover_retries_when_a_message_moved_the_version(world: World) -> None:
    op = world.operator()
    session = world.session()
    world.store.take_conflicts = 2
    assert world.act(op, "takeOver", sessionId=session.session_id)["status"] == "taken_over"
    assert world.conversations.sessions[(DEMO, session.session_id)].version == 3


def test_a_closed_session_cannot_be_taken_over(world: World) -> None:
    op = world.operator()
    session = world.session()
    world.conversations.sessions[(DEMO, session.session_id)].status = SessionStatus.CLOSED
    answer = world.act(op, "takeOver", sessionId=session.session_id)
    assert answer["code"] == "BAD_REQUEST" and answer["details"]["status"] == "closed"


def test_hand_back_is_the_holders_and_resumes_the_bot(world: World) -> None:
    op, peer = world.operator("op-1"), world.operator("op-2")
    session = world.session()
    world.act(op, "takeOver", sessionId=session.session_id)
    assert world.act(peer, "handBack", sessionId=session.session_id)["code"] == "FORBIDDEN"
    assert world.act(op, "handBack", sessionId=session.session_id)["status"] == "handed_back"
    assert world.conversations.sessions[(DEMO, session.session_id)].status is SessionStatus.ACTIVE
    assert world.store.takeovers == {}
    assert world.act(op, "handBack", sessionId=session.session_id)["status"] == "handed_back"  # already active


# -- operator replies ---------------------------------------------------------------------------------------


def test_an_operator_reply_is_stored_before_it_reaches_the_users_newest_connection(world: World) -> None:
    op = world.operator()
    session = world.session()
    world.connections.latest_of[(DEMO, "u-ann")] = Connection(connection_id="c-user", tenant_id=DEMO, user_id="u-ann")
    world.act(op, "takeOver", sessionId=session.session_id)
    answer = world.act(
        op, "operatorMessage", sessionId=session.session_id, text="Hello, Dana here.", clientMessageId="m1"
    )
    assert answer["status"] == "operator_message" and answer["delivered"] is True and answer["clientMessageId"] == "m1"
    (frame,) = [f for f in world.to("c-user") if f["type"] == "message"]
    assert frame["route"] == "operator" and frame["text"] == "Hello, Dana here." and frame["role"] == "assistant"
    assert world.delivery.stored_first == [True]
    stored = world.conversations.get_message(DEMO, session.session_id, answer["messageId"])
    assert stored is not None and stored.role is Role.ASSISTANT
    assert stored.meta == {"route": "operator", "operatorId": "op-1"}
    # The same clientMessageId again: stored and sent once.
    assert (
        world.act(op, "operatorMessage", sessionId=session.session_id, text="Hello, Dana here.", clientMessageId="m1")[
            "status"
        ]
        == "duplicate"
    )
    assert len(world.conversations.messages[(DEMO, session.session_id)]) == 1
    assert next(a.details for a in world.store.audits if a.action == "operatorMessage")["delivered"] is True
    assert "Dana" not in json.dumps([a.model_dump(mode="json") for a in world.store.audits])


def test_an_operator_may_only_speak_in_a_session_they_hold(world: World) -> None:
    op, peer = world.operator("op-1"), world.operator("op-2")
    session = world.session()
    assert world.act(op, "operatorMessage", sessionId=session.session_id, text="hi")["code"] == "FORBIDDEN"
    world.act(op, "takeOver", sessionId=session.session_id)
    assert world.act(peer, "operatorMessage", sessionId=session.session_id, text="hi")["code"] == "FORBIDDEN"
    assert world.conversations.messages.get((DEMO, session.session_id)) is None


def test_a_whatsapp_user_is_answered_at_the_address_they_wrote_from(world: World) -> None:
    op = world.operator()
    session = world.session(channel="whatsapp")
    world.act(op, "takeOver", sessionId=session.session_id)
    # Before the user writes again, only an address on their messages can reach them.
    assert world.act(op, "operatorMessage", sessionId=session.session_id, text="one")["delivered"] is False
    world.store.addresses[(DEMO, session.session_id)] = Address(
        channel="whatsapp", to="whatsapp:+331", via="whatsapp:+1"
    )
    assert world.act(op, "operatorMessage", sessionId=session.session_id, text="two")["delivered"] is True
    assert [f["text"] for f in world.to("whatsapp:+331") if f["type"] == "message"] == ["two"]
    # A relayed message teaches the takeover its address.
    turn = _turn(
        world.conversations.sessions[(DEMO, session.session_id)],
        "hello?",
        DeliveryTarget(channel="whatsapp", to_address="whatsapp:+332", from_address="whatsapp:+1"),
    )
    world.service.relay(turn)
    assert world.act(op, "operatorMessage", sessionId=session.session_id, text="three")["delivered"] is True
    assert [f["text"] for f in world.to("whatsapp:+332") if f["type"] == "message"] == ["three"]


# -- the relay ----------------------------------------------------------------------------------------------


def test_the_relay_goes_to_the_holder_and_tells_the_users_client(world: World) -> None:
    op = world.operator("op-1")
    world.operator("op-2")
    world.operator("op-9", tenant=ACME)
    session = world.session()
    world.act(op, "takeOver", sessionId=session.session_id)
    stored = world.conversations.sessions[(DEMO, session.session_id)]
    world.service.relay(_turn(stored, "are you there?", DeliveryTarget(connection_id="c-user")))
    relayed = [f for f in world.to("c-op-1-demo") if f["type"] == "message"]
    assert len(relayed) == 1 and relayed[0]["route"] == "user" and relayed[0]["text"] == "are you there?"
    assert relayed[0]["heldBy"] == "op-1" and relayed[0]["clientMessageId"] == "cm-1"
    assert [f for f in world.to("c-op-2-demo") if f["type"] == "message"] == []
    assert world.to("c-op-9-acme") == []
    assert world.to("c-user")[-1]["status"] == "relayed"


def test_the_relay_falls_back_to_every_operator_of_the_tenant(world: World) -> None:
    op = world.operator("op-1")
    world.operator("op-2")
    session = world.session()
    world.act(op, "takeOver", sessionId=session.session_id)
    world.delivery.gone.add("c-op-1-demo")  # the holder's connection is gone
    stored = world.conversations.sessions[(DEMO, session.session_id)]
    world.service.relay(_turn(stored, "hello?", DeliveryTarget(connection_id="c-user")))
    assert [f["text"] for f in world.to("c-op-2-demo") if f["type"] == "message"] == ["hello?"]


def test_a_relay_failure_never_reaches_the_user() -> None:
    class Broken:
        def relay(self, turn: Turn) -> None:
            raise RuntimeError("store down")

    session = Session(tenant_id=DEMO, session_id="S1", user_id="u", assistant="clinic")
    relay = OperatorRelay(lambda: Broken())  # type: ignore[arg-type,return-value]
    relay.relay(_turn(session, "hi", DeliveryTarget(connection_id="c")))  # logged, not raised


# -- closing --------------------------------------------------------------------------------------------


def test_closing_an_escalation_keeps_the_note_acknowledges_it_and_is_idempotent(world: World) -> None:
    op, _ = world.operator("op-1"), world.operator("op-2")
    esc = world.escalation(world.session())
    world.service.notify(esc)
    world.store.escalations.conflicts = 1  # someone took it meanwhile: read again, then close
    answer = world.act(op, "closeEscalation", escalationId=esc.escalation_id, note="  called back  ")
    assert answer["status"] == "escalation_closed"
    closed = world.store.escalations.items[(DEMO, esc.escalation_id)]
    assert closed.status == "closed" and closed.data["note"] == "called back" and closed.data["closedBy"] == "op-1"
    assert world.store.notice_for(DEMO, esc.escalation_id).acked_by == "op-1"  # type: ignore[union-attr]
    assert world.act(op, "closeEscalation", escalationId=esc.escalation_id)["status"] == "escalation_closed"
    update = next(f for f in world.to("c-op-2-demo") if f["type"] == "escalation_update")
    assert update["status"] == "closed" and update["note"] == "called back"
    audit = [a for a in world.store.audits if a.action == "closeEscalation"]
    assert audit[0].escalation_id == esc.escalation_id and "called back" not in json.dumps(audit[0].details)


def test_a_long_note_is_cut(world: World) -> None:
    op = world.operator()
    esc = world.escalation(world.session())
    world.act(op, "closeEscalation", escalationId=esc.escalation_id, note="n" * 5000)
    assert len(world.store.escalations.items[(DEMO, esc.escalation_id)].data["note"]) == 1000
