"""WhatsApp/SMS turns through the classify stage (fakes behind the ports): senders, sessions, media, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from luma.config import Settings
from luma.domain.models import ChannelMessage, MediaRef, PhoneLink, Principal, Route, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.pipeline.classify import ClassifyService
from luma.pipeline.router import Router

from tests.fakes import (
    FakeLimiter,
    KeywordClassifier,
    MemoryConversations,
    RecordingAgent,
    RecordingDelivery,
    RecordingInvoker,
    clinic_pack,
)

ALICE_PHONE = "+33612345001"
OUR_NUMBER = "whatsapp:+14155238886"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class MemoryPhones:
    def __init__(self) -> None:
        self.links: dict[tuple[str, str], PhoneLink] = {}

    def get(self, tenant_id: str, phone: str) -> PhoneLink | None:
        return self.links.get((tenant_id, phone))

    def put(self, link: PhoneLink) -> None:
        self.links[(link.tenant_id, link.phone)] = link


class FakeMedia:
    """Stands in for luma.channels.media.MediaProcessor."""

    def __init__(self, *, transcript: str | None = None, bucket: bool = True) -> None:
        self.transcript = transcript
        self.bucket = bucket
        self.fetched: list[str] = []
        self.stored: list[tuple[str, str, int]] = []

    @property
    def can_transcribe(self) -> bool:
        return self.transcript is not None

    @property
    def can_store(self) -> bool:
        return self.bucket

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return b"\x89PNG fake"

    def store(self, tenant_id: str, external_id: str, index: int, data: bytes, content_type: str, *, at: Any) -> Any:
        self.stored.append((tenant_id, external_id, index))
        return {"type": content_type, "bucket": "media", "key": f"{tenant_id}/{external_id}-{index}.png"}

    def transcribe(self, data: bytes, content_type: str) -> str:
        assert self.transcript is not None
        return self.transcript


def detect(text: str, *, previous: str | None = None, lexicon: Any = None) -> str:
    """A stand-in detector: Spanish when it sees a Spanish word, else the previous language."""
    if any(w in text.lower() for w in ("horario", "hola", "gracias")):
        return "es"
    return previous or "en"


@pytest.fixture
def env() -> dict[str, Any]:
    return make_env()


class FakeApprovals:
    """Records answers; ``expired`` ids answer like a run that timed out."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str, bool]] = []
        self.expired: set[str] = set()

    def answer(self, principal: Principal, approval_id: str, approved: bool) -> dict[str, Any]:
        if approval_id in self.expired:
            raise LumaError(ErrorCode.APPROVAL_EXPIRED)
        self.answers.append((principal.user_id, approval_id, approved))
        return {"sessionId": "s", "runId": "r", "tool": "t"}


def make_env(settings: Settings | None = None, limiter: Any = None) -> dict[str, Any]:
    """The service over fakes (``settings``/``limiter`` replace the defaults)."""
    repo = MemoryConversations()
    phones = MemoryPhones()
    phones.put(PhoneLink(tenant_id="demo", phone=ALICE_PHONE, user_id="u-alice", display_name="Alice Martin"))
    delivery = RecordingDelivery()
    invoker = RecordingInvoker()
    agent = RecordingAgent()
    clock = Clock()
    settings = settings or Settings(session_inactivity_s=3600, max_text_chars=200)
    router = Router(
        clinic_pack(settings),
        KeywordClassifier({"hours": "clinic_hours", "horario": "clinic_hours", "hello": "greeting"}),
    )
    media = FakeMedia()
    approvals = FakeApprovals()
    service = ClassifyService(
        settings=settings,
        conversations=repo,
        routers=lambda _name: router,
        invoker=invoker,
        delivery=delivery,
        agent=agent,
        clock=clock,
        phones=phones,
        media=media,  # type: ignore[arg-type]
        detect_language=detect,
        limiter=limiter,
        approvals=lambda: approvals,
    )
    return {
        "service": service,
        "repo": repo,
        "phones": phones,
        "delivery": delivery,
        "invoker": invoker,
        "agent": agent,
        "clock": clock,
        "media": media,
        "settings": settings,
        "approvals": approvals,
    }


_sids = iter(range(1, 10_000))


def sid() -> str:
    return f"SM{next(_sids):032x}"


