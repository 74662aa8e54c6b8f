"""Long-term memory end to end on the local stack, as a user meets it.

Real WebSockets → classify → the agent run (Step Functions in moto) → the fake model speaking the
Anthropic wire format (``local/fake_llm_demo.py``'s demo model); the stream poller runs ``memory_extract``
and ``session_report`` on the conversations table's stream; memory items live in DynamoDB (moto) and
the local OpenSearch-compatible index.

- Session 1: the user tells the assistant something; a memory item appears (its provenance is the
  message); the user closes the session: the report gets its recap and the recap is a memory item
  ("last time"). Session 2: asked about it, the model gets the memory block after the cached prompt
  prefix, answers with it, and the reply records the memories it used. Another user never sees them.
- The same with extraction by the model (``LUMA_MEMORY_EXTRACTION=llm``): facts, an UPDATE that
  supersedes an older fact, the model's session summary as "last time".
- The erasure's gaps: an extraction for an erased session writes nothing (or undoes what it wrote when
  the erasure ran meanwhile); an expired (TTL) memory item takes its index document with it
  (``memory_expire``, from the stream's REMOVE record, which carries only keys).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from luma import wiring
from luma.auth import issue_dev_token
from luma.classify.embedder import get_embedder
from luma.config import Settings, get_settings, reset_settings
from luma.memory import wiring as memory_wiring
from luma.memory.consumers import memory_key, on_message_change
from luma.memory.model import MemoryItem, MemoryKind
from luma.memory.repository import MemoryRepository
from luma.memory.retrieval import HEADER
from luma.memory.rows import memory_pk, memory_sk
from luma.memory.service import MemoryService
from luma.memory.settings import MemorySettings
from luma.memory.vectors import MemoryDoc, OpenSearchVectorStore, open_vector_store
from luma.ops.event_filter import EventFilter
from luma.store import keys
from luma.store.models import MessageRow, SessionRow
from luma.streams import Change
from websockets.sync.client import connect

from local.fake_llm import RecordedRequest
from local.runtime import LambdaRuntime
from local.streams import LocalEventSources, infra_config, start_local_event_sources
from tests.integration.test_agent_run import turn
from tests.integration.test_turn_ws import client

REPO = Path(__file__).resolve().parents[2]

TENANT = "demo"
ALLERGY = "Please remember that I'm allergic to penicillin."
ASK_ALLERGY = "Do you remember what I told you about my allergy?"
ASK_LAST_TIME = "What did we talk about last time?"
ASK_HOME = "Do you remember where I live?"
IDLE_S = 90.0  # the stream consumers embed and index on a loaded machine: generous, never asserted on

# What infra/luma_infra/config.py declares for memory_expire (asked of its owner; used until it lands).
MEMORY_EXPIRE_FILTERS = ({"eventName": ["REMOVE"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "MEM#"}]}}}},)


# -- helpers -----------------------------------------------------------------------------------------
@pytest.fixture
def fake_llm(local_stack: Any) -> Iterator[Any]:
    fake = local_stack.fake_llm
    assert fake is not None, "the test stack runs with llm='fake'"
    fake.clear()
    yield fake
    fake.clear()


def new_user() -> str:
    return f"u-mem-{uuid.uuid4().hex[:10]}"


def settle(stack: Any) -> None:
    """Every stream record written so far delivered; then the index refreshed (OpenSearch does it every second)."""
    assert stack.event_sources.wait_idle(IDLE_S), "the stream consumers did not settle in time"
    OpenSearchVectorStore(get_settings()).refresh()


def say(stack: Any, user: str, text: str, sid: str | None = None) -> dict[str, Any]:
    """One turn over a real WebSocket; the reply's ``message`` frame."""
    with client(stack, user) as ws:
        res = turn(ws, text, sid, timeout=120)
    message = res["message"]
    assert message["type"] == "message", message
    return dict(message)


