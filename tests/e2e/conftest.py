"""Browser-test fixtures: Debian's headless Chromium driven by Playwright, and a fake Luma gateway.

The fake gateway (``fake_stack``) serves ``web/`` and implements the endpoints the page uses
(``/dev/demo-users``, ``/dev/token``, ``/ws``, ``/api/sessions/{id}/messages``) following
docs/protocol.md, with a few scripted behaviours (drop the connection, stream, heartbeat, fail) so
the page's reconnect, catch-up and dedupe logic can be checked deterministically.

``web_stack`` is the lead's ``local_stack`` fixture when one is defined (tests/conftest.py), and
the fake gateway otherwise, so the real-stack scenario can run before the local stack exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

REPO = Path(__file__).resolve().parents[2]
WEB_DIR = REPO / "web"
CLINIC_DATA = REPO / "layers/core/python/luma/assistants/clinic/data.json"
SCREENSHOT_DIR = REPO / "bench" / "out"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A document a test fulfils itself (to add a CSP header) has no address space of its own:
    # Local Network Access checks would then refuse its loopback WebSocket.
    "--disable-features=LocalNetworkAccessChecks",
    # Pages served under other hostnames (e.g. http://chat.test:<port>/) reach the loopback servers.
    "--host-resolver-rules=MAP *.test 127.0.0.1",
]

FAKE_SECRET = "fake-gateway-secret-for-tests-only-32b"
ISSUER = "luma-fake"
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# ------------------------------------------------------------------------------------------------
# Browser
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Any]:
    """Playwright's sync driver for the browser tests (needs Debian's chromium: browsers are not downloaded).

    Package-scoped: the sync API keeps an asyncio loop running on the main thread while it is open, and
    the tests after this package run their own (``asyncio.run``, ``anyio.run``).
    """
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (`make chromium` installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def chromium_browser(playwright_driver: Any) -> Iterator[Any]:
    """One headless Chromium for the browser tests."""
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


PHONE = "Pixel 7"  # Playwright's descriptor: viewport, deviceScaleFactor, isMobile, hasTouch, user agent


@pytest.fixture(scope="package")
def phone_device(playwright_driver: Any) -> dict[str, Any]:
    """The phone the mobile tests emulate (touch, mobile viewport), as new_context keyword arguments."""
    device = dict(playwright_driver.devices[PHONE])
    device.pop("default_browser_type", None)
    return device


@pytest.fixture
def new_page(chromium_browser: Any) -> Iterator[Any]:
    """Factory for pages in fresh browser contexts; fails the test on uncaught page errors.

    ``new_page()`` is a desktop window; ``new_page(device=phone_device)`` emulates a phone;
    other keyword arguments go to ``browser.new_context`` (e.g. ``locale``).
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 800, *, device: dict[str, Any] | None = None, **options: Any) -> Any:
        settings = dict(device) if device else {"viewport": {"width": width, "height": height}}
        context = chromium_browser.new_context(**settings, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# ------------------------------------------------------------------------------------------------
# Fake gateway
# ------------------------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeSession:
    session_id: str
    user_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    # Run and approval items, listed with the messages the way the catch-up route lists them.
    extra: list[dict[str, Any]] = field(default_factory=list)
    socket: WebSocket | None = None  # the session's current connection: a run's later frames go there


@dataclass
class FakeRun:
    run_id: str
    session: FakeSession
    inbound: dict[str, Any]
    approval_id: str
    streamed: list[str] = field(default_factory=list)
    seq: int = 0


class FakeGateway:
    """In-memory stand-in for the local gateway (single process, one event loop)."""

    def __init__(self) -> None:
        self.clinic = json.loads(CLINIC_DATA.read_text(encoding="utf-8"))
        self.url = ""
        self.kind = "fake"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.reset()

    # -- test controls --------------------------------------------------------------------------

    def reset(self) -> None:
        self._ids = itertools.count(1)
        self.sessions: dict[str, FakeSession] = {}
        self.sockets: dict[WebSocket, str] = {}
        self.received: list[dict[str, Any]] = []
        self.catch_up_calls: list[dict[str, Any]] = []
        self.connects = 0
        self.refuse_connections = False
        self.demo_users_enabled = True
        self.sloppy_catch_up = False  # ignore `after`: return the whole history (tests dedupe)
        self.page_size_cap = 50
        self.redeliver: dict[str, list[dict[str, Any]]] = {}
        self.blackholed: set[str] = set()
        self.failed_once: set[str] = set()
        self.events: list[list[dict[str, Any]]] = []  # POST /api/events bodies, parsed
        self.ws_queries: list[dict[str, str]] = []  # query parameters of each WebSocket handshake
        self.runs: dict[str, FakeRun] = {}  # approvalId -> the run waiting for it
        self.approval_expires_s = 300

    def token(self, user_id: str, tenant_id: str = "demo", name: str | None = None, secret: str = FAKE_SECRET) -> str:
        now = int(time.time())
        claims = {"sub": user_id, "tenant": tenant_id, "iss": ISSUER, "iat": now, "exp": now + 3600}
        if name:
            claims["name"] = name
        return jwt.encode(claims, secret, algorithm="HS256")

    def kick_all(self, code: int = 1012) -> None:
        """Close every open WebSocket from the server side (like a gateway restart)."""
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self._close_all(code), self.loop).result(5)

    def frames(self, text_contains: str = "") -> list[dict[str, Any]]:
        return [f for f in self.received if text_contains in str(f.get("text", ""))]

    # -- helpers ----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"01JFAKE{next(self._ids):019d}"  # 26 chars, sorts by creation like a ULID

    def _principal(self, token: str | None) -> str | None:
        try:
            claims = jwt.decode(token or "", FAKE_SECRET, algorithms=["HS256"], issuer=ISSUER)
        except jwt.PyJWTError:
            return None
        return str(claims["sub"])

    async def _close_all(self, code: int) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(RuntimeError):
                await ws.close(code=code)

    def _patient(self, user_id: str) -> dict[str, Any] | None:
        return next((p for p in self.clinic["patients"] if p["user_id"] == user_id), None)

    # -- HTTP endpoints ---------------------------------------------------------------------------

    async def demo_users(self, request: Request) -> Response:
        if not self.demo_users_enabled:
            return JSONResponse({"error": "not found"}, status_code=404)
        tenant = self.clinic["demo_tenant"]
        users = [
            {
                "userId": p["user_id"],
                "tenantId": tenant,
                "name": p["name"],
                "assistant": "clinic",
                "assistantName": "Clinic assistant",
                "identityHint": f"{p['name']}, {date.fromisoformat(p['dob']):%d/%m/%Y}",
            }
            for p in self.clinic["patients"]
        ]
        users.append(
            {
                "userId": "u-sam",
                "tenantId": tenant,
                "name": "Sam Okafor",
                "assistant": "sitework",
                "assistantName": "Site assistant",
            }
        )
        return JSONResponse(users)

    async def client_events(self, request: Request) -> Response:
        """``POST /api/events``: counted like the real route (always 202, ``accepted``)."""
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"accepted": 0, "dropped": "malformed_json"}, status_code=202)
        batch = body if isinstance(body, list) else [body]
        self.events.append(batch)
        return JSONResponse({"accepted": len(batch), "dropped": None}, status_code=202)

    def event_names(self) -> list[str]:
        return [e.get("name") for batch in self.events for e in batch]

    async def dev_token(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"token": self.token(body["userId"], body["tenantId"])})

    async def messages(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        user = self._principal(auth.removeprefix("Bearer ").strip())
        if user is None:
            return JSONResponse({"code": "AUTH_INVALID_TOKEN", "message": "Sign in again."}, status_code=401)
        session = self.sessions.get(request.path_params["session_id"])
        if session is None or session.user_id != user:
            return JSONResponse({"code": "SESSION_NOT_FOUND", "message": "No such session."}, status_code=404)
        after = request.query_params.get("after")
        limit = min(int(request.query_params.get("limit", "50")), self.page_size_cap)
        self.catch_up_calls.append({"sessionId": session.session_id, "after": after, "limit": limit})
        items = [m for m in session.messages if self.sloppy_catch_up or not after or m["messageId"] > after]
        page = items[:limit]
        more = len(items) > limit
        if not more:
            page = page + [dict(item) for item in session.extra]
        return JSONResponse({"items": page, "next": page[-1]["messageId"] if more else None})

    # -- WebSocket --------------------------------------------------------------------------------

    async def websocket(self, ws: WebSocket) -> None:
        self.loop = asyncio.get_running_loop()
        user = self._principal(ws.query_params.get("token"))
        if user is None or self.refuse_connections:
            await ws.send_denial_response(Response(status_code=401 if user is None else 503))
            return
        await ws.accept()
        self.connects += 1
        self.sockets[ws] = user
        self.ws_queries.append(dict(ws.query_params))
        resumed = self.sessions.get(ws.query_params.get("sessionId", ""))
        if resumed is not None and resumed.user_id == user:
            resumed.socket = ws  # the session continues here: its runs' frames follow
        for frame in self.redeliver.pop(user, []):  # a reply that missed its connection, delivered late
            asyncio.get_running_loop().call_later(0.2, lambda f=frame: asyncio.ensure_future(self._send(ws, f)))
        try:
            while True:
                raw = await ws.receive_text()
                await self._handle(ws, user, raw)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.pop(ws, None)

    async def _send(self, ws: WebSocket, frame: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.send_text(json.dumps(frame))

    async def _error(self, ws: WebSocket, code: str, message: str, **extra: Any) -> None:
        await self._send(ws, {"type": "error", "code": code, "message": message, **extra})

    async def _handle(self, ws: WebSocket, user: str, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            return await self._error(ws, "MALFORMED_JSON", "The message could not be read.")
        self.received.append(frame)
        if frame.get("action") == "approve":
            return await self._approve(ws, user, frame)
        if frame.get("action") != "sendMessage":
            return await self._error(ws, "UNKNOWN_ACTION", "Unknown action.")
        cmid, text, sid = frame.get("clientMessageId"), frame.get("text"), frame.get("sessionId")
        if not isinstance(cmid, str) or not CLIENT_ID_RE.match(cmid) or not isinstance(text, str) or not text:
            return await self._error(ws, "VALIDATION_FAILED", "Invalid message.", details={"errors": []})
        if len(text) > 2000:
            return await self._error(ws, "TEXT_TOO_LONG", "Too long.", clientMessageId=cmid, details={"maxChars": 2000})
        if "blackhole" in text and cmid not in self.blackholed:
            # Lost in transit: never stored; the connection dies shortly after.
            self.blackholed.add(cmid)
            asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(self._close(ws, 1011)))
            return None
        if sid:
            session = self.sessions.get(sid)
            if session is None or session.user_id != user:
                return await self._error(
                    ws, "SESSION_NOT_FOUND", "This conversation no longer exists.", clientMessageId=cmid, sessionId=sid
                )
        else:
            session = FakeSession(self._new_id(), user)
            self.sessions[session.session_id] = session
        session.socket = ws
        session.state.setdefault("assistant", ws.query_params.get("assistant") or "clinic")
        if not sid:
            await self._send(
                ws,
                {
                    "type": "status",
                    "status": "session_started",
                    "sessionId": session.session_id,
                    "clientMessageId": cmid,
                },
            )
        stored = next((m for m in session.messages if m.get("clientMessageId") == cmid), None)
        if stored is not None:
            return await self._send(
                ws,
                {
                    "type": "status",
                    "status": "duplicate",
                    "sessionId": session.session_id,
                    "clientMessageId": cmid,
                    "messageId": stored["messageId"],
                },
            )
        if "boom" in text and cmid not in self.failed_once:
            self.failed_once.add(cmid)
            return await self._error(
                ws, "INTERNAL", "Something went wrong on our side.", clientMessageId=cmid, sessionId=session.session_id
            )
        inbound = {
            "messageId": self._new_id(),
            "sessionId": session.session_id,
            "role": "user",
            "text": text,
            "createdAt": _now_iso(),
            "intent": None,
            "route": None,
            "replyTo": None,
            "clientMessageId": cmid,
        }
        session.messages.append(inbound)
        await self._respond(ws, user, session, inbound, text)
        return None

    async def _close(self, ws: WebSocket, code: int) -> None:
        with contextlib.suppress(RuntimeError):
            await ws.close(code=code)

    def _store_reply(
        self, session: FakeSession, inbound: dict[str, Any], text: str, intent: str | None, route: str, **extra: Any
    ) -> dict[str, Any]:
        """Stored like the real HTTP API returns it: ``replyTo`` is the inbound messageId, no confidence."""
        reply = {
            **extra,
            "assistant": session.state.get("assistant", "clinic"),
            "messageId": self._new_id(),
            "sessionId": session.session_id,
            "role": "assistant",
            "text": text,
            "createdAt": _now_iso(),
            "intent": intent,
            "route": route,
            "replyTo": inbound["messageId"],
            "clientMessageId": None,
        }
        session.messages.append(reply)
        return reply

    async def _respond(
        self, ws: WebSocket, user: str, session: FakeSession, inbound: dict[str, Any], text: str
    ) -> None:
        lowered = text.lower()
        cmid = inbound["clientMessageId"]
        if "agent question" in lowered:
            message = "I can only answer common questions right now."
            stored = self._store_reply(session, inbound, message, "general_question", "agent")
            return await self._send(
                ws,
                {
                    "type": "status",
                    "status": "agent_unavailable",
                    "sessionId": session.session_id,
                    "clientMessageId": cmid,
                    "messageId": stored["messageId"],
                    "message": message,
                    "hint": "Set LUMA_LLM_PROVIDER to enable the agent.",
                    "intent": "general_question",
                    "confidence": 0.41,
                    "route": "agent",
                },
            )
        if "move it" in lowered:
            return await self._start_run(ws, session, inbound)
        if "hold on" in lowered:
            return None  # stored, never answered: the page keeps waiting
        reply_text, intent, confidence, route = self._reply(session, user, text)
        extra: dict[str, Any] = {}
        if "menu" in lowered:
            reply_text, intent, confidence, route = "What would you like to do?", "greeting", 0.97, "fast_path"
            extra["choices"] = [
                {"id": "projects", "label": "My projects"},
                {"id": "report", "label": "Report a problem"},
            ]
        if "bonjour" in lowered:
            reply_text, extra["language"] = "Bonjour ! Comment puis-je vous aider ?", "fr"
        if "reset" in lowered:
            run_id = f"run-{cmid[:8]}"
            for seq, piece in enumerate(["A first try ", "that fails."], start=1):
                await self._send(ws, self._token(session, run_id, seq, piece))
            await asyncio.sleep(0.3)
            await self._send(ws, self._status(session, "stream_reset", runId=run_id))
            for seq, piece in enumerate(["The second try ", "works."], start=1):
                await self._send(ws, self._token(session, run_id, seq, piece))
            reply_text, intent, confidence, route = "The second try works.", "general_question", 0.4, "agent"
            extra["runId"] = run_id
        if "stream" in lowered:
            run_id = f"run-{cmid[:8]}"
            deltas = ["Streaming ", "an answer\n", "in parts."]
            for seq, delta in enumerate(deltas):
                await self._send(
                    ws, {"type": "token", "sessionId": session.session_id, "runId": run_id, "seq": seq, "delta": delta}
                )
                await asyncio.sleep(0.2)
            reply_text, intent, confidence, route = "".join(deltas), "general_question", 0.42, "agent"
        if "slow" in lowered:
            for _ in range(3):
                await self._send(ws, {"type": "heartbeat", "ts": _now_iso()})
                await asyncio.sleep(0.3)
        stored = self._store_reply(session, inbound, reply_text, intent, route, **extra)
        # The live frame names the clientMessageId it answers, and carries the confidence.
        frame = {"type": "message", **stored, "replyTo": cmid, "confidence": confidence}
        frame.pop("clientMessageId")
        if "drop" in lowered:
            # Stored, but the connection dies before delivery; the reply is also pushed late.
            self.redeliver.setdefault(user, []).append(frame)
            return await self._close(ws, 1012)
        return await self._send(ws, frame)

    # -- a scripted agent run that waits for the person's approval -------------------------------

    @staticmethod
    def _token(session: FakeSession, run_id: str, seq: int, text: str) -> dict[str, Any]:
        return {"type": "token", "sessionId": session.session_id, "runId": run_id, "seq": seq, "text": text}

    @staticmethod
    def _status(session: FakeSession, status: str, **fields: Any) -> dict[str, Any]:
        return {"type": "status", "status": status, "sessionId": session.session_id, **fields}

    async def _run_send(self, run: FakeRun, frame: dict[str, Any]) -> None:
        if run.session.socket is not None:
            await self._send(run.session.socket, frame)

    async def _stream(self, run: FakeRun, text: str) -> None:
        for piece in re.findall(r"\S+\s*", text):
            run.seq += 1
            run.streamed.append(piece)
            await self._run_send(run, self._token(run.session, run.run_id, run.seq, piece))
            await asyncio.sleep(0.05)

    def _run_items(self, run: FakeRun, status: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [
            {
                "kind": "approval_request",
                "approvalId": run.approval_id,
                "runId": run.run_id,
                "sessionId": run.session.session_id,
                "prompt": "Move your visit to Tuesday at 14:00?",
                "approvalStatus": status,
            }
        ]
        if status == "pending":
            items.insert(
                0,
                {
                    "kind": "run",
                    "runId": run.run_id,
                    "status": "running",
                    "text": "".join(run.streamed),
                    "seq": run.seq,
                },
            )
        return items

    async def _start_run(self, ws: WebSocket, session: FakeSession, inbound: dict[str, Any]) -> None:
        cmid = inbound["clientMessageId"]
        run = FakeRun(run_id=f"run-{cmid[:8]}", session=session, inbound=inbound, approval_id=self._new_id()[-12:])
        await self._send(
            ws,
            self._status(
                session,
                "thinking",
                clientMessageId=cmid,
                runId=run.run_id,
                intent="move_visit",
                confidence=0.5,
                route="agent",
            ),
        )
        await self._stream(run, "Let me look that up.")
        await self._run_send(
            run, self._status(session, "tool", runId=run.run_id, tool="find_slots", label="Looking for free times…")
        )
        await asyncio.sleep(0.8)
        self.runs[run.approval_id] = run
        session.extra = self._run_items(run, "pending")
        await self._run_send(
            run,
            {
                "type": "approval_request",
                "sessionId": session.session_id,
                "runId": run.run_id,
                "approvalId": run.approval_id,
                "tool": "move_visit",
                "prompt": "Move your visit to Tuesday at 14:00?",
                "expiresInS": self.approval_expires_s,
            },
        )
        if self.approval_expires_s < 30:
            asyncio.get_running_loop().call_later(
                self.approval_expires_s, lambda: asyncio.ensure_future(self._expire(run))
            )

    async def _expire(self, run: FakeRun) -> None:
        if self.runs.pop(run.approval_id, None) is None:
            return
        run.session.extra = self._run_items(run, "timed_out")
        await self._finish(run, "I did not get an answer in time, so nothing was changed.")

    async def _approve(self, ws: WebSocket, user: str, frame: dict[str, Any]) -> None:
        run = self.runs.pop(str(frame.get("approvalId")), None)
        if run is None or run.session.user_id != user:
            return await self._error(ws, "BAD_REQUEST", "That approval request was not found or was already answered.")
        approved = frame.get("approved") is True
        run.session.socket = ws  # the run's later frames go to the session's current connection
        run.session.extra = self._run_items(run, "approved" if approved else "declined")
        label = "Making the change…" if approved else None
        await self._send(
            ws,
            self._status(
                run.session,
                "approval_recorded",
                approvalId=run.approval_id,
                approved=approved,
                runId=run.run_id,
                label=label,
            ),
        )
        await asyncio.sleep(0.2)
        await self._finish(
            run, "Done, your visit is now on Tuesday at 14:00." if approved else "Fine, nothing was changed."
        )
        return None

    async def _finish(self, run: FakeRun, text: str) -> None:
        await self._stream(run, " " + text)
        full = "".join(run.streamed).strip()
        stored = self._store_reply(run.session, run.inbound, full, "move_visit", "agent")
        run.session.extra = [i for i in run.session.extra if i["kind"] != "run"]
        frame = {"type": "message", **stored, "replyTo": run.inbound["clientMessageId"], "confidence": 0.5}
        frame["runId"] = run.run_id
        frame.pop("clientMessageId")
        await self._run_send(run, frame)

    # -- scripted clinic answers (a stand-in for the fast path) ----------------------------------

    def _reply(self, session: FakeSession, user: str, text: str) -> tuple[str, str | None, float, str]:
        lowered = text.lower()
        if session.state.get("awaiting_identity"):
            patient = self._patient(user)
            if patient and self._identity_matches(patient, text):
                session.state = {"verified": True}
                return self._appointments(patient), "appointments_list", 1.0, "flow"
            return "Sorry, I could not verify those details. Please try again.", "appointments_list", 1.0, "flow"
        if "hour" in lowered or "open" in lowered:
            hours = self.clinic["clinic"]["hours"]
            lines = [
                f"{day.capitalize()}: {span[0]}–{span[1]}" if span else f"{day.capitalize()}: closed"
                for day, span in hours.items()
            ]
            return (
                f"{self.clinic['clinic']['name']} opening hours:\n" + "\n".join(lines),
                "clinic_hours",
                0.93,
                "fast_path",
            )
        if "appointment" in lowered:
            if session.state.get("verified"):
                patient = self._patient(user)
                return (
                    self._appointments(patient) if patient else "No appointments.",
                    "appointments_list",
                    0.9,
                    "fast_path",
                )
            session.state["awaiting_identity"] = True
            return (
                "Before I show appointment details, please tell me your full name and date of birth "
                "(for example: Jane Doe, 31/12/1980).",
                "appointments_list",
                0.88,
                "fast_path",
            )
        return f"You said: {text}", "fallback", 0.31, "agent"

    @staticmethod
    def _identity_matches(patient: dict[str, Any], text: str) -> bool:
        dob = date.fromisoformat(patient["dob"])
        forms = {dob.isoformat(), dob.strftime("%d/%m/%Y"), dob.strftime("%d.%m.%Y")}
        return patient["name"].lower() in text.lower() and any(f in text for f in forms)

    def _appointments(self, patient: dict[str, Any]) -> str:
        doctors = {d["id"]: d for d in self.clinic["doctors"]}
        today = date.today()
        lines = []
        for appt in self.clinic["appointments"]:
            if appt["patient"] != patient["id"] or appt["day_offset"] < 0:
                continue
            day = today + timedelta(days=appt["day_offset"])
            doctor = doctors[appt["doctor"]]
            lines.append(
                f"• {day:%a %d %b} at {appt['time']}: {doctor['name']} ({doctor['specialty']}), {appt['reason']}"
            )
        return "Thank you, you are verified. Your upcoming appointments:\n" + "\n".join(lines)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/dev/demo-users", self.demo_users),
                Route("/dev/token", self.dev_token, methods=["POST"]),
                Route("/api/events", self.client_events, methods=["POST"]),
                Route("/api/sessions/{session_id}/messages", self.messages),
                WebSocketRoute("/ws", self.websocket),
                Mount("/", StaticFiles(directory=WEB_DIR, html=True)),
            ]
        )


class _Server:
    """uvicorn in a daemon thread on a free port."""

    def __init__(self, app: Starlette) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        # The legacy "websockets" protocol: "websockets-sansio" logs a spurious error after a denial response.
        warnings.filterwarnings("ignore", message=r"The `websockets` implementation is deprecated")
        config = uvicorn.Config(app, log_level="warning", ws="websockets", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="session")
def fake_gateway_server() -> Iterator[FakeGateway]:
    gateway = FakeGateway()
    with _Server(gateway.app()) as server:
        gateway.url = f"http://127.0.0.1:{server.port}"
        yield gateway


@pytest.fixture
def fake_stack(fake_gateway_server: FakeGateway) -> FakeGateway:
    """The fake gateway, reset to a clean state for each test."""
    fake_gateway_server.reset()
    return fake_gateway_server


@pytest.fixture
def web_stack(request: pytest.FixtureRequest) -> Any:
    """The lead's ``local_stack`` (tests/conftest.py) when it exists, else the fake gateway.

    ``LUMA_WEB_E2E_FAKE=1`` forces the fake gateway (front-end work without the full stack).
    """
    if os.environ.get("LUMA_WEB_E2E_FAKE") == "1":
        return request.getfixturevalue("fake_stack")
    try:
        return request.getfixturevalue("local_stack")
    except pytest.FixtureLookupError:
        return request.getfixturevalue("fake_stack")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR
