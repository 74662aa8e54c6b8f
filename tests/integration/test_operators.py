"""People in the loop on the real local stack: escalation notices through the conversations stream,
the operators' inbox (resync from a cursor, acknowledgement), takeover on the WebSocket and on
WhatsApp (signed webhooks, the fake Twilio API), operator replies persisted before delivery, hand-back
with the operator's words in the agent's context, tenant isolation and the operator role.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from luma import wiring
from luma.auth import issue_dev_token
from luma.channels.twilio import sign
from luma.config import Settings
from luma.domain.models import PhoneLink, Session, SessionStatus
from luma.http.app import create_app
from luma.http.operators import router
from luma.ids import new_id
from luma.operators import wiring as operators
from luma.operators.escalations import EscalationRepository
from luma.operators.relay import OperatorRelay
from luma.store.repos import DynamoConversationRepository, DynamoPhoneRepository
from websockets.sync.client import ClientConnection, connect

from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER

TENANT = "demo"
OTHER = "acme"
OPERATOR_ROUTES = ("takeOver", "operatorMessage", "handBack", "closeEscalation", "operatorSync", "ack")
ASK_FOR_A_PERSON = "I want to talk to a human"


# -- the stack, wired -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wired(local_stack: Any) -> Iterator[Any]:
    yield local_stack


@pytest.fixture
def stack(wired: Any) -> Iterator[Any]:
    wired.fake_twilio.reset()
    yield wired
    wired.fake_twilio.reset()


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def ws_client(stack: Any, user: str, *, tenant: str = TENANT, role: str = "user") -> Iterator[ClientConnection]:
    token = issue_dev_token(user, tenant, role=role)  # type: ignore[arg-type]
    with connect(f"{stack.ws_url}?token={token}", open_timeout=10, max_size=2**20) as ws:
        yield ws


def act(ws: ClientConnection, action: str, **fields: Any) -> None:
    ws.send(json.dumps({"action": action, **fields}))


def until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching frame in time")
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        if pred(frame):
            return frame


def frames_for(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within ``seconds``."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return got


def say(ws: ClientConnection, text: str, cid: str, session_id: str | None = None) -> None:
    frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        frame["sessionId"] = session_id
    ws.send(json.dumps(frame))


def answered(cid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "message" and f.get("replyTo") == cid


def escalation_of(session_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "escalation" and f.get("sessionId") == session_id


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "status" and f.get("status") == status


def error_of(action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "error" and f.get("action") == action


def user_asks_for_a_person(ws: ClientConnection, cid: str = "esc-1") -> str:
    """The user's session id, once the assistant answered the request for a person."""
    say(ws, ASK_FOR_A_PERSON, cid)
    reply = until(ws, answered(cid))
    assert reply["intent"] == "escalate_to_human", reply
    return str(reply["sessionId"])


def repo() -> DynamoConversationRepository:
    return DynamoConversationRepository(Settings())


def open_escalation(tenant: str = TENANT, urgency: str = "normal") -> tuple[Session, str]:
    """A session of ``tenant`` with an escalation written straight to the table (as a pack does)."""
    session = Session(tenant_id=tenant, session_id=new_id(), user_id=_uid("u-esc"), assistant="clinic")
    assert repo().create_session(session)
    esc = EscalationRepository(Settings()).open(session, "user_request", urgency=urgency)  # type: ignore[arg-type]
    return session, esc.escalation_id


def noticed(tenant: str, *escalation_ids: str, timeout: float = 15.0) -> None:
    """Wait until the stream consumer wrote the escalations' inbox notices."""
    deadline = time.monotonic() + timeout
    while any(operators.store().notice_for(tenant, e) is None for e in escalation_ids):
        assert time.monotonic() < deadline, "no inbox notice in time"
        time.sleep(0.05)


# -- escalation notices ----------------------------------------------------------------------------------


