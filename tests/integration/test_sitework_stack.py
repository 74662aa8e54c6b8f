"""The field-work assistant end to end on the real local stack: a worker on the web (WebSocket with
``assistant=sitework``) and on WhatsApp (signed webhooks to the sitework number, replies recorded by
the fake Twilio API, the photo in moto's S3, the incident in the pack's table)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from luma.assistants.sitework.repo import SiteworkRepository
from luma.auth import issue_dev_token
from luma.channels.twilio import sign
from luma.config import Settings
from websockets.sync.client import ClientConnection, connect

from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, FakeMessage

TENANT = "demo"
KARIM = "whatsapp:+33612345101"  # u-worker's linked phone (seed)


# -- WebSocket -------------------------------------------------------------------------------------


@contextmanager
def worker(stack: Any, user: str = "u-worker") -> Iterator[ClientConnection]:
    token = issue_dev_token(user, TENANT)
    with connect(f"{stack.ws_url}?token={token}&assistant=sitework", open_timeout=10, max_size=2**20) as ws:
        yield ws


def send(ws: ClientConnection, text: str, cid: str, session_id: str | None = None, choice: str | None = None) -> None:
    frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        frame["sessionId"] = session_id
    if choice:
        frame["choice"] = choice
    ws.send(json.dumps(frame))


def reply(ws: ClientConnection, cid: str, timeout: float = 15.0) -> dict[str, Any]:
    """The ``message`` (or ``error``) frame answering ``cid``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no reply to {cid} in time")
        frame = json.loads(ws.recv(timeout=left))
        if frame.get("replyTo") == cid or (frame.get("clientMessageId") == cid and frame["type"] == "error"):
            return frame


def test_a_worker_on_the_web_gets_their_projects_through_the_fast_path(local_stack: Any) -> None:
    with worker(local_stack) as ws:
        cid = f"c-{uuid.uuid4().hex[:8]}"
        send(ws, "what projects am I on?", cid)
        frame = reply(ws, cid)
    assert frame["type"] == "message", frame
    assert frame["route"] == "fast_path" and frame["intent"] == "list_projects"
    assert frame.get("assistant") == "sitework"
    assert "Riverside Apartments" in frame["text"] and "Gare Nord Offices" in frame["text"]
    assert "Jules Verne" not in frame["text"]  # a project of the tenant Karim is not on
    assert [c["id"] for c in frame.get("choices", [])] == ["project:p-1", "project:p-2"]


def test_a_menu_chip_is_the_next_turns_choice(local_stack: Any) -> None:
    with worker(local_stack) as ws:
        first = f"c-{uuid.uuid4().hex[:8]}"
        send(ws, "hello", first)
        greeting = reply(ws, first)
        assert greeting["intent"] == "greeting" and greeting["choices"][0]["id"] == "menu:projects"
        second = f"c-{uuid.uuid4().hex[:8]}"
        send(ws, greeting["choices"][2]["label"], second, greeting["sessionId"], choice="menu:documents")
        documents = reply(ws, second)
    assert documents["intent"] == "view_documents" and documents["route"] == "flow"
    assert [c["id"] for c in documents["choices"]] == ["project:p-1", "project:p-2"]  # which project?


# -- WhatsApp --------------------------------------------------------------------------------------


def sitework_number(stack: Any) -> str:
    return f"whatsapp:{stack.twilio_numbers['sitework']}"


def post(stack: Any, params: dict[str, str]) -> int:
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
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


class WhatsApp:
    """Karim writing to the sitework number; each ``say`` waits for the next reply."""

    def __init__(self, stack: Any, sender: str = KARIM) -> None:
        self.stack, self.sender, self.seen = stack, sender, 0

    def say(self, text: str, **extra: str) -> FakeMessage:
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": DEV_ACCOUNT_SID,
            "From": self.sender,
            "To": sitework_number(self.stack),
            "Body": text,
            "NumMedia": "0",
            **extra,
        }
        assert post(self.stack, params) == 200
        return self.next_reply()

    def next_reply(self, timeout: float = 15.0) -> FakeMessage:
        deadline = time.monotonic() + timeout
        while len(got := self.stack.fake_twilio.messages_to(self.sender)) <= self.seen:
            assert time.monotonic() < deadline, f"no reply after {self.seen} to {self.sender}"
            time.sleep(0.02)
        self.seen += 1
        return got[self.seen - 1]


@pytest.fixture
def whatsapp(local_stack: Any) -> Iterator[WhatsApp]:
    local_stack.fake_twilio.reset()
    yield WhatsApp(local_stack)
    local_stack.fake_twilio.reset()


def options(message: FakeMessage) -> list[str]:
    return [b["id"] for b in message.buttons] or [i["id"] for i in message.items]


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
    return found


def test_the_greeting_is_a_button_or_list_message_on_whatsapp(whatsapp: WhatsApp) -> None:
    greeting = whatsapp.say("hello")
    assert greeting.content_sid, greeting.summary  # sent through the Content API
    assert options(greeting) == [
        "menu:projects", "menu:tasks", "menu:documents", "menu:incident", "menu:progress", "menu:human"
    ]  # fmt: skip
    projects = whatsapp.say("My projects", ListId="menu:projects")  # the list item chosen
    assert "Riverside Apartments" in projects.body and options(projects) == ["project:p-1", "project:p-2"]


