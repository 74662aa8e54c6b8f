"""``luma bench load``: many concurrent conversations against a running stack, optionally with faults.

Run it against ``luma dev --llm fake``. ``--sessions N`` conversations run at once (opened over
``--ramp-s`` seconds), a share of them WebSocket users (``--ws-share``), the rest WhatsApp senders
posting signed webhooks to ``/api/twilio/whatsapp`` (replies read from the fake Twilio API). Each
conversation belongs to its own user, created for the run in the stack's tables the way the clinic's
demo seed creates its patients (a patient with an appointment, an account, a linked phone), and
sends ``--turns-per-session`` messages, each after the previous one was answered, from this script
(repeated): a greeting (fast path), "show me my appointments" (the identity check asks who you are),
the user's name and date of birth (the identity flow answers with the appointments), an open
question (the agent: the fake model streams an answer), opening hours, the clinic's address.

With ``--faults``, during the run:

- the stack's runtime raises in ``classify``, ``fast_path``, ``agent_turn``, ``agent_tool`` and
  ``http_api``, before or after the handler, with probability ``--fault-rate`` (``POST /dev/faults``);
- the fake model answers 429, 500 or a stream cut mid-way with that probability (``POST
  {fake LLM}/_fake/faults``);
- WebSocket users disconnect mid-answer (at the first streamed token of an agent answer, or right
  after sending), reconnect and catch up (``GET /api/sessions/{id}/messages``); a frame refused by the
  gateway (``Internal server error``, taken for the oldest message still unanswered, as the web client
  does) or left unanswered is sent again with the same ``clientMessageId``;
- Twilio redelivers webhooks (the same ``MessageSid`` again, at once or a little later), delivers
  two messages out of order, and retries a webhook answered 5xx.

A WebSocket user who sent their last message keeps the app open until every message of theirs is
answered (live, or found by a catch-up read), or nothing came for the settle time.

A fault the stack does not offer (an older fake model, a gateway without ``/dev/faults``) is reported
and left out. Every message must get exactly one reply, matched by id — the ``clientMessageId`` or
the ``MessageSid`` — not by order. At the end (faults off, after a settle time) every conversation is
read back from the store (one Scan of the conversations table in the emulator): **lost** = a message
with no reply (neither live nor stored), **duplicated** = a message with more than one distinct
reply, or a WhatsApp number that received more messages than its replies; **errors** = messages
answered with an error frame, or a webhook never accepted. A WhatsApp reply stored but never received
by the fake Twilio API counts as lost too. Latency: from sending to the reply (live frame, catch-up,
or the fake Twilio API's receipt). Figures are printed, written to
``bench/out/load[_faults].json`` with a PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bench.common import OUT, save, summary

FAULT_FUNCTIONS = ("classify", "fast_path", "agent_turn", "agent_tool", "http_api")
FIRST_NAMES = ("Nora", "Ivan", "Lea", "Omar", "Mila", "Hugo", "Sara", "Theo", "Ines", "Paul", "Rosa", "Adam")
SYLLABLES = ("ba", "ko", "mi", "ru", "te", "lo", "na", "vi", "se", "du", "fa", "ge", "ho", "ja", "pe", "zo")
AGENT_QUESTIONS = (
    "can you explain how referral letters work",
    "what should I bring to my first visit",
    "do you accept international health insurance",
    "can my partner come with me to the consultation",
)
ROUTES = ("fast", "flow", "agent")


# -- the conversations' users -------------------------------------------------------------------------------------
@dataclass
class LoadUser:
    """A user created for the run: a clinic patient with an account, a phone and one appointment."""

    index: int
    user_id: str
    tenant_id: str
    name: str
    dob: date
    phone: str
    token: str = ""

    @property
    def identity(self) -> str:
        return f"{self.name}, {self.dob.strftime('%d/%m/%Y')}"


def _word(n: int, length: int) -> str:
    return "".join(SYLLABLES[(n // len(SYLLABLES) ** k) % len(SYLLABLES)] for k in range(length))


def make_users(run: int, count: int, tenant: str) -> list[LoadUser]:
    """``count`` distinct users for run number ``run`` (0..999): names, dates of birth, French mobile numbers."""
    users = []
    for i in range(count):
        surname = (_word(run, 2) + _word(i, 3)).capitalize()
        users.append(
            LoadUser(
                index=i,
                user_id=f"u-load-{run:03d}-{i:05d}",
                tenant_id=tenant,
                name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {surname}",
                dob=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                phone=f"+337{run:03d}{i:05d}",
            )
        )
    return users


def seed_users(users: list[LoadUser], dynamodb_endpoint: str) -> None:
    """Write each user's patient record, identity index, phone link and an appointment, as the clinic's seed does."""
    from luma.assistants.clinic.info import clinic_data, timezone
    from luma.assistants.clinic.parsing import normalize_name
    from luma.assistants.clinic.repo import Appointment, DynamoClinicRepository, Patient
    from luma.config import Settings
    from luma.domain.models import PhoneLink
    from luma.store.repos import DynamoPhoneRepository

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the emulator takes any (loopback only)
        os.environ.setdefault(name, "testing")
    settings = Settings(dynamodb_endpoint_url=dynamodb_endpoint)
    clinic, phones = DynamoClinicRepository(settings), DynamoPhoneRepository(settings)
    doctor = clinic_data()["doctors"][0]["id"]
    today = datetime.now(timezone()).date()

    def one(user: LoadUser) -> None:
        patient_id = user.user_id.replace("u-", "p-", 1)
        patient = Patient(
            patient_id=patient_id,
            tenant_id=user.tenant_id,
            name=user.name,
            dob=user.dob,
            user_id=user.user_id,
            phone=user.phone,
        )
        clinic.put_patient(patient, normalize_name(user.name))
        phones.put(PhoneLink(tenant_id=user.tenant_id, phone=user.phone, user_id=user.user_id, display_name=user.name))
        start = datetime.combine(today + timedelta(days=3 + user.index % 10), datetime.min.time(), tzinfo=timezone())
        clinic.put_appointment(
            Appointment(
                appointment_id=f"a-{patient_id}",
                tenant_id=user.tenant_id,
                patient_id=patient_id,
                doctor_id=doctor,
                start=start.replace(hour=10),
                minutes=20,
                reason="check-up",
                status="scheduled",
            )
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, users))


def script(user: LoadUser, turns: int, rng: random.Random) -> list[tuple[str, str]]:
    """The user's messages and the route each is meant for (``fast``, ``flow``, ``agent``)."""
    base = [
        ("hello", "fast"),
        ("show me my appointments", "flow"),
        (user.identity, "flow"),
        (f"{rng.choice(AGENT_QUESTIONS)} (load {user.index})?", "agent"),
        ("what are your opening hours?", "fast"),
        ("where is the clinic located?", "fast"),
    ]
    return [base[i % len(base)] for i in range(turns)]