def test_an_escalation_reaches_the_tenants_operators_and_never_another_tenants(stack: Any) -> None:
    with (
        ws_client(stack, "op-1", role="operator") as op,
        ws_client(stack, "op-9", tenant=OTHER, role="operator") as stranger,
        ws_client(stack, _uid("u-op")) as user,
    ):
        time.sleep(0.2)  # both operator connections are recorded at $connect, before the handshake ends
        session_id = user_asks_for_a_person(user)
        notice = until(op, escalation_of(session_id), timeout=5)
        assert notice["urgency"] == "normal" and notice["reason"] == "user_request"
        assert notice["channel"] == "websocket" and notice["assistant"] == "clinic"
        assert notice["status"] == "open" and notice["acknowledged"] is False
        assert notice["noticeId"] and notice["escalationId"] and notice["createdAt"]
        leaked = [f for f in frames_for(stranger, 1.5) if f.get("sessionId") == session_id]
        assert leaked == []


def test_an_escalation_reaches_an_operator_within_a_second(stack: Any) -> None:
    with ws_client(stack, "op-1", role="operator") as op, ws_client(stack, _uid("u-op")) as user:
        time.sleep(1.5)  # the poller is idle (its slowest interval) when the escalation arrives
        say(user, ASK_FOR_A_PERSON, "fast-1")
        reply = until(user, answered("fast-1"))  # sent after the escalation item was written
        replied = time.monotonic()
        until(op, escalation_of(reply["sessionId"]), timeout=5)
        latency = time.monotonic() - replied
        print(f"escalation notice {latency * 1000:.0f} ms after the assistant's answer")
        assert latency < 1.0


def test_an_operator_who_reconnects_resyncs_from_the_cursor_and_acknowledges(stack: Any) -> None:
    with ws_client(stack, "op-2", role="operator") as op:
        cursor, synced = None, None
        while True:  # page through the inbox as it stands
            act(op, "operatorSync", after=cursor)
            synced = until(op, lambda f: f.get("type") == "operator_sync")
            cursor = synced["cursor"]
            if synced["next"] is None:
                break
        assert synced["firstResponseS"] == 300 and synced["operatorId"] == "op-2"
    # Two escalations while the operator is away; a third of another tenant.
    first, first_id = open_escalation()
    second, second_id = open_escalation(urgency="urgent")
    _, foreign_id = open_escalation(tenant=OTHER)
    noticed(TENANT, first_id, second_id)
    noticed(OTHER, foreign_id)
    with ws_client(stack, "op-2", role="operator") as op:
        act(op, "operatorSync", after=cursor)
        synced = until(op, lambda f: f.get("type") == "operator_sync")
        mine = [n for n in synced["notices"] if n["escalationId"] in (first_id, second_id)]
        assert [n["escalationId"] for n in mine] == [first_id, second_id]  # oldest first
        assert all(n["sessionId"] in (first.session_id, second.session_id) for n in synced["notices"])
        queue = [e["escalationId"] for e in synced["escalations"]]
        assert queue.index(second_id) < queue.index(first_id)  # urgent first
        act(op, "ack", escalationId=first_id, clientMessageId="ack-1")
        acked = until(op, status_is("acknowledged"))
        assert acked["escalationId"] == first_id and acked["ackedBy"] == "op-2" and acked["clientMessageId"] == "ack-1"
        act(op, "operatorSync", after=cursor)
        again = until(op, lambda f: f.get("type") == "operator_sync")
        flags = {n["escalationId"]: n["acknowledged"] for n in again["notices"]}
        assert flags[first_id] is True and flags[second_id] is False
        act(op, "operatorSync", after=again["cursor"])
        assert until(op, lambda f: f.get("type") == "operator_sync")["notices"] == []