def test_a_typed_number_answers_a_whatsapp_menu(whatsapp: WhatsApp) -> None:
    greeting = whatsapp.say("hello")
    assert options(greeting)[0] == "menu:projects"
    projects = whatsapp.say("1")  # the first option, typed (long menus arrive as numbered text)
    assert "Riverside Apartments" in projects.body and options(projects) == ["project:p-1", "project:p-2"]


def _report_until_the_photo(whatsapp: WhatsApp) -> None:
    asked = whatsapp.say("report an incident")
    if "project:p-1" in options(asked):  # no current project in this session yet
        asked = whatsapp.say("Riverside Apartments", ButtonPayload="project:p-1")
    assert "Riverside Apartments" in asked.body and "What happened?" in asked.body
    media_question = whatsapp.say("Water leaking from the ceiling in flat 9, the floor is wet")
    assert "photo or a voice note" in media_question.body
    assert options(media_question) == ["incident:skip", "flow:cancel"]


def _upload_photo(stack: Any) -> tuple[bytes, str]:
    jpeg = b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 8
    return jpeg, stack.fake_twilio.add_media(jpeg, "image/jpeg")


def _check_incident(stack: Any, final: FakeMessage, jpeg: bytes) -> None:
    found = re.search(r"Incident (INC-\d{4}) is recorded on Riverside Apartments \(severity: High\)", final.body)
    assert found, final.body
    repo = SiteworkRepository(Settings())
    incident = next(i for i in repo.list_incidents(TENANT, "p-1", limit=50) if i.reference == found.group(1))
    assert incident.reporter_id == "u-worker" and incident.severity == "high"
    (ref,) = incident.media
    assert ref["type"] == "image/jpeg" and ref["key"].startswith(f"{TENANT}/")
    body = repo.s3().get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read()
    assert body == jpeg


def test_a_whatsapp_incident_with_a_captioned_photo_gets_its_number(local_stack: Any, whatsapp: WhatsApp) -> None:
    _report_until_the_photo(whatsapp)
    jpeg, url = _upload_photo(local_stack)
    severity = whatsapp.say("the leak", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert "How serious is it?" in severity.body
    assert options(severity) == ["severity:low", "severity:medium", "severity:high", "severity:critical", "flow:cancel"]
    _check_incident(local_stack, whatsapp.say("High", ListId="severity:high"), jpeg)


def test_a_whatsapp_incident_with_a_bare_photo_gets_its_number(local_stack: Any, whatsapp: WhatsApp) -> None:
    _report_until_the_photo(whatsapp)
    jpeg, url = _upload_photo(local_stack)
    severity = whatsapp.say("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert "How serious is it?" in severity.body
    _check_incident(local_stack, whatsapp.say("high"), jpeg)


# -- agent runs ------------------------------------------------------------------------------------


@pytest.fixture
def sitework_model(local_stack: Any) -> Iterator[None]:
    """The stack's fake model plays the sitework agent for the test (the clinic's brain is put back)."""
    from local.fake_llm_sitework import SiteworkBrain

    previous = local_stack.fake_llm.responder
    local_stack.fake_llm.responder = SiteworkBrain(chunk_delay_ms=0)
    yield
    local_stack.fake_llm.responder = previous


def frames_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not seen or not done(seen[-1]):
        left = deadline - time.monotonic()
        assert left > 0, f"no final frame in time; got {[f.get('type') for f in seen]}"
        seen.append(json.loads(ws.recv(timeout=left)))
    return seen


def test_an_agent_run_uses_the_sitework_tools_and_asks_before_writing(local_stack: Any, sitework_model: None) -> None:
    repo = SiteworkRepository(Settings())
    before = repo.get_task(TENANT, "p-1", "t-102")
    assert before is not None
    target = min(before.progress + 5, 100)
    with worker(local_stack) as ws:
        cid = f"c-{uuid.uuid4().hex[:8]}"
        send(ws, f"what's the latest on the waterproofing, and bump it to {target}% if it's behind", cid)
        frames = frames_until(ws, lambda f: f["type"] in ("approval_request", "message", "error"))
        request = frames[-1]
        assert request["type"] == "approval_request", frames
        assert request["tool"] == "update_progress"
        assert request["prompt"] == f"Set \u201cBasement waterproofing\u201d to {target}% (now {before.progress}%)?"
        assert repo.get_task(TENANT, "p-1", "t-102").progress == before.progress  # type: ignore[union-attr]
        ws.send(json.dumps({"action": "approve", "approvalId": request["approvalId"], "approved": True}))
        answer = frames_until(ws, lambda f: f["type"] == "message" and f.get("replyTo") == cid)[-1]
    # The reply carries everything the run said, step by step; the outcome comes last.
    assert answer["text"].endswith(f"Done: Basement waterproofing is now at {target}% (it was {before.progress}%).")
    history = repo.list_progress(TENANT, "p-1", "t-102", limit=1)
    assert history[0].percent == target and history[0].by == "u-worker"


def test_an_agent_run_answers_a_question_about_a_task(local_stack: Any, sitework_model: None) -> None:
    with worker(local_stack) as ws:
        cid = f"c-{uuid.uuid4().hex[:8]}"
        send(ws, "how is the scaffolding task going?", cid)
        frames = frames_until(ws, lambda f: f["type"] == "message" and f.get("replyTo") == cid)
    tools = [f["tool"] for f in frames if f["type"] == "status" and f.get("status") == "tool"]
    assert tools == ["search", "task_details"], frames
    answer = frames[-1]
    assert answer["route"] == "agent" and answer.get("assistant") == "sitework"
    assert "Scaffolding east façade is in progress at " in answer["text"], answer["text"]
