"""In-memory adapters behind the ports, for unit tests (each port also has an integration test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from luma.assistants.clinic.repo import Appointment, Patient
from luma.domain.models import (
    Connection,
    DeliveryTarget,
    Message,
    Principal,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)
from luma.identity import locked_error
from luma.limits import InlineCheck, RateDecision
from luma.operators.escalations import Escalation
from luma.store.repos import (
    AlreadyAnsweredError,
    ChannelSession,
    DuplicateMessageError,
    IdempotencyRecord,
    IdleEntry,
    InboundRecord,
    MediaClaim,
    Page,
    SessionConflictError,
    merge_state,
)


class MemoryConversations:
    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], Session] = {}
        self.messages: dict[tuple[str, str], list[Message]] = {}
        self.decisions: dict[tuple[str, str, str], RoutingDecision] = {}
        self.idempotency: dict[tuple[str, str, str], IdempotencyRecord] = {}
        self.pointers: dict[tuple[str, str, str], ChannelSession] = {}
        self.idle: dict[tuple[str, str], IdleEntry] = {}
        self.claims: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.answers: dict[tuple[str, str, str], tuple[str, bool]] = {}  # message -> (answer id, delivered)

    def get_session(self, tenant_id: str, session_id: str) -> Session | None:
        s = self.sessions.get((tenant_id, session_id))
        return s.model_copy(deep=True) if s else None

    def record_inbound(self, record: InboundRecord) -> None:
        s = record.session
        key = (s.tenant_id, s.user_id, record.client_message_id or "")
        if record.client_message_id and key in self.idempotency:
            raise DuplicateMessageError(self.idempotency[key])
        existing = self.sessions.get((s.tenant_id, s.session_id))
        if record.new_session and existing is not None:
            raise SessionConflictError("exists")
        if not record.new_session and (
            existing is None or existing.status not in (SessionStatus.ACTIVE, SessionStatus.TAKEN_OVER)
        ):
            raise SessionConflictError("not active")
        ptr = record.channel_pointer
        if ptr is not None:
            current = self.pointers.get((ptr.tenant_id, ptr.phone, ptr.channel))
            if current is not None and current.session_id != ptr.previous:
                raise SessionConflictError("the address moved to another session")
            self.pointers[(ptr.tenant_id, ptr.phone, ptr.channel)] = ChannelSession(ptr.session_id, ptr.user_id)
        if record.new_session:
            self.sessions[(s.tenant_id, s.session_id)] = s.model_copy(deep=True)
            self.idle[(s.tenant_id, s.session_id)] = IdleEntry(s.tenant_id, s.session_id, s.user_id, s.last_activity_at)
        else:
            assert existing is not None
            existing.last_activity_at = s.last_activity_at
            existing.language = s.language
            existing.message_count += 1
            existing.version += 1
        self.messages.setdefault((s.tenant_id, s.session_id), []).append(record.message)
        d = record.decision
        self.decisions[(d.tenant_id, d.session_id, d.message_id)] = d
        if record.client_message_id:
            self.idempotency[key] = IdempotencyRecord(s.session_id, record.message.message_id)
            self.claims.pop(key, None)
        if record.close_session is not None:
            old = self.sessions[(record.close_session.tenant_id, record.close_session.session_id)]
            old.status = SessionStatus.CLOSED

    def find_idempotent(self, tenant_id: str, user_id: str, client_message_id: str) -> IdempotencyRecord | None:
        return self.idempotency.get((tenant_id, user_id, client_message_id))

    def save_reply(
        self,
        session: Session,
        reply: Message,
        *,
        state: dict[str, Any] | None = None,
        status: SessionStatus | None = None,
        answers: bool = False,
    ) -> None:
        if answers and reply.reply_to:
            key = (session.tenant_id, session.session_id, reply.reply_to)
            earlier = self.answers.get(key)
            if earlier and earlier[0] != reply.message_id:
                raise AlreadyAnsweredError(earlier[0], delivered=earlier[1])
            self.answers[key] = (reply.message_id, False)
        kept = self.messages.setdefault((session.tenant_id, session.session_id), [])
        kept[:] = [m for m in kept if m.message_id != reply.message_id] + [reply]
        stored = self.sessions[(session.tenant_id, session.session_id)]
        if state is not None:
            stored.state = merge_state(session.state, dict(state), stored.state)
        if status is not None:
            stored.status = status
        if state is not None or status is not None:
            stored.version += 1

    def mark_delivered(self, tenant_id: str, session_id: str, message_id: str) -> None:
        key = (tenant_id, session_id, message_id)
        if key in self.answers:
            self.answers[key] = (self.answers[key][0], True)

    def list_messages(
        self, tenant_id: str, session_id: str, *, after: str | None = None, limit: int = 50
    ) -> Page[Message]:
        items = [m for m in self.messages.get((tenant_id, session_id), []) if after is None or m.message_id > after]
        items.sort(key=lambda m: m.message_id)
        return Page(items=items[:limit], next=items[limit - 1].message_id if len(items) > limit else None)

    def list_sessions(
        self, tenant_id: str, user_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[Session]:
        items = [s for (t, _), s in self.sessions.items() if t == tenant_id and s.user_id == user_id]
        return Page(items=sorted(items, key=lambda s: s.last_activity_at, reverse=True)[:limit])

    def get_message(self, tenant_id: str, session_id: str, message_id: str) -> Message | None:
        found = [m for m in self.messages.get((tenant_id, session_id), []) if m.message_id == message_id]
        return found[-1] if found else None

    def get_decision(self, tenant_id: str, session_id: str, message_id: str) -> RoutingDecision | None:
        return self.decisions.get((tenant_id, session_id, message_id))

    def get_channel_session(self, tenant_id: str, phone: str, channel: str) -> ChannelSession | None:
        return self.pointers.get((tenant_id, phone, channel))

    def claim_idempotency(self, tenant_id: str, user_id: str, client_message_id: str) -> bool:
        key = (tenant_id, user_id, client_message_id)
        if key in self.idempotency:
            return False
        self.idempotency[key] = IdempotencyRecord("", "")
        return True

    def claim_media(self, tenant_id: str, user_id: str, external_id: str, *, lease_s: int = 90) -> MediaClaim:
        key = (tenant_id, user_id, external_id)
        if key in self.idempotency:
            return MediaClaim("done")
        claim = self.claims.setdefault(key, {"work": {}})
        return MediaClaim("new", dict(claim["work"]))

    def save_media_work(
        self,
        tenant_id: str,
        user_id: str,
        external_id: str,
        index: int,
        ref: dict[str, Any],
        *,
        transcript: str | None = None,
    ) -> None:
        work = self.claims[(tenant_id, user_id, external_id)]["work"]
        work[str(index)] = {"ref": ref, **({"transcript": transcript} if transcript else {})}


@dataclass
class RecordingDelivery:
    frames: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        address = target.connection_id or target.to_address or ""
        if address in self.gone:
            return False
        self.frames.append((address, frame))
        return True

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for _, f in self.frames if f["type"] == kind]


@dataclass
class RecordingInvoker:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        self.calls.append((function_name, payload))


@dataclass
class RecordingAgent:
    turns: list[tuple[Turn, str | None]] = field(default_factory=list)

    def start(self, turn: Turn, *, reason: str | None = None) -> None:
        self.turns.append((turn, reason))


@dataclass
class Prediction:
    intent: str | None
    top_intent: str
    confidence: float
    margin: float
    accepted: bool


class KeywordClassifier:
    """A deterministic stand-in for the embedding classifier."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def predict(self, text: str) -> Prediction:
        for needle, intent in self.table.items():
            if needle in text.lower():
                return Prediction(intent, intent, 0.95, 0.5, True)
        return Prediction(None, "greeting", 0.2, 0.01, False)