def msg(text: str, *, sender: str = f"whatsapp:{ALICE_PHONE}", external_id: str | None = None, **kw: Any) -> Any:
    return ChannelMessage(
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms",
        tenant_id="demo",
        external_id=external_id or sid(),
        sender=sender,
        recipient=OUR_NUMBER if sender.startswith("whatsapp:") else "+14155238886",
        text=text,
        **kw,
    )


def texts(env: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for _, f in env["delivery"].frames if f["type"] in ("error", "message")]


def test_a_linked_sender_gets_a_fast_path_turn_addressed_to_whatsapp(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("what are your hours?"))
    ((name, payload),) = env["invoker"].calls
    assert name == "fast_path"
    assert payload["principal"]["user_id"] == "u-alice" and payload["principal"]["display_name"] == "Alice Martin"
    assert payload["delivery"] == {
        "channel": "whatsapp",
        "connection_id": None,
        "endpoint": None,
        "to_address": f"whatsapp:{ALICE_PHONE}",
        "from_address": OUR_NUMBER,
    }
    assert payload["session"]["channel"] == "whatsapp" and payload["decision"]["intent"] == "clinic_hours"
    stored = env["repo"].list_messages("demo", payload["session"]["session_id"]).items
    assert stored[0].client_message_id == payload["message"]["client_message_id"]
    assert stored[0].meta["channel"] == "whatsapp" and stored[0].meta["address"]["to"] == f"whatsapp:{ALICE_PHONE}"