# -- what was sent and what came back ------------------------------------------------------------------------------
@dataclass
class Sent:
    """One message of a conversation, by its id (``clientMessageId`` or ``MessageSid``)."""

    id: str
    session: int
    channel: str  # ws | whatsapp
    route: str  # what the script meant: fast | flow | agent
    sent_at: float = 0.0  # time.time()
    reply_at: float | None = None
    via: str | None = None  # live | catch_up | twilio
    live_replies: set[str] = field(default_factory=set)  # distinct messageIds seen in frames
    error: str | None = None  # the code of an error frame that answered it
    retries: int = 0
    frame: dict[str, Any] | None = None  # the WebSocket frame last sent for it (resent as is)

    @property
    def latency_ms(self) -> float | None:
        return None if self.reply_at is None else (self.reply_at - self.sent_at) * 1000


@dataclass
class Results:
    """Everything a run counts."""

    sent: dict[str, Sent] = field(default_factory=dict)
    session_ids: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    disconnects: int = 0
    reconnects: int = 0
    gateway_errors: int = 0  # "Internal server error" frames (the integration failed)
    redeliveries: int = 0
    out_of_order: int = 0
    webhook_5xx: int = 0
    webhook_failed: int = 0  # never accepted, even after retries
    http_retries: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (time, channel) of each reply
    connections: list[tuple[float, int]] = field(default_factory=list)
    open_connections: int = 0
    done_turns: int = 0


class Progress:
    """A turn counter on stderr (every tenth, or live on a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.step = max(1, total // 10)

    def tick(self) -> None:
        self.done += 1
        if sys.stderr.isatty() or self.done % self.step == 0 or self.done == self.total:
            end = "\n" if self.done == self.total or not sys.stderr.isatty() else "\r"
            print(f"  turns: {self.done}/{self.total}", end=end, file=sys.stderr, flush=True)


# -- fault controls ------------------------------------------------------------------------------------------------
@dataclass
class FaultPlan:
    """What ``--faults`` injects; rates are probabilities per event."""

    handler_rate: float = 0.02
    provider_rate: float = 0.03
    disconnect_rate: float = 0.1
    redelivery_rate: float = 0.1
    out_of_order_rate: float = 0.1
    # Where handler faults go: function -> phases ("before" and/or "after" the handler).
    handlers: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict.fromkeys(FAULT_FUNCTIONS, ("before", "after"))
    )

    def runtime_rates(self) -> dict[str, dict[str, float]]:
        return {name: dict.fromkeys(phases, self.handler_rate) for name, phases in self.handlers.items()}

    def provider_rates(self) -> dict[str, float]:
        third = self.provider_rate / 3
        return {"rate429": third, "rate500": third, "cutRate": third}


class Injector:
    """Turns the stack's faults on and off: the runtime's (``/dev/faults``) and the fake model's."""

    async def start(self, plan: FaultPlan) -> list[str]:
        """Turn faults on; returns what could not be turned on."""
        return []

    async def stop(self) -> dict[str, Any]:
        """Turn faults off; returns what was injected."""
        return {}


class InProcessInjector(Injector):
    """For a stack in this process (tests): its runtime's faults, and its fake model's when it has them."""

    def __init__(self, runtime: Any, fake_llm: Any) -> None:
        self.runtime = runtime
        self.fake_llm = fake_llm

    async def start(self, plan: FaultPlan) -> list[str]:
        self.runtime.faults.configure(plan.runtime_rates(), seed=12)
        if self.fake_llm is None or not hasattr(self.fake_llm, "set_fault_rates"):
            return ["provider faults (the fake model has no set_fault_rates)"]
        self.fake_llm.set_fault_rates(plan.provider_rates())
        return []

    async def stop(self) -> dict[str, Any]:
        out: dict[str, Any] = {"handlers": self.runtime.faults.snapshot()["injected"]}
        self.runtime.faults.clear()
        if self.fake_llm is not None and hasattr(self.fake_llm, "set_fault_rates"):
            self.fake_llm.set_fault_rates({})
            out["provider"] = dict(self.fake_llm.faults_injected)
        return out