class MemoryClinic:
    def __init__(self) -> None:
        self.patients: dict[tuple[str, str, date], Patient] = {}
        self.appointments: list[Appointment] = []

    def find_patient(self, tenant_id: str, normalized_name: str, dob: date) -> Patient | None:
        return self.patients.get((tenant_id, normalized_name, dob))

    def list_appointments(self, tenant_id: str, patient_id: str) -> list[Appointment]:
        return [a for a in self.appointments if a.tenant_id == tenant_id and a.patient_id == patient_id]

    def set_status(self, appointment: Appointment, status: str) -> Appointment:
        for i, a in enumerate(self.appointments):
            if a.appointment_id == appointment.appointment_id:
                self.appointments[i] = a.model_copy(update={"status": status})
                return self.appointments[i]
        raise KeyError(appointment.appointment_id)

    def unlink_user(self, tenant_id: str, user_id: str) -> int:
        changed = 0
        for key, patient in list(self.patients.items()):
            if patient.tenant_id == tenant_id and patient.user_id == user_id:
                self.patients[key] = patient.model_copy(update={"user_id": None, "phone": None})
                changed += 1
        return changed


class MemoryEscalations:
    """``luma.operators.escalations.EscalationRepository`` in memory."""

    def __init__(self) -> None:
        self.opened: list[Escalation] = []

    def open(self, session: Session, reason: str, *, urgency: str = "normal", **data: Any) -> Escalation:
        esc = Escalation(
            escalation_id=f"esc-{len(self.opened) + 1}",
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            user_id=session.user_id,
            assistant=session.assistant,
            channel=session.channel,
            urgency=urgency,  # type: ignore[arg-type]
            reason=reason,
            data=data,
        )
        self.opened.append(esc)
        return esc