def http(stack: Any, method: str, path: str, user: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{stack.url}{path}", method=method, data=b"" if method == "POST" else None)
    req.add_header("Authorization", f"Bearer {issue_dev_token(user, TENANT)}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def user_message_id(stack: Any, user: str, sid: str, text: str) -> str:
    status, page = http(stack, "GET", f"/api/sessions/{sid}/messages", user)
    assert status == 200, page
    return str(next(m["messageId"] for m in page["items"] if m["role"] == "user" and m["text"] == text))


def memories(settings: Settings, user: str, *, valid_only: bool = False) -> list[MemoryItem]:
    return list(MemoryRepository(settings).iter_user(TENANT, user, valid_only=valid_only))


def close(stack: Any, user: str, sid: str) -> dict[str, Any]:
    """Close the session (the user's "end conversation"), let the stream consumers run, read the report."""
    status, closed = http(stack, "POST", f"/api/sessions/{sid}/close", user)
    assert status == 200, closed
    settle(stack)
    status, report = http(stack, "GET", f"/api/sessions/{sid}/report", user)
    assert status == 200, report
    return report


def model_request(fake: Any, text: str) -> RecordedRequest:
    """The agent step's request for the user's ``text`` (the first step: it offers tools)."""

    def last_user_text(body: dict[str, Any]) -> str:
        content = body["messages"][-1]["content"]
        return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)

    found: list[RecordedRequest] = [r for r in fake.requests if r.body.get("tools") and last_user_text(r.body) == text]
    assert found, f"no agent request for {text!r}"
    return found[-1]


def memory_requests(fake: Any, marker: str) -> list[RecordedRequest]:
    """luma.memory's requests to the model (their system prompt holds ``marker``)."""
    return [r for r in fake.requests if not r.body.get("tools") and marker in json.dumps(r.body.get("system"))]


def reply_meta(settings: Settings, sid: str, message_id: str) -> dict[str, Any]:
    stored = wiring.conversations().get_message(TENANT, sid, message_id)
    assert stored is not None
    return dict(stored.meta)


# -- with the stack's extraction (offline, extractive) --------------------------------------------------
def test_told_in_one_session_remembered_in_the_next(local_stack: Any, fake_llm: Any, ddb_settings: Settings) -> None:
    alice, other = new_user(), new_user()

    # Session 1: something to remember.
    told = say(local_stack, alice, ALLERGY)
    sid = told["sessionId"]
    assert "allergic to penicillin" in told["text"], told  # the demo model acknowledges what it will keep
    settle(local_stack)
    source = user_message_id(local_stack, alice, sid, ALLERGY)
    [statement] = memories(ddb_settings, alice)
    assert statement.kind is MemoryKind.STATEMENT and statement.session_id == sid
    assert (
        statement.source_ids == (source,) and "User: Please remember that I'm allergic to penicillin." in statement.text
    )

    # The user closes it: the report's recap is the session's summary, kept as a memory ("last time").
    report = close(local_stack, alice, sid)
    assert report["recap"] and "allergic to penicillin" in report["recap"], report
    summary = next(m for m in memories(ddb_settings, alice) if m.kind is MemoryKind.SUMMARY)
    assert report["recapMemoryId"] == summary.memory_id and summary.session_id == sid
    assert MemoryRepository(ddb_settings).get_last_summary(TENANT, alice).memory_id == summary.memory_id  # type: ignore[union-attr]

    # Session 2 (a new one): the question gets an answer that uses the memory.
    asked = say(local_stack, alice, ASK_ALLERGY)
    assert asked["sessionId"] != sid and asked["route"] == "agent", asked
    assert "you're allergic to penicillin" in asked["text"], asked["text"]
    request = model_request(fake_llm, ASK_ALLERGY)
    cached, *after = request.body["system"]
    assert HEADER not in cached["text"] and cached.get("cache_control") == {"type": "ephemeral"}
    block = next(b["text"] for b in after if HEADER in b["text"])  # after the cached prefix
    assert "Last time (" in block and "allergic to penicillin" in block
    assert "I'm allergic to penicillin" in block.split("Last time", 1)[1]
    meta = reply_meta(ddb_settings, asked["sessionId"], asked["messageId"])
    assert meta["memories"][0] == summary.memory_id and statement.memory_id in meta["memories"]

    # "What did we talk about last time?" comes from the recap.
    recap = say(local_stack, alice, ASK_LAST_TIME, asked["sessionId"])
    assert recap["text"].startswith("When we last talked on ") and "penicillin" in recap["text"], recap["text"]

    # Another user asking the same never sees those memories.
    theirs = say(local_stack, other, ASK_ALLERGY)
    assert "penicillin" not in theirs["text"] and "don't have anything" in theirs["text"], theirs["text"]
    their_request = model_request(fake_llm, ASK_ALLERGY)
    assert "penicillin" not in json.dumps(their_request.body["system"])
    assert HEADER not in json.dumps(their_request.body["system"])
    assert "memories" not in reply_meta(ddb_settings, theirs["sessionId"], theirs["messageId"])
    assert memories(ddb_settings, other) == [] or all("penicillin" not in m.text for m in memories(ddb_settings, other))


def test_the_site_assistant_remembers_too(local_stack: Any, fake_llm: Any, ddb_settings: Settings) -> None:
    """The sitework assistant's scripted model (handed over to by the demo model) answers from memory too."""
    worker = new_user()
    token = issue_dev_token(worker, TENANT)

    def site_turn(text: str) -> dict[str, Any]:
        with connect(f"{local_stack.ws_url}?token={token}&assistant=sitework", open_timeout=10) as ws:
            return dict(turn(ws, text, timeout=120)["message"])

    told = site_turn("Please remember that I'm allergic to penicillin.")
    assert told["assistant"] == "sitework" and "allergic to penicillin" in told["text"], told
    settle(local_stack)
    asked = site_turn(ASK_ALLERGY)
    assert asked["sessionId"] != told["sessionId"] and asked["assistant"] == "sitework"
    assert "you're allergic to penicillin" in asked["text"], asked["text"]
    request = model_request(fake_llm, ASK_ALLERGY)
    assert {"search", "task_details"} <= {t["name"] for t in request.body["tools"]}  # the site agent's request
    statement = next(m for m in memories(ddb_settings, worker) if m.session_id == told["sessionId"])
    assert statement.memory_id in reply_meta(ddb_settings, asked["sessionId"], asked["messageId"])["memories"]


# -- with extraction by the model ----------------------------------------------------------------------
@pytest.fixture
def model_extraction(local_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``LUMA_MEMORY_EXTRACTION=llm`` for this test's stream consumers (the stack's setting put back after)."""

    def rebind() -> None:
        reset_settings()
        wiring.reset()
        memory_wiring.reset()

    assert local_stack.event_sources.wait_idle(IDLE_S)  # nothing of an earlier test extracted the new way
    monkeypatch.setenv("LUMA_MEMORY_EXTRACTION", "llm")
    rebind()
    yield
    local_stack.event_sources.wait_idle(IDLE_S)
    monkeypatch.undo()
    rebind()


@pytest.mark.usefixtures("model_extraction")
def test_the_model_extracts_updates_and_summarizes(local_stack: Any, fake_llm: Any, ddb_settings: Settings) -> None:
    bea = new_user()
    first = say(local_stack, bea, ALLERGY)
    sid = first["sessionId"]
    settle(local_stack)
    [fact] = memories(ddb_settings, bea)
    assert fact.kind is MemoryKind.FACT and fact.text == "User is allergic to penicillin."
    assert fact.source_ids == (user_message_id(local_stack, bea, sid, ALLERGY),)
    [extraction] = memory_requests(fake_llm, '{\\"facts\\"')
    assert ALLERGY in extraction.body["messages"][0]["content"][0]["text"]

    say(local_stack, bea, "I live in Oslo with my wife.", sid)
    settle(local_stack)
    oslo = next(m for m in memories(ddb_settings, bea) if "Oslo" in m.text)
    assert oslo.text == "User lives in Oslo with their wife."

    say(local_stack, bea, "I live in Bergen now.", sid)
    settle(local_stack)
    assert memory_requests(fake_llm, '{\\"actions\\"'), "the model was asked ADD/UPDATE/DELETE/NOOP"
    current = {m.text: m for m in memories(ddb_settings, bea, valid_only=True)}
    assert set(current) == {"User is allergic to penicillin.", "User lives in Bergen now."}
    bergen = current["User lives in Bergen now."]
    old = MemoryRepository(ddb_settings).get(TENANT, bea, oslo.memory_id)
    assert old is not None and old.valid_until is not None and old.superseded_by == bergen.memory_id
    assert bergen.supersedes == oslo.memory_id and bergen.version == 2

    report = close(local_stack, bea, sid)
    assert memory_requests(fake_llm, "Summarize this conversation"), "the summary was the model's"
    assert "Conversation summary — User is allergic to penicillin." in report["recap"]
    assert "Bergen" in report["recap"] and "Oslo" not in report["recap"], report["recap"]

    recap = say(local_stack, bea, ASK_LAST_TIME)
    assert recap["sessionId"] != sid
    assert "you are allergic to penicillin" in recap["text"] and "Bergen" in recap["text"], recap["text"]
    home = say(local_stack, bea, ASK_HOME, recap["sessionId"])
    assert "you live in Bergen now" in home["text"] and "Oslo" not in home["text"], home["text"]
    assert bergen.memory_id in reply_meta(ddb_settings, home["sessionId"], home["messageId"])["memories"]


# -- an erased session: nothing remembered from it -------------------------------------------------------
def _session_with_message(user: str, text: str) -> tuple[str, MessageRow]:
    session_id = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    SessionRow(
        pk=keys.session_pk(TENANT, session_id),
        sk=keys.META,
        tenant_id=TENANT,
        session_id=session_id,
        created_at=now,
        user_id=user,
        assistant="clinic",
        channel="websocket",
        status="active",
        language="en",
        last_activity_at=now,
    ).save()
    message_id = f"01J{uuid.uuid4().hex[:23].upper()}"
    row = MessageRow(
        pk=keys.session_pk(TENANT, session_id),
        sk=keys.message_sk(message_id),
        tenant_id=TENANT,
        session_id=session_id,
        created_at=now,
        message_id=message_id,
        role="user",
        text=text,
        meta={},
    )
    row.save()
    return session_id, row


def _insert(row: MessageRow) -> Change:
    from boto3.dynamodb.types import TypeDeserializer

    image = {k: TypeDeserializer().deserialize(v) for k, v in row.serialize().items()}  # type: ignore[arg-type]
    return Change("INSERT", {"pk": row.pk, "sk": row.sk}, image, None, "1", "e-1", None, None)


class _ErasedWhileExtracting(MemoryService):
    """The erasure runs to its end while this extraction is between its session check and its writes."""

    def ingest(self, tenant_id: str, user_id: str, messages: Any, **kw: Any) -> Any:
        result = super().ingest(tenant_id, user_id, messages, **kw)
        SessionRow(keys.session_pk(tenant_id, messages[0].session_id), keys.META).delete()
        return result


@pytest.fixture
def services(ddb_settings: Settings) -> dict[str, MemoryService]:
    settings = get_settings()
    assert settings.opensearch_url
    store = open_vector_store(settings.opensearch_url, index=f"memory-erased-{uuid.uuid4().hex[:8]}")
    store.ensure_ready()
    parts: dict[str, Any] = {
        "repo": MemoryRepository(ddb_settings),
        "store": store,
        "embed": get_embedder().embed,
        "settings": MemorySettings(memory_extraction="extractive"),
    }
    return {"plain": MemoryService(**parts), "erased": _ErasedWhileExtracting(**parts)}


def test_an_erased_session_leaves_no_memory(services: dict[str, MemoryService], ddb_settings: Settings) -> None:
    plain, erased = services["plain"], services["erased"]
    text = "My brother Tomas lives in Vilnius and visits us every summer."

    kept = new_user()  # control: the session exists, the statement is remembered
    _sid, row = _session_with_message(kept, text)
    on_message_change(_insert(row), service=plain)
    plain.store.refresh()
    assert [m.text.split("] ", 1)[1] for m in memories(ddb_settings, kept)] == [f"User: {text}"]
    assert plain.store.count(TENANT, kept) == 1

    gone = new_user()  # erased before the record was delivered: one GetItem, nothing written
    sid, row = _session_with_message(gone, text)
    SessionRow(keys.session_pk(TENANT, sid), keys.META).delete()
    on_message_change(_insert(row), service=plain)
    assert memories(ddb_settings, gone) == []

    raced = new_user()  # erased while extracting: what was written is removed again
    _sid, row = _session_with_message(raced, text)
    on_message_change(_insert(row), service=erased)
    erased.store.refresh()
    assert memories(ddb_settings, raced) == [] and erased.store.count(TENANT, raced) == 0


# -- memory items that expire take their index documents with them --------------------------------------
def _expire_spec() -> Any:
    """memory_expire's StreamSpec from the infra config, or the one asked for until it is there."""
    config = infra_config()
    spec = config.FUNCTIONS.get("memory_expire")
    if spec is not None:
        assert spec.stream is not None and tuple(spec.stream.filters) == MEMORY_EXPIRE_FILTERS
        return spec.stream
    return config.StreamSpec(table="conversations", filters=MEMORY_EXPIRE_FILTERS, max_batching_window_s=0)


@pytest.fixture
def expire_sources(local_stack: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalEventSources]:
    """The real memory_expire handler (functions/) and the recording stream_echo fixture with the same mapping
    settings, on the local stack's conversations stream."""
    config = infra_config()
    monkeypatch.setenv("LUMA_TEST_RECORD_DIR", str(tmp_path))
    stream = _expire_spec()
    started: list[LocalEventSources] = []
    runtimes = [LambdaRuntime(REPO / "functions", max_workers=2), LambdaRuntime(REPO / "tests/fixtures/functions")]
    for runtime, name in zip(runtimes, ("memory_expire", "stream_echo"), strict=True):
        started.append(
            start_local_event_sources(
                runtime,
                local_stack.dynamodb_endpoint,
                stage="memexpire",
                functions={name: config.FunctionSpec(stream=stream)},
                poll_interval_s=0.05,
                idle_poll_interval_s=0.2,
            )
        )
    yield started[0]
    started[1].poller.wait_idle(IDLE_S)
    for sources in started:
        sources.stop()
    for runtime in runtimes:
        runtime.shutdown(timeout=5)


def _doc(item: MemoryItem) -> MemoryDoc:
    vector = [float(x) for x in get_embedder().embed([item.text])[0]]
    return MemoryDoc(
        item.memory_id,
        item.tenant_id,
        item.user_id,
        item.text,
        vector,
        item.kind.value,
        item.session_id,
        item.source_ids,
        item.created_at,
    )


def test_an_expired_memory_item_takes_its_index_document(
    local_stack: Any, expire_sources: LocalEventSources, ddb_settings: Settings, tmp_path: Path
) -> None:
    repo, store = MemoryRepository(ddb_settings), OpenSearchVectorStore(get_settings())
    user, neighbour = new_user(), new_user()
    now = datetime.now(UTC)
    items = [
        MemoryItem(f"{uuid.uuid4().hex[:12]}.0", TENANT, who, MemoryKind.STATEMENT, text, "s-x", ("m-1",), now)
        for who, text in (
            (user, "[1 May 2026] User: I keep bees."),
            (user, "[1 May 2026] User: I play the cello."),
            (neighbour, "[1 May 2026] User: I keep bees too."),
        )
    ]
    for item in items:
        repo.add(item)
    store.upsert([_doc(i) for i in items])
    repo.add_sources(items[0], ("m-2",))  # a MODIFY of a memory item: not a removal
    repo.put_last_summary(
        MemoryItem(
            f"{uuid.uuid4().hex[:12]}.summary",
            TENANT,
            user,
            MemoryKind.SUMMARY,
            "[1 May 2026] Conversation summary — bees",
            "s-x",
            ("m-1",),
            now,
            occurred_at=now,
        )
    )
    store.refresh()
    assert store.count(TENANT, user) == 2 and store.count(TENANT, neighbour) == 1

    ddb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=local_stack.dynamodb_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = ddb_settings.conversations_table
    # What DynamoDB's TTL does when the item expires (moto has no TTL sweeper): a delete of the item.
    expired = {"pk": {"S": memory_pk(TENANT, user)}, "sk": {"S": memory_sk(items[0].memory_id)}}
    ddb.delete_item(TableName=table, Key=expired)
    ddb.delete_item(TableName=table, Key={"pk": {"S": memory_pk(TENANT, user)}, "sk": {"S": "LAST#summary"}})

    assert expire_sources.wait_idle(IDLE_S)
    store.refresh()
    assert store.count(TENANT, user) == 1  # the expired item's document is gone, the other stays
    [left] = store.search(TENANT, user, text="cello", vector=_doc(items[1]).vector, k=5)
    assert left.memory_id == items[1].memory_id
    assert store.count(TENANT, neighbour) == 1  # another user's copy of a similar memory is untouched

    # The records the mapping let through: this item's REMOVE only (no image: the table streams NEW_IMAGE).
    lines = [json.loads(line) for line in (tmp_path / "stream_echo.jsonl").read_text().splitlines()]
    records = [
        r
        for line in lines
        for r in line["event"]["Records"]
        if r["dynamodb"]["Keys"]["pk"]["S"].endswith(f"#U#{user}#MEM")
    ]
    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [("REMOVE", expired)]
    assert "NewImage" not in records[0]["dynamodb"] and "OldImage" not in records[0]["dynamodb"]
    assert records[0]["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    keep = EventFilter.compile(MEMORY_EXPIRE_FILTERS)
    insert = {**records[0], "eventName": "INSERT", "dynamodb": {**records[0]["dynamodb"], "NewImage": expired}}
    assert keep.matches(records[0]) and not keep.matches(insert)
    assert memory_key(expired["pk"]["S"], expired["sk"]["S"]) == (TENANT, user, items[0].memory_id)
    assert memory_key(expired["pk"]["S"], "LAST#summary") is None and memory_key("T#demo#S#x", "MEM#1") is None
