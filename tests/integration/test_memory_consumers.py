"""What the stream consumers call: a message item's stream image → memory (with the preceding message of
its session as context), and a closed session → its summary; rows written to the moto server for real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from luma.classify.embedder import get_embedder
from luma.config import Settings
from luma.memory.consumers import (
    memory_context_for_turn,
    on_message_change,
    session_messages,
    source_from_image,
    summarize_closed_session,
)
from luma.memory.model import MemoryKind
from luma.memory.repository import MemoryRepository
from luma.memory.retrieval import MemoryRetriever
from luma.memory.service import MemoryService
from luma.memory.settings import MemorySettings
from luma.memory.vectors import open_vector_store
from luma.store import keys
from luma.store.models import MessageRow, SessionRow
from luma.streams import Change

from local.opensearch import start_opensearch

TENANT = "demo"
START = datetime(2025, 6, 2, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def search_url() -> Iterator[str]:
    server = start_opensearch()
    yield server.url
    server.stop()


@pytest.fixture
def parts(ddb_settings: Settings, search_url: str) -> tuple[MemoryService, MemoryRetriever]:
    store = open_vector_store(search_url, index=f"memory-consumers-{uuid.uuid4().hex[:8]}")
    store.ensure_ready()
    repo = MemoryRepository(ddb_settings)
    settings = MemorySettings(memory_extraction="extractive")
    service = MemoryService(repo=repo, store=store, embed=get_embedder().embed, settings=settings)
    return service, MemoryRetriever(repo=repo, store=store, embed_one=get_embedder().embed_one, settings=settings)


def _session(user: str) -> str:
    session_id = uuid.uuid4().hex[:12]
    SessionRow(
        pk=keys.session_pk(TENANT, session_id),
        sk=keys.META,
        tenant_id=TENANT,
        session_id=session_id,
        created_at=START,
        user_id=user,
        assistant="clinic",
        channel="websocket",
        status="active",
        language="en",
        last_activity_at=START,
    ).save()
    return session_id


def _message(session_id: str, n: int, role: str, text: str, **meta: Any) -> MessageRow:
    message_id = f"01J{n:03d}{uuid.uuid4().hex[:20].upper()}"[:26]
    row = MessageRow(
        pk=keys.session_pk(TENANT, session_id),
        sk=keys.message_sk(message_id),
        tenant_id=TENANT,
        session_id=session_id,
        created_at=START + timedelta(minutes=n),
        message_id=message_id,
        role=role,
        text=text,
        meta=meta,
    )
    row.save()
    return row


def _insert(row: MessageRow) -> Change:
    """The stream record DynamoDB emits for this item (NEW_IMAGE view), as luma.streams hands it over."""
    deserializer = TypeDeserializer()
    image = {k: deserializer.deserialize(v) for k, v in row.serialize().items()}
    return Change(
        event_name="INSERT",
        keys={"pk": row.pk, "sk": row.sk},
        new_image=image,
        old_image=None,
        sequence_number="100",
        event_id="e-1",
        created_at=None,
        source_arn=None,
    )


def test_a_user_message_record_becomes_memory_with_the_assistants_question(
    parts: tuple[MemoryService, MemoryRetriever],
) -> None:
    service, retriever = parts
    user = f"u-{uuid.uuid4().hex[:8]}"
    session_id = _session(user)
    question = _message(session_id, 1, "assistant", "Noted. Who will come with you?")
    answer = _message(session_id, 2, "user", "My husband Karim will drive me, he speaks Arabic.")
    on_message_change(_insert(question), service=service)  # assistant messages are only context
    assert list(service.repo.iter_user(TENANT, user)) == []
    on_message_change(_insert(answer), service=service)
    on_message_change(_insert(answer), service=service)  # redelivered: nothing new
    [item] = list(service.repo.iter_user(TENANT, user))
    assert item.source_ids == (question.message_id, answer.message_id)
    assert item.text == (
        "[2 June 2025] Assistant: Who will come with you?\nUser: My husband Karim will drive me, he speaks Arabic."
    )
    service.store.refresh()
    ctx = memory_context_for_turn(TENANT, user, "another-session", "who is driving me?", retriever=retriever)
    assert ctx.memory_ids == (item.memory_id,) and "Karim" in ctx.text


def test_refused_and_unanswered_messages_are_not_memory_material() -> None:
    base = {"kind": "message", "message_id": "m1", "session_id": "s1", "created_at": START.isoformat()}
    assert source_from_image({**base, "role": "user", "text": "hi", "meta": '{"refused": true}'}) is None
    unavailable = {**base, "role": "assistant", "text": "no model", "meta": '{"status": "agent_unavailable"}'}
    assert source_from_image(unavailable) is None
    assert source_from_image({**base, "kind": "decision"}) is None
    ok = source_from_image({**base, "role": "user", "text": "I moved to Oslo.", "meta": "{}"})
    assert ok is not None and ok.created_at == START and ok.role == "user"


def test_a_closed_session_gets_its_summary_from_its_messages(parts: tuple[MemoryService, MemoryRetriever]) -> None:
    service, retriever = parts
    user = f"u-{uuid.uuid4().hex[:8]}"
    session_id = _session(user)
    rows = [
        _message(session_id, 1, "user", "I'm training for the Berlin marathon in September."),
        _message(session_id, 2, "assistant", "Great goal! How many days a week do you run?"),
        _message(session_id, 3, "user", "Four days a week, mostly along the river with my friend Ines."),
        _message(session_id, 4, "user", "ignored", refused=True),
    ]
    assert [m.message_id for m in session_messages(TENANT, session_id)] == [r.message_id for r in rows[:3]]
    summary = summarize_closed_session(TENANT, session_id, service=service)
    assert summary is not None and summary.kind is MemoryKind.SUMMARY and summary.session_id == session_id
    assert "Berlin marathon" in summary.text and rows[1].message_id not in summary.source_ids
    service.store.refresh()
    ctx = memory_context_for_turn(TENANT, user, "next-session", "how is my training going?", retriever=retriever)
    assert ctx.last_summary_id == summary.memory_id and "Last time (2 June 2025): " in ctx.text
    assert summarize_closed_session(TENANT, "no-such-session", service=service) is None