def test_a_redelivered_escalation_keeps_one_notice(stack: Any) -> None:
    session, esc_id = open_escalation()
    noticed(TENANT, esc_id)
    esc = EscalationRepository(Settings()).get(TENANT, session.session_id, esc_id)
    assert esc is not None
    first = operators.store().notice_for(TENANT, esc_id)
    again = operators.service().notify(esc)  # the same stream record delivered once more
    assert first is not None and again.notice_id == first.notice_id
    all_ids = []
    cursor = None
    while True:
        page = operators.store().notices(TENANT, after=cursor, limit=50)
        all_ids += [n.escalation_id for n in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert all_ids.count(esc_id) == 1


# -- takeover on the WebSocket ------------------------------------------------------------------------------


def test_takeover_silences_the_bot_relays_the_user_and_hand_back_resumes_it(stack: Any) -> None:
    user_id = _uid("u-ws")
    with ws_client(stack, "op-3", role="operator") as op, ws_client(stack, user_id) as user:
        session_id = user_asks_for_a_person(user)
        notice = until(op, escalation_of(session_id), timeout=5)

        act(op, "takeOver", sessionId=session_id)
        taken = until(op, status_is("taken_over"))
        assert taken["sessionId"] == session_id and taken["escalationIds"] == [notice["escalationId"]]
        assert until(user, status_is("operator_joined"))["sessionId"] == session_id
        stored = repo().get_session(TENANT, session_id)
        assert stored is not None and stored.status is SessionStatus.TAKEN_OVER

        # The user writes: no bot reply, the operator gets the message.
        say(user, "what are your opening hours?", "held-1", session_id)
        relayed = until(op, lambda f: f.get("type") == "message" and f.get("route") == "user")
        assert relayed["text"] == "what are your opening hours?" and relayed["sessionId"] == session_id
        assert relayed["heldBy"] == "op-3"
        quiet = frames_for(user, 2.0)
        assert [f for f in quiet if f.get("type") == "message"] == []
        assert any(f.get("status") == "relayed" and f.get("clientMessageId") == "held-1" for f in quiet)

        # The operator answers: persisted, then delivered with route "operator".
        act(
            op,
            "operatorMessage",
            sessionId=session_id,
            text="Hello, I am Dana from the front desk.",
            clientMessageId="o1",
        )
        reply = until(user, lambda f: f.get("type") == "message" and f.get("route") == "operator")
        persisted = repo().get_message(TENANT, session_id, reply["messageId"])
        assert persisted is not None and persisted.text == "Hello, I am Dana from the front desk."
        assert persisted.role.value == "assistant" and persisted.meta == {"route": "operator", "operatorId": "op-3"}
        sent = until(op, status_is("operator_message"))
        assert sent["delivered"] is True and sent["messageId"] == reply["messageId"] and sent["clientMessageId"] == "o1"

        # Hand back: the bot answers again, with the operator's words in its context.
        act(op, "handBack", sessionId=session_id)
        until(op, status_is("handed_back"))
        until(user, status_is("operator_left"))
        stack.fake_llm.clear()
        say(user, "can you tell me if there is parking near you?", "after-1", session_id)
        bot = until(user, answered("after-1"), timeout=20)
        assert bot["route"] in ("agent", "fast_path", "flow")
        if bot["route"] == "agent":
            bodies = [json.dumps(r.body) for r in stack.fake_llm.requests if r.path.endswith("/v1/messages")]
            assert any("Dana from the front desk" in body for body in bodies)


def test_the_operators_words_reach_the_agent_after_hand_back(stack: Any) -> None:
    with ws_client(stack, "op-4", role="operator") as op, ws_client(stack, _uid("u-ctx")) as user:
        session_id = user_asks_for_a_person(user)
        act(op, "takeOver", sessionId=session_id)
        until(op, status_is("taken_over"))
        act(op, "operatorMessage", sessionId=session_id, text="Your parcel code is BLUEFOX.")
        until(op, status_is("operator_message"))
        act(op, "handBack", sessionId=session_id)
        until(op, status_is("handed_back"))
        stack.fake_llm.clear()
        say(user, "what is the meaning of life, the universe and everything?", "ctx-1", session_id)
        until(user, answered("ctx-1"), timeout=20)
        bodies = [json.dumps(r.body) for r in stack.fake_llm.requests if r.path.endswith("/v1/messages")]
        assert bodies, "the question went to the agent"
        assert any("BLUEFOX" in body for body in bodies)


def test_operator_actions_are_audited_and_closing_leaves_the_queue(stack: Any) -> None:
    with ws_client(stack, "op-5", role="operator") as op, ws_client(stack, "op-6", role="operator") as peer:
        time.sleep(0.2)
        session, esc_id = open_escalation()
        until(op, lambda f: f.get("type") == "escalation" and f.get("escalationId") == esc_id, timeout=5)
        act(op, "takeOver", sessionId=session.session_id)
        until(op, status_is("taken_over"))
        update = until(peer, lambda f: f.get("type") == "escalation_update" and f.get("escalationId") == esc_id)
        assert update["status"] == "taken" and update["takenBy"] == "op-5"
        # Another operator may not speak in or hand back a session op-5 holds.
        act(peer, "operatorMessage", sessionId=session.session_id, text="me too")
        assert until(peer, error_of("operatorMessage"))["code"] == "FORBIDDEN"
        act(peer, "handBack", sessionId=session.session_id)
        refused = until(peer, error_of("handBack"))
        assert refused["code"] == "FORBIDDEN" and refused["details"]["heldBy"] == "op-5"
        act(op, "closeEscalation", escalationId=esc_id, note="Called back, all sorted.")
        assert until(op, status_is("escalation_closed"))["escalationId"] == esc_id
        closed = until(peer, lambda f: f.get("type") == "escalation_update" and f.get("status") == "closed")
        assert closed["closedBy"] == "op-5" and closed["note"] == "Called back, all sorted."
        act(op, "handBack", sessionId=session.session_id)
        until(op, status_is("handed_back"))
    queue = [e.escalation_id for e in EscalationRepository(Settings()).list_open(TENANT)]
    assert esc_id not in queue
    assert EscalationRepository(Settings()).find(TENANT, esc_id).status == "closed"  # type: ignore[union-attr]
    notice = operators.store().notice_for(TENANT, esc_id)
    assert notice is not None and notice.acked_by == "op-5"
    trail = [
        (a.action, a.outcome, a.operator_id)
        for a in operators.store().audit_trail(TENANT, limit=200)
        if a.session_id == session.session_id or a.escalation_id == esc_id
    ]
    assert ("takeOver", "ok", "op-5") in trail and ("closeEscalation", "ok", "op-5") in trail
    assert ("handBack", "ok", "op-5") in trail and ("operatorMessage", "FORBIDDEN", "op-6") in trail
    assert ("handBack", "FORBIDDEN", "op-6") in trail
    audited = json.dumps([a.model_dump(mode="json") for a in operators.store().audit_trail(TENANT, limit=200)])
    assert "Called back" not in audited and "me too" not in audited  # no texts in the audit trail


# -- takeover on WhatsApp ----------------------------------------------------------------------------------


def _whatsapp(stack: Any, sender: str, text: str) -> str:
    sid = "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": sender,
        "To": DEV_WHATSAPP_NUMBER,
        "Body": text,
        "NumMedia": "0",
    }
    url = f"{stack.url}/api/twilio/whatsapp"
    req = urllib.request.Request(
        url,
        data=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, params, DEV_AUTH_TOKEN),
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    return sid