class HttpInjector(Injector):
    """Through the stack's HTTP controls."""

    def __init__(self, http: Any, base: str, llm_url: str | None) -> None:
        self.http = http
        self.base = base
        self.llm_url = llm_url

    async def start(self, plan: FaultPlan) -> list[str]:
        missing = []
        body = {"functions": plan.runtime_rates(), "seed": 12}
        if (await self.http.post(f"{self.base}/dev/faults", json=body)).status_code != 200:
            missing.append("handler faults (the gateway has no /dev/faults)")
        if not self.llm_url:
            missing.append("provider faults (no fake model)")
        elif (await self.http.post(f"{self.llm_url}/_fake/faults", json=plan.provider_rates())).status_code != 200:
            missing.append("provider faults (the fake model has no /_fake/faults)")
        return missing

    async def stop(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        response = await self.http.delete(f"{self.base}/dev/faults")
        if response.status_code == 200:
            out["handlers"] = response.json().get("injected", {})
        if self.llm_url:
            response = await self.http.post(f"{self.llm_url}/_fake/faults", json={})
            if response.status_code == 200:
                out["provider"] = response.json().get("injected", {})
        return out


# -- the run -------------------------------------------------------------------------------------------------------
@dataclass
class Config:
    """A run's settings (the CLI's options)."""

    base: str
    sessions: int = 500
    turns: int = 4
    ws_share: float = 0.5
    ramp_s: float = 10.0
    turn_timeout_s: float = 60.0
    settle_s: float = 60.0
    # A WebSocket message with no frame at all about it by then is sent again (None: only after an
    # error frame or a reconnection, as the web client does; the gateway never drops a frame silently).
    retry_after_s: float | None = None
    faults: FaultPlan | None = None
    seed: int = 1
    tenant: str = "demo"
    dynamodb_endpoint: str = ""
    twilio_account: str = ""
    twilio_token: str = ""
    our_number: str = "whatsapp:+14155238886"


class Run:
    """One load run: the users' conversations, then the accounting."""

    def __init__(self, config: Config, http: Any, users: list[LoadUser], fake_twilio: str | None) -> None:
        self.config = config
        self.http = http
        self.users = users
        self.fake_twilio = fake_twilio
        self.results = Results()
        self.rng = random.Random(config.seed)
        self.started = time.time()
        self.total_turns = config.sessions * config.turns
        self.progress = Progress(self.total_turns)
        self.ws_base = config.base.replace("http", "ws", 1) + "/ws"
        self.webhook_url = f"{config.base}/api/twilio/whatsapp"
        # The fake Twilio API's messages, by recipient: [(received at, sid)].
        self.twilio_seen: set[str] = set()
        self.twilio_by_phone: dict[str, list[float]] = defaultdict(list)
        self.twilio_bodies: dict[str, list[str]] = defaultdict(list)
        self._twilio_event = asyncio.Event()
        self._stop_polling = asyncio.Event()

    @property
    def faults(self) -> FaultPlan | None:
        return self.config.faults

    def _chance(self, p: float) -> bool:
        return self.faults is not None and self.rng.random() < p

    def _answered(self, sent: Sent, via: str, at: float | None = None) -> None:
        if sent.reply_at is None:
            sent.reply_at = at if at is not None else time.time()
            sent.via = via
            self.results.timeline.append((sent.reply_at - self.started, sent.channel))

    def _connections(self, delta: int) -> None:
        self.results.open_connections += delta
        self.results.connections.append((time.time() - self.started, self.results.open_connections))

    # -- HTTP with retries (a 5xx or a dropped connection is retried, as Twilio and clients do) -------------------
    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        delay = 0.2
        for attempt in range(6):
            try:
                response = await self.http.request(method, url, **kwargs)
            except Exception:
                if attempt == 5:
                    raise
            else:
                if response.status_code < 500 or attempt == 5:
                    return response
                if "twilio" in url:
                    self.results.webhook_5xx += 1
            self.results.http_retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")

    # -- WebSocket conversations -----------------------------------------------------------------------------------
    async def ws_conversation(self, number: int, user: LoadUser) -> None:
        import websockets

        lines = script(user, self.config.turns, self.rng)
        ws: Any = None
        session_id: str | None = None
        try:
            for text, route in lines:
                sent = Sent(id=f"L{number}-{uuid.uuid4().hex[:16]}", session=number, channel="ws", route=route)
                self.results.sent[sent.id] = sent
                for _ in range(3):  # connection attempts for this turn
                    if ws is None:
                        ws = await self._ws_connect(user)
                    try:
                        ws, session_id = await self._ws_turn(ws, user, sent, text, session_id)
                        break
                    except websockets.ConnectionClosed:
                        ws = None
                        self._connections(-1)
                        continue
                self.results.done_turns += 1
                self.progress.tick()
            if ws is not None:
                ws = await self._stay_for_replies(ws, user, number, session_id)
        finally:
            if ws is not None:
                await ws.close()
                self._connections(-1)

    async def _stay_for_replies(self, ws: Any, user: LoadUser, number: int, session_id: str | None) -> Any:
        """After the last message, keep the app open until every message of the conversation is answered
        (a reply or an error; API Gateway's error frame has the oldest one sent again), or nothing came
        for ``settle_s`` seconds. A catch-up read every few seconds finds replies sent while away."""
        import websockets

        quiet_until = time.monotonic() + self.config.settle_s
        next_catch_up = time.monotonic() + 5.0
        while time.monotonic() < quiet_until:
            waiting = self._unanswered(number)
            if not waiting:
                break
            if session_id and time.monotonic() >= next_catch_up:
                await self._catch_up(user, waiting, session_id)
                next_catch_up = time.monotonic() + 5.0
                continue
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.05, min(quiet_until, next_catch_up) - time.monotonic()))
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:  # back at once, and send again what is unanswered (same ids)
                self._connections(-1)
                ws = await self._ws_connect(user)
                for s in waiting:
                    s.retries += 1
                    await ws.send(json.dumps(s.frame))
                continue
            quiet_until = time.monotonic() + self.config.settle_s
            await self._on_frame(ws, waiting[0], waiting[0].frame or {}, json.loads(raw))
        return ws

    async def _ws_connect(self, user: LoadUser) -> Any:
        import websockets

        delay = 0.2
        for attempt in range(8):
            try:
                ws = await websockets.connect(f"{self.ws_base}?token={user.token}", max_size=2**20, open_timeout=30)
            except (OSError, TimeoutError, websockets.InvalidStatus):
                if attempt == 7:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)
                continue
            self._connections(+1)
            return ws
        raise AssertionError("unreachable")

    async def _ws_turn(
        self, ws: Any, user: LoadUser, sent: Sent, text: str, session_id: str | None
    ) -> tuple[Any, str | None]:
        """Send one message and wait for its reply, live or through the catch-up; returns the socket in use."""
        frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": sent.id}
        if session_id:
            frame["sessionId"] = session_id
        sent.frame = frame
        if not sent.sent_at:
            sent.sent_at = time.time()
        await ws.send(json.dumps(frame))
        deadline = time.monotonic() + self.config.turn_timeout_s
        wait = self.config.retry_after_s or self.config.turn_timeout_s
        resend_at = time.monotonic() + wait
        # A fault: leave mid-answer (agent: at the first token; otherwise right after sending).
        leave = session_id is not None and self._chance(self.faults.disconnect_rate if self.faults else 0)
        if leave and session_id is not None and sent.route != "agent":
            return await self._away_and_back(ws, user, sent, session_id, frame), session_id
        while sent.reply_at is None and time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.05, min(resend_at, deadline) - time.monotonic()))
            except TimeoutError:
                if time.monotonic() >= resend_at:  # nothing at all: send it again (the same id is safe)
                    sent.retries += 1
                    await ws.send(json.dumps(frame))
                    resend_at = time.monotonic() + wait
                continue
            got = json.loads(raw)
            session_id = got.get("sessionId") or session_id
            if session_id:
                self.results.session_ids[sent.session].add(session_id)
                frame["sessionId"] = session_id
            if await self._on_frame(ws, sent, frame, got):
                resend_at = time.monotonic() + wait  # something is happening
            if got.get("type") == "token" and got.get("replyTo") == sent.id and leave and session_id:
                return await self._away_and_back(ws, user, sent, session_id, frame), session_id
        return ws, session_id

    async def _away_and_back(self, ws: Any, user: LoadUser, sent: Sent, session_id: str, frame: dict[str, Any]) -> Any:
        """Drop the connection, come back a moment later, send the message again (the same id: stored and
        answered once; it may never have arrived), and get the reply live or from the catch-up."""
        import websockets

        self.results.disconnects += 1
        await ws.close()
        self._connections(-1)
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        ws = await self._ws_connect(user)
        self.results.reconnects += 1
        if sent.reply_at is None:
            sent.retries += 1
            await ws.send(json.dumps({**frame, "sessionId": session_id}))
        deadline = time.monotonic() + self.config.turn_timeout_s
        next_catch_up = time.monotonic()
        while sent.reply_at is None and time.monotonic() < deadline:
            if time.monotonic() >= next_catch_up:
                await self._catch_up(user, [sent], session_id)
                next_catch_up = time.monotonic() + 1.0
                continue
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.05, next_catch_up - time.monotonic()))
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                self._connections(-1)
                ws = await self._ws_connect(user)
                continue
            await self._on_frame(ws, sent, frame, json.loads(raw))
        return ws

    async def _on_frame(self, ws: Any, sent: Sent, frame: dict[str, Any], got: dict[str, Any]) -> bool:
        """Act on a frame received while ``sent`` waits; False for API Gateway's own error frame.

        A frame may be about an earlier message of the conversation whose wait timed out: a reply is
        counted for the message it names; API Gateway's error frame names none, so, as the web client
        does, it is taken for the oldest message still unanswered, which is sent again (its own id).
        """
        kind = got.get("type")
        if kind is None and "connectionId" in got:  # the integration failed: send it again (the same id)
            self.results.gateway_errors += 1
            failed = self._oldest_unanswered(sent)
            failed.retries += 1
            await asyncio.sleep(0.2)
            await ws.send(json.dumps({**(failed.frame or frame), **_session_of(frame)}))
            return False
        about = self._same_conversation(sent, got.get("replyTo") if kind == "message" else got.get("clientMessageId"))
        if kind == "message" and about is not None:
            about.live_replies.add(got["messageId"])
            self._answered(about, "live")
        elif kind == "error" and about is not None:
            if got.get("code") == "INTERNAL":  # a server fault: retry later with the same id
                about.retries += 1
                await asyncio.sleep(0.5)
                await ws.send(json.dumps({**(about.frame or frame), **_session_of(frame)}))
            else:
                about.error = got.get("code")
                self._answered(about, "live")
        elif kind == "status" and about is not None and got.get("status") == "agent_unavailable":
            about.error = "agent_unavailable"
            self._answered(about, "live")
        return True

    def _same_conversation(self, sent: Sent, message_id: Any) -> Sent | None:
        """The message of ``sent``'s conversation with this ``clientMessageId`` (None: not one of ours)."""
        found = self.results.sent.get(message_id) if isinstance(message_id, str) else None
        return found if found is not None and found.session == sent.session and found.channel == "ws" else None

    def _unanswered(self, session: int) -> list[Sent]:
        """The conversation's WebSocket messages sent and not answered yet (by a reply or an error), oldest first."""
        return [
            s
            for s in self.results.sent.values()
            if s.session == session and s.channel == "ws" and s.reply_at is None and s.frame
        ]

    def _oldest_unanswered(self, sent: Sent) -> Sent:
        """The conversation's oldest WebSocket message with no reply yet (``sent`` itself if none is older)."""
        return next(iter(self._unanswered(sent.session)), sent)

    async def _catch_up(self, user: LoadUser, sents: list[Sent], session_id: str) -> None:
        """Mark those of ``sents`` whose reply the session's stored messages hold (one catch-up read)."""
        items = await self._messages(user, session_id)
        if items is None:
            return
        replied = {i.get("replyTo") for i in items if _is_reply(i)}
        for sent in sents:
            user_ids = {i["messageId"] for i in items if i.get("clientMessageId") == sent.id}
            if user_ids & replied:
                self._answered(sent, "catch_up")

    async def _messages(self, user: LoadUser, session_id: str) -> list[dict[str, Any]] | None:
        """Every item of a session (oldest first), through the catch-up API; None if it could not be read."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            response = await self._request(
                "GET",
                f"{self.config.base}/api/sessions/{session_id}/messages?{urlencode(query)}",
                headers={"Authorization": f"Bearer {user.token}"},
            )
            if response.status_code != 200:
                return None
            page = response.json()
            items += page.get("items", [])
            cursor = page.get("next")
            if not cursor:
                return items

    # -- WhatsApp conversations ------------------------------------------------------------------------------------
    def _form(self, user: LoadUser, text: str) -> dict[str, str]:
        sid = "SM" + uuid.uuid4().hex
        return {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.config.twilio_account,
            "From": f"whatsapp:{user.phone}",
            "To": self.config.our_number,
            "Body": text,
            "NumMedia": "0",
            "ProfileName": "Load",
            "WaId": user.phone.lstrip("+"),
            "MessageType": "text",
            "SmsStatus": "received",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }

    async def _post_webhook(self, form: dict[str, str]) -> bool:
        from luma.channels.twilio import sign

        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(self.webhook_url, form, self.config.twilio_token),
            "User-Agent": "TwilioProxy/1.1",
        }
        response = await self._request("POST", self.webhook_url, content=urlencode(form), headers=headers)
        return bool(response.status_code == 200)

    async def _deliver(self, form: dict[str, str]) -> None:
        """One webhook as Twilio delivers it, with a redelivery now and then (at once or a little later)."""
        if not await self._post_webhook(form):
            self.results.webhook_failed += 1
            return
        if self._chance(self.faults.redelivery_rate if self.faults else 0):
            self.results.redeliveries += 1
            await asyncio.sleep(self.rng.choice((0.0, 0.05, 0.5, 2.0)))
            await self._post_webhook(form)

    async def whatsapp_conversation(self, number: int, user: LoadUser) -> None:
        lines = script(user, self.config.turns, self.rng)
        to = f"whatsapp:{user.phone}"
        i = 0
        while i < len(lines):
            # Two messages may be delivered out of order, unless the second answers the first (the identity).
            batch = [lines[i]]
            if (
                i + 1 < len(lines)
                and lines[i + 1][0] != user.identity
                and self._chance(self.faults.out_of_order_rate if self.faults else 0)
            ):
                batch.append(lines[i + 1])
            sends = []
            for text, route in batch:
                form = self._form(user, text)
                sent = Sent(id=form["MessageSid"], session=number, channel="whatsapp", route=route)
                self.results.sent[sent.id] = sent
                sends.append((sent, form))
            if len(sends) == 2:
                self.results.out_of_order += 1
                order = list(reversed(sends))
            else:
                order = sends
            before = len(self.twilio_by_phone[to])
            for sent, _ in sends:
                sent.sent_at = time.time()
            await asyncio.gather(*(self._deliver(form) for _, form in order))
            await self._wait_replies(to, before, [s for s, _ in sends])
            for _ in sends:
                self.results.done_turns += 1
                self.progress.tick()
            i += len(batch)

    async def _wait_replies(self, to: str, before: int, sends: list[Sent]) -> None:
        """Wait for as many new messages to ``to`` as messages sent; each one answers the oldest unanswered."""
        deadline = time.monotonic() + self.config.turn_timeout_s
        while time.monotonic() < deadline:
            # Read after sending but received before: a late reply to an earlier message, not to these.
            arrived = [at for at in self.twilio_by_phone[to][before:] if at >= sends[0].sent_at]
            for sent, at in zip(sends, arrived, strict=False):
                self._answered(sent, "twilio", at)
            if len(arrived) >= len(sends):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._twilio_event.wait(), 1.0)

    async def poll_twilio(self) -> None:
        """Read what the fake Twilio API received a few times a second: newest first, page after page
        (100 a page) until a page holds a message already seen, so a poll costs the stack little."""
        if not self.fake_twilio:
            return
        first = f"{self.fake_twilio}/2010-04-01/Accounts/{self.config.twilio_account}/Messages.json?PageSize=100"
        auth = (self.config.twilio_account, self.config.twilio_token)
        while not self._stop_polling.is_set():
            fresh: list[dict[str, Any]] = []
            url: str | None = first
            while url:
                try:
                    page = (await self.http.get(url, auth=auth)).json()
                except Exception:
                    break
                messages = page.get("messages", [])
                new = [m for m in messages if m["sid"] not in self.twilio_seen]
                fresh += new
                following = page.get("next_page_uri")
                url = f"{self.fake_twilio}{following}" if following and len(new) == len(messages) else None
            for m in sorted({m["sid"]: m for m in fresh}.values(), key=lambda m: float(m.get("luma_received_at") or 0)):
                self.twilio_seen.add(m["sid"])
                self.twilio_by_phone[m["to"]].append(float(m.get("luma_received_at") or time.time()))
                self.twilio_bodies[m["to"]].append(str(m.get("body", ""))[:60])
            if fresh:
                self._twilio_event.set()
                self._twilio_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_polling.wait(), 0.3)

    # -- the whole run -----------------------------------------------------------------------------------------------
    async def conversations(self) -> None:
        """Every conversation, started over the ramp."""
        share = self.config.ws_share
        tasks: list[Awaitable[None]] = []

        async def later(delay: float, number: int, user: LoadUser, ws: bool) -> None:
            await asyncio.sleep(delay)
            if ws:
                await self.ws_conversation(number, user)
            else:
                await self.whatsapp_conversation(number, user)

        for n, user in enumerate(self.users[: self.config.sessions]):
            delay = n * self.config.ramp_s / max(1, self.config.sessions)
            ws = int((n + 1) * share) > int(n * share)  # WebSocket users spread evenly among the senders
            tasks.append(later(delay, n, user, ws))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                print(f"  a conversation failed: {type(outcome).__name__}: {outcome}", file=sys.stderr)

    async def settle(self) -> None:
        """Wait for the replies still missing: until none is, or nothing arrived for ``settle_s`` seconds."""
        progress, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < self.config.settle_s:
            missing = self._missing()
            seen = len(self.twilio_seen) + sum(1 for s in self.results.sent.values() if s.reply_at is not None)
            if not missing:
                break
            if seen != progress:
                progress, quiet_since = seen, time.monotonic()
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.5)  # late duplicates, if any, arrive now

    def _missing(self) -> int:
        """Replies still to come: WebSocket messages with none, WhatsApp numbers with fewer than they were sent."""
        ws = sum(1 for s in self.results.sent.values() if s.channel == "ws" and s.reply_at is None)
        sent: dict[int, int] = defaultdict(int)
        for s in self.results.sent.values():
            if s.channel == "whatsapp":
                sent[s.session] += 1
        wa = sum(
            max(0, n - len(self.twilio_by_phone.get(f"whatsapp:{self.users[i].phone}", []))) for i, n in sent.items()
        )
        return ws + wa

    async def account(self) -> dict[str, Any]:
        """Read every conversation back from the store and count lost, duplicated and errors."""
        users = {u.user_id for u in self.users[: self.config.sessions]}
        rows = await asyncio.to_thread(stored_messages, self.config.dynamodb_endpoint, users)
        stored_replies: dict[str, set[str]] = {}  # sent id -> distinct stored reply ids
        by_user_id = {r["message_id"]: r["client_message_id"] for r in rows if r.get("client_message_id")}
        stored_user = {cid for cid in by_user_id.values() if cid in self.results.sent}
        for row in rows:
            sent_id = by_user_id.get(row.get("reply_to") or "")
            if sent_id and _is_reply(row):
                stored_replies.setdefault(sent_id, set()).add(row["message_id"])
        lost, duplicated, errors, stored_not_live = [], [], [], 0
        for sent in self.results.sent.values():
            replies = stored_replies.get(sent.id, set()) | sent.live_replies
            if not replies and sent.error is None:
                if sent.reply_at is None:
                    lost.append(sent.id)
                elif sent.channel == "whatsapp":  # a delivery counted for it, but none is stored for it
                    stored_not_live += 1
            if len(replies) > 1:
                duplicated.append(sent.id)
            if sent.error is not None:
                errors.append(sent.id)
        # A WhatsApp number that received more messages than its messages' stored replies (duplicated),
        # or fewer than its answered messages (replies stored but never delivered: lost to the sender).
        over, extra, undelivered = 0, {}, 0
        for user in self.users[: self.config.sessions]:
            to = f"whatsapp:{user.phone}"
            mine = [s for s in self.results.sent.values() if s.channel == "whatsapp" and s.session == user.index]
            expected = sum(len(stored_replies.get(s.id, ())) for s in mine)
            received = len(self.twilio_by_phone.get(to, []))
            if received > expected:
                over += received - expected
                extra[user.phone] = {"stored_replies": expected, "received": self.twilio_bodies[to]}
            undelivered += max(0, sum(1 for s in mine if stored_replies.get(s.id)) - received)
        stored_ids = set(by_user_id.values())
        return {
            "lost": len(lost) + undelivered,
            "lost_ids": lost[:20],
            "whatsapp_undelivered": undelivered,
            "lost_detail": [
                {k: v for k, v in self.results.sent[i].__dict__.items() if k != "live_replies"}
                | {"stored": i in stored_ids}
                for i in lost[:20]
            ],
            "extra_deliveries": dict(list(extra.items())[:10]),
            "duplicated": len(duplicated) + over,
            "duplicated_ids": duplicated[:20],
            "whatsapp_extra_deliveries": over,
            "errors": len(errors) + self.results.webhook_failed,
            "error_codes": _count(self.results.sent[i].error for i in errors),
            "stored_user_messages": len(stored_user),
            "answered_without_stored_reply": stored_not_live,
        }


def _session_of(frame: dict[str, Any]) -> dict[str, Any]:
    """The ``sessionId`` the conversation uses now (a resent frame joins the same session)."""
    return {"sessionId": frame["sessionId"]} if frame.get("sessionId") else {}


def _is_reply(item: dict[str, Any]) -> bool:
    """A finished assistant message that answers a user message (not a run in progress, not a card).

    ``item`` is a catch-up item (``replyTo``, ``kind``) or a stored row (``reply_to``, ``meta``).
    """
    meta = item.get("meta") or {}
    kind = item.get("kind", "message")
    if meta.get("kind") == "approval_request" or meta.get("status") == "running":
        kind = "run"
    return item.get("role") == "assistant" and kind == "message" and bool(item.get("replyTo") or item.get("reply_to"))


def stored_messages(endpoint: str, user_ids: set[str], table: str = "luma-conversations") -> list[dict[str, Any]]:
    """Every stored message of the sessions of ``user_ids``: one paginated Scan of the conversations table."""
    import boto3
    from botocore.config import Config

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the emulator takes any (loopback only)
        os.environ.setdefault(name, "testing")
    # The emulator scans slowly when it is busy: no short timeouts here.
    config = Config(connect_timeout=10, read_timeout=300, retries={"max_attempts": 3, "mode": "standard"})
    ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint, config=config)
    sessions: set[str] = set()
    messages: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Limit": 2000,
        "FilterExpression": "#k IN (:m, :s)",
        "ExpressionAttributeNames": {"#k": "kind", "#m": "meta", "#r": "role", "#t": "text"},
        "ExpressionAttributeValues": {":m": {"S": "message"}, ":s": {"S": "session"}},
        "ProjectionExpression": "#k, session_id, user_id, message_id, #r, client_message_id, reply_to, #m, #t",
    }
    while True:
        page = ddb.scan(**kwargs)
        for item in page.get("Items", []):
            flat: dict[str, Any] = {k: next(iter(v.values())) for k, v in item.items()}
            if flat.get("kind") == "session":
                if flat.get("user_id") in user_ids:
                    sessions.add(flat["session_id"])
                continue
            flat["meta"] = json.loads(flat.get("meta") or "{}")
            messages.append(flat)
        if "LastEvaluatedKey" not in page:
            return [m for m in messages if m.get("session_id") in sessions]
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[str(v)] += 1
    return dict(out)


async def run(
    config: Config,
    users: list[LoadUser],
    *,
    fake_twilio: str | None,
    injector_factory: Callable[[Any], Injector] | None = None,
) -> dict[str, Any]:
    """Run the conversations (faults on, if asked), settle, account; returns the figures (no printing)."""
    import httpx

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        for user in users:
            if not user.token:
                response = await http.post(
                    f"{config.base}/dev/token", json={"userId": user.user_id, "tenantId": user.tenant_id}
                )
                response.raise_for_status()
                user.token = response.json()["token"]
        load = Run(config, http, users, fake_twilio)
        injector = injector_factory(http) if injector_factory else Injector()
        missing: list[str] = []
        if config.faults is not None:
            missing = await injector.start(config.faults)
            for what in missing:
                print(f"  not injected: {what}", file=sys.stderr)
        poller = asyncio.create_task(load.poll_twilio())
        started = time.time()
        try:
            await load.conversations()
        finally:
            injected = await injector.stop() if config.faults is not None else {}
        conversations_s = time.time() - started
        await load.settle()
        load._stop_polling.set()
        await poller
        figures = await load.account()
    res = load.results
    latencies = [s.latency_ms for s in res.sent.values() if s.latency_ms is not None]
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s in res.sent.values():
        if s.latency_ms is not None:
            by_kind[f"{s.channel} {s.route}"].append(s.latency_ms)
    return {
        "sessions": config.sessions,
        "turns_per_session": config.turns,
        "turns": len(res.sent),
        "ws_share": config.ws_share,
        "faults": config.faults is not None,
        "fault_plan": dataclasses.asdict(config.faults) if config.faults else None,
        "faults_not_injected": missing,
        "injected": injected,
        "latency_ms": {k: round(v, 1) for k, v in summary(latencies).items()},
        "latency_by_kind_ms": {
            k: {q: round(v, 1) for q, v in summary(vs).items()} for k, vs in sorted(by_kind.items())
        },
        "replies_via": _count(s.via for s in res.sent.values()),
        "client": {
            "disconnects": res.disconnects,
            "reconnects": res.reconnects,
            "gateway_error_frames": res.gateway_errors,
            "ws_resends": sum(s.retries for s in res.sent.values() if s.channel == "ws"),
            "twilio_redeliveries": res.redeliveries,
            "twilio_out_of_order_pairs": res.out_of_order,
            "webhook_5xx": res.webhook_5xx,
            "http_retries": res.http_retries,
        },
        "conversations_s": round(conversations_s, 1),
        "max_open_connections": max((c for _, c in res.connections), default=0),
        **figures,
        "_timeline": res.timeline,
        "_connections": res.connections,
        "_latencies": by_kind,
    }


def plot(name: str, figures: dict[str, Any]) -> Any:
    """Latency distribution per kind of turn, and replies per second with open connections over time."""
    from bench.common import _pyplot

    plt = _pyplot()
    if plt is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    for kind, values in sorted(figures["_latencies"].items()):
        ordered = sorted(values)
        left.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=f"{kind} (n={len(ordered)})")
    left.set_xscale("log")
    left.set_xlabel("ms from sending to the reply (log)")
    left.set_ylabel("share of turns answered")
    left.set_title("Reply latency by kind of turn")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    timeline = figures["_timeline"]
    if timeline:
        end = int(max(t for t, _ in timeline)) + 1
        per_second = [0] * (end + 1)
        for t, _ in timeline:
            per_second[int(t)] += 1
        right.bar(range(len(per_second)), per_second, width=1.0, color="#3b7dd8", alpha=0.7, label="replies / s")
    right.set_xlabel("s since the start")
    right.set_ylabel("replies per second")
    twin = right.twinx()
    conns = figures["_connections"]
    if conns:
        twin.step([t for t, _ in conns], [c for _, c in conns], where="post", color="#c0392b", label="open WebSockets")
    twin.set_ylabel("open WebSocket connections")
    title = f"{figures['sessions']} conversations, {figures['turns']} turns"
    right.set_title(title + (" with faults" if figures["faults"] else ""))
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER

    parser = argparse.ArgumentParser(
        prog="luma bench load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=500, help="concurrent conversations (default 500)")
    parser.add_argument("--turns-per-session", type=int, default=4, help="messages per conversation (default 4)")
    parser.add_argument("--ws-share", type=float, default=0.5, help="share of WebSocket users (default 0.5)")
    parser.add_argument("--faults", action="store_true", help="inject faults during the run (see above)")
    parser.add_argument("--fault-rate", type=float, default=0.02, help="handler fault probability (default 0.02)")
    parser.add_argument("--ramp-s", type=float, default=10.0, help="seconds over which conversations start")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one reply (default 60)")
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="at the end, stop waiting for late replies after this many quiet seconds",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the faults and the script")
    parser.add_argument("--port", type=int, default=8787, help="port of a running `luma dev --llm fake`")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 99_999 or args.turns_per_session < 1 or not 0 <= args.ws_share <= 1:
        parser.error("--sessions 1..99999, --turns-per-session >= 1, --ws-share 0..1")
    base = f"http://{args.host}:{args.port}"
    from bench.common import http_json

    try:
        info = http_json(f"{base}/dev/info")
    except OSError:
        print(
            f"no local stack answers on {base}: start it with `luma dev --llm fake --port {args.port}`", file=sys.stderr
        )
        return 2
    endpoint, fake_twilio, llm_url = info.get("dynamodbEndpoint"), info.get("fakeTwilioUrl"), info.get("fakeLlmUrl")
    if not endpoint or not fake_twilio:
        print("the stack reports no DynamoDB endpoint or fake Twilio API (GET /dev/info)", file=sys.stderr)
        return 2
    if not llm_url:
        print("  no fake model: agent turns answer 'no model configured' (start with --llm fake)", file=sys.stderr)
    numbers = info.get("twilioNumbers") or {}
    our_number = f"whatsapp:{numbers.get('clinic', DEV_WHATSAPP_NUMBER.removeprefix('whatsapp:'))}"
    run_no = random.Random().randrange(1000)
    users = make_users(run_no, args.sessions, "demo")
    print(
        f"load: {args.sessions} conversations x {args.turns_per_session} turns, {args.ws_share:.0%} WebSocket, "
        f"faults {'on' if args.faults else 'off'}, {base}; creating {len(users)} users (run {run_no})",
        file=sys.stderr,
    )
    seed_users(users, endpoint)
    config = Config(
        base=base,
        sessions=args.sessions,
        turns=args.turns_per_session,
        ws_share=args.ws_share,
        ramp_s=args.ramp_s,
        turn_timeout_s=args.timeout,
        settle_s=args.settle,
        faults=FaultPlan(handler_rate=args.fault_rate, provider_rate=1.5 * args.fault_rate) if args.faults else None,
        seed=args.seed,
        dynamodb_endpoint=endpoint,
        twilio_account=DEV_ACCOUNT_SID,
        twilio_token=DEV_AUTH_TOKEN,
        our_number=our_number,
    )
    figures = asyncio.run(
        run(config, users, fake_twilio=fake_twilio, injector_factory=lambda http: HttpInjector(http, base, llm_url))
    )
    report(figures, "load_faults" if args.faults else "load")
    return 0


def report(figures: dict[str, Any], name: str) -> None:
    """Print the table and the last line; write the JSON and the PNG."""
    lat = figures["latency_ms"]
    print(f"{'turns':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for kind, s in figures["latency_by_kind_ms"].items():
        n = len(figures["_latencies"][kind])
        print(f"{kind:<22}{n:>6}{s['p50']:>10.1f}{s['p95']:>10.1f}{s['p99']:>10.1f}")
    print(f"replies via: {figures['replies_via']}; client: {figures['client']}")
    if figures["faults"]:
        print(f"injected: {json.dumps(figures['injected'])}")
    if figures["lost_ids"] or figures["duplicated_ids"]:
        print(f"lost ids: {figures['lost_ids']}; duplicated ids: {figures['duplicated_ids']}")
    png = plot(name, figures)
    path = save(name, {k: v for k, v in figures.items() if not k.startswith("_")})
    print(f"figures: {path}" + (f", plot: {png}" if png else ""))
    print(
        f"load sessions={figures['sessions']} turns={figures['turns']} p50_ms={lat['p50']:.1f} "
        f"p95_ms={lat['p95']:.1f} lost={figures['lost']} duplicated={figures['duplicated']} errors={figures['errors']}"
    )


if __name__ == "__main__":
    sys.exit(main())
