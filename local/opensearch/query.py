"""The query DSL subset: parsing into query nodes and exact evaluation over a :class:`Segment`.

Each node returns the matching documents (segment positions) with their scores. Scores follow Lucene:
BM25 for ``match``/``term`` on text and keyword fields, constant scores for ``terms``, ``range``,
``exists``, ``ids`` and non-text ``term`` queries, sums for ``bool``, exact k-NN scores for ``knn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import scoring
from .analysis import analyze
from .errors import OpenSearchError, bad_request, parsing
from .index import Segment
from .mapping import NUMERIC_TYPES, Field, parse_boolean, parse_date, parse_number

Hits = dict[int, float]  # segment position → score
SourceLookup = Callable[[str, str], dict[str, Any] | None]  # (index, id) → source, for terms lookup

K_MAX = 10_000
MAX_HYBRID_QUERIES = 5
SUPPORTED = (
    "bool, constant_score, dis_max, exists, hybrid, ids, knn, match, match_all, match_none, multi_match, range, "
    "term, terms"
)


@dataclass
class Context:
    """What evaluation needs besides the query."""

    segment: Segment
    index: str
    lookup: SourceLookup
    top_level: bool = True
    # Only these documents can match (the intersection of enclosing filters): queries may skip the others.
    restrict: set[int] | None = None

    def inner(self, restrict: set[int] | None = None) -> Context:
        return Context(self.segment, self.index, self.lookup, top_level=False, restrict=restrict)


class Query:
    """A parsed query."""

    def evaluate(self, ctx: Context) -> Hits:
        raise NotImplementedError

    def matches(self, ctx: Context) -> set[int]:
        """The matching documents without their scores (filter context)."""
        return set(self.evaluate(ctx))


# Leaf queries -------------------------------------------------------------------------------------


@dataclass
class MatchAll(Query):
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        return dict.fromkeys(range(len(ctx.segment.docs)), self.boost)


@dataclass
class MatchNone(Query):
    def evaluate(self, ctx: Context) -> Hits:
        return {}


@dataclass
class Ids(Query):
    values: list[str]
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        positions = ctx.segment.positions
        return {positions[v]: self.boost for v in self.values if v in positions}


@dataclass
class Exists(Query):
    field: str
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        prefix = self.field + "."
        return {
            pos: self.boost
            for pos, doc in enumerate(ctx.segment.docs)
            if any(p == self.field or p.startswith(prefix) for p in doc.indexed.present)
        }


@dataclass
class TermQuery(Query):
    """One exact value on one field (``term``, and what ``match`` becomes on non-text fields)."""

    field: str
    value: Any
    boost: float = 1.0
    case_insensitive: bool = False

    def evaluate(self, ctx: Context) -> Hits:
        if self.field == "_id":
            return Ids([str(self.value)], self.boost).evaluate(ctx)
        mapped = ctx.segment.mappings.fields.get(self.field)
        if mapped is None:
            return {}
        if mapped.type == "text":
            term = str(self.value)
            if self.case_insensitive:
                return _constant(_text_positions(ctx.segment, self.field, term, True), self.boost)
            return _bm25(ctx.segment, self.field, [term], self.boost, required=0, restrict=ctx.restrict)
        if mapped.type == "keyword":
            if self.case_insensitive:
                return _constant(_exact_positions(ctx.segment, mapped, [self.value], True), self.boost)
            return _keyword_bm25(ctx.segment, self.field, _keyword_value(self.value), self.boost)
        if mapped.type == "knn_vector":
            raise bad_request(f"Field [{self.field}] of type [knn_vector] does not support term queries")
        return _constant(_exact_positions(ctx.segment, mapped, [self.value], False), self.boost)

    def matches(self, ctx: Context) -> set[int]:
        mapped = ctx.segment.mappings.fields.get(self.field)
        if self.field == "_id" or mapped is None or mapped.type in ("text", "knn_vector"):
            return set(self.evaluate(ctx))
        return _exact_positions(ctx.segment, mapped, [self.value], self.case_insensitive)


@dataclass
class Terms(Query):
    field: str
    values: list[Any]
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        if self.field == "_id":
            return Ids([str(v) for v in self.values], self.boost).evaluate(ctx)
        mapped = ctx.segment.mappings.fields.get(self.field)
        if mapped is None or not self.values:
            return {}
        if mapped.type == "text":
            positions: set[int] = set()
            for value in self.values:
                positions |= _text_positions(ctx.segment, self.field, str(value), False)
            return _constant(positions, self.boost)
        return _constant(_exact_positions(ctx.segment, mapped, self.values, False), self.boost)


@dataclass
class TermsLookup(Query):
    field: str
    index: str
    id: str
    path: str
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        source = ctx.lookup(self.index, self.id)
        if source is None:
            return {}
        values: list[Any] = []
        _collect(source, self.path.split("."), values)
        return Terms(self.field, values, self.boost).evaluate(ctx)


@dataclass
class Range(Query):
    field: str
    bounds: dict[str, Any]
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        mapped = ctx.segment.mappings.fields.get(self.field)
        if mapped is None:
            return {}
        if mapped.type == "knn_vector":
            raise bad_request(f"Field [{self.field}] of type [knn_vector] does not support range queries")
        convert = _converter(mapped)
        low = {k: convert(v) for k, v in self.bounds.items() if k in ("gt", "gte") and v is not None}
        high = {k: convert(v) for k, v in self.bounds.items() if k in ("lt", "lte") and v is not None}

        def inside(value: Any) -> bool:
            if "gt" in low and not value > low["gt"]:
                return False
            if "gte" in low and not value >= low["gte"]:
                return False
            if "lt" in high and not value < high["lt"]:
                return False
            return not ("lte" in high and not value <= high["lte"])

        positions: set[int] = set()
        if mapped.type == "text":
            for term, postings in ctx.segment.text_postings.get(self.field, {}).items():
                if inside(term):
                    positions |= set(postings)
        else:
            for value, found in ctx.segment.exact_postings.get(self.field, {}).items():
                if inside(value):
                    positions |= found
        return _constant(positions, self.boost)


@dataclass
class Match(Query):
    field: str
    query: Any
    operator: str = "or"
    minimum_should_match: Any = None
    boost: float = 1.0
    analyzer: str | None = None
    zero_terms_query: str = "none"

    def evaluate(self, ctx: Context) -> Hits:
        mapped = ctx.segment.mappings.fields.get(self.field)
        if mapped is None:
            return {}
        if mapped.type != "text":
            return TermQuery(self.field, self.query, self.boost).evaluate(ctx)
        terms = [t.term for t in analyze(str(self.query), self.analyzer or mapped.search_analyzer)]
        if not terms:
            return MatchAll(self.boost).evaluate(ctx) if self.zero_terms_query == "all" else {}
        if self.operator == "and":
            required = len(terms)
        else:
            required = _minimum_should_match(self.minimum_should_match, len(terms))
        return _bm25(ctx.segment, self.field, terms, self.boost, required=max(required, 1), restrict=ctx.restrict)


@dataclass
class Knn(Query):
    field: str
    vector: list[float]
    k: int | None = None
    max_distance: float | None = None
    min_score: float | None = None
    filter: Query | None = None
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        mapped = ctx.segment.mappings.fields.get(self.field)
        if mapped is None:
            raise bad_request(f"Field '{self.field}' is not knn_vector type.")
        if mapped.type != "knn_vector":
            raise bad_request(f"Field '{self.field}' is not knn_vector type.")
        if len(self.vector) != mapped.dimension:
            raise bad_request(
                f"Query vector has invalid dimension: {len(self.vector)}. Dimension should be: {mapped.dimension}"
            )
        query = np.asarray(self.vector, dtype=np.float32)
        if mapped.space_type == "cosinesimil" and not np.any(query):
            raise bad_request("zero vector is not supported when space type is [cosinesimil]")
        stored = ctx.segment.vectors.get(self.field)
        if stored is None:
            return {}
        positions, matrix = stored
        if self.filter is not None:  # efficient filtering: the k nearest among the documents the filter matches
            allowed = self.filter.matches(ctx.inner())
            keep = np.isin(positions, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            positions, matrix = positions[keep], matrix[keep]
        if len(positions) == 0:
            return {}
        dist = scoring.distances(mapped.space_type, query, matrix).astype(np.float64)
        scores = scoring.scores_from_distances(mapped.space_type, dist)
        if self.max_distance is not None:
            chosen = np.nonzero(dist <= self.max_distance)[0]
        elif self.min_score is not None:
            chosen = np.nonzero(scores >= self.min_score)[0]
        else:
            assert self.k is not None
            # Closest first; ties in index order, like an exact search over doc ids.
            order = np.lexsort((positions, -scores))
            chosen = order[: self.k]
        return {int(positions[i]): scoring.float32(float(scores[i]) * self.boost) for i in chosen}


# Compound queries ---------------------------------------------------------------------------------


@dataclass
class Bool(Query):
    must: list[Query] = field(default_factory=list)
    should: list[Query] = field(default_factory=list)
    filter: list[Query] = field(default_factory=list)
    must_not: list[Query] = field(default_factory=list)
    minimum_should_match: Any = None
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        if not (self.must or self.should or self.filter or self.must_not):
            return MatchAll(self.boost).evaluate(ctx)
        # Filters first: the scoring clauses then only look at the documents that can still match.
        candidates: set[int] | None = ctx.restrict
        for clause in self.filter:
            found = clause.matches(ctx.inner(candidates))
            candidates = found if candidates is None else candidates & found
        scores: dict[int, float] = {}
        for clause in self.must:
            hits = clause.evaluate(ctx.inner(candidates))
            candidates = set(hits) if candidates is None else candidates & set(hits)
            for pos, score in hits.items():
                scores[pos] = scores.get(pos, 0.0) + score
        default_msm = 0 if (self.must or self.filter) else 1
        required = (
            default_msm
            if self.minimum_should_match is None
            else _minimum_should_match(self.minimum_should_match, len(self.should))
        )
        if self.should:
            counts: dict[int, int] = {}
            for clause in self.should:
                for pos, score in clause.evaluate(ctx.inner(candidates)).items():
                    if candidates is not None and pos not in candidates:
                        continue
                    counts[pos] = counts.get(pos, 0) + 1
                    scores[pos] = scores.get(pos, 0.0) + score
            if required > 0:
                matched = {pos for pos, n in counts.items() if n >= required}
                candidates = matched if candidates is None else candidates & matched
        if candidates is None:
            candidates = ctx.segment.all_positions()
        for clause in self.must_not:
            candidates = candidates - clause.matches(ctx.inner(candidates))
        return {pos: scores.get(pos, 0.0) * self.boost for pos in candidates}


@dataclass
class ConstantScore(Query):
    filter: Query
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        return _constant(set(self.filter.evaluate(ctx)), self.boost)


@dataclass
class DisMax(Query):
    queries: list[Query]
    tie_breaker: float = 0.0
    boost: float = 1.0

    def evaluate(self, ctx: Context) -> Hits:
        per_query = [q.evaluate(ctx) for q in self.queries]
        out: dict[int, float] = {}
        for pos in set().union(*per_query) if per_query else set():
            scores = [hits[pos] for hits in per_query if pos in hits]
            best = max(scores)
            out[pos] = (best + self.tie_breaker * (sum(scores) - best)) * self.boost
        return out


@dataclass
class Hybrid(Query):
    """Only valid at the top level; the search phase runs each sub-query on its own."""

    queries: list[Query]
    pagination_depth: int | None = None

    def evaluate(self, ctx: Context) -> Hits:
        raise bad_request("hybrid query must be a top level query and cannot be wrapped into other queries")


# Parsing ------------------------------------------------------------------------------------------


def parse_query(body: Any, *, top_level: bool = True) -> Query:
    """Parse one query object (``{"match": {...}}``)."""
    if not isinstance(body, dict) or len(body) != 1:
        if isinstance(body, dict) and not body:
            raise parsing("query malformed, empty clause found")
        raise parsing("[_na] query malformed, no start_object after query name")
    name, spec = next(iter(body.items()))
    parser = _PARSERS.get(name)
    if parser is None:
        known_elsewhere = {
            "match_phrase",
            "match_phrase_prefix",
            "query_string",
            "simple_query_string",
            "prefix",
            "wildcard",
            "regexp",
            "fuzzy",
            "nested",
            "script",
            "script_score",
            "function_score",
            "geo_distance",
            "geo_bounding_box",
            "neural",
            "boosting",
            "terms_set",
            "intervals",
        }
        if name in known_elsewhere:
            raise parsing(f"query [{name}] is not supported by this server (supported: {SUPPORTED})")
        raise parsing(f"unknown query [{name}]")
    if name == "hybrid" and not top_level:
        raise bad_request("hybrid query must be a top level query and cannot be wrapped into other queries")
    return parser(spec)


def _field_spec(name: str, spec: Any) -> tuple[str, Any]:
    if not isinstance(spec, dict):
        raise parsing(f"[{name}] query malformed, no start_object after query name")
    fields = [k for k in spec if k not in ("boost", "_name")]
    if len(fields) != 1:
        raise parsing(
            f"[{name}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]"
            if len(fields) > 1
            else f"[{name}] query malformed, no field"
        )
    return fields[0], spec[fields[0]]


def _boost(spec: Any) -> float:
    if isinstance(spec, dict) and "boost" in spec:
        try:
            return float(spec["boost"])
        except (TypeError, ValueError):
            raise parsing("[boost] must be a number") from None
    return 1.0


def _check_keys(name: str, spec: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed - {"boost", "_name"}
    if unknown:
        raise parsing(f"[{name}] query does not support [{sorted(unknown)[0]}]")


def _parse_term(spec: Any) -> Query:
    name, value = _field_spec("term", spec)
    if isinstance(value, dict):
        _check_keys("term", value, {"value", "case_insensitive"})
        if "value" not in value:
            raise parsing("[term] query requires a value")
        return TermQuery(name, value["value"], _boost(value), bool(value.get("case_insensitive", False)))
    return TermQuery(name, value, 1.0)


def _parse_terms(spec: Any) -> Query:
    if not isinstance(spec, dict):
        raise parsing("[terms] query malformed, no start_object after query name")
    boost = _boost(spec)
    fields = [k for k in spec if k not in ("boost", "_name", "value_type")]
    if len(fields) != 1:
        raise parsing("[terms] query does not support multiple fields")
    name, values = fields[0], spec[fields[0]]
    if isinstance(values, dict):
        missing = [k for k in ("index", "id", "path") if k not in values]
        if missing:
            raise parsing(f"[terms] query lookup element requires specifying the {missing[0]}")
        return TermsLookup(name, str(values["index"]), str(values["id"]), str(values["path"]), boost)
    if not isinstance(values, list):
        raise parsing(f"[terms] query does not support [{name}]")
    return Terms(name, values, boost)


def _parse_match(spec: Any) -> Query:
    name, value = _field_spec("match", spec)
    if isinstance(value, dict):
        _check_keys(
            "match",
            value,
            {
                "query",
                "operator",
                "minimum_should_match",
                "analyzer",
                "zero_terms_query",
                "lenient",
                "auto_generate_synonyms_phrase_query",
                "fuzziness",
                "prefix_length",
                "max_expansions",
            },
        )
        if "query" not in value:
            raise parsing(f"[match] query requires a query for field [{name}]")
        if value.get("fuzziness") not in (None, 0, "0"):
            raise parsing("[match] fuzziness is not supported by this server")
        operator = str(value.get("operator", "or")).lower()
        if operator not in ("or", "and"):
            raise bad_request(f"operator [{operator}] is not allowed")
        return Match(
            name,
            value["query"],
            operator,
            value.get("minimum_should_match"),
            _boost(value),
            value.get("analyzer"),
            str(value.get("zero_terms_query", "none")).lower(),
        )
    return Match(name, value)


def _parse_multi_match(spec: Any) -> Query:
    if not isinstance(spec, dict) or "query" not in spec:
        raise parsing("[multi_match] requires query value")
    _check_keys(
        "multi_match",
        spec,
        {
            "query",
            "fields",
            "type",
            "operator",
            "minimum_should_match",
            "tie_breaker",
            "analyzer",
            "zero_terms_query",
            "lenient",
        },
    )
    kind = spec.get("type", "best_fields")
    if kind not in ("best_fields", "most_fields"):
        raise parsing(f"[multi_match] type [{kind}] is not supported by this server (best_fields, most_fields)")
    fields = spec.get("fields") or []
    if isinstance(fields, str):
        fields = [fields]
    matches: list[Query] = []
    for entry in fields:
        name, _, weight = str(entry).partition("^")
        matches.append(
            Match(
                name,
                spec["query"],
                str(spec.get("operator", "or")).lower(),
                spec.get("minimum_should_match"),
                float(weight) if weight else 1.0,
                spec.get("analyzer"),
            )
        )
    if not matches:
        raise parsing("[multi_match] requires fields (this server has no default field)")
    if kind == "most_fields":
        return Bool(should=matches, boost=_boost(spec))
    return DisMax(matches, float(spec.get("tie_breaker", 0.0)), _boost(spec))


def _parse_range(spec: Any) -> Query:
    name, value = _field_spec("range", spec)
    if not isinstance(value, dict):
        raise parsing(f"[range] query malformed, no start_object after field [{name}]")
    _check_keys(
        "range",
        value,
        {"gt", "gte", "lt", "lte", "from", "to", "include_lower", "include_upper", "format", "relation", "time_zone"},
    )
    bounds = {k: value[k] for k in ("gt", "gte", "lt", "lte") if k in value}
    if "from" in value:
        bounds["gte" if value.get("include_lower", True) else "gt"] = value["from"]
    if "to" in value:
        bounds["lte" if value.get("include_upper", True) else "lt"] = value["to"]
    return Range(name, bounds, _boost(value))


def _parse_exists(spec: Any) -> Query:
    if not isinstance(spec, dict) or "field" not in spec:
        raise parsing("[exists] must be provided with a [field]")
    _check_keys("exists", spec, {"field"})
    return Exists(str(spec["field"]), _boost(spec))


def _parse_ids(spec: Any) -> Query:
    if not isinstance(spec, dict) or not isinstance(spec.get("values", []), list):
        raise parsing("[ids] query malformed, [values] must be an array")
    _check_keys("ids", spec, {"values", "type"})
    return Ids([str(v) for v in spec.get("values", [])], _boost(spec))


def _clauses(value: Any, name: str) -> list[Query]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [parse_query(item, top_level=False) for item in items]


def _parse_bool(spec: Any) -> Query:
    if not isinstance(spec, dict):
        raise parsing("[bool] query malformed, no start_object after query name")
    _check_keys("bool", spec, {"must", "should", "filter", "must_not", "minimum_should_match", "adjust_pure_negative"})
    return Bool(
        must=_clauses(spec.get("must"), "must"),
        should=_clauses(spec.get("should"), "should"),
        filter=_clauses(spec.get("filter"), "filter"),
        must_not=_clauses(spec.get("must_not"), "must_not"),
        minimum_should_match=spec.get("minimum_should_match"),
        boost=_boost(spec),
    )


def _parse_constant_score(spec: Any) -> Query:
    if not isinstance(spec, dict) or "filter" not in spec:
        raise parsing("[constant_score] requires a 'filter' element")
    _check_keys("constant_score", spec, {"filter"})
    return ConstantScore(parse_query(spec["filter"], top_level=False), _boost(spec))


def _parse_dis_max(spec: Any) -> Query:
    if not isinstance(spec, dict) or not isinstance(spec.get("queries"), list):
        raise parsing("[dis_max] requires 'queries' field with at least one clause")
    _check_keys("dis_max", spec, {"queries", "tie_breaker"})
    return DisMax(_clauses(spec["queries"], "queries"), float(spec.get("tie_breaker", 0.0)), _boost(spec))


def _parse_match_all(spec: Any) -> Query:
    if not isinstance(spec, dict):
        raise parsing("[match_all] query malformed")
    _check_keys("match_all", spec, set())
    return MatchAll(_boost(spec))


def _parse_match_none(spec: Any) -> Query:
    return MatchNone()


def _parse_knn(spec: Any) -> Query:
    name, value = _field_spec("knn", spec)
    if not isinstance(value, dict):
        raise parsing(f"[knn] query malformed for field [{name}]")
    _check_keys(
        "knn",
        value,
        {"vector", "k", "max_distance", "min_score", "filter", "method_parameters", "rescore", "expand_nested_docs"},
    )
    vector = value.get("vector")
    if not isinstance(vector, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        raise bad_request("[knn] requires query vector")
    if not vector:
        raise bad_request("[knn] query vector is empty")
    if not all(math.isfinite(v) for v in vector):
        raise bad_request("[knn] query vector must contain finite numbers")
    given = [key for key in ("k", "max_distance", "min_score") if value.get(key) is not None]
    if len(given) != 1:
        raise bad_request("[knn] requires exactly one of k, distance or score to be set")
    k = value.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= K_MAX):
        raise bad_request(f"[knn] requires k to be in the range (0, {K_MAX}]")
    min_score = value.get("min_score")
    if min_score is not None and float(min_score) <= 0:
        raise bad_request("[knn] requires minScore to be greater than 0")
    max_distance = value.get("max_distance")
    query_filter = value.get("filter")
    return Knn(
        field=name,
        vector=[float(v) for v in vector],
        k=k,
        max_distance=float(max_distance) if max_distance is not None else None,
        min_score=float(min_score) if min_score is not None else None,
        filter=parse_query(query_filter, top_level=False) if query_filter is not None else None,
        boost=_boost(value),
    )


def _parse_hybrid(spec: Any) -> Query:
    if not isinstance(spec, dict) or not isinstance(spec.get("queries"), list) or not spec["queries"]:
        raise parsing("[hybrid] requires 'queries' field with at least one clause")
    _check_keys("hybrid", spec, {"queries", "pagination_depth"})
    if len(spec["queries"]) > MAX_HYBRID_QUERIES:
        raise parsing(f"Number of sub-queries exceeds maximum supported by [hybrid] query ({MAX_HYBRID_QUERIES})")
    depth = spec.get("pagination_depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0):
        raise bad_request("pagination_depth should be greater than 0")
    return Hybrid([parse_query(q, top_level=False) for q in spec["queries"]], depth)


_PARSERS: dict[str, Callable[[Any], Query]] = {
    "bool": _parse_bool,
    "constant_score": _parse_constant_score,
    "dis_max": _parse_dis_max,
    "exists": _parse_exists,
    "hybrid": _parse_hybrid,
    "ids": _parse_ids,
    "knn": _parse_knn,
    "match": _parse_match,
    "match_all": _parse_match_all,
    "match_none": _parse_match_none,
    "multi_match": _parse_multi_match,
    "range": _parse_range,
    "term": _parse_term,
    "terms": _parse_terms,
}


# Helpers ------------------------------------------------------------------------------------------


def _constant(positions: set[int], boost: float) -> Hits:
    return dict.fromkeys(positions, boost)


def _bm25(
    segment: Segment, path: str, terms: list[str], boost: float, *, required: int, restrict: set[int] | None = None
) -> Hits:
    """Sum of BM25 term scores (a Lucene BooleanQuery of SHOULD term clauses) with a minimum match count.

    Statistics (document frequency, average length) cover the whole segment; with ``restrict`` only those
    documents are scored.
    """
    postings = segment.text_postings.get(path, {})
    doc_count, total_length = segment.text_stats.get(path, (0, 0))
    if doc_count == 0:
        return {}
    avgdl = total_length / doc_count
    norms = segment.text_norms[path]
    scores: dict[int, np.float32] = {}
    matched: dict[int, int] = {}
    for term in terms:
        docs = postings.get(term)
        if not docs:
            continue
        idf = scoring.bm25_idf(len(docs), doc_count)
        if restrict is not None and len(restrict) < len(docs):
            found = [pos for pos in restrict if pos in docs]
        else:
            found = [pos for pos in docs if restrict is None or pos in restrict]
        if not found:
            continue
        values = scoring.bm25_scores(
            np.fromiter((docs[p] for p in found), dtype=np.float32, count=len(found)),
            np.fromiter((norms[p] for p in found), dtype=np.int64, count=len(found)),
            avgdl,
            idf,
            boost,
        )
        for pos, value in zip(found, values, strict=True):
            scores[pos] = np.float32(scores.get(pos, np.float32(0.0)) + value)
            matched[pos] = matched.get(pos, 0) + 1
    return {pos: float(score) for pos, score in scores.items() if matched[pos] >= required}


def _keyword_bm25(segment: Segment, path: str, value: str, boost: float) -> Hits:
    """A keyword term: BM25 with norms omitted (length 1, frequency 1)."""
    found = segment.exact_postings.get(path, {}).get(value)
    if not found:
        return {}
    doc_count, total_values = segment.exact_stats[path]
    idf = scoring.bm25_idf(len(found), doc_count)
    score = scoring.bm25_term(1, 1, total_values / doc_count, idf, boost)
    return dict.fromkeys(found, score)


def _text_positions(segment: Segment, path: str, term: str, case_insensitive: bool) -> set[int]:
    postings = segment.text_postings.get(path, {})
    if not case_insensitive:
        return set(postings.get(term, {}))
    folded = term.lower()
    out: set[int] = set()
    for candidate, docs in postings.items():
        if candidate.lower() == folded:
            out |= set(docs)
    return out


def _exact_positions(segment: Segment, mapped: Field, values: list[Any], case_insensitive: bool) -> set[int]:
    convert = _converter(mapped)
    postings = segment.exact_postings.get(mapped.path, {})
    out: set[int] = set()
    for raw in values:
        try:
            value = convert(raw)
        except OpenSearchError:
            raise bad_request(f'failed to create query: For input string: "{raw}"') from None
        if case_insensitive and isinstance(value, str):
            folded = value.lower()
            for candidate, found in postings.items():
                if isinstance(candidate, str) and candidate.lower() == folded:
                    out |= found
        else:
            out |= postings.get(value, set())
    return out


def _converter(mapped: Field) -> Callable[[Any], Any]:
    if mapped.type in NUMERIC_TYPES:
        return lambda v: parse_number(v, mapped)
    if mapped.type == "date":
        return lambda v: _date_value(v, mapped.path)
    if mapped.type == "boolean":
        return lambda v: parse_boolean(v if not isinstance(v, str) else v.lower(), mapped.path)
    return _keyword_value


def _date_value(value: Any, path: str) -> int:
    if isinstance(value, str) and value.strip() == "now":
        import time

        return int(time.time() * 1000)
    return parse_date(value, path)


def _keyword_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _minimum_should_match(spec: Any, clauses: int) -> int:
    if spec is None:
        return 1
    text = str(spec).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            count = math.floor(clauses * abs(percent) / 100)
            return clauses - count if percent < 0 else count
        number = int(text)
    except ValueError:
        raise bad_request(f"Invalid minimum_should_match [{spec}]") from None
    return clauses + number if number < 0 else min(number, clauses)


def _collect(node: Any, parts: list[str], out: list[Any]) -> None:
    if not parts:
        if isinstance(node, list):
            out.extend(v for v in node if not isinstance(v, dict | list))
        elif node is not None and not isinstance(node, dict):
            out.append(node)
        return
    if isinstance(node, list):
        for item in node:
            _collect(item, parts, out)
    elif isinstance(node, dict) and parts[0] in node:
        _collect(node[parts[0]], parts[1:], out)