def _replies(stack: Any, to: str, count: int, timeout: float = 15.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(stack.fake_twilio.messages_to(to)) < count:
        assert time.monotonic() < deadline, f"{len(stack.fake_twilio.messages_to(to))} of {count} replies to {to}"
        time.sleep(0.05)
    return list(stack.fake_twilio.messages_to(to))


@pytest.fixture
def whatsapp_user(stack: Any) -> Iterator[tuple[str, str]]:
    """A linked phone of its own (no other test's session pointer on it)."""
    phone = f"+3361{uuid.uuid4().int % 10**7:07d}"
    user_id = _uid("u-wa")
    phones = DynamoPhoneRepository(Settings())
    phones.put(PhoneLink(tenant_id=TENANT, phone=phone, user_id=user_id))
    yield f"whatsapp:{phone}", user_id
    phones.delete(TENANT, phone)


def test_takeover_on_whatsapp_no_bot_reply_relayed_and_the_operator_answers(
    stack: Any, whatsapp_user: tuple[str, str]
) -> None:
    address, _ = whatsapp_user
    with ws_client(stack, "op-7", role="operator") as op:
        time.sleep(0.2)
        _whatsapp(stack, address, ASK_FOR_A_PERSON)
        _replies(stack, address, 1)  # the assistant promises a person
        notice = until(op, lambda f: f.get("type") == "escalation" and f.get("channel") == "whatsapp", timeout=10)
        session_id = notice["sessionId"]
        act(op, "takeOver", sessionId=session_id)
        until(op, status_is("taken_over"))
        told = len(stack.fake_twilio.messages_to(address))  # the request, and "a person joined" if worded

        _whatsapp(stack, address, "what are your opening hours?")
        relayed = until(op, lambda f: f.get("type") == "message" and f.get("route") == "user", timeout=10)
        assert relayed["text"] == "what are your opening hours?" and relayed["channel"] == "whatsapp"
        time.sleep(1.5)
        assert len(stack.fake_twilio.messages_to(address)) == told, "the bot answered during the takeover"

        act(op, "operatorMessage", sessionId=session_id, text="Hi, this is Dana. We open at 8 tomorrow.")
        sent = until(op, status_is("operator_message"))
        assert sent["delivered"] is True
        replies = _replies(stack, address, told + 1)
        assert (
            replies[-1].body == "Hi, this is Dana. We open at 8 tomorrow." and replies[-1].from_ == DEV_WHATSAPP_NUMBER
        )
        stored = repo().get_message(TENANT, session_id, sent["messageId"])
        assert stored is not None and stored.meta["route"] == "operator"

        act(op, "handBack", sessionId=session_id)
        until(op, status_is("handed_back"))
        told = len(stack.fake_twilio.messages_to(address))
        _whatsapp(stack, address, "what are your opening hours?")
        replies = _replies(stack, address, told + 1)
        assert "opening hours" in replies[-1].body.lower()


def test_an_operator_can_answer_a_whatsapp_user_right_after_taking_over(
    stack: Any, whatsapp_user: tuple[str, str]
) -> None:
    address, _ = whatsapp_user
    with ws_client(stack, "op-8", role="operator") as op:
        time.sleep(0.2)
        _whatsapp(stack, address, ASK_FOR_A_PERSON)
        _replies(stack, address, 1)
        notice = until(op, lambda f: f.get("type") == "escalation" and f.get("channel") == "whatsapp", timeout=10)
        act(op, "takeOver", sessionId=notice["sessionId"])
        until(op, status_is("taken_over"))
        act(op, "operatorMessage", sessionId=notice["sessionId"], text="Hello from the desk.")
        try:
            assert until(op, status_is("operator_message"))["delivered"] is True
            assert _replies(stack, address, 2, timeout=5)[-1].body == "Hello from the desk."
        finally:
            act(op, "handBack", sessionId=notice["sessionId"])
            until(op, status_is("handed_back"))


# -- tenants and roles --------------------------------------------------------------------------------------


def test_another_tenants_operator_gets_session_not_found(stack: Any) -> None:
    session, esc_id = open_escalation()
    with ws_client(stack, "op-x", tenant=OTHER, role="operator") as stranger:
        for action, fields in (
            ("takeOver", {"sessionId": session.session_id}),
            ("operatorMessage", {"sessionId": session.session_id, "text": "hello"}),
            ("handBack", {"sessionId": session.session_id}),
            ("closeEscalation", {"escalationId": esc_id, "note": "x"}),
            ("closeEscalation", {"escalationId": esc_id, "sessionId": session.session_id}),
            ("ack", {"escalationId": esc_id}),
        ):
            act(stranger, action, **fields)
            assert until(stranger, error_of(action))["code"] == "SESSION_NOT_FOUND", action
    stored = repo().get_session(TENANT, session.session_id)
    assert stored is not None and stored.status is SessionStatus.ACTIVE
    assert EscalationRepository(Settings()).get(TENANT, session.session_id, esc_id).status == "open"  # type: ignore[union-attr]


def test_a_non_operator_is_refused(stack: Any) -> None:
    session, esc_id = open_escalation()
    with ws_client(stack, session.user_id) as user:
        for action, fields in (
            ("takeOver", {"sessionId": session.session_id}),
            ("operatorSync", {"after": None}),
            ("closeEscalation", {"escalationId": esc_id}),
        ):
            act(user, action, **fields)
            assert until(user, error_of(action))["code"] == "FORBIDDEN", action
    stored = repo().get_session(TENANT, session.session_id)
    assert stored is not None and stored.status is SessionStatus.ACTIVE
    trail = operators.store().audit_trail(TENANT, limit=200)
    assert any(a.action == "takeOver" and a.outcome == "FORBIDDEN" and a.operator_id == session.user_id for a in trail)


# -- the HTTP routes ---------------------------------------------------------------------------------------


@pytest.fixture
def api(wired: Any) -> TestClient:
    """The HTTP app with the operator router, on the local stack's tables."""
    app = create_app()
    app.include_router(router)
    return TestClient(app)


def _bearer(user: str, tenant: str = TENANT, role: str = "operator") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(user, tenant, role=role)}"}  # type: ignore[arg-type]