class MemoryAttempts:
    """``luma.identity.IdentityAttempts`` in memory (per user and per claim, no clock: locks until reset)."""

    def __init__(self, max_attempts: int = 3, lockout_s: int = 3600) -> None:
        self.max = max_attempts
        self.lockout_s = lockout_s
        self.taken: dict[str, int] = {}

    def check(self, tenant_id: str, user_id: str) -> None:
        if self.taken.get(f"U#{tenant_id}#{user_id}", 0) >= self.max:
            raise locked_error(self.lockout_s)

    def reserve(self, tenant_id: str, user_id: str, claim: str | None = None) -> int:
        keys = [f"U#{tenant_id}#{user_id}"] + ([f"C#{tenant_id}#{claim.casefold()}"] if claim else [])
        for key in keys:
            if self.taken.get(key, 0) >= self.max:
                raise locked_error(self.lockout_s)
            self.taken[key] = self.taken.get(key, 0) + 1
        return self.max - self.taken[keys[0]]

    def succeeded(self, tenant_id: str, user_id: str, claim: str | None = None) -> None:
        self.taken.pop(f"U#{tenant_id}#{user_id}", None)
        if claim and self.taken.get(f"C#{tenant_id}#{claim.casefold()}", 0) > 0:
            self.taken[f"C#{tenant_id}#{claim.casefold()}"] -= 1

    def remaining(self, tenant_id: str, user_id: str) -> int:
        return self.max - self.taken.get(f"U#{tenant_id}#{user_id}", 0)


def connection(cid: str = "conn-1", tenant: str = "demo", user: str = "u-alice") -> Connection:
    return Connection(connection_id=cid, tenant_id=tenant, user_id=user)


