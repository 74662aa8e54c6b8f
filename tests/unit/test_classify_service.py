"""The classify stage with fakes behind its ports: validation, sessions, idempotency, routing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from luma.config import Settings
from luma.domain.models import Principal, Route, SessionStatus
from luma.limits import InlineCheck, NoLimits, RateTier
from luma.pipeline.classify import ClassifyService, WsRequest
from luma.pipeline.router import Router

from tests.fakes import (
    KeywordClassifier,
    MemoryConversations,
    RecordingAgent,
    RecordingDelivery,
    clinic_pack,
)

ALICE = Principal(tenant_id="demo", user_id="u-alice")
BOB = Principal(tenant_id="demo", user_id="u-bob")
OTHER_TENANT_ALICE = Principal(tenant_id="acme", user_id="u-alice")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class CheckingInvoker:
    """Records invocations and checks the inbound message was persisted before the hand-off."""

    def __init__(self, repo: MemoryConversations) -> None:
        self.repo = repo
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        msg = payload["message"]
        stored = self.repo.list_messages(msg["tenant_id"], msg["session_id"]).items
        assert any(m.message_id == msg["message_id"] for m in stored), "inbound not persisted before routing"
        self.calls.append((function_name, payload))


@pytest.fixture
def env() -> dict[str, Any]:
    return make_env()


def make_env(limiter: Any = None) -> dict[str, Any]:
    """The service over fakes (``limiter`` replaces the default: none)."""
    repo = MemoryConversations()
    delivery = RecordingDelivery()
    agent = RecordingAgent()
    invoker = CheckingInvoker(repo)
    clock = Clock()
    settings = Settings(max_text_chars=50, session_inactivity_s=3600)
    router = Router(
        clinic_pack(settings),
        KeywordClassifier({"hours": "clinic_hours", "hello": "greeting", "reschedule": "reschedule_appointment"}),
    )
    service = ClassifyService(
        settings=settings,
        conversations=repo,
        routers=lambda _name: router,
        invoker=invoker,
        delivery=delivery,
        agent=agent,
        clock=clock,
        limiter=limiter,
    )
    return {"service": service, "repo": repo, "delivery": delivery, "agent": agent, "invoker": invoker, "clock": clock}


def send(env: dict[str, Any], principal: Principal | None, body: Any, conn: str = "c1") -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    env["service"].handle(WsRequest(connection_id=conn, principal=principal, body=raw, endpoint="http://x"))


def frame(text: str, cid: str, session_id: str | None = None) -> dict[str, Any]:
    f = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        f["sessionId"] = session_id
    return f


def test_new_session_is_announced_and_fast_path_invoked(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("what are your hours?", "m1"))
    started = env["delivery"].of_type("status")
    assert started[0]["status"] == "session_started" and started[0]["clientMessageId"] == "m1"
    session_id = started[0]["sessionId"]
    ((name, payload),) = env["invoker"].calls
    assert name == "fast_path"
    assert payload["decision"]["intent"] == "clinic_hours" and payload["decision"]["route"] == "fast_path"
    assert payload["session"]["session_id"] == session_id
    decision = env["repo"].get_decision("demo", session_id, payload["message"]["message_id"])
    assert decision is not None and decision.route is Route.FAST_PATH and decision.confidence == pytest.approx(0.95)


def test_existing_session_continues(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("hello", "m1"))
    sid = env["delivery"].of_type("status")[0]["sessionId"]
    send(env, ALICE, frame("hours please", "m2", sid))
    assert len(env["delivery"].of_type("status")) == 1  # no second session_started
    assert env["repo"].get_session("demo", sid).message_count == 1
    assert [c[1]["session"]["session_id"] for c in env["invoker"].calls] == [sid, sid]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "MALFORMED_JSON"),
        ("[1, 2]", "MALFORMED_JSON"),
        ("", "MALFORMED_JSON"),
        ({"action": "dance", "text": "x", "clientMessageId": "a"}, "UNKNOWN_ACTION"),
        ({"text": "x", "clientMessageId": "a"}, "UNKNOWN_ACTION"),
        ({"action": "sendMessage", "clientMessageId": "a"}, "VALIDATION_FAILED"),
        ({"action": "sendMessage", "text": "hi"}, "VALIDATION_FAILED"),
        ({"action": "sendMessage", "text": "   ", "clientMessageId": "a"}, "VALIDATION_FAILED"),
        ({"action": "sendMessage", "text": "hi", "clientMessageId": "bad id!"}, "VALIDATION_FAILED"),
        ({"action": "sendMessage", "text": "hi", "clientMessageId": "a", "sessionId": "../x"}, "VALIDATION_FAILED"),
        ({"action": "sendMessage", "text": "x" * 51, "clientMessageId": "a"}, "TEXT_TOO_LONG"),
    ],
)
def test_bad_frames_get_typed_errors_and_store_nothing(env: dict[str, Any], body: Any, code: str) -> None:
    send(env, ALICE, body)
    (err,) = env["delivery"].of_type("error")
    assert err["code"] == code and err["message"]
    assert env["repo"].sessions == {} and env["invoker"].calls == []


def test_validation_error_lists_fields(env: dict[str, Any]) -> None:
    send(env, ALICE, {"action": "sendMessage", "text": "hi"})
    (err,) = env["delivery"].of_type("error")
    assert [e["field"] for e in err["details"]["errors"]] == ["clientMessageId"]


def test_text_too_long_says_the_limit(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("x" * 60, "long-1"))
    (err,) = env["delivery"].of_type("error")
    assert err["details"]["maxChars"] == 50 and err["clientMessageId"] == "long-1"


def test_missing_principal_is_auth_error(env: dict[str, Any]) -> None:
    send(env, None, frame("hello", "m1"))
    assert env["delivery"].of_type("error")[0]["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("intruder", [BOB, OTHER_TENANT_ALICE])
def test_someone_elses_session_is_not_found(env: dict[str, Any], intruder: Principal) -> None:
    send(env, ALICE, frame("hello", "m1"))
    sid = env["delivery"].of_type("status")[0]["sessionId"]
    send(env, intruder, frame("hours", "m2", sid))
    err = env["delivery"].of_type("error")[0]
    assert err["code"] == "SESSION_NOT_FOUND" and err["sessionId"] == sid
    assert len(env["repo"].messages[("demo", sid)]) == 1


def test_unknown_session(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("hello", "m1", "01JUNKNOWNSESSION0000000000"))
    assert env["delivery"].of_type("error")[0]["code"] == "SESSION_NOT_FOUND"


def test_duplicate_client_message_id_is_processed_once(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("hello", "same"))
    sid = env["delivery"].of_type("status")[0]["sessionId"]
    send(env, ALICE, frame("hello", "same"))  # a retry without the session id it never received
    dup = [f for f in env["delivery"].of_type("status") if f["status"] == "duplicate"]
    assert len(dup) == 1 and dup[0]["sessionId"] == sid and dup[0]["clientMessageId"] == "same"
    assert len(env["invoker"].calls) == 1
    assert len(env["repo"].sessions) == 1


def test_inactivity_restarts_the_session(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("hello", "m1"))
    old = env["delivery"].of_type("status")[0]["sessionId"]
    env["clock"].now += timedelta(hours=2)
    send(env, ALICE, frame("hours", "m2", old))
    restarted = env["delivery"].of_type("status")[-1]
    assert restarted["status"] == "session_restarted" and restarted["previousSessionId"] == old
    assert restarted["sessionId"] != old
    assert env["repo"].get_session("demo", old).status is SessionStatus.CLOSED


def test_locked_session_is_refused(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("hello", "m1"))
    sid = env["delivery"].of_type("status")[0]["sessionId"]
    env["repo"].sessions[("demo", sid)].status = SessionStatus.LOCKED
    send(env, ALICE, frame("hours", "m2", sid))
    assert env["delivery"].of_type("error")[0]["code"] == "SESSION_LOCKED"


def test_unsure_messages_go_to_the_agent_and_are_stored(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("what is the meaning of life", "m1"))
    ((turn, reason),) = env["agent"].turns
    assert reason is not None and reason.startswith("below_threshold")
    assert turn.decision.route is Route.AGENT and turn.decision.intent is None
    assert env["invoker"].calls == []
    assert env["repo"].list_messages("demo", turn.session.session_id).items[0].text == "what is the meaning of life"


def test_confident_intent_without_fast_path_goes_to_agent(env: dict[str, Any]) -> None:
    send(env, ALICE, frame("can I reschedule?", "m1"))
    ((turn, reason),) = env["agent"].turns
    assert turn.decision.intent == "reschedule_appointment" and reason == "no_fast_path"


def test_classifier_fault_still_persists_and_routes_to_agent(env: dict[str, Any]) -> None:
    class Broken:
        def predict(self, text: str) -> Any:
            raise RuntimeError("model file missing")

    env["service"].routers("clinic").classifier = Broken()
    send(env, ALICE, frame("hello", "m1"))
    ((turn, reason),) = env["agent"].turns
    assert reason == "classifier_error"
    assert env["repo"].list_messages("demo", turn.session.session_id).items[0].client_message_id == "m1"


def test_a_store_outage_is_an_internal_error_frame_not_a_crash(env: dict[str, Any]) -> None:
    def down(*_: Any, **__: Any) -> None:
        raise ConnectionError("DynamoDB endpoint unreachable at 10.0.0.1")

    env["repo"].record_inbound = down
    send(env, ALICE, frame("hello", "m-outage"))
    (err,) = env["delivery"].of_type("error")
    assert err["code"] == "INTERNAL" and err["clientMessageId"] == "m-outage"
    assert "10.0.0.1" not in err["message"] and "try again" in err["message"].lower()


# -- rate limits (issue 4) ---------------------------------------------------------------------


@pytest.fixture
def limited() -> dict[str, Any]:
    """The service with a fake limiter: 2 messages per user, 3 per IP."""
    from tests.fakes import FakeLimiter

    limiter = FakeLimiter(per_user=2, per_ip=3, retry_after_s=7)
    return {**make_env(limiter), "limiter": limiter}


def send_from(env: dict[str, Any], principal: Principal, body: Any, ip: str | None = "203.0.113.9") -> None:
    env["service"].handle(
        WsRequest(connection_id="c1", principal=principal, body=json.dumps(body), endpoint="http://x", source_ip=ip)
    )


def test_over_the_rate_limit_is_persisted_refused_and_handed_to_nobody(limited: dict[str, Any]) -> None:
    send_from(limited, ALICE, frame("hello", "m1"))
    sid = limited["delivery"].of_type("status")[0]["sessionId"]
    send_from(limited, ALICE, frame("hours please", "m2", sid))
    assert len(limited["invoker"].calls) == 2
    send_from(limited, ALICE, frame("hours again", "m3", sid))
    (err,) = limited["delivery"].of_type("error")
    assert err["code"] == "RATE_LIMITED" and err["clientMessageId"] == "m3" and err["sessionId"] == sid
    assert err["details"]["retryAfter"] == 7 and "too quickly" in err["message"]
    assert len(limited["invoker"].calls) == 2 and limited["agent"].turns == []  # nothing invoked
    stored = limited["repo"].list_messages("demo", sid).items
    assert [m.text for m in stored] == ["hello", "hours please", "hours again"]
    refused = stored[-1]
    assert refused.meta == {"refused": "rate_limited"} and refused.route is None
    decision = limited["repo"].get_decision("demo", sid, refused.message_id)
    assert decision is not None and decision.reason == "rate_limited" and decision.intent == "clinic_hours"
    # Not recorded as processed: the same clientMessageId goes through once the bucket has refilled.
    assert limited["repo"].find_idempotent("demo", "u-alice", "m3") is None
    limited["limiter"].counts.clear()
    send_from(limited, ALICE, frame("hours again", "m3", sid))
    assert len(limited["invoker"].calls) == 3 and len(limited["delivery"].of_type("error")) == 1


def test_the_limiter_sees_the_source_ip_and_only_valid_frames(limited: dict[str, Any]) -> None:
    send_from(limited, ALICE, {"action": "sendMessage", "text": "hi"})  # invalid: no token taken
    send_from(limited, ALICE, frame("hello", "m1"), ip="198.51.100.7")
    assert limited["limiter"].checks == [("demo", "u-alice", "198.51.100.7")]


def test_the_ip_bucket_is_shared_by_users(limited: dict[str, Any]) -> None:
    send_from(limited, ALICE, frame("hello", "a1"))
    send_from(limited, ALICE, frame("hello", "a2"))
    send_from(limited, BOB, frame("hello", "b1"))
    send_from(limited, BOB, frame("hello", "b2"))  # Bob's own bucket has room, the IP's does not
    (err,) = limited["delivery"].of_type("error")
    assert err["code"] == "RATE_LIMITED" and err["clientMessageId"] == "b2"


def test_a_refused_first_message_still_announces_its_session(limited: dict[str, Any]) -> None:
    limited["limiter"].per_user = 0
    send_from(limited, ALICE, frame("hello", "m1"))
    started = limited["delivery"].of_type("status")[0]
    (err,) = limited["delivery"].of_type("error")
    assert started["status"] == "session_started" and err["sessionId"] == started["sessionId"]


def test_credits_are_not_checked_here_an_agent_turn_goes_to_the_agent(limited: dict[str, Any]) -> None:
    # Credits are reserved when the run starts (luma.agent.entry): classify only rate-limits.
    send_from(limited, ALICE, frame("what is the meaning of life", "m1"))
    assert limited["delivery"].of_type("error") == [] and len(limited["agent"].turns) == 1


class TierLimiter(NoLimits):
    """Inline checks with no updates; records the tier each message's buckets were computed for."""

    def __init__(self) -> None:
        self.tiers: list[RateTier | None] = []

    def inline(self, principal: Principal, source_ip: str | None = None, tier: RateTier | None = None) -> Any:
        self.tiers.append(tier)
        return InlineCheck([], [], [])


def test_the_user_bucket_follows_the_sessions_verification() -> None:
    limiter = TierLimiter()
    env = make_env(limiter)
    send(env, ALICE, frame("hello", "m1"))
    sid = env["delivery"].of_type("status")[0]["sessionId"]
    # The first call only asks whether the limiter can ride in the transaction; the second has the tier.
    assert limiter.tiers[0] is None and limiter.tiers[1] is not None and not limiter.tiers[1].verified
    env["repo"].sessions[("demo", sid)].state["verified_patient_id"] = "p-alice"
    send(env, ALICE, frame("hello again", "m2", sid))
    assert limiter.tiers[-1] is not None and limiter.tiers[-1].verified
    assert len(env["invoker"].calls) == 2  # both answered


def test_a_broken_limiter_fails_open(limited: dict[str, Any]) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("limiter bug")

    limited["limiter"].check = boom
    send_from(limited, ALICE, frame("hello", "m1"))
    assert limited["delivery"].of_type("error") == [] and len(limited["invoker"].calls) == 1