def test_the_transcript_and_the_queue_for_operators_of_the_tenant_only(stack: Any, api: TestClient) -> None:
    with ws_client(stack, "op-h", role="operator") as op, ws_client(stack, _uid("u-http")) as user:
        session_id = user_asks_for_a_person(user)
        act(op, "takeOver", sessionId=session_id)
        until(op, status_is("taken_over"))
        act(op, "operatorMessage", sessionId=session_id, text="One moment please.")
        until(op, status_is("operator_message"))
        got = api.get(f"/operator/sessions/{session_id}/messages", headers=_bearer("op-h"))
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["session"]["heldBy"] == "op-h" and body["session"]["status"] == "taken_over"
        assert [m["role"] for m in body["items"]] == ["user", "assistant", "assistant"]
        assert body["items"][-1]["route"] == "operator" and body["items"][-1]["operatorId"] == "op-h"
        act(op, "handBack", sessionId=session_id)
        until(op, status_is("handed_back"))
    other = api.get(f"/operator/sessions/{session_id}/messages", headers=_bearer("op-x", tenant=OTHER))
    assert other.status_code == 404 and other.json()["code"] == "SESSION_NOT_FOUND"
    refused = api.get(f"/operator/sessions/{session_id}/messages", headers=_bearer("u-alice", role="user"))
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    assert api.get(f"/operator/sessions/{session_id}/messages").status_code == 401

    _, normal = open_escalation()
    _, urgent = open_escalation(urgency="urgent")
    _, foreign = open_escalation(tenant=OTHER)
    queue = api.get("/operator/escalations?status=open", headers=_bearer("op-h")).json()
    ids = [e["escalationId"] for e in queue["items"]]
    assert urgent in ids and normal in ids and foreign not in ids
    assert ids.index(urgent) < ids.index(normal)
    urgency = [e["urgency"] for e in queue["items"]]
    assert urgency == sorted(urgency, key=lambda u: u != "urgent")  # every urgent one before the others
    assert queue["firstResponseS"] == 300
    assert api.get("/operator/escalations", headers=_bearer("u-alice", role="user")).status_code == 403