class MemorySessionStore(MemoryConversations):
    """``MemoryConversations`` plus session close and reports (``luma.store.repos.SessionStore``)."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: dict[tuple[str, str], dict[str, Any]] = {}

    def close_session(self, tenant_id: str, session_id: str, *, user_id: str) -> None:
        stored = self.sessions.get((tenant_id, session_id))
        if stored is None or stored.user_id != user_id:
            raise SessionConflictError("missing or not this user's")
        stored.status = SessionStatus.CLOSED

    def list_decisions(self, tenant_id: str, session_id: str) -> list[RoutingDecision]:
        found = [d for (t, s, _), d in self.decisions.items() if (t, s) == (tenant_id, session_id)]
        return sorted(found, key=lambda d: d.message_id)

    def get_report(self, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        report = self.reports.get((tenant_id, session_id))
        return dict(report) if report is not None else None

    def put_report(self, tenant_id: str, session_id: str, user_id: str, report: dict[str, Any]) -> bool:
        if (tenant_id, session_id) in self.reports:
            return False
        self.reports[(tenant_id, session_id)] = dict(report)
        return True

    # -- the idle index (luma.store.repos.SweepStore) --
    def list_idle(
        self, shard: int, *, before: datetime, limit: int = 100, cursor: str | None = None
    ) -> Page[IdleEntry]:
        """Like the GSI query: ordered by activity, the cursor is the last key seen (not an offset)."""
        from luma.store.keys import idle_shard

        def key(e: IdleEntry) -> str:
            return f"{e.last_activity_at.isoformat()}|{e.session_id}"

        found = sorted(
            (e for e in self.idle.values() if idle_shard(e.session_id) == shard and e.last_activity_at < before),
            key=key,
        )
        if cursor:
            found = [e for e in found if key(e) > cursor]
        page = found[:limit]
        return Page(items=page, next=key(page[-1]) if len(found) > limit else None)

    def touch_idle(self, tenant_id: str, session_id: str, last_activity_at: datetime) -> None:
        entry = self.idle.get((tenant_id, session_id))
        if entry is not None:
            self.idle[(tenant_id, session_id)] = IdleEntry(tenant_id, session_id, entry.user_id, last_activity_at)

    def delete_idle(self, tenant_id: str, session_id: str) -> None:
        self.idle.pop((tenant_id, session_id), None)

    def close_idle_session(self, tenant_id: str, session_id: str, *, before: datetime) -> None:
        stored = self.sessions.get((tenant_id, session_id))
        if stored is None or stored.status is not SessionStatus.ACTIVE or stored.last_activity_at >= before:
            raise SessionConflictError("active again, or not active")
        stored.status = SessionStatus.CLOSED


@dataclass
class FakeLimiter:
    """Counts checks per user/IP in memory; ``per_user``/``per_ip`` None means unlimited."""

    per_user: int | None = None
    per_ip: int | None = None
    retry_after_s: int = 7
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[tuple[str, str, str | None]] = field(default_factory=list)
    unknown_replies: int | None = None

    def warm_up(self) -> None:
        return None

    def inline(self, principal: Principal, source_ip: str | None = None) -> InlineCheck | None:
        return None

    def confirm(self, check: InlineCheck) -> None:
        return None

    def check_unknown_sender(self, principal: Principal, phone: str) -> RateDecision:
        if self.unknown_replies is not None:
            if self.counts.get("UNK", 0) >= self.unknown_replies:
                return RateDecision(False, retry_after_s=60, scope="unknown")
            self.counts["UNK"] = self.counts.get("UNK", 0) + 1
        return self.check(principal)

    def check(self, principal: Principal, source_ip: str | None = None) -> RateDecision:
        self.checks.append((principal.tenant_id, principal.user_id, source_ip))
        buckets = [("user", f"U#{principal.tenant_id}#{principal.user_id}", self.per_user)]
        if source_ip:
            buckets.append(("ip", f"IP#{principal.tenant_id}#{source_ip}", self.per_ip))
        refused: RateDecision | None = None
        for scope, key, limit in buckets:
            if limit is None:
                continue
            if self.counts.get(key, 0) >= limit:
                refused = refused or RateDecision(False, retry_after_s=self.retry_after_s, scope=scope, remaining=0)
            else:
                self.counts[key] = self.counts.get(key, 0) + 1
        return refused or RateDecision(True)


def clinic_pack(
    settings: Any,
    *,
    repo: MemoryClinic | None = None,
    attempts: MemoryAttempts | None = None,
    escalations: MemoryEscalations | None = None,
) -> Any:
    """The real clinic pack over in-memory adapters, bound to ``settings``."""
    from luma.assistants.clinic import ClinicPack

    pack = ClinicPack(
        repo=repo or MemoryClinic(),
        attempts=attempts or MemoryAttempts(settings.identity_max_attempts),  # type: ignore[arg-type]
        escalations=escalations or MemoryEscalations(),  # type: ignore[arg-type]
    )
    pack.bind(settings)
    return pack
