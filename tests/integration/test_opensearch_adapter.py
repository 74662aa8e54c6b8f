"""The memory vector store (luma.memory.vectors) through opensearch-py against the local OpenSearch-compatible
server: mapping, bulk, hybrid ranking with real MiniLM embeddings, tenant/user isolation under crafted input,
deletion, typed errors, SigV4 (verified by the server), the Serverless mode, and every request the adapter
sends validated against OpenSearch's REST API specification.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from luma.classify.embedder import DIMENSION, Embedder, EmbedderUnavailableError, get_embedder
from luma.config import Settings
from luma.memory.vectors import (
    InvalidMemoryInputError,
    MemoryDoc,
    OpenSearchVectorStore,
    VectorStoreBulkError,
    VectorStoreError,
    VectorStoreRequestError,
    VectorStoreUnavailableError,
    hybrid_query,
    open_vector_store,
)
from opensearchpy import OpenSearch

from local.opensearch import OpenSearchServer, SigV4, start_opensearch
from local.opensearch.server import match_route
from tests.opensearch_api import fixtures
from tests.opensearch_api.runner import VERSION
from tests.opensearch_api.spec import load_spec

opensearch_server = fixtures.opensearch_server
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_counter = iter(range(1_000_000))

ATTACKS = [
    "*",
    "u-*",
    "u-bob OR u-alice",
    'u-alice" OR user_id:"u-bob',
    '{"match_all": {}}',
    "u-alice\\",
    "u-alice,u-bob",
    "",
    " u-alice",
    "u-alice\u0000",
    "../u-bob",
    "u-alice|demo|m1",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    try:
        return get_embedder().load()
    except EmbedderUnavailableError as exc:  # pragma: no cover - the Makefile installs the model
        pytest.skip(str(exc))


def settings_for(url: str, **overrides: Any) -> Settings:
    index = overrides.pop("memory_index", f"memory-test-{next(_counter)}")
    return Settings(opensearch_url=url, memory_index=index, opensearch_max_retries=0, **overrides)


@pytest.fixture
def store(opensearch_server: OpenSearchServer) -> OpenSearchVectorStore:
    adapter = OpenSearchVectorStore(settings_for(opensearch_server.url))
    adapter.ensure_ready()
    return adapter


def random_vector(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=DIMENSION)
    return [float(x) for x in v / np.linalg.norm(v)]


def doc(memory_id: str, text: str, *, tenant: str = "demo", user: str = "u-alice", **fields: Any) -> MemoryDoc:
    values: dict[str, Any] = {
        "vector": random_vector(hash((tenant, user, memory_id)) % 2**32),
        "kind": "fact",
        "session_id": "s-1",
        "source_ids": ("msg-1",),
        "created_at": NOW,
    }
    values.update(fields)
    return MemoryDoc(memory_id=memory_id, tenant_id=tenant, user_id=user, text=text, **values)


def raw_client(server: OpenSearchServer) -> OpenSearch:
    return OpenSearch(server.url)


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


# Mapping and setup ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["faiss", "lucene"])
def test_ensure_ready_creates_the_mapping_and_pipeline(opensearch_server: OpenSearchServer, engine: str) -> None:
    settings = settings_for(opensearch_server.url, memory_knn_engine=engine)
    adapter = OpenSearchVectorStore(settings)
    adapter.ensure_ready()
    adapter.ensure_ready()  # idempotent
    client = raw_client(opensearch_server)
    index = client.indices.get(index=settings.memory_index)[settings.memory_index]
    assert index["settings"]["index"]["knn"] == "true"
    properties = index["mappings"]["properties"]
    assert index["mappings"]["dynamic"] == "strict"
    vector = properties["vector"]
    assert vector["type"] == "knn_vector"
    assert vector["dimension"] == DIMENSION
    assert vector["method"]["engine"] == engine
    assert vector["method"]["engine"] != "nmslib"
    assert vector["method"]["space_type"] == "innerproduct"
    assert properties["text"]["type"] == "text"
    for name in ("tenant_id", "user_id", "memory_id", "kind", "session_id", "source_ids"):
        assert properties[name]["type"] == "keyword", name
    pipeline = client.search_pipeline.get(id=settings.memory_search_pipeline)[settings.memory_search_pipeline]
    processor = pipeline["phase_results_processors"][0]["normalization-processor"]
    assert processor["normalization"]["technique"] == "min_max"
    assert processor["combination"]["parameters"]["weights"] == list(settings.memory_hybrid_weights)


def test_the_first_write_of_a_fresh_deployment_creates_the_index_with_its_mapping(
    opensearch_server: OpenSearchServer,
) -> None:
    settings = settings_for(opensearch_server.url)
    OpenSearchVectorStore(settings).upsert([doc("m-1", "Alice is allergic to penicillin.")])
    client = raw_client(opensearch_server)
    mapping = client.indices.get_mapping(index=settings.memory_index)[settings.memory_index]["mappings"]
    assert mapping["properties"]["vector"]["type"] == "knn_vector"  # not a dynamic float array
    assert client.search_pipeline.get(id=settings.memory_search_pipeline)


def test_ensure_ready_refuses_an_index_with_another_vector_size(opensearch_server: OpenSearchServer) -> None:
    settings = settings_for(opensearch_server.url)
    raw_client(opensearch_server).indices.create(
        index=settings.memory_index,
        body={"mappings": {"properties": {"vector": {"type": "knn_vector", "dimension": 8}}}},
    )
    with pytest.raises(VectorStoreError, match="384-dimension"):
        OpenSearchVectorStore(settings).ensure_ready()


# Writes -----------------------------------------------------------------------------------------------


def test_bulk_upsert_counts_and_replaces(store: OpenSearchVectorStore, opensearch_server: OpenSearchServer) -> None:
    opensearch_server.requests.clear()
    store.upsert([doc(f"m-{i}", f"memory number {i}") for i in range(250)])
    bulk_calls = [r for r in opensearch_server.requests if r.path == "/_bulk"]
    assert len(bulk_calls) == 2  # 200 per request
    assert all(_header(r.headers, "content-type") == "application/x-ndjson" for r in bulk_calls)
    store.refresh()
    assert store.count("demo", "u-alice") == 250
    replacement = doc("m-7", "my favourite colour is teal")
    store.upsert([replacement])
    store.refresh()
    assert store.count("demo", "u-alice") == 250
    hits = store.search("demo", "u-alice", text="favourite colour", vector=list(replacement.vector), k=3)
    assert hits[0].memory_id == "m-7"
    assert hits[0].text == "my favourite colour is teal"
    assert hits[0].created_at == NOW
    assert hits[0].source_ids == ("msg-1",)
    assert hits[0].session_id == "s-1"


def test_a_memory_without_a_session(store: OpenSearchVectorStore) -> None:
    store.upsert([doc("m-1", "no session here", session_id=None), doc("m-2", "nor here", session_id="")])
    store.refresh()
    hits = store.search("demo", "u-alice", text="session here", vector=random_vector(5))
    assert {(h.memory_id, h.session_id) for h in hits} == {("m-1", None), ("m-2", None)}


def test_client_debug_logs_never_carry_request_bodies(opensearch_server: OpenSearchServer) -> None:
    import logging

    logging.getLogger("opensearch").setLevel(logging.DEBUG)
    OpenSearchVectorStore(settings_for(opensearch_server.url)).client  # noqa: B018 (builds the client)
    assert logging.getLogger("opensearch").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("opensearchpy.trace").getEffectiveLevel() >= logging.WARNING


def test_same_memory_id_in_two_tenants_stays_two_documents(store: OpenSearchVectorStore) -> None:
    store.upsert([doc("m-1", "tenant a's memory", tenant="a"), doc("m-1", "tenant b's memory", tenant="b")])
    store.refresh()
    assert store.count("a", "u-alice") == 1
    assert store.count("b", "u-alice") == 1
    hit = store.search("b", "u-alice", text="memory", vector=random_vector(3), k=5)
    assert [h.text for h in hit] == ["tenant b's memory"]


# Retrieval ---------------------------------------------------------------------------------------------


MEMORIES = {
    "allergy": "I am allergic to penicillin",
    "violin": "My daughter Emma plays the violin every Saturday",
    "move": "We moved to Lyon last spring",
    "diet": "I have been vegetarian for ten years",
    "job": "I work night shifts as a nurse at the city hospital",
}


def test_hybrid_ranking_with_real_embeddings(store: OpenSearchVectorStore, embedder: Embedder) -> None:
    ids = list(MEMORIES)
    vectors = embedder.embed(list(MEMORIES.values()))
    store.upsert([doc(i, MEMORIES[i], vector=[float(x) for x in v]) for i, v in zip(ids, vectors, strict=True)])
    store.refresh()

    def ranked(query: str, text: str) -> list[tuple[str, float]]:
        hits = store.search("demo", "u-alice", text=text, vector=embedder.embed_one(query).tolist(), k=5)
        assert len(hits) == len(MEMORIES)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        return [(h.memory_id, h.score) for h in hits]

    # Meaning alone (no keyword in common with the memory).
    assert ranked("which antibiotics should the doctor avoid?", "")[0][0] == "allergy"
    assert ranked("when did we relocate?", "")[0][0] == "move"
    assert ranked("do I eat meat?", "")[0][0] == "diet"
    # Keywords and meaning together.
    assert ranked("what instrument does my daughter play?", "daughter instrument")[0][0] == "violin"
    assert ranked("Lyon", "Lyon")[0][0] == "move"
    # The BM25 part counts: the same question scores the memory holding the keyword higher with it.
    without = dict(ranked("which city did we move to?", ""))
    with_keyword = dict(ranked("which city did we move to?", "Lyon"))
    assert with_keyword["move"] > without["move"]
    assert with_keyword["job"] <= without["job"]


def test_kinds_and_superseded_memories(store: OpenSearchVectorStore) -> None:
    store.upsert(
        [
            doc("f-1", "likes green tea", kind="fact"),
            doc("s-1", "summary of a talk about green tea", kind="summary"),
            doc("f-2", "used to like green coffee", kind="fact", valid=False),
        ]
    )
    store.refresh()
    vector = random_vector(7)
    everything = {h.memory_id for h in store.search("demo", "u-alice", text="green", vector=vector)}
    assert everything == {"f-1", "s-1"}
    facts = {h.memory_id for h in store.search("demo", "u-alice", text="green", vector=vector, kinds=["fact"])}
    assert facts == {"f-1"}
    with_history = store.search("demo", "u-alice", text="green", vector=vector, include_invalid=True)
    assert {h.memory_id for h in with_history} == {"f-1", "s-1", "f-2"}
    assert store.search("demo", "u-alice", text="green", vector=vector, kinds=[]) == []


def test_k_limits_the_results(store: OpenSearchVectorStore) -> None:
    store.upsert([doc(f"m-{i}", f"note {i} about tea") for i in range(12)])
    store.refresh()
    assert len(store.search("demo", "u-alice", text="tea", vector=random_vector(1), k=4)) == 4
    assert len(store.search("demo", "u-alice", text="tea", vector=random_vector(1))) == 10


# Isolation ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_users(store: OpenSearchVectorStore) -> OpenSearchVectorStore:
    store.upsert(
        [
            doc("a-1", "alice keeps her passport in the blue drawer", user="u-alice"),
            doc("a-2", "alice's bank PIN hint is her cat's birthday", user="u-alice"),
            doc("b-1", "bob keeps his passport in the red box", user="u-bob"),
            doc("b-2", "bob's bank PIN hint is his dog's name", user="u-bob"),
            doc("c-1", "carol in another tenant keeps her passport at work", tenant="other", user="u-alice"),
        ]
    )
    store.refresh()
    return store


@pytest.mark.parametrize("attack", ATTACKS)
def test_crafted_ids_are_refused(two_users: OpenSearchVectorStore, attack: str) -> None:
    vector = random_vector(1)
    with pytest.raises(InvalidMemoryInputError):
        two_users.search("demo", attack, text="passport", vector=vector)
    with pytest.raises(InvalidMemoryInputError):
        two_users.search(attack, "u-alice", text="passport", vector=vector)
    with pytest.raises(InvalidMemoryInputError):
        two_users.search("demo", "u-alice", text="passport", vector=vector, kinds=[attack])
    with pytest.raises(InvalidMemoryInputError):
        two_users.delete_user("demo", attack)
    with pytest.raises(InvalidMemoryInputError):
        two_users.delete("demo", "u-alice", [attack])
    with pytest.raises(InvalidMemoryInputError):
        two_users.count(attack, "u-alice")


@pytest.mark.parametrize(
    "text",
    [
        "passport",
        "bob passport red box",
        'passport" OR user_id:"u-bob',
        "*:*",
        '{"term": {"user_id": "u-bob"}}',
        "user_id:u-bob OR tenant_id:other",
        "passport " * 200,
    ],
)
def test_crafted_text_only_reaches_the_users_own_memories(two_users: OpenSearchVectorStore, text: str) -> None:
    for vector_seed in (1, hash("b-1") % 2**32):
        hits = two_users.search("demo", "u-alice", text=text, vector=random_vector(vector_seed), k=50)
        assert {h.memory_id for h in hits} <= {"a-1", "a-2"}
        assert hits, "the user's own memories are still found"


@pytest.mark.parametrize("user", ["*", "u-*", "u-bob OR u-alice", "u-alice,u-bob", ""])
def test_term_filters_are_exact_even_without_validation(two_users: OpenSearchVectorStore, user: str) -> None:
    # The query the adapter builds, sent as is with a crafted user id: the server matches nobody.
    body = hybrid_query("demo", user, text="passport", vector=random_vector(1), k=50)
    response = two_users.client.search(index=two_users.index, body=body, params={"search_pipeline": two_users.pipeline})
    assert response["hits"]["hits"] == []


def test_delete_and_delete_user_leave_others_intact(two_users: OpenSearchVectorStore) -> None:
    two_users.delete("demo", "u-alice", ["a-1", "b-1", "missing"])  # b-1 is bob's: untouched
    two_users.refresh()
    assert two_users.count("demo", "u-alice") == 1
    assert two_users.count("demo", "u-bob") == 2
    two_users.upsert([doc("a-3", "written just before the erasure")])  # not yet refreshed
    assert two_users.delete_user("demo", "u-alice") == 2
    assert two_users.count("demo", "u-alice") == 0
    assert two_users.count("demo", "u-bob") == 2
    assert two_users.count("other", "u-alice") == 1
    assert two_users.delete_user("demo", "u-alice") == 0


# Errors ------------------------------------------------------------------------------------------------


def test_bad_input_is_a_typed_error(store: OpenSearchVectorStore) -> None:
    good = doc("m-1", "text")
    cases: list[Callable[[], Any]] = [
        lambda: store.search("demo", "u-alice", text="x", vector=[0.1] * 10),
        lambda: store.search("demo", "u-alice", text="x", vector=[0.0] * DIMENSION),
        lambda: store.search("demo", "u-alice", text="x", vector=[float("nan")] * DIMENSION),
        lambda: store.search("demo", "u-alice", text="x", vector=random_vector(1), k=0),
        lambda: store.search("demo", "u-alice", text="x" * 40_000, vector=random_vector(1)),
        lambda: store.upsert([doc("m-1", "  ")]),
        lambda: store.upsert([good, doc("m 2", "bad id")]),
        lambda: store.upsert([doc("m-3", "x", kind="Fact!")]),
        lambda: store.upsert([doc("m-4", "x", vector=[1.0] * 3)]),
        lambda: store.upsert([doc("m-5", "x", source_ids=("ok", "not ok"))]),
    ]
    for case in cases:
        with pytest.raises(InvalidMemoryInputError):
            case()
    store.refresh()
    assert store.count("demo", "u-alice") == 0  # a batch with a bad document writes nothing


def test_partial_bulk_failure_names_the_failed_ids(opensearch_server: OpenSearchServer) -> None:
    settings = settings_for(opensearch_server.url)
    adapter = OpenSearchVectorStore(settings)
    adapter.ensure_ready()
    # An index changed behind our back: session_id became a number.
    client = raw_client(opensearch_server)
    client.indices.delete(index=settings.memory_index)
    from luma.memory.vectors import index_body

    body = index_body()
    body["mappings"]["properties"]["session_id"] = {"type": "long"}
    client.indices.create(index=settings.memory_index, body=body)
    secret = "the patient's private note"
    with pytest.raises(VectorStoreBulkError) as caught:
        adapter.upsert([doc("ok-1", secret, session_id=None), doc("bad-1", secret, session_id="s-1")])
    assert caught.value.failed_ids == ("bad-1",)
    assert caught.value.failed == {"bad-1": "mapper_parsing_exception"}
    assert secret not in str(caught.value)
    adapter.refresh()
    assert adapter.count("demo", "u-alice") == 1


def test_missing_index_and_unreachable_server_are_typed(opensearch_server: OpenSearchServer) -> None:
    adapter = OpenSearchVectorStore(settings_for(opensearch_server.url))  # ensure_ready never called
    with pytest.raises(VectorStoreRequestError) as caught:
        adapter.search("demo", "u-alice", text="x", vector=random_vector(1))
    assert caught.value.status == 404
    assert caught.value.error_type == "index_not_found_exception"
    down = start_opensearch()
    url = down.url
    down.stop()
    with pytest.raises(VectorStoreUnavailableError):
        OpenSearchVectorStore(settings_for(url, opensearch_timeout_s=1)).count("demo", "u-alice")


def test_open_vector_store_overrides_url_and_index(opensearch_server: OpenSearchServer) -> None:
    adapter = open_vector_store(opensearch_server.url, index="memory-opened")
    assert adapter.index == "memory-opened"
    adapter.ensure_ready()
    assert raw_client(opensearch_server).indices.exists(index="memory-opened")


# SigV4 ------------------------------------------------------------------------------------------------


REGION = Settings().region


@pytest.fixture
def signed_server() -> Iterator[OpenSearchServer]:
    from luma.aws import boto_session

    credentials = boto_session().get_credentials().get_frozen_credentials()
    server = start_opensearch(sigv4=SigV4(credentials.access_key, credentials.secret_key, REGION, "es"))
    yield server
    server.stop()


def test_sigv4_signatures_are_sent_and_verified(signed_server: OpenSearchServer) -> None:
    settings = settings_for(signed_server.url, opensearch_sigv4=True)
    adapter = OpenSearchVectorStore(settings)
    adapter.ensure_ready()
    adapter.upsert([doc("m-1", "signed write")])
    adapter.refresh()
    assert adapter.search("demo", "u-alice", text="signed", vector=random_vector(1))[0].memory_id == "m-1"
    requests = list(signed_server.requests)
    assert requests and all(r.status != 403 for r in requests)  # every signature verified
    for request in requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        assert f"/{REGION}/es/aws4_request" in headers["authorization"]
        assert "x-amz-date" in headers
        assert "x-amz-content-sha256" in headers


def test_unsigned_or_wrongly_signed_requests_are_refused(signed_server: OpenSearchServer) -> None:
    unsigned = OpenSearchVectorStore(settings_for(signed_server.url, opensearch_sigv4=False))
    with pytest.raises(VectorStoreRequestError) as caught:
        unsigned.count("demo", "u-alice")
    assert caught.value.status == 403
    wrong_service = OpenSearchVectorStore(
        settings_for(signed_server.url, opensearch_sigv4=True, opensearch_service="aoss")
    )
    with pytest.raises(VectorStoreRequestError) as caught:
        wrong_service.count("demo", "u-alice")
    assert caught.value.status == 403


def test_signing_is_derived_from_the_host_when_not_set() -> None:
    from luma.memory.vectors import _signing

    unset = {"opensearch_sigv4": None}  # whatever a local stack started earlier put in the environment
    assert _signing(Settings(opensearch_url="https://search-x.eu-west-1.es.amazonaws.com", **unset))
    assert _signing(
        Settings(opensearch_url="https://abc.eu-west-1.aoss.amazonaws.com", opensearch_service="aoss", **unset)
    )
    assert not _signing(Settings(opensearch_url="http://127.0.0.1:9200", **unset))
    assert not _signing(Settings(opensearch_url="https://search.example.com", opensearch_sigv4=False))
    assert _signing(Settings(opensearch_url="https://search.example.com", opensearch_sigv4=True))


# Serverless -------------------------------------------------------------------------------------------


@pytest.fixture
def serverless() -> Iterator[OpenSearchServer]:
    server = start_opensearch(distribution="amazon-serverless", refresh_interval_s=0.05)
    yield server
    server.stop()


def test_serverless_mode_works_without_ids_refresh_or_delete_by_query(serverless: OpenSearchServer) -> None:
    adapter = OpenSearchVectorStore(settings_for(serverless.url, opensearch_service="aoss"))
    adapter.ensure_ready()
    adapter.upsert([doc("m-1", "first version"), doc("m-2", "other memory"), doc("b-1", "bob's", user="u-bob")])
    eventually(lambda: adapter.count("demo", "u-alice") == 2)
    adapter.refresh()  # a no-op: Serverless has no _refresh
    adapter.upsert([doc("m-1", "second version")])

    def m1_texts() -> list[str]:
        hits = adapter.search("demo", "u-alice", text="version", vector=random_vector(1), k=10)
        return [h.text for h in hits if h.memory_id == "m-1"]

    # Serverless shows writes after its refresh interval: then the old copy is gone and the new one there.
    eventually(lambda: m1_texts() == ["second version"])
    assert adapter.count("demo", "u-alice") == 2
    adapter.delete("demo", "u-alice", ["m-2"])
    eventually(lambda: adapter.count("demo", "u-alice") == 1)
    assert adapter.delete_user("demo", "u-alice") == 1
    eventually(lambda: adapter.count("demo", "u-alice") == 0)
    assert adapter.count("demo", "u-bob") == 1
    paths = {r.path for r in serverless.requests}
    assert not any(p.endswith(("/_refresh", "/_delete_by_query")) for p in paths)
    for request in serverless.requests:
        if request.path == "/_bulk":
            for line in request.body.decode().splitlines():
                action = json.loads(line)
                if "index" in action or "create" in action:
                    assert "_id" not in next(iter(action.values()))


def test_serverless_search_keeps_the_newest_copy_of_a_memory(serverless: OpenSearchServer) -> None:
    adapter = OpenSearchVectorStore(settings_for(serverless.url, opensearch_service="aoss"))
    adapter.ensure_ready()
    client = OpenSearch(serverless.url)
    older = adapter._source(doc("m-1", "tea at noon"), NOW)
    newer = adapter._source(doc("m-1", "tea at five"), NOW + timedelta(minutes=1))
    client.bulk(body=[{"index": {"_index": adapter.index}}, older, {"index": {"_index": adapter.index}}, newer])
    eventually(lambda: adapter.count("demo", "u-alice") == 2)
    hits = adapter.search("demo", "u-alice", text="tea noon", vector=random_vector(1))
    assert [(h.memory_id, h.text) for h in hits] == [("m-1", "tea at five")]


# The adapter's requests against the specification -------------------------------------------------------


def _spec_problems(server: OpenSearchServer) -> tuple[list[str], set[str]]:
    """Each request's parameters and body, and each response, against the specification's schemas."""
    spec = load_spec(VERSION)
    problems: list[str] = []
    seen: set[str] = set()
    for request in server.requests:
        route, _, _ = match_route(request.method, request.path)
        assert route is not None, request.path
        operation = spec.operation(route.method, route.template)
        assert operation is not None, route.template
        where = f"{route.method} {route.template}"
        seen.add(where)
        for name, value in request.params.items():
            param = operation.parameters.get(name)
            if param is None:
                problems.append(f"{where}: parameter {name} not in the spec")
                continue
            schema = param.get("schema")
            parsed: Any = (value == "true") if value in ("true", "false") else value
            if schema and spec.validate(schema, parsed) and spec.validate(schema, value):
                problems.append(f"{where}: {name}={value}: {spec.validate(schema, value)}")
        if request.body:
            content_type = (_header(request.headers, "content-type") or "application/json").split(";")[0]
            declared, schema = spec.request_schema(operation, content_type)
            if not declared:
                problems.append(f"{where}: no {content_type} request body in the spec")
            else:
                if content_type == "application/x-ndjson":
                    payload: Any = [json.loads(line) for line in request.body.decode().splitlines() if line.strip()]
                else:
                    payload = json.loads(request.body)
                error = spec.validate(schema, payload)
                if error:
                    problems.append(f"{where} request: {error}")
        declared, schema = spec.response_schema(operation, request.status, "application/json")
        if not declared:
            problems.append(f"{where}: no {request.status} response in the spec")
        elif request.method != "HEAD":
            error = spec.validate(schema, request.response)
            if error:
                problems.append(f"{where} {request.status} response: {error}")
    return problems, seen


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_every_request_the_adapter_sends_matches_the_spec(service: str) -> None:
    server = start_opensearch(distribution="amazon-serverless" if service == "aoss" else "opensearch")
    try:
        adapter = OpenSearchVectorStore(settings_for(server.url, opensearch_service=service))
        adapter.ensure_ready()
        adapter.upsert([doc("m-1", "likes tea"), doc("m-2", "plays chess", kind="summary")])
        adapter.refresh()
        eventually(lambda: adapter.count("demo", "u-alice") == 2)  # Serverless: after its refresh interval
        adapter.upsert([doc("m-1", "likes green tea")])
        eventually(lambda: adapter.count("demo", "u-alice") == 2)
        assert adapter.search("demo", "u-alice", text="tea", vector=random_vector(1), kinds=["fact"])
        adapter.search("demo", "u-alice", text="", vector=random_vector(2), include_invalid=True)
        adapter.count("demo", "u-alice")
        adapter.delete("demo", "u-alice", ["m-2"])
        adapter.delete_user("demo", "u-alice")
        problems, seen = _spec_problems(server)
    finally:
        server.stop()
    assert not problems, problems
    expected = {
        "HEAD /{index}",
        "PUT /{index}",
        "GET /{index}/_mapping",
        "PUT /_search/pipeline/{id}",
        "POST /_bulk",
        "POST /{index}/_search",
        "POST /{index}/_count",
    }
    if service == "es":
        expected |= {"POST /{index}/_refresh", "POST /{index}/_delete_by_query"}
    assert expected <= seen, expected - seen
