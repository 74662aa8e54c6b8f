"""The local OpenSearch-compatible engine in detail: k-NN score conversions per space type, BM25 and its
length norms, the normalization/combination/RRF math of hybrid search, query semantics, near-real-time
visibility, delete-by-query conflicts, OpenSearch-shaped errors, analysis, the Serverless differences, and
concurrent writes through the HTTP server.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.opensearch import Engine, OpenSearchError, start_opensearch
from local.opensearch import pipelines as pl
from local.opensearch.analysis import _ascii_tokenize, analyze, lowercase, unicode_tokenize
from local.opensearch.scoring import bm25_idf, bm25_term, byte4_to_int, int_to_byte4


def search(engine: Engine, index: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
    status, response = engine.search(index, body, params)
    assert status == 200
    return response


def scores(response: dict[str, Any]) -> dict[str, float]:
    return {hit["_id"]: hit["_score"] for hit in response["hits"]["hits"]}


def vector_index(engine: Engine, name: str, space: str, engine_name: str = "faiss", dim: int = 2) -> None:
    method = {"name": "hnsw", "space_type": space, "engine": engine_name}
    body = {
        "settings": {"index": {"knn": True}},
        "mappings": {"properties": {"v": {"type": "knn_vector", "dimension": dim, "method": method}}},
    }
    assert engine.create_index(name, body)[0] == 200


def put(engine: Engine, index: str, doc_id: str, source: dict[str, Any], refresh: bool = True) -> None:
    status, _ = engine.index_doc(index, doc_id, source, {"refresh": "true"} if refresh else {})
    assert status in (200, 201)


# k-NN score conversions -----------------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", ["faiss", "lucene"])
def test_l2_score_is_one_over_one_plus_squared_distance(engine_name: str) -> None:
    engine = Engine()
    vector_index(engine, "v", "l2", engine_name)
    put(engine, "v", "same", {"v": [0.0, 0.0]})
    put(engine, "v", "far", {"v": [3.0, 4.0]})
    got = scores(search(engine, "v", {"query": {"knn": {"v": {"vector": [0.0, 0.0], "k": 2}}}}))
    assert got["same"] == 1.0
    assert got["far"] == pytest.approx(1 / (1 + 25), rel=1e-6)


@pytest.mark.parametrize("engine_name", ["faiss", "lucene"])
def test_cosine_score_is_one_plus_cosine_over_two(engine_name: str) -> None:
    engine = Engine()
    vector_index(engine, "v", "cosinesimil", engine_name)
    for doc_id, v in {"same": [2.0, 0.0], "right": [0.0, 5.0], "opposite": [-1.0, 0.0], "diag": [1.0, 1.0]}.items():
        put(engine, "v", doc_id, {"v": v})
    got = scores(search(engine, "v", {"query": {"knn": {"v": {"vector": [1.0, 0.0], "k": 4}}}}))
    assert got == pytest.approx({"same": 1.0, "right": 0.5, "opposite": 0.0, "diag": (1 + 1 / math.sqrt(2)) / 2})


@pytest.mark.parametrize("engine_name", ["faiss", "lucene"])
def test_inner_product_score_branches(engine_name: str) -> None:
    engine = Engine()
    vector_index(engine, "v", "innerproduct", engine_name)
    for doc_id, v in {"positive": [2.0, 0.0], "negative": [-2.0, 0.0], "zero": [0.0, 1.0]}.items():
        put(engine, "v", doc_id, {"v": v})
    got = scores(search(engine, "v", {"query": {"knn": {"v": {"vector": [1.0, 0.0], "k": 3}}}}))
    assert got["positive"] == pytest.approx(3.0)  # dot 2 → distance -2 → -d + 1
    assert got["negative"] == pytest.approx(1 / 3)  # dot -2 → distance 2 → 1 / (1 + d)
    assert got["zero"] == pytest.approx(1.0)


def test_knn_k_filter_and_radial_search() -> None:
    engine = Engine()
    engine.create_index(
        "v",
        {
            "mappings": {
                "properties": {
                    "v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "space_type": "l2"}},
                    "owner": {"type": "keyword"},
                }
            }
        },
    )
    for i in range(10):
        put(engine, "v", f"d{i}", {"v": [float(i), 0.0], "owner": "a" if i % 2 else "b"}, refresh=False)
    engine.refresh("v", {})
    knn = {"vector": [0.0, 0.0], "k": 3}
    assert list(scores(search(engine, "v", {"query": {"knn": {"v": knn}}}))) == ["d0", "d1", "d2"]
    filtered = {**knn, "filter": {"term": {"owner": "a"}}}
    # The filter is applied before the k nearest are taken: still 3 results, all of owner a.
    assert list(scores(search(engine, "v", {"query": {"knn": {"v": filtered}}}))) == ["d1", "d3", "d5"]
    # A bool filter around a knn query filters the k results afterwards.
    post = {"bool": {"must": [{"knn": {"v": knn}}], "filter": [{"term": {"owner": "a"}}]}}
    assert list(scores(search(engine, "v", {"query": post}))) == ["d1"]
    radial = scores(search(engine, "v", {"query": {"knn": {"v": {"vector": [0.0, 0.0], "max_distance": 4.0}}}}))
    assert set(radial) == {"d0", "d1", "d2"}  # squared distances 0, 1, 4
    by_score = scores(search(engine, "v", {"query": {"knn": {"v": {"vector": [0.0, 0.0], "min_score": 0.2}}}}))
    assert set(by_score) == {"d0", "d1", "d2"}  # 1/(1+d²) ≥ 0.2


# BM25 ----------------------------------------------------------------------------------------------


def test_length_norms_are_exact_below_24_and_lossy_above() -> None:
    assert all(byte4_to_int(int_to_byte4(n)) == n for n in range(24))
    previous = 0
    for n in range(24, 5000):
        decoded = byte4_to_int(int_to_byte4(n))
        assert previous <= decoded <= n
        previous = decoded
    assert byte4_to_int(int_to_byte4(1000)) < 1000
    assert all(0 <= int_to_byte4(n) <= 255 for n in (0, 1, 10**6, 2**31 - 1))


def test_bm25_scores_follow_lucene() -> None:
    engine = Engine()
    engine.create_index("t", {"mappings": {"properties": {"body": {"type": "text"}, "tag": {"type": "keyword"}}}})
    docs = {
        "1": "the quick brown fox",
        "2": "the lazy dog",
        "3": "the quick quick dog jumps",
    }
    for doc_id, text in docs.items():
        put(engine, "t", doc_id, {"body": text, "tag": "red" if doc_id != "3" else "blue"}, refresh=False)
    engine.refresh("t", {})
    avgdl = (4 + 3 + 5) / 3

    def expected(tf: int, length: int, df: int) -> float:
        idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + 1.2 * (0.25 + 0.75 * length / avgdl))

    got = scores(search(engine, "t", {"query": {"match": {"body": "quick dog"}}}))
    assert got["1"] == pytest.approx(expected(1, 4, 2), rel=1e-5)
    assert got["2"] == pytest.approx(expected(1, 3, 2), rel=1e-5)
    assert got["3"] == pytest.approx(expected(2, 5, 2) + expected(1, 5, 2), rel=1e-5)
    assert list(got) == ["3", "2", "1"]
    # A keyword term: BM25 with norms omitted (length 1, frequency 1), so the rarer value scores higher.
    red = scores(search(engine, "t", {"query": {"term": {"tag": "red"}}}))["1"]
    blue = scores(search(engine, "t", {"query": {"term": {"tag": "blue"}}}))["3"]
    assert red == pytest.approx(bm25_term(1, 1, 1.0, bm25_idf(2, 3)), rel=1e-6)
    assert blue > red
    assert scores(search(engine, "t", {"query": {"match": {"body": {"query": "quick dog", "operator": "and"}}}})) == {
        "3": pytest.approx(got["3"])
    }


def test_bool_terms_range_exists_ids_semantics() -> None:
    engine = Engine()
    engine.create_index(
        "b",
        {"mappings": {"properties": {"k": {"type": "keyword"}, "n": {"type": "integer"}, "d": {"type": "date"}}}},
    )
    put(engine, "b", "1", {"k": "x", "n": 1, "d": "2026-01-01"}, refresh=False)
    put(engine, "b", "2", {"k": "y", "n": 2, "d": "2026-02-01T10:00:00Z"}, refresh=False)
    put(engine, "b", "3", {"k": "z", "n": 3}, refresh=False)
    engine.refresh("b", {})
    only_filter = scores(search(engine, "b", {"query": {"bool": {"filter": [{"range": {"n": {"gte": 2}}}]}}}))
    assert only_filter == {"2": 0.0, "3": 0.0}
    terms = scores(search(engine, "b", {"query": {"terms": {"k": ["x", "z"], "boost": 2.5}}}))
    assert terms == {"1": 2.5, "3": 2.5}
    should = {
        "bool": {"should": [{"term": {"k": "x"}}, {"term": {"n": 1}}, {"term": {"k": "y"}}], "minimum_should_match": 2}
    }
    assert set(scores(search(engine, "b", {"query": should}))) == {"1"}
    must_not = {"bool": {"must": [{"match_all": {}}], "must_not": [{"ids": {"values": ["2"]}}]}}
    assert set(scores(search(engine, "b", {"query": must_not}))) == {"1", "3"}
    assert set(scores(search(engine, "b", {"query": {"exists": {"field": "d"}}}))) == {"1", "2"}
    dates = {"range": {"d": {"gt": "2026-01-15", "lte": "2026-02-01T10:00:00Z"}}}
    assert set(scores(search(engine, "b", {"query": dates}))) == {"2"}


# Hybrid search ---------------------------------------------------------------------------------------


def test_normalization_math() -> None:
    assert pl.normalize_min_max([2.0, 4.0, 6.0]) == [0.001, 0.5, 1.0]
    assert pl.normalize_min_max([3.0]) == [1.0]
    assert pl.normalize_min_max([3.0, 3.0]) == [1.0, 1.0]
    assert pl.normalize_l2([3.0, 4.0]) == pytest.approx([0.6, 0.8])
    assert pl.combine("arithmetic_mean", [1.0, 0.5], (0.3, 0.7)) == pytest.approx(0.65)
    assert pl.combine("arithmetic_mean", [1.0, 0.0], ()) == pytest.approx(0.5)  # absent from one sub-query
    assert pl.combine("geometric_mean", [0.25, 1.0], (0.5, 0.5)) == pytest.approx(0.5)
    assert pl.combine("geometric_mean", [0.0, 0.64], ()) == pytest.approx(0.64)  # zeros are skipped
    assert pl.combine("harmonic_mean", [0.5, 1.0], ()) == pytest.approx(2 / 3)
    assert pl.combine("harmonic_mean", [0.0, 0.0], ()) == 0.0
    assert pl.rrf_scores(3, 60) == pytest.approx([1 / 61, 1 / 62, 1 / 63])
    with pytest.raises(OpenSearchError, match="number of weights"):
        pl.combine("arithmetic_mean", [1.0, 0.5, 0.2], (0.5, 0.5))


def test_fuse_with_rrf_and_weights() -> None:
    rrf = pl.Processor("rrf", rank_constant=10)
    fused = pl.fuse(rrf, [[(1, 9.0), (2, 5.0)], [(2, 0.9), (3, 0.1)]])
    assert fused == pytest.approx({1: 1 / 11, 2: 1 / 12 + 1 / 11, 3: 1 / 12})
    weighted = pl.Processor("rrf", rank_constant=10, weights=(0.2, 0.8))
    assert pl.fuse(weighted, [[(1, 1.0)], [(2, 1.0)]]) == pytest.approx({1: 0.2 / 11, 2: 0.8 / 11})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"phase_results_processors": [{"normalization-processor": {"combination": {"technique": "max"}}}]},
            "combination technique",
        ),
        (
            {
                "phase_results_processors": [
                    {
                        "normalization-processor": {
                            "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.5, 0.6]}}
                        }
                    }
                ]
            },
            "sum of weights",
        ),
        (
            {
                "phase_results_processors": [
                    {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 0}}}
                ]
            },
            "rank_constant",
        ),
        ({"phase_results_processors": [{"collapse": {"field": "x"}}]}, "Invalid processor type"),
        ({"request_processors": [{"filter_query": {}}]}, "not supported"),
    ],
)
def test_pipeline_definitions_are_validated(body: dict[str, Any], message: str) -> None:
    with pytest.raises(OpenSearchError, match=message):
        Engine().put_pipeline("p", body)


def _hybrid_corpus() -> Engine:
    engine = Engine()
    engine.create_index(
        "h",
        {
            "mappings": {
                "properties": {
                    "text": {"type": "text"},
                    "v": {"type": "knn_vector", "dimension": 2, "method": {"name": "hnsw", "space_type": "l2"}},
                }
            }
        },
    )
    put(engine, "h", "a", {"text": "green tea", "v": [0.0, 0.0]}, refresh=False)
    put(engine, "h", "b", {"text": "green green coffee", "v": [1.0, 0.0]}, refresh=False)
    put(engine, "h", "c", {"text": "black coffee", "v": [2.0, 0.0]}, refresh=False)
    engine.refresh("h", {})
    return engine


HYBRID = {
    "size": 3,
    "query": {"hybrid": {"queries": [{"match": {"text": "green"}}, {"knn": {"v": {"vector": [2.0, 0.0], "k": 3}}}]}},
}


def test_hybrid_min_max_weighted_mean_by_hand() -> None:
    engine = _hybrid_corpus()
    engine.put_pipeline(
        "p",
        {
            "phase_results_processors": [
                {
                    "normalization-processor": {
                        "normalization": {"technique": "min_max"},
                        "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.4, 0.6]}},
                    }
                }
            ]
        },
    )
    lexical = scores(search(engine, "h", {"query": {"match": {"text": "green"}}}))
    vector = scores(search(engine, "h", {"query": {"knn": {"v": {"vector": [2.0, 0.0], "k": 3}}}}))
    low, high = min(lexical.values()), max(lexical.values())
    norm_lex = {d: (s - low) / (high - low) or 0.001 for d, s in lexical.items()}
    vlow, vhigh = min(vector.values()), max(vector.values())
    norm_vec = {d: (s - vlow) / (vhigh - vlow) or 0.001 for d, s in vector.items()}
    expected = {d: 0.4 * norm_lex.get(d, 0.0) + 0.6 * norm_vec.get(d, 0.0) for d in "abc"}
    response = search(engine, "h", HYBRID, search_pipeline="p")
    assert scores(response) == pytest.approx(expected, rel=1e-6)
    assert list(scores(response)) == sorted(expected, key=lambda d: -expected[d])
    assert response["hits"]["total"] == {"value": 3, "relation": "eq"}


def test_hybrid_rrf_and_default_pipeline() -> None:
    engine = _hybrid_corpus()
    engine.put_pipeline(
        "r",
        {
            "phase_results_processors": [
                {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}
            ]
        },
    )
    response = search(engine, "h", HYBRID, search_pipeline="r")
    # Lexical ranks: b (tf 2), a; vector ranks (closest to [2, 0]): c, b, a.
    assert scores(response) == pytest.approx({"b": 1 / 61 + 1 / 62, "a": 1 / 62 + 1 / 63, "c": 1 / 61}, rel=1e-6)
    status, _ = engine.create_index("h2", {"settings": {"index": {"search.default_pipeline": "r"}}})
    assert status == 200
    with pytest.raises(OpenSearchError, match="needs a search pipeline"):
        search(engine, "h", HYBRID)
    with pytest.raises(OpenSearchError, match="needs a search pipeline"):
        search(engine, "h", HYBRID, search_pipeline="_none")
    with pytest.raises(OpenSearchError, match="not defined"):
        search(engine, "h", HYBRID, search_pipeline="missing")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"bool": {"must": [HYBRID["query"]]}}, "top level"),
        ({"hybrid": {"queries": [{"match_all": {}}] * 6}}, "exceeds maximum"),
        ({"hybrid": {"queries": [{"match_all": {}}], "filter": {"match_all": {}}}}, "does not support"),
    ],
)
def test_hybrid_misuse_is_refused(query: dict[str, Any], message: str) -> None:
    engine = _hybrid_corpus()
    engine.put_pipeline("p", {"phase_results_processors": [{"normalization-processor": {}}]})
    with pytest.raises(OpenSearchError, match=message):
        search(engine, "h", {"query": query}, search_pipeline="p")
    with pytest.raises(OpenSearchError, match="pagination_depth"):
        search(engine, "h", {**HYBRID, "from": 1}, search_pipeline="p")


# Near-real-time visibility and delete by query ---------------------------------------------------------


def test_writes_are_searchable_after_a_refresh_but_readable_at_once() -> None:
    engine = Engine()
    engine.create_index("n", {"settings": {"index": {"refresh_interval": "-1"}}})
    put(engine, "n", "1", {"a": "x"}, refresh=False)
    assert engine.get_doc("n", "1", {})[0] == 200
    assert engine.count("n", {}, {})[1]["count"] == 0
    engine.refresh("n", {})
    assert engine.count("n", {}, {})[1]["count"] == 1
    engine.create_index("auto", {"settings": {"index": {"refresh_interval": "50ms"}}})
    put(engine, "auto", "1", {"a": "x"}, refresh=False)
    time.sleep(0.08)
    assert engine.count("auto", {}, {})[1]["count"] == 1


def test_delete_by_query_sees_the_snapshot_and_reports_conflicts() -> None:
    engine = Engine()
    engine.create_index("q", {"settings": {"index": {"refresh_interval": "-1"}}})
    for i in range(3):
        put(engine, "q", str(i), {"n": i}, refresh=False)
    engine.refresh("q", {})
    put(engine, "q", "1", {"n": 10}, refresh=False)  # changed after the snapshot
    status, body = engine.delete_by_query("q", {"query": {"match_all": {}}}, {})
    assert status == 409
    assert body["failures"][0]["cause"]["type"] == "version_conflict_engine_exception"
    assert body["deleted"] == 1 and body["version_conflicts"] == 1
    status, body = engine.delete_by_query(
        "q", {"query": {"match_all": {}}}, {"conflicts": "proceed", "refresh": "true"}
    )
    assert status == 200
    assert (body["total"], body["deleted"], body["version_conflicts"]) == (3, 1, 2)
    remaining = search(engine, "q", {})["hits"]["hits"]
    assert [(h["_id"], h["_source"]) for h in remaining] == [("1", {"n": 10})]  # changed after the snapshot


# Errors ------------------------------------------------------------------------------------------------


def test_errors_are_shaped_like_opensearch() -> None:
    engine = Engine()
    with pytest.raises(OpenSearchError) as caught:
        engine.search("missing", {}, {})
    assert caught.value.body() == {
        "error": {
            "root_cause": [
                {
                    "type": "index_not_found_exception",
                    "reason": "no such index [missing]",
                    "index": "missing",
                    "index_uuid": "_na_",
                    "resource.type": "index_or_alias",
                    "resource.id": "missing",
                }
            ],
            "type": "index_not_found_exception",
            "reason": "no such index [missing]",
            "index": "missing",
            "index_uuid": "_na_",
            "resource.type": "index_or_alias",
            "resource.id": "missing",
        },
        "status": 404,
    }
    engine.create_index(
        "e",
        {
            "mappings": {
                "dynamic": "strict",
                "properties": {"v": {"type": "knn_vector", "dimension": 3}, "t": {"type": "text"}},
            }
        },
    )
    cases: list[tuple[Any, int, str]] = [
        (lambda: engine.create_index("e", {}), 400, "resource_already_exists_exception"),
        (lambda: engine.create_index("Bad", {}), 400, "invalid_index_name_exception"),
        (
            lambda: engine.create_index(
                "x",
                {
                    "mappings": {
                        "properties": {"v": {"type": "knn_vector", "dimension": 3, "method": {"engine": "nmslib"}}}
                    }
                },
            ),
            400,
            "mapper_parsing_exception",
        ),
        (
            lambda: engine.create_index("y", {"mappings": {"properties": {"g": {"type": "geo_point"}}}}),
            400,
            "mapper_parsing_exception",
        ),
        (
            lambda: engine.create_index("z", {"settings": {"index": {"frobnicate": 1}}}),
            400,
            "illegal_argument_exception",
        ),
        (lambda: engine.index_doc("e", "1", {"v": [1, 2]}, {}), 400, "mapper_parsing_exception"),
        (lambda: engine.index_doc("e", "1", {"other": 1}, {}), 400, "strict_dynamic_mapping_exception"),
        (
            lambda: engine.search("e", {"query": {"knn": {"v": {"vector": [1, 2], "k": 1}}}}, {}),
            400,
            "illegal_argument_exception",
        ),
        (
            lambda: engine.search("e", {"query": {"knn": {"v": {"vector": [1, 2, 3]}}}}, {}),
            400,
            "illegal_argument_exception",
        ),
        (lambda: engine.search("e", {"query": {"frobnicate": {}}}, {}), 400, "parsing_exception"),
        (lambda: engine.search("e", {"query": {"match_phrase": {"t": "x"}}}, {}), 400, "parsing_exception"),
        (lambda: engine.search("e", {"aggs": {}}, {}), 400, "parsing_exception"),
        (lambda: engine.search("e", {"sort": ["t"]}, {}), 400, "illegal_argument_exception"),
        (lambda: engine.search("e", {"size": 10_001}, {}), 400, "illegal_argument_exception"),
        (
            lambda: (
                engine.index_doc("e", "1", {"t": "a"}, {"op_type": "create"})
                and engine.index_doc("e", "1", {"t": "b"}, {"op_type": "create"})
            ),
            409,
            "version_conflict_engine_exception",
        ),
        (lambda: engine.update_doc("e", "nope", {"doc": {"t": "x"}}, {}), 404, "document_missing_exception"),
    ]
    for call, status, error_type in cases:
        with pytest.raises(OpenSearchError) as caught:
            call()
        assert (caught.value.status, caught.value.error_type) == (status, error_type), error_type


def test_bulk_reports_each_item() -> None:
    engine = Engine()
    engine.create_index("k", {"mappings": {"properties": {"n": {"type": "integer"}}}})
    lines = [
        {"index": {"_index": "k", "_id": "1"}},
        {"n": 1},
        {"create": {"_index": "k", "_id": "1"}},
        {"n": 2},
        {"index": {"_index": "k", "_id": "2"}},
        {"n": "not a number"},
        {"update": {"_index": "k", "_id": "1"}},
        {"doc": {"n": 5}},
        {"delete": {"_index": "k", "_id": "9"}},
    ]
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    status, body = engine.bulk(None, payload, {})
    assert status == 200 and body["errors"] is True
    results = [(next(iter(item)), next(iter(item.values()))["status"]) for item in body["items"]]
    assert results == [("index", 201), ("create", 409), ("index", 400), ("update", 200), ("delete", 404)]
    assert engine.get_doc("k", "1", {})[1]["_source"] == {"n": 5}
    with pytest.raises(OpenSearchError, match="terminated by a newline"):
        engine.bulk("k", payload.rstrip(b"\n"), {})


# Analysis ----------------------------------------------------------------------------------------------


def test_standard_analyzer() -> None:
    def terms(text: str) -> list[str]:
        return [t.term for t in analyze(text)]

    assert terms("Don't stop: U.S.A. costs 3.14 or 1,000 — foo_bar e-mail") == [
        "don't",
        "stop",
        "u.s.a",
        "costs",
        "3.14",
        "or",
        "1,000",
        "foo_bar",
        "e",
        "mail",
    ]
    assert terms("東京タワーに行く") == ["東", "京", "タワー", "に", "行", "く"]
    tokens = analyze("a 😀 b")
    assert [(t.term, t.start, t.end) for t in tokens] == [("a", 0, 1), ("b", 5, 6)]  # UTF-16 offsets
    assert lowercase("İSTANBUL") == "istanbul"
    assert terms("x" * 300) == ["x" * 255, "x" * 45]


def test_analyze_by_field_uses_the_field_analyzer() -> None:
    engine = Engine()
    engine.create_index("a", {"mappings": {"properties": {"t": {"type": "text"}, "k": {"type": "keyword"}}}})
    status, body = engine.analyze("a", {"field": "t", "text": ["Green TEA", "x"]})
    assert status == 200
    assert [(t["token"], t["start_offset"], t["position"]) for t in body["tokens"]] == [
        ("green", 0, 0),
        ("tea", 6, 1),
        ("x", 10, 102),
    ]
    assert [t["token"] for t in engine.analyze("a", {"field": "k", "text": "Green TEA"})[1]["tokens"]] == ["Green TEA"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcXY019_.,;:'- !\t", max_size=40), st.integers(min_value=1, max_value=8))
def test_ascii_fast_path_tokenizes_like_the_general_rules(text: str, max_length: int) -> None:
    assert _ascii_tokenize(text, max_length) == unicode_tokenize(text, max_length)


# Serverless and concurrency -------------------------------------------------------------------------------


def _request(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def test_serverless_distribution_refuses_what_serverless_refuses() -> None:
    server = start_opensearch(distribution="amazon-serverless")
    try:
        assert _request(server.url, "PUT", "/s", {})[0] == 200
        assert _request(server.url, "PUT", "/s/_doc/1", {"a": 1})[0] == 400
        assert _request(server.url, "POST", "/s/_doc", {"a": 1})[0] == 201
        assert _request(server.url, "POST", "/s/_refresh")[0] == 404
        assert _request(server.url, "POST", "/s/_delete_by_query", {"query": {"match_all": {}}})[0] == 404
        assert _request(server.url, "GET", "/")[0] == 404
        assert _request(server.url, "POST", "/s/_doc?refresh=true", {"a": 1})[0] == 400
    finally:
        server.stop()


def test_unknown_parameters_and_methods_are_refused_like_opensearch() -> None:
    server = start_opensearch()
    try:
        status, body = _request(server.url, "GET", "/_search?frobnicate=1")
        assert status == 400 and "unrecognized parameter: [frobnicate]" in body["error"]["reason"]
        status, body = _request(server.url, "PATCH", "/_search")
        assert status == 405 and "Incorrect HTTP method" in body["error"]
    finally:
        server.stop()


def test_concurrent_writes_through_http() -> None:
    server = start_opensearch()
    try:
        _request(server.url, "PUT", "/c", {"mappings": {"properties": {"n": {"type": "integer"}}}})
        errors: list[Any] = []
        seq_nos: list[int] = []
        lock = threading.Lock()

        def writer(worker: int) -> None:
            for i in range(40):
                for method, path, body in (
                    ("PUT", f"/c/_doc/{worker}-{i}", {"n": i}),
                    ("POST", "/c/_update/shared", {"doc": {"n": worker * 100 + i}, "doc_as_upsert": True}),
                ):
                    status, response = _request(server.url, method, path, body)
                    with lock:
                        if status not in (200, 201):
                            errors.append(status)
                        elif response["result"] != "noop":
                            seq_nos.append(response["_seq_no"])

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(seq_nos) == list(range(len(seq_nos)))  # one sequence number per write, none lost
        _request(server.url, "POST", "/c/_refresh")
        assert _request(server.url, "GET", "/c/_count")[1]["count"] == 8 * 40 + 1
        assert _request(server.url, "GET", "/c/_doc/shared")[1]["_version"] == 8 * 40
    finally:
        server.stop()
