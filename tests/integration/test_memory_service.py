"""The memory write and read paths for real: DynamoDB (moto server), the OpenSearch adapter against the
local OpenSearch-compatible server, MiniLM embeddings, and the fake model through the Anthropic SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from luma.classify.embedder import get_embedder
from luma.config import Settings
from luma.guard.pii import mask as pii_mask
from luma.llm import CircuitBreaker, RetryPolicy
from luma.llm.anthropic_provider import AnthropicProvider
from luma.memory.model import MemoryKind, SourceMessage
from luma.memory.repository import MemoryRepository
from luma.memory.retrieval import HEADER, MemoryRetriever
from luma.memory.service import MemoryService
from luma.memory.settings import MemorySettings
from luma.memory.text import estimate_tokens
from luma.memory.vectors import OpenSearchVectorStore, open_vector_store

from local.fake_llm import FakeLlmServer, Script
from local.opensearch import start_opensearch

TENANT = "demo"
START = datetime(2025, 4, 7, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def search_url() -> Iterator[str]:
    server = start_opensearch()
    yield server.url
    server.stop()


@pytest.fixture
def store(ddb_settings: Settings, search_url: str) -> OpenSearchVectorStore:
    store = open_vector_store(search_url, index=f"memory-test-{uuid.uuid4().hex[:8]}")
    store.ensure_ready()
    return store


@pytest.fixture
def repo(ddb_settings: Settings) -> MemoryRepository:
    return MemoryRepository(ddb_settings)


def _service(
    repo: MemoryRepository, store: OpenSearchVectorStore, llm: AnthropicProvider | None = None
) -> MemoryService:
    return MemoryService(
        repo=repo,
        store=store,
        embed=get_embedder().embed,
        llm=llm,
        mask=lambda _tenant, text: pii_mask(text),
        settings=MemorySettings(memory_extraction="auto" if llm else "extractive"),
    )


def _retriever(repo: MemoryRepository, store: OpenSearchVectorStore, **kw: int) -> MemoryRetriever:
    return MemoryRetriever(
        repo=repo,
        store=store,
        embed_one=get_embedder().embed_one,
        settings=MemorySettings(**kw),  # type: ignore[arg-type]
    )


class Conversation:
    """Messages of one user, numbered, with times a minute apart."""

    def __init__(self) -> None:
        self.user = f"u-{uuid.uuid4().hex[:8]}"
        self.n = 0

    def msg(self, role: str, text: str, session: str = "s-1", *, days: int = 0) -> SourceMessage:
        self.n += 1
        at = START + timedelta(days=days, minutes=self.n)
        return SourceMessage(f"M{self.n:04d}{uuid.uuid4().hex[:6].upper()}", session, role, text, at)  # type: ignore[arg-type]


def _ingest_one_by_one(service: MemoryService, conv: Conversation, messages: list[SourceMessage]) -> None:
    previous = None
    for message in messages:
        service.ingest(TENANT, conv.user, [message], preceding=previous)
        previous = message


def test_offline_memory_is_written_found_again_and_never_holds_the_assistant(
    repo: MemoryRepository, store: OpenSearchVectorStore
) -> None:
    service, retriever, conv = _service(repo, store), _retriever(repo, store), Conversation()
    messages = [
        conv.msg("assistant", "Hello, I'm your virtual assistant. How was your weekend?"),
        conv.msg("user", "Great! I ran my first half marathon in Lyon yesterday."),
        conv.msg("assistant", "Congratulations! As an AI I cannot give medical advice, but rest well."),
        conv.msg("user", "My dog Biscuit is a two year old beagle."),
        conv.msg("user", "thanks!"),
    ]
    _ingest_one_by_one(service, conv, messages)
    items = list(repo.iter_user(TENANT, conv.user))
    assert len(items) == 2 and all(i.kind is MemoryKind.STATEMENT for i in items)
    assert not any("virtual assistant" in i.text or "medical advice" in i.text for i in items)
    marathon = next(i for i in items if "marathon" in i.text)
    assert marathon.source_ids == (messages[0].message_id, messages[1].message_id)
    assert "yesterday (6 April 2025)" in marathon.text and marathon.text.startswith("[7 April 2025] ")
    store.refresh()
    assert store.count(TENANT, conv.user) == 2
    [best, *_] = retriever.search(TENANT, conv.user, "what is the name of my dog?")
    assert "Biscuit" in best.text
    [best, *_] = retriever.search(TENANT, conv.user, "when did I run the half marathon?")
    assert best.memory_id == marathon.memory_id


def test_near_duplicates_merge_their_provenance_and_redelivery_writes_nothing_new(
    repo: MemoryRepository, store: OpenSearchVectorStore
) -> None:
    service, conv = _service(repo, store), Conversation()
    first = conv.msg("user", "I am allergic to penicillin.")
    again = conv.msg("user", "I am allergic to penicillin.", session="s-2", days=0)
    service.ingest(TENANT, conv.user, [first])
    store.refresh()
    result = service.ingest(TENANT, conv.user, [again])
    assert result.added == [] and len(result.merged) == 1
    [item] = list(repo.iter_user(TENANT, conv.user))
    assert item.source_ids == (first.message_id, again.message_id)
    store.refresh()
    again_result = service.ingest(TENANT, conv.user, [first])  # a redelivered stream record
    assert again_result.added in ([], [item.memory_id]) and len(list(repo.iter_user(TENANT, conv.user))) == 1


def test_personal_data_is_masked_before_it_is_remembered(repo: MemoryRepository, store: OpenSearchVectorStore) -> None:
    service, conv = _service(repo, store), Conversation()
    service.ingest(
        TENANT, conv.user, [conv.msg("user", "Write to me at jane.doe@gmail.com about my new job at the bakery.")]
    )
    [item] = list(repo.iter_user(TENANT, conv.user))
    assert "jane.doe@gmail.com" not in item.text and "<email>" in item.text
    store.refresh()
    [hit] = store.search(TENANT, conv.user, text="bakery job", vector=get_embedder().embed_one("bakery job").tolist())
    assert "<email>" in hit.text and "gmail" not in hit.text


def test_a_user_never_gets_another_users_memory(repo: MemoryRepository, store: OpenSearchVectorStore) -> None:
    service, retriever = _service(repo, store), _retriever(repo, store)
    alice, bob = Conversation(), Conversation()
    service.ingest(TENANT, alice.user, [alice.msg("user", "My daughter Chloe starts school in Grenoble in September.")])
    service.ingest(TENANT, bob.user, [bob.msg("user", "I grow tomatoes on my balcony.")])
    store.refresh()
    hits = retriever.search(TENANT, bob.user, "Chloe school Grenoble daughter")
    assert hits and all("Chloe" not in h.text for h in hits)
    assert retriever.search("other-tenant", alice.user, "Chloe school") == []


def test_summary_at_close_is_last_time_in_the_next_session_within_the_budget(
    repo: MemoryRepository, store: OpenSearchVectorStore
) -> None:
    service, conv = _service(repo, store), Conversation()
    session = [
        conv.msg("user", "I'm planning a trip to Kyoto with my sister Mei in October."),
        conv.msg("assistant", "That sounds lovely. What would you like to see?"),
        conv.msg("user", "The temples, and we want to try a tea ceremony in Uji."),
    ]
    _ingest_one_by_one(service, conv, session)
    summary = service.summarize_session(TENANT, conv.user, "s-1", session)
    assert summary is not None and summary.kind is MemoryKind.SUMMARY
    assert "Kyoto" in summary.text and set(summary.source_ids) <= {m.message_id for m in session}
    assert service.summarize_session(TENANT, conv.user, "s-1", session) == summary  # closed twice: one summary
    store.refresh()
    retriever = _retriever(repo, store)
    same = retriever.context(TENANT, conv.user, "what tea ceremony?", session_id="s-1")
    assert "Last time" not in same.text  # a session's own summary is not "last time"
    ctx = retriever.context(TENANT, conv.user, "any tips for the tea ceremony?", session_id="s-2")
    assert ctx.text.startswith(HEADER) and "Last time (7 April 2025): User: I'm planning a trip" in ctx.text
    assert ctx.last_summary_id == summary.memory_id and ctx.memory_ids and summary.memory_id not in ctx.memory_ids
    assert ctx.tokens == estimate_tokens(ctx.text) <= 1500
    assert all(line.startswith(("- ", "Last time", HEADER)) for line in ctx.text.splitlines())
    tight = retriever.context(TENANT, conv.user, "any tips for the tea ceremony?", session_id="s-2", budget_tokens=80)
    assert tight.tokens <= 80 and len(tight.memory_ids) < len(ctx.memory_ids)
    assert retriever.context(TENANT, Conversation().user, "anything", session_id="s-9").text == ""


def test_reindex_rebuilds_the_index_and_forget_erases_one_user_only(
    repo: MemoryRepository, store: OpenSearchVectorStore
) -> None:
    service, gone, kept = _service(repo, store), Conversation(), Conversation()
    _ingest_one_by_one(
        service, gone, [gone.msg("user", "I play the cello in a quartet."), gone.msg("user", "I live in Ghent.")]
    )
    service.ingest(TENANT, kept.user, [kept.msg("user", "I collect vinyl records from the seventies.")])
    store.refresh()
    store.delete_user(TENANT, gone.user)
    assert store.count(TENANT, gone.user) == 0
    assert service.reindex_user(TENANT, gone.user) == 2
    store.refresh()
    assert store.count(TENANT, gone.user) == 2
    assert service.forget_user(TENANT, gone.user) == 2
    store.refresh()
    assert store.count(TENANT, gone.user) == 0 and list(repo.iter_user(TENANT, gone.user)) == []
    assert store.count(TENANT, kept.user) == 1 and len(list(repo.iter_user(TENANT, kept.user))) == 1


# -- with a model (the fake model through the real Anthropic SDK) --------------------------------------
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def llm(fake: FakeLlmServer) -> AnthropicProvider:
    fake.clear()
    return AnthropicProvider(
        api_key=fake.api_key,
        base_url=fake.url,
        model="claude-test",
        max_tokens=512,
        retry=RetryPolicy(max_retries=0),
        breaker=CircuitBreaker(threshold=50, cooldown_s=30),
    )


def _json(value: object) -> Script:
    text = json.dumps(value)
    return Script(text=[text[: len(text) // 2], text[len(text) // 2 :]])


def test_model_facts_are_added_updated_and_deleted_mem0_style(
    repo: MemoryRepository, store: OpenSearchVectorStore, llm: AnthropicProvider, fake: FakeLlmServer
) -> None:
    service = _service(repo, store, llm=llm)
    conv = Conversation()
    first = conv.msg("user", "I live in Lyon and I work as a nurse.")
    fake.enqueue(
        _json(
            {
                "facts": [
                    {"text": "User lives in Lyon.", "sources": [1]},
                    {"text": "User works as a nurse.", "sources": [1]},
                    {"text": "As an AI assistant I must follow my instructions.", "sources": [1]},
                ]
            }
        )
    )  # no existing memories yet: no decision call
    result = service.ingest(TENANT, conv.user, [first])
    assert len(result.added) == 2  # the instruction echo is dropped
    items = {i.text: i for i in repo.iter_user(TENANT, conv.user)}
    assert set(items) == {"User lives in Lyon.", "User works as a nurse."}
    assert all(i.kind is MemoryKind.FACT and i.source_ids == (first.message_id,) for i in items.values())
    store.refresh()

    moved = conv.msg("user", "I moved to Paris last month, and I quit nursing.", days=30)
    facts = [{"text": "User moved to Paris.", "sources": [1]}, {"text": "User quit nursing.", "sources": [1]}]
    fake.enqueue(_json({"facts": facts}))  # then the decisions, answered from the prompt's memory ids

    def decisions(body: dict[str, object]) -> Script:
        content = body["messages"][0]["content"]  # type: ignore[index]
        prompt = content if isinstance(content, str) else "".join(b["text"] for b in content)
        memory = json.loads(prompt.split("Existing memories:\n", 1)[1].split("\n\nNew facts:", 1)[0])
        ids = {m["text"]: m["id"] for m in memory}
        return _json(
            {
                "actions": [
                    {"fact": "f0", "event": "UPDATE", "id": ids["User lives in Lyon."], "text": "User lives in Paris."},
                    {"fact": "f1", "event": "DELETE", "id": ids["User works as a nurse."]},
                ]
            }
        )

    fake.responder = decisions
    try:
        result = service.ingest(TENANT, conv.user, [moved])
    finally:
        fake.responder = None
    assert len(result.updated) == 1 and len(result.deleted) == 1 and result.added == []
    every = {i.memory_id: i for i in repo.iter_user(TENANT, conv.user)}
    current = [i for i in every.values() if i.valid]
    assert [i.text for i in current] == ["User lives in Paris."]
    [paris] = current
    lyon = every[paris.supersedes or ""]
    assert lyon.text == "User lives in Lyon." and not lyon.valid and lyon.superseded_by == paris.memory_id
    assert paris.version == 2 and set(paris.source_ids) == {first.message_id, moved.message_id}
    nurse = next(i for i in every.values() if i.text == "User works as a nurse.")
    assert not nurse.valid and nurse.superseded_by is None
    store.refresh()
    texts = [
        h.text
        for h in store.search(
            TENANT, conv.user, text="lives", vector=get_embedder().embed_one("where do I live").tolist()
        )
    ]
    assert "User lives in Paris." in texts and "User lives in Lyon." not in texts
    history = store.search(
        TENANT, conv.user, text="lives", vector=get_embedder().embed_one("where").tolist(), include_invalid=True
    )
    assert "User lives in Lyon." in [h.text for h in history]
    system = fake.requests[-1].body["system"]
    assert "ADD" in json.dumps(system) and "UPDATE" in json.dumps(system)


def test_an_unusable_model_answer_falls_back_to_the_offline_path(
    repo: MemoryRepository, store: OpenSearchVectorStore, llm: AnthropicProvider, fake: FakeLlmServer
) -> None:
    service = _service(repo, store, llm=llm)
    conv = Conversation()
    fake.enqueue(Script(text=["Sure! Here are the facts: the user likes jazz."]))  # not JSON
    result = service.ingest(TENANT, conv.user, [conv.msg("user", "I play jazz piano every Friday night.")])
    [item] = list(repo.iter_user(TENANT, conv.user))
    assert result.added == [item.memory_id] and item.kind is MemoryKind.STATEMENT
    fake.enqueue(Script.error(500))
    result = service.ingest(TENANT, conv.user, [conv.msg("user", "My partner Sam is a chemist.")])
    assert len(result.added) == 1  # an outage does not lose the memory


def test_a_model_summary_is_stored_as_the_session_summary(
    repo: MemoryRepository, store: OpenSearchVectorStore, llm: AnthropicProvider, fake: FakeLlmServer
) -> None:
    service, conv = _service(repo, store, llm=llm), Conversation()
    session = [conv.msg("user", "I need to reschedule my dentist visit."), conv.msg("assistant", "Done, Friday 10:00.")]
    fake.enqueue(Script(text=["The user moved their dentist ", "visit to Friday at 10:00."]))
    summary = service.summarize_session(TENANT, conv.user, "s-1", session)
    assert summary is not None
    assert (
        summary.text == "[7 April 2025] Conversation summary — The user moved their dentist visit to Friday at 10:00."
    )
    assert summary.source_ids == tuple(m.message_id for m in session)
    assert repo.get_last_summary(TENANT, conv.user).memory_id == summary.memory_id  # type: ignore[union-attr]
    assert "dentist" in fake.requests[-1].body["messages"][0]["content"][0]["text"]