# -- the defaults wired into the stack --------------------------------------------------------


def test_the_gateway_routes_the_operator_actions() -> None:
    from local.gateway import declared_routes

    routes = declared_routes()
    assert {key: routes.get(key) for key in OPERATOR_ROUTES} == dict.fromkeys(OPERATOR_ROUTES, "operator_action")


def test_the_classify_stage_relays_taken_over_sessions_to_operators(stack: Any) -> None:
    assert isinstance(wiring.classify_service().dispatcher.relay, OperatorRelay)


def test_the_http_api_serves_the_operator_routes() -> None:
    paths = set(create_app().openapi()["paths"])
    assert {"/operator/escalations", "/operator/sessions/{session_id}/messages"} <= paths


def test_the_operator_routes_answer_through_the_gateway(stack: Any) -> None:
    req = urllib.request.Request(f"{stack.url}/api/operator/escalations", headers=_bearer("op-1"))
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert resp.status == 200 and "items" in body and body["firstResponseS"] == 300
    refused = urllib.request.Request(f"{stack.url}/api/operator/escalations", headers=_bearer("u-1", role="user"))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refused, timeout=10)
    assert caught.value.code == 403


def test_the_user_closes_a_taken_over_session(stack: Any, api: TestClient) -> None:
    user_id = _uid("u-bye")
    with ws_client(stack, "op-c", role="operator") as op, ws_client(stack, user_id) as user:
        session_id = user_asks_for_a_person(user)
        act(op, "takeOver", sessionId=session_id)
        until(op, status_is("taken_over"))
    closed = api.post(f"/sessions/{session_id}/close", headers=_bearer(user_id, role="user"))
    assert closed.status_code == 200, closed.text
    stored = repo().get_session(TENANT, session_id)
    assert stored is not None and stored.status is SessionStatus.CLOSED