def test_the_next_message_continues_the_address_session(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hello"))
    env["clock"].now += timedelta(minutes=5)
    env["service"].handle_channel(msg("what are your hours?"))
    first, second = (p["session"]["session_id"] for _, p in env["invoker"].calls)
    assert first == second
    assert env["repo"].get_session("demo", first).message_count == 1


def test_a_replayed_message_sid_is_processed_once_and_answered_once(env: dict[str, Any]) -> None:
    same = sid()
    env["service"].handle_channel(msg("what are your hours?", external_id=same))
    env["service"].handle_channel(msg("what are your hours?", external_id=same))  # Twilio's retry
    assert len(env["invoker"].calls) == 1
    assert texts(env) == []  # a duplicate status means nothing on WhatsApp
    (session,) = env["repo"].sessions.values()
    assert len(env["repo"].messages[("demo", session.session_id)]) == 1


def test_an_unknown_phone_gets_one_polite_reply_and_nothing_is_stored(env: dict[str, Any]) -> None:
    stranger = "whatsapp:+447700900123"
    same = sid()
    env["service"].handle_channel(msg("hello", sender=stranger, external_id=same))
    env["service"].handle_channel(msg("hello", sender=stranger, external_id=same))  # retried
    ((to, frame),) = env["delivery"].frames
    assert to == stranger and frame["code"] == ErrorCode.SENDER_NOT_LINKED.value
    assert "isn't linked" in frame["message"]
    assert env["repo"].sessions == {} and env["invoker"].calls == []


def test_unknown_senders_are_rate_limited_before_being_answered() -> None:
    env = make_env(limiter=FakeLimiter(per_user=1))
    for _ in range(3):
        env["service"].handle_channel(msg("hello", sender="whatsapp:+447700900123"))
    assert len(env["delivery"].frames) == 1


def test_a_tenant_may_treat_unknown_senders_as_pseudonymous_users() -> None:
    env = make_env(Settings(session_inactivity_s=3600, twilio_unknown_sender_tenants={"demo": "anonymous"}))
    env["service"].handle_channel(msg("what are your hours?", sender="+447700900123"))
    ((_, payload),) = env["invoker"].calls
    user = payload["principal"]["user_id"]
    assert user.startswith("anon-") and "447700900123" not in user
    assert payload["delivery"]["channel"] == "sms" and payload["session"]["channel"] == "sms"
    env["service"].handle_channel(msg("hello", sender="+447700900123"))
    assert env["invoker"].calls[1][1]["principal"]["user_id"] == user  # stable per number


def test_inactivity_restarts_the_whatsapp_session_and_moves_the_pointer(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hello"))
    old = env["invoker"].calls[0][1]["session"]["session_id"]
    env["clock"].now += timedelta(hours=2)
    env["service"].handle_channel(msg("what are your hours?"))
    new = env["invoker"].calls[1][1]["session"]["session_id"]
    assert new != old
    assert env["repo"].get_session("demo", old).status is SessionStatus.CLOSED
    assert env["repo"].get_channel_session("demo", ALICE_PHONE, "whatsapp").session_id == new


def test_a_locked_whatsapp_session_refuses_until_the_inactivity_delay(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hello"))
    sid0 = env["invoker"].calls[0][1]["session"]["session_id"]
    env["repo"].sessions[("demo", sid0)].status = SessionStatus.LOCKED
    env["service"].handle_channel(msg("what are your hours?"))
    assert texts(env)[-1]["code"] == "SESSION_LOCKED"
    env["clock"].now += timedelta(hours=2)
    env["service"].handle_channel(msg("what are your hours?"))
    assert env["invoker"].calls[-1][1]["session"]["session_id"] != sid0
    assert env["repo"].get_session("demo", sid0).status is SessionStatus.LOCKED  # kept for audit


def test_the_language_is_detected_and_kept_on_the_session(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hola, ¿cuál es el horario?"))
    turn = env["invoker"].calls[0][1]
    assert turn["session"]["language"] == "es"
    stored = env["repo"].get_session("demo", turn["session"]["session_id"])
    assert stored.language == "es"
    env["service"].handle_channel(msg("ok"))  # too short to tell: stays Spanish
    ((agent_turn, _),) = env["agent"].turns
    assert agent_turn.session.language == "es"


def test_over_the_rate_limit_a_polite_text_and_the_message_is_still_stored() -> None:
    env = make_env(limiter=FakeLimiter(per_user=1, retry_after_s=30))
    env["service"].handle_channel(msg("hello"))
    over = sid()
    env["service"].handle_channel(msg("what are your hours?", external_id=over))
    env["service"].handle_channel(msg("what are your hours?", external_id=over))  # Twilio retries it
    (err,) = texts(env)
    assert err["code"] == "RATE_LIMITED" and "too quickly" in err["message"]
    session_id = env["invoker"].calls[0][1]["session"]["session_id"]
    stored = env["repo"].list_messages("demo", session_id).items
    assert [m.text for m in stored] == ["hello", "what are your hours?"]
    assert stored[-1].meta["refused"] == "rate_limited"
    assert len(env["invoker"].calls) == 1


def test_a_voice_note_without_transcription_is_stored_and_answered_clearly(env: dict[str, Any]) -> None:
    note = MediaRef(url="https://api.twilio.com/x/Media/ME1", content_type="audio/ogg")
    env["service"].handle_channel(msg("", media=[note]))
    (err,) = texts(env)
    assert err["code"] == "MEDIA_UNSUPPORTED" and "voice notes" in err["message"]
    (session,) = env["repo"].sessions.values()
    (stored,) = env["repo"].messages[("demo", session.session_id)]
    assert stored.meta["refused"] == "voice_note_unsupported"
    assert stored.meta["media"] == [{"type": "audio/ogg", "transcribed": False}]
    assert env["media"].fetched == [] and env["invoker"].calls == []


def test_a_voice_note_is_transcribed_into_the_message_text(env: dict[str, Any]) -> None:
    env["media"].transcript = "what are your hours?"
    note = MediaRef(url="https://api.twilio.com/x/Media/ME1", content_type="audio/ogg")
    env["service"].handle_channel(msg("", media=[note]))
    ((_, turn),) = env["invoker"].calls
    assert turn["message"]["text"] == "what are your hours?" and turn["decision"]["intent"] == "clinic_hours"
    assert turn["message"]["meta"]["media"][0]["transcribed"] is True


def test_an_image_is_stored_and_referenced_then_handed_to_the_agent(env: dict[str, Any]) -> None:
    image = MediaRef(url="https://api.twilio.com/x/Media/ME2", content_type="image/png")
    env["service"].handle_channel(msg("", media=[image]))
    ((turn, reason),) = env["agent"].turns
    assert reason == "media_only" and turn.decision.route is Route.AGENT
    assert turn.message.meta["media"][0]["key"].startswith("demo/") and env["media"].stored


def test_other_attachments_without_text_get_a_clear_answer(env: dict[str, Any]) -> None:
    doc = MediaRef(url="https://api.twilio.com/x/Media/ME3", content_type="application/pdf")
    env["service"].handle_channel(msg("", media=[doc]))
    assert texts(env)[0]["code"] == "MEDIA_UNSUPPORTED"


def test_a_retry_with_media_is_recognized_before_fetching_again(env: dict[str, Any]) -> None:
    image = MediaRef(url="https://api.twilio.com/x/Media/ME2", content_type="image/png")
    same = sid()
    env["service"].handle_channel(msg("look", external_id=same, media=[image]))
    env["service"].handle_channel(msg("look", external_id=same, media=[image]))
    assert len(env["media"].fetched) == 1


def test_a_pointer_race_is_resolved_into_the_winning_session(env: dict[str, Any]) -> None:
    repo: MemoryConversations = env["repo"]
    original = repo.get_channel_session
    calls = {"n": 0}

    def stale(tenant: str, phone: str, channel: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # a read from before another message of the same person created the session
            return None
        return original(tenant, phone, channel)

    env["service"].handle_channel(msg("hello"))
    winner = env["invoker"].calls[0][1]["session"]["session_id"]
    repo.get_channel_session = stale  # type: ignore[method-assign]
    env["service"].handle_channel(msg("what are your hours?"))
    assert env["invoker"].calls[1][1]["session"]["session_id"] == winner


def test_a_store_fault_propagates_for_lambda_to_retry(env: dict[str, Any]) -> None:
    def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("DynamoDB unreachable")

    env["repo"].record_inbound = down
    with pytest.raises(ConnectionError):
        env["service"].handle_channel(msg("hello"))
    assert texts(env) == []


def test_too_long_text_is_answered_not_processed(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("x" * 201))
    assert texts(env)[0]["code"] == "TEXT_TOO_LONG" and env["repo"].sessions == {}


def test_typed_errors_carry_the_message_sid(env: dict[str, Any]) -> None:
    env["phones"].get = lambda *_: (_ for _ in ()).throw(LumaError(ErrorCode.INTERNAL))  # type: ignore[method-assign]
    env["service"].handle_channel(msg("hello", external_id="SM" + "a" * 32))
    assert texts(env)[0]["clientMessageId"] == "SM" + "a" * 32


def test_the_websocket_path_keeps_the_detected_language_on_the_session_too(env: dict[str, Any]) -> None:
    import json

    from luma.domain.models import Principal
    from luma.pipeline.classify import WsRequest

    frame = {"action": "sendMessage", "text": "hola, ¿cuál es el horario?", "clientMessageId": "w1"}
    env["service"].handle(
        WsRequest(connection_id="c1", principal=Principal(tenant_id="demo", user_id="u-alice"), body=json.dumps(frame))
    )
    ((_, turn),) = env["invoker"].calls
    assert turn["session"]["language"] == "es" and turn["delivery"]["channel"] == "websocket"


def test_a_pressed_approval_button_resumes_the_run_and_is_stored(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hello"))
    env["service"].handle_channel(msg("Approve", choice="approval:01APPROVAL:yes"))
    assert env["approvals"].answers == [("u-alice", "01APPROVAL", True)]
    assert len(env["invoker"].calls) == 1 and env["agent"].turns == []  # neither a fast path nor the agent
    (recorded,) = [f for _, f in env["delivery"].frames if f.get("status") == "approval_recorded"]
    assert recorded["approvalId"] == "01APPROVAL" and recorded["approved"] is True
    session_id = env["invoker"].calls[0][1]["session"]["session_id"]
    stored = env["repo"].list_messages("demo", session_id).items
    assert stored[-1].text == "Approve" and stored[-1].intent == "approval_answer"


def test_an_sms_no_answers_the_pending_approval(env: dict[str, Any]) -> None:
    env["service"].handle_channel(msg("hello", sender=f"+{ALICE_PHONE[1:]}"))
    session_id = env["invoker"].calls[0][1]["session"]["session_id"]
    env["repo"].sessions[("demo", session_id)].state["_approval"] = "01PENDING"
    env["service"].handle_channel(msg("no thanks", sender=f"+{ALICE_PHONE[1:]}"))
    assert env["approvals"].answers == [("u-alice", "01PENDING", False)]


def test_an_answer_after_the_timeout_is_told_so(env: dict[str, Any]) -> None:
    env["approvals"].expired.add("01LATE")
    env["service"].handle_channel(msg("yes", choice="approval:01LATE:yes"))
    (err,) = [f for f in texts(env) if f["type"] == "error"]
    assert err["code"] == "APPROVAL_EXPIRED" and "timed out" in err["message"]
