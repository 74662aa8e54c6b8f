"""The search phase: one request over one or more indices (one shard each) — query, hybrid fusion through
a search pipeline, post filter, sort, ``search_after``, paging, ``_source`` filtering, total hits.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass
from typing import Any

from . import scoring
from .errors import bad_request, parsing
from .index import Index, Segment
from .pipelines import Processor, fuse
from .query import Context, Hybrid, SourceLookup, parse_query

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL_HITS = 10_000
BODY_KEYS = {
    "query",
    "size",
    "from",
    "_source",
    "sort",
    "track_total_hits",
    "search_after",
    "post_filter",
    "min_score",
    "seq_no_primary_term",
    "version",
    "timeout",
    "track_scores",
    "ext",
    "stored_fields",
    "terminate_after",
    "explain",
    "aggs",
    "aggregations",
    "highlight",
    "collapse",
    "script_fields",
    "docvalue_fields",
    "fields",
    "profile",
    "rescore",
    "suggest",
    "indices_boost",
    "pit",
    "slice",
    "stats",
    "include_named_queries_score",
}
UNSUPPORTED_BODY_KEYS = {
    "aggs": "aggregations",
    "aggregations": "aggregations",
    "highlight": "highlighting",
    "collapse": "collapse",
    "script_fields": "script fields",
    "docvalue_fields": "docvalue fields",
    "fields": "fields retrieval",
    "profile": "profiling",
    "rescore": "rescoring",
    "suggest": "suggesters",
    "pit": "point in time",
    "slice": "sliced scrolls",
    "indices_boost": "indices_boost",
}


@dataclass
class Hit:
    index: Index
    segment: Segment
    position: int
    score: float
    sort: list[Any] | None = None


@dataclass
class SortKey:
    field: str
    descending: bool
    missing_last: bool = True


def search(
    targets: list[Index],
    body: dict[str, Any],
    params: dict[str, str],
    pipeline: Processor | None,
    lookup: SourceLookup,
) -> dict[str, Any]:
    """Run a search request; the response body."""
    started = time.monotonic()
    request = _merge_params(body, params)
    size, offset = _int(request.get("size", 10), "size"), _int(request.get("from", 0), "from")
    if size < 0 or offset < 0:
        raise bad_request(
            "[from] parameter cannot be negative" if offset < 0 else "[size] parameter cannot be negative"
        )
    if size + offset > MAX_RESULT_WINDOW:
        raise bad_request(
            f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was "
            f"[{size + offset}]. See the scroll api for a more efficient way to request large data sets."
        )
    query = parse_query(request.get("query") or {"match_all": {}})
    post_filter = parse_query(request["post_filter"], top_level=False) if request.get("post_filter") else None
    sort_keys = _parse_sort(request.get("sort"))
    order = list(enumerate(targets))
    segments = [(i, index, index.searcher()) for i, index in order]

    if isinstance(query, Hybrid):
        hits, total = _hybrid(query, segments, pipeline, size, offset, lookup)
    else:
        hits = []
        for _, index, segment in segments:
            ctx = Context(segment, index.name, lookup)
            hits.extend(Hit(index, segment, pos, score) for pos, score in query.evaluate(ctx).items())
        total = None
    if post_filter is not None:
        kept: list[Hit] = []
        for _, index, segment in segments:
            allowed = post_filter.evaluate(Context(segment, index.name, lookup, top_level=False))
            kept.extend(h for h in hits if h.index is index and h.position in allowed)
        hits = kept
    if request.get("min_score") is not None:
        minimum = float(request["min_score"])
        hits = [h for h in hits if h.score >= minimum]
    if total is None or post_filter is not None or request.get("min_score") is not None:
        total = len(hits)

    rank = {id(index): i for i, index in order}
    for _, _, segment in segments:
        _check_sort(sort_keys, segment)
    if sort_keys:
        for hit in hits:
            hit.sort = [_sort_value(hit, key) for key in sort_keys]
        hits.sort(key=lambda h: (_sort_tuple(h, sort_keys), rank[id(h.index)], h.position))
    else:
        hits.sort(key=lambda h: (-h.score, rank[id(h.index)], h.position))
    if request.get("search_after") is not None:
        if not sort_keys:
            raise bad_request("Sort must contain at least one field.")
        after = request["search_after"]
        if not isinstance(after, list) or len(after) != len(sort_keys):
            raise bad_request(
                f"search_after has {len(after) if isinstance(after, list) else 0} value(s) but sort has "
                f"{len(sort_keys)}."
            )
        bound = _after_tuple(after, sort_keys)
        hits = [h for h in hits if _sort_tuple(h, sort_keys) > bound]
    page = hits[offset : offset + size]

    track_scores = bool(request.get("track_scores"))
    scored = not sort_keys or track_scores or any(k.field == "_score" for k in sort_keys)
    max_score = max((h.score for h in hits), default=None) if scored and size > 0 else None
    source_filter = _source_filter(request)
    out_hits = []
    for hit in page:
        doc = hit.segment.docs[hit.position]
        entry: dict[str, Any] = {"_index": hit.index.name, "_id": doc.id}
        if _truthy(request.get("version")):
            entry["_version"] = doc.version
        if _truthy(request.get("seq_no_primary_term")):
            entry["_seq_no"] = doc.seq_no
            entry["_primary_term"] = doc.primary_term
        entry["_score"] = scoring.float32(hit.score) if scored else None
        if source_filter is not False:
            entry["_source"] = filter_source(doc.source, *source_filter) if source_filter else doc.source
        if hit.sort is not None:
            entry["sort"] = hit.sort
        out_hits.append(entry)

    hits_json: dict[str, Any] = {}
    total_json = _total(total, request.get("track_total_hits", DEFAULT_TRACK_TOTAL_HITS), params)
    if total_json is not None:
        hits_json["total"] = total_json
    hits_json["max_score"] = scoring.float32(max_score) if max_score is not None else None
    hits_json["hits"] = out_hits
    shards = sum(index.shards for index in targets)
    response: dict[str, Any] = {
        "took": int((time.monotonic() - started) * 1000),
        "timed_out": False,
    }
    if _truthy(params.get("phase_took")):
        response["phase_took"] = {
            "dfs_pre_query": 0,
            "query": 0,
            "fetch": 0,
            "dfs_query": 0,
            "expand": 0,
            "can_match": 0,
        }
    response["_shards"] = {"total": shards, "successful": shards, "skipped": 0, "failed": 0}
    response["hits"] = hits_json
    return response


def count(targets: list[Index], body: dict[str, Any], params: dict[str, str], lookup: SourceLookup) -> dict[str, Any]:
    """``_count``: how many documents match."""
    unknown = set(body) - {"query"}
    if unknown:
        raise parsing(f"request does not support [{sorted(unknown)[0]}]")
    query = parse_query(body.get("query") or {"match_all": {}})
    if isinstance(query, Hybrid):
        raise bad_request("hybrid query is not supported by _count")
    total = 0
    terminated = False
    limit = int(params["terminate_after"]) if params.get("terminate_after") else None
    minimum = float(params["min_score"]) if params.get("min_score") else None
    for index in targets:
        hits = query.evaluate(Context(index.searcher(), index.name, lookup))
        matched = sum(1 for s in hits.values() if minimum is None or s >= minimum)
        if limit is not None and matched > limit:
            matched, terminated = limit, True
        total += matched
    shards = sum(index.shards for index in targets)
    out: dict[str, Any] = {"count": total}
    if terminated:
        out["terminated_early"] = True
    out["_shards"] = {"total": shards, "successful": shards, "skipped": 0, "failed": 0}
    return out


def matching(index: Index, query_body: Any, lookup: SourceLookup) -> list[tuple[Segment, int]]:
    """Documents of the searchable snapshot matching a query, in index order (delete by query)."""
    query = parse_query(query_body or {"match_all": {}})
    if isinstance(query, Hybrid):
        raise bad_request("hybrid query is not supported here")
    segment = index.searcher()
    hits = query.evaluate(Context(segment, index.name, lookup))
    return [(segment, pos) for pos in sorted(hits)]


# Hybrid ---------------------------------------------------------------------------------------------


def _hybrid(
    query: Hybrid,
    segments: list[tuple[int, Index, Segment]],
    pipeline: Processor | None,
    size: int,
    offset: int,
    lookup: SourceLookup,
) -> tuple[list[Hit], int]:
    if pipeline is None:
        raise bad_request(
            "hybrid query needs a search pipeline with a normalization-processor or score-ranker-processor "
            "(search_pipeline parameter or index.search.default_pipeline); this server does not reproduce "
            "OpenSearch's unprocessed hybrid result format"
        )
    if query.pagination_depth is None and offset > 0:
        raise bad_request("pagination_depth param is missing in the search request")
    depth = query.pagination_depth if query.pagination_depth is not None else size
    per_query: list[list[tuple[int, float]]] = []
    keys: dict[int, Hit] = {}
    matched: set[tuple[int, int]] = set()
    for sub in query.queries:
        results: list[tuple[int, int, float, Index, Segment]] = []
        for rank, index, segment in segments:
            scores = sub.evaluate(Context(segment, index.name, lookup, top_level=False))
            matched.update((rank, pos) for pos in scores)
            best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:depth]
            results.extend((rank, pos, score, index, segment) for pos, score in best)
        results.sort(key=lambda r: (-r[2], r[0], r[1]))
        entries = []
        for rank, pos, score, index, segment in results:
            key = rank * (1 << 32) + pos
            keys.setdefault(key, Hit(index, segment, pos, 0.0))
            entries.append((key, score))
        per_query.append(entries)
    fused = fuse(pipeline, per_query)
    hits = []
    for key, score in fused.items():
        hit = keys[key]
        hit.score = score
        hits.append(hit)
    return hits, len(matched)


# Sorting ------------------------------------------------------------------------------------------


def _parse_sort(raw: Any) -> list[SortKey]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    keys: list[SortKey] = []
    for item in items:
        if isinstance(item, str):
            name, _, direction = item.partition(":")
            keys.append(_sort_key(name, direction or None, None))
        elif isinstance(item, dict) and len(item) == 1:
            name, spec = next(iter(item.items()))
            if isinstance(spec, str):
                keys.append(_sort_key(name, spec, None))
            elif isinstance(spec, dict):
                unknown = set(spec) - {"order", "missing", "unmapped_type", "mode"}
                if unknown:
                    raise parsing(f"[field_sort] unknown field [{sorted(unknown)[0]}]")
                keys.append(_sort_key(name, spec.get("order"), spec.get("missing")))
            else:
                raise parsing(f"[sort] malformed for field [{name}]")
        else:
            raise parsing("[sort] malformed")
    return keys


def _sort_key(name: str, direction: str | None, missing: Any) -> SortKey:
    default_desc = name == "_score"
    if direction is None:
        descending = default_desc
    elif direction.lower() in ("asc", "desc"):
        descending = direction.lower() == "desc"
    else:
        raise bad_request(f"Unknown SortOrder [{direction}]")
    missing_last = missing in (None, "_last")
    return SortKey(name, descending, missing_last)


def _check_sort(keys: list[SortKey], segment: Segment) -> None:
    """Refuse sorting on text or unmapped fields, as OpenSearch does before looking at any document."""
    for key in keys:
        if key.field in ("_score", "_doc", "_id"):
            continue
        mapped = segment.mappings.fields.get(key.field)
        if mapped is None:
            raise bad_request(f"No mapping found for [{key.field}] in order to sort on")
        if mapped.type in ("text", "knn_vector"):
            raise bad_request(
                f"Text fields are not optimised for operations that require per-document field data like "
                f"aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                f"field instead. Alternatively, set fielddata=true on [{key.field}] in order to load field data "
                f"by uninverting the inverted index. Note that this can use significant memory."
                if mapped.type == "text"
                else f"Field [{key.field}] of type [knn_vector] does not support sorting"
            )


def _sort_value(hit: Hit, key: SortKey) -> Any:
    if key.field == "_score":
        return scoring.float32(hit.score)
    if key.field == "_doc":
        return hit.position
    doc = hit.segment.docs[hit.position]
    if key.field == "_id":
        return doc.id
    values = doc.indexed.exact.get(key.field)
    if not values:
        return None
    return max(values) if key.descending else min(values)


def _sort_tuple(hit: Hit, keys: list[SortKey]) -> tuple[Any, ...]:
    assert hit.sort is not None
    return tuple(_component(value, key) for value, key in zip(hit.sort, keys, strict=True))


def _after_tuple(values: list[Any], keys: list[SortKey]) -> tuple[Any, ...]:
    return tuple(_component(value, key) for value, key in zip(values, keys, strict=True))


class _Reverse:
    """Inverts the order of a comparable value (descending sort keys)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.value < self.value)

    def __gt__(self, other: _Reverse) -> bool:
        return bool(other.value > self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _component(value: Any, key: SortKey) -> tuple[int, Any]:
    if value is None:
        return (1 if key.missing_last else -1, 0)
    return (0, _Reverse(value) if key.descending else value)


# Request details --------------------------------------------------------------------------------


def _merge_params(body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise parsing("request body must be an object")
    for key in body:
        if key not in BODY_KEYS:
            raise parsing(f"Unknown key for a START_OBJECT in [{key}].")
        if key in UNSUPPORTED_BODY_KEYS:
            raise parsing(f"{UNSUPPORTED_BODY_KEYS[key]} ([{key}]) are not supported by this server")
    if body.get("explain"):
        raise parsing("explain is not supported by this server")
    request = dict(body)
    for name in ("size", "from"):
        if name in params:
            request[name] = params[name]
    if "sort" in params:
        request["sort"] = params["sort"].split(",")
    if "track_total_hits" in params:
        text = params["track_total_hits"]
        request["track_total_hits"] = text.lower() == "true" if text.lower() in ("true", "false") else int(text)
    for name in ("seq_no_primary_term", "version", "track_scores"):
        if name in params:
            request[name] = _truthy(params[name])
    if any(k in params for k in ("_source", "_source_includes", "_source_excludes")):
        request["_source"] = _source_from_params(params)
    return request


def _source_from_params(params: dict[str, str]) -> Any:
    includes = [p for p in params.get("_source_includes", "").split(",") if p]
    excludes = [p for p in params.get("_source_excludes", "").split(",") if p]
    raw = params.get("_source")
    if raw is not None and raw.lower() in ("false", "true", ""):
        if raw.lower() == "false":
            return False
    elif raw is not None:
        includes = [p for p in raw.split(",") if p] + includes
    return {"includes": includes, "excludes": excludes}


def _source_filter(request: dict[str, Any]) -> Any:
    """False (no _source), None (all of it) or (includes, excludes)."""
    spec = request.get("_source", True)
    if spec is True or spec is None:
        return None
    if spec is False:
        return False
    if isinstance(spec, str):
        return ([spec], [])
    if isinstance(spec, list):
        return ([str(s) for s in spec], [])
    if isinstance(spec, dict):
        includes = spec.get("includes", spec.get("include", []))
        excludes = spec.get("excludes", spec.get("exclude", []))
        includes = [includes] if isinstance(includes, str) else list(includes or [])
        excludes = [excludes] if isinstance(excludes, str) else list(excludes or [])
        return (includes, excludes)
    raise parsing("[_source] must be a boolean, a string, an array or an object")


def filter_source(source: dict[str, Any], includes: list[str], excludes: list[str]) -> dict[str, Any]:
    """``_source`` with only the included paths and none of the excluded ones (globs allowed)."""

    def keep(path: str) -> bool | None:
        if any(fnmatch.fnmatchcase(path, p) for p in excludes):
            return False
        if not includes or any(fnmatch.fnmatchcase(path, p) for p in includes):
            return True
        if any(p.startswith(path + ".") or fnmatch.fnmatchcase(path, p.split(".")[0]) for p in includes):
            return None  # descend: some included path lies below
        return False

    def walk(node: Any, prefix: str) -> Any:
        if isinstance(node, list):
            return [walk(item, prefix) if isinstance(item, dict | list) else item for item in node]
        out: dict[str, Any] = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            decision = keep(path)
            if decision is True:
                out[key] = _exclude(value, path, excludes)
            elif decision is None and isinstance(value, dict | list):
                child = walk(value, path + ".")
                if child:
                    out[key] = child
        return out

    return walk(source, "")


def _exclude(value: Any, path: str, excludes: list[str]) -> Any:
    if not excludes or not isinstance(value, dict):
        return value
    return {
        k: _exclude(v, f"{path}.{k}", excludes)
        for k, v in value.items()
        if not any(fnmatch.fnmatchcase(f"{path}.{k}", p) for p in excludes)
    }


def _total(total: int, track: Any, params: dict[str, str]) -> Any:
    if _truthy(params.get("rest_total_hits_as_int")):
        return total if track is not False else -1
    if track is False:
        return None
    if track is True:
        return {"value": total, "relation": "eq"}
    limit = _int(track, "track_total_hits")
    if total > limit:
        return {"value": limit, "relation": "gte"}
    return {"value": total, "relation": "eq"}


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise parsing(f"[{name}] must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise parsing(f"[{name}] must be an integer, got [{value}]") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "")
    return bool(value)
