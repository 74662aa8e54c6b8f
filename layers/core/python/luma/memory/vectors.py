"""The vector-store port of long-term memory and its OpenSearch adapter (opensearch-py).

The index holds one document per memory item (DynamoDB is the source of truth; the index can be rebuilt
from it): the text for BM25, the embedding as a ``knn_vector`` (faiss or lucene, inner product on unit
vectors), and keyword fields for tenant, user, kind and session. Retrieval is one ``hybrid`` query — a
BM25 ``match`` and a ``knn`` query, each filtered by tenant and user inside the query (``term`` on keyword
fields, in the lexical part's ``bool.filter`` and in the k-NN ``filter``) — fused by a search pipeline
(min-max normalization, weighted arithmetic mean).

Two deployments, chosen by ``Settings.opensearch_service``:

- ``es`` (a managed domain, and the local server): document id ``<tenant>|<user>|<memory>``, so an upsert
  replaces and ``delete`` addresses documents directly; ``delete_user`` is ``_delete_by_query`` after a
  refresh, so nothing written before the call escapes it.
- ``aoss`` (Serverless vector collections): custom document ids, ``_refresh`` and ``_delete_by_query`` are
  not available. Documents get generated ids and carry ``memory_id``; an upsert indexes the new version
  and then deletes the older copies it can find, searches keep the newest copy of each memory, and
  ``delete``/``delete_user`` search and delete by generated id. Writes become searchable after the
  collection's refresh interval, so a copy written within that interval before a delete or an upsert can
  survive it; running the erasure again after the interval removes it. ``refresh`` is a no-op.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from luma.classify.embedder import DIMENSION
from luma.config import Settings, get_settings

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

log = logging.getLogger("luma.memory.vectors")

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ID_RE = re.compile(r"^[A-Za-z0-9_.:+@-]{1,128}$")  # user, memory, session and message ids
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_TEXT_CHARS = 32_000
MAX_K = 1_000
BULK_CHUNK = 200  # documents per _bulk request (384 floats each: about 1 MB of JSON)
SCAN_PAGE = 1_000
NDJSON = {"Content-Type": "application/x-ndjson"}


# The port ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryDoc:
    """What is indexed for one memory item (the DynamoDB item is the source of truth)."""

    memory_id: str
    tenant_id: str
    user_id: str
    text: str
    vector: Sequence[float]
    kind: str  # e.g. "fact", "statement", "summary"
    session_id: str | None
    source_ids: tuple[str, ...]  # provenance: source message ids
    created_at: datetime
    valid: bool = True  # False once superseded (kept for history, excluded by default)


@dataclass(frozen=True)
class VectorHit:
    """One retrieved memory, best first."""

    memory_id: str
    score: float
    text: str
    kind: str
    session_id: str | None
    source_ids: tuple[str, ...]
    created_at: datetime


class VectorStore(Protocol):
    """Where memory vectors live. Every read and delete is scoped to one tenant and user."""

    def ensure_ready(self) -> None:
        """Create the index (mapping) and the search pipeline if missing; idempotent."""

    def upsert(self, docs: Sequence[MemoryDoc]) -> None:
        """Index (or replace) documents; :class:`VectorStoreBulkError` lists the ones that failed."""

    def search(
        self,
        tenant_id: str,
        user_id: str,
        *,
        text: str,
        vector: Sequence[float],
        k: int = 10,
        kinds: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[VectorHit]:
        """Hybrid retrieval (BM25 + k-NN) over one user's memories, best first."""

    def delete(self, tenant_id: str, user_id: str, memory_ids: Sequence[str]) -> None:
        """Remove these memories of this user (missing ones are ignored)."""

    def delete_user(self, tenant_id: str, user_id: str) -> int:
        """Remove every memory of this user; how many documents were deleted."""

    def count(self, tenant_id: str, user_id: str) -> int:
        """Documents of this user in the index (current and superseded)."""

    def refresh(self) -> None:
        """Make every write so far searchable."""


# Errors ----------------------------------------------------------------------------------------------


class VectorStoreError(Exception):
    """The vector store failed; messages carry no document content."""


class InvalidMemoryInputError(VectorStoreError, ValueError):
    """An argument is malformed (an id with characters outside its alphabet, a vector of the wrong size, ...)."""


class VectorStoreUnavailableError(VectorStoreError):
    """OpenSearch could not be reached, timed out, or answered 429/5xx (retryable)."""


class VectorStoreRequestError(VectorStoreError):
    """OpenSearch refused a request (4xx other than 429): a mapping or configuration problem."""

    def __init__(self, message: str, *, status: int, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class VectorStoreBulkError(VectorStoreError):
    """Some documents of an upsert were not indexed (the others were)."""

    def __init__(self, failed: dict[str, str]) -> None:
        self.failed = dict(failed)  # memory id → OpenSearch error type
        self.failed_ids = tuple(failed)
        kinds = sorted(set(failed.values()))
        super().__init__(f"{len(failed)} memory document(s) not indexed ({', '.join(kinds)}): {list(failed)[:20]}")


# Validation -----------------------------------------------------------------------------------------


def _check(pattern: re.Pattern[str], value: Any, name: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidMemoryInputError(f"{name} is not a valid id")
    return value


def _unit_vector(values: Sequence[float], name: str = "vector") -> list[float]:
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidMemoryInputError(f"{name} must be numbers") from None
    if len(floats) != DIMENSION:
        raise InvalidMemoryInputError(f"{name} has {len(floats)} dimensions, expected {DIMENSION}")
    if not all(math.isfinite(v) for v in floats):
        raise InvalidMemoryInputError(f"{name} has values that are not finite")
    norm = math.sqrt(sum(v * v for v in floats))
    if norm == 0.0:
        raise InvalidMemoryInputError(f"{name} is the zero vector")
    return [v / norm for v in floats]


def _check_doc(doc: MemoryDoc) -> None:
    _check(TENANT_RE, doc.tenant_id, "tenant_id")
    _check(ID_RE, doc.user_id, "user_id")
    _check(ID_RE, doc.memory_id, "memory_id")
    _check(KIND_RE, doc.kind, "kind")
    if doc.session_id:  # None or "" mean no session
        _check(ID_RE, doc.session_id, "session_id")
    for source in doc.source_ids:
        _check(ID_RE, source, "source_ids")
    if not isinstance(doc.text, str) or not doc.text.strip():
        raise InvalidMemoryInputError("text must be a non-empty string")
    if len(doc.text) > MAX_TEXT_CHARS:
        raise InvalidMemoryInputError(f"text is longer than {MAX_TEXT_CHARS} characters")
    if not isinstance(doc.created_at, datetime):
        raise InvalidMemoryInputError("created_at must be a datetime")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime:
    text = str(value)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# The OpenSearch adapter ---------------------------------------------------------------------------------


def index_body(engine: str = "faiss") -> dict[str, Any]:
    """Settings and mapping of the memory index."""
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "memory_id": {"type": "keyword"},
                "tenant_id": {"type": "keyword"},
                "user_id": {"type": "keyword"},
                "kind": {"type": "keyword"},
                "session_id": {"type": "keyword"},
                "source_ids": {"type": "keyword"},
                "created_at": {"type": "date"},
                "indexed_at": {"type": "date"},
                "valid": {"type": "boolean"},
                "text": {"type": "text", "analyzer": "standard"},
                "vector": {
                    "type": "knn_vector",
                    "dimension": DIMENSION,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": "innerproduct",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
            },
        },
    }


def pipeline_body(weights: tuple[float, float]) -> dict[str, Any]:
    """The hybrid search pipeline: min-max normalization, weighted mean (lexical, vector)."""
    return {
        "description": "Luma memory: BM25 and k-NN scores, min-max normalized, weighted arithmetic mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": list(weights)}},
                }
            }
        ],
    }


def scope_filters(
    tenant_id: str, user_id: str, kinds: Sequence[str] | None = None, include_invalid: bool = False
) -> list[dict[str, Any]]:
    """The filter clauses every query of one user carries (exact ``term``/``terms`` on keyword fields)."""
    filters: list[dict[str, Any]] = [{"term": {"tenant_id": tenant_id}}, {"term": {"user_id": user_id}}]
    if not include_invalid:
        filters.append({"term": {"valid": True}})
    if kinds is not None:
        filters.append({"terms": {"kind": list(kinds)}})
    return filters


def hybrid_query(
    tenant_id: str,
    user_id: str,
    *,
    text: str,
    vector: list[float],
    k: int,
    kinds: Sequence[str] | None = None,
    include_invalid: bool = False,
) -> dict[str, Any]:
    """The search body: BM25 and k-NN sub-queries, each filtered to the user inside the query."""
    filters = scope_filters(tenant_id, user_id, kinds, include_invalid)
    return {
        "size": k,
        "_source": {"excludes": ["vector"]},
        "query": {
            "hybrid": {
                "queries": [
                    {"bool": {"must": [{"match": {"text": {"query": text}}}], "filter": filters}},
                    {"knn": {"vector": {"vector": vector, "k": k, "filter": {"bool": {"filter": filters}}}}},
                ]
            }
        },
    }


def _signing(settings: Settings) -> bool:
    if settings.opensearch_sigv4 is not None:
        return settings.opensearch_sigv4
    host = urlsplit(settings.opensearch_url or "").hostname or ""
    return host.endswith(".amazonaws.com")


def build_client(settings: Settings) -> OpenSearch:
    """An opensearch-py client: plain HTTP(S) locally, SigV4-signed (service es or aoss) in AWS.

    opensearch-py logs request bodies (memory text) at DEBUG: its loggers are kept at WARNING or above.
    """
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth

    for name in ("opensearch", "opensearchpy.trace"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))

    if not settings.opensearch_url:
        raise VectorStoreError("LUMA_OPENSEARCH_URL is not set")
    split = urlsplit(settings.opensearch_url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise VectorStoreError("LUMA_OPENSEARCH_URL must be an http(s) URL")
    options: dict[str, Any] = {
        "hosts": [settings.opensearch_url],
        "timeout": settings.opensearch_timeout_s,
        "max_retries": settings.opensearch_max_retries,
        "retry_on_timeout": True,
        "retry_on_status": (429, 502, 503, 504),
    }
    if split.scheme == "https":
        options.update(use_ssl=True, verify_certs=True)
    if _signing(settings):
        from luma.aws import boto_session

        credentials = boto_session().get_credentials()
        if credentials is None:
            raise VectorStoreError("no AWS credentials to sign OpenSearch requests with")
        options["http_auth"] = Urllib3AWSV4SignerAuth(credentials, settings.region, settings.opensearch_service)
    return OpenSearch(**options)


class OpenSearchVectorStore:
    """:class:`VectorStore` on OpenSearch through opensearch-py (managed domain, Serverless, local server)."""

    def __init__(self, settings: Settings | None = None, *, client: OpenSearch | None = None) -> None:
        self.settings = settings or get_settings()
        self.index = self.settings.memory_index
        self.pipeline = self.settings.memory_search_pipeline
        self.serverless = self.settings.opensearch_service == "aoss"
        self._client = client
        self._ready = False  # ensure_ready ran in this process (the first write creates what is missing)

    @property
    def client(self) -> OpenSearch:
        if self._client is None:
            self._client = build_client(self.settings)
        return self._client

    # Errors -----------------------------------------------------------------------------------------

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from opensearchpy import ConnectionError as TransportConnectionError
        from opensearchpy import TransportError

        try:
            return fn(*args, **kwargs)
        except TransportConnectionError as exc:  # includes timeouts
            log.warning("opensearch %s: %s", what, type(exc).__name__)
            raise VectorStoreUnavailableError(f"OpenSearch {what}: {type(exc).__name__}") from None
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            error_type = exc.error if isinstance(exc.error, str) else "unknown"
            log.warning("opensearch %s: %s %s", what, status, error_type)
            if status == 429 or status >= 500 or status == 0:
                raise VectorStoreUnavailableError(f"OpenSearch {what}: {status} {error_type}") from None
            raise VectorStoreRequestError(
                f"OpenSearch {what}: {status} {error_type}", status=status, error_type=error_type
            ) from None

    # Setup ------------------------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the index and the search pipeline when missing; check an existing index's vector field."""
        client = self.client
        if not self._call("index exists", client.indices.exists, index=self.index):
            try:
                self._call(
                    "create index",
                    client.indices.create,
                    index=self.index,
                    body=index_body(self.settings.memory_knn_engine),
                )
            except VectorStoreRequestError as exc:
                if exc.error_type != "resource_already_exists_exception":  # created concurrently: fine
                    raise
        mapping: dict[str, Any] = self._call("get mapping", client.indices.get_mapping, index=self.index)
        index_mapping: dict[str, Any] = mapping.get(self.index) or next(iter(mapping.values()), {})
        vector: dict[str, Any] = index_mapping.get("mappings", {}).get("properties", {}).get("vector", {})
        if vector.get("type") != "knn_vector" or vector.get("dimension") != DIMENSION:
            raise VectorStoreError(f"index {self.index} exists without a {DIMENSION}-dimension knn_vector field")
        engine = (vector.get("method") or {}).get("engine")
        if engine not in ("faiss", "lucene"):
            raise VectorStoreError(f"index {self.index} uses k-NN engine {engine!r}; faiss or lucene expected")
        self._call(
            "put search pipeline",
            client.search_pipeline.put,
            id=self.pipeline,
            body=pipeline_body(self.settings.memory_hybrid_weights),
        )
        self._ready = True

    # Writes -----------------------------------------------------------------------------------------

    def doc_id(self, tenant_id: str, user_id: str, memory_id: str) -> str:
        """The document id on a managed domain: unique per tenant, user and memory."""
        return f"{tenant_id}|{user_id}|{memory_id}"

    @staticmethod
    def _source(doc: MemoryDoc, now: datetime) -> dict[str, Any]:
        return {
            "memory_id": doc.memory_id,
            "tenant_id": doc.tenant_id,
            "user_id": doc.user_id,
            "kind": doc.kind,
            "session_id": doc.session_id or None,
            "source_ids": list(doc.source_ids),
            "created_at": _iso(doc.created_at),
            "indexed_at": _iso(now),
            "valid": bool(doc.valid),
            "text": doc.text,
            "vector": _unit_vector(doc.vector, f"vector of {doc.memory_id}"),
        }

    def upsert(self, docs: Sequence[MemoryDoc]) -> None:
        """Index documents in ``_bulk`` requests; a :class:`VectorStoreBulkError` names those that failed.

        The first write of a process makes sure the index (with its ``knn_vector`` mapping) and the search
        pipeline exist, so a fresh deployment never gets an index with a dynamic mapping.
        """
        for doc in docs:
            _check_doc(doc)
        if not self._ready and docs:
            self.ensure_ready()
        now = datetime.now(UTC)
        failed: dict[str, str] = {}
        for chunk in _chunks(list(docs), BULK_CHUNK):
            stale = self._existing_copies(chunk) if self.serverless else []
            lines: list[dict[str, Any]] = []
            for doc in chunk:
                meta: dict[str, Any] = {"_index": self.index}
                if not self.serverless:
                    meta["_id"] = self.doc_id(doc.tenant_id, doc.user_id, doc.memory_id)
                lines += [{"index": meta}, self._source(doc, now)]
            response = self._call("bulk index", self.client.bulk, body=lines, headers=NDJSON)
            for doc, item in zip(chunk, response.get("items", []), strict=False):
                result = item.get("index", {})
                if "error" in result:
                    failed[doc.memory_id] = str((result.get("error") or {}).get("type", "unknown"))
            if stale:
                indexed = {d.memory_id for d in chunk} - set(failed)
                self._delete_ids([doc_id for doc_id, memory_id in stale if memory_id in indexed])
        if failed:
            raise VectorStoreBulkError(failed)

    def _existing_copies(self, docs: Sequence[MemoryDoc]) -> list[tuple[str, str]]:
        """(document id, memory id) of indexed copies of these memories (Serverless upserts replace them)."""
        found: list[tuple[str, str]] = []
        by_user: dict[tuple[str, str], list[str]] = {}
        for doc in docs:
            by_user.setdefault((doc.tenant_id, doc.user_id), []).append(doc.memory_id)
        for (tenant_id, user_id), memory_ids in by_user.items():
            filters = [*scope_filters(tenant_id, user_id, include_invalid=True), {"terms": {"memory_id": memory_ids}}]
            for hit in self._scan({"bool": {"filter": filters}}, ["memory_id"]):
                found.append((hit["_id"], str((hit.get("_source") or {}).get("memory_id"))))
        return found

    def _scan(self, query: dict[str, Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` (sorted by ``indexed_at`` then ``memory_id``, paged with search_after)."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": SCAN_PAGE,
                "query": query,
                "_source": fields or False,
                "sort": [{"indexed_at": "asc"}, {"memory_id": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            response = self._call("scan", self.client.search, index=self.index, body=body)
            hits = response.get("hits", {}).get("hits", [])
            yield from hits
            if len(hits) < SCAN_PAGE:
                return
            after = hits[-1].get("sort")

    def _delete_ids(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        for chunk in _chunks(list(doc_ids), SCAN_PAGE):
            lines = [{"delete": {"_index": self.index, "_id": doc_id}} for doc_id in chunk]
            response = self._call("bulk delete", self.client.bulk, body=lines, headers=NDJSON)
            for item in response.get("items", []):
                result = item.get("delete", {})
                if result.get("result") == "deleted":
                    deleted += 1
                elif "error" in result:
                    raise VectorStoreError(f"bulk delete failed: {(result.get('error') or {}).get('type')}")
        return deleted

    def delete(self, tenant_id: str, user_id: str, memory_ids: Sequence[str]) -> None:
        """Remove these memories of this user."""
        _check(TENANT_RE, tenant_id, "tenant_id")
        _check(ID_RE, user_id, "user_id")
        ids = [_check(ID_RE, m, "memory_id") for m in memory_ids]
        if not ids:
            return
        if self.serverless:
            filters = [*scope_filters(tenant_id, user_id, include_invalid=True), {"terms": {"memory_id": ids}}]
            found = [hit["_id"] for hit in self._scan({"bool": {"filter": filters}}, [])]
            self._delete_ids(found)
            return
        self._delete_ids([self.doc_id(tenant_id, user_id, m) for m in ids])

    def delete_user(self, tenant_id: str, user_id: str) -> int:
        """Remove every memory of this user; the number of documents deleted."""
        _check(TENANT_RE, tenant_id, "tenant_id")
        _check(ID_RE, user_id, "user_id")
        query = {"bool": {"filter": scope_filters(tenant_id, user_id, include_invalid=True)}}
        if self.serverless:
            seen: set[str] = set()
            deleted = 0
            while True:  # deleted documents stay visible until the collection refreshes: skip those seen
                fresh = [hit["_id"] for hit in self._scan(query, []) if hit["_id"] not in seen]
                if not fresh:
                    return deleted
                seen.update(fresh)
                deleted += self._delete_ids(fresh)
        self.refresh()  # so documents written just before are seen by the delete
        response = self._call(
            "delete by query",
            self.client.delete_by_query,
            index=self.index,
            body={"query": query},
            params={"conflicts": "proceed", "refresh": "true"},
        )
        return int(response.get("deleted", 0))

    # Reads ------------------------------------------------------------------------------------------

    def search(
        self,
        tenant_id: str,
        user_id: str,
        *,
        text: str,
        vector: Sequence[float],
        k: int = 10,
        kinds: Sequence[str] | None = None,
        include_invalid: bool = False,
    ) -> list[VectorHit]:
        """Hybrid retrieval over this user's memories (current ones unless ``include_invalid``)."""
        _check(TENANT_RE, tenant_id, "tenant_id")
        _check(ID_RE, user_id, "user_id")
        if isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= MAX_K:
            raise InvalidMemoryInputError(f"k must be an integer in 1..{MAX_K}")
        if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
            raise InvalidMemoryInputError(f"text must be a string of at most {MAX_TEXT_CHARS} characters")
        if kinds is not None:
            kinds = [_check(KIND_RE, kind, "kind") for kind in kinds]
            if not kinds:
                return []
        body = hybrid_query(
            tenant_id,
            user_id,
            text=text,
            vector=_unit_vector(vector, "query vector"),
            k=k,
            kinds=kinds,
            include_invalid=include_invalid,
        )
        response = self._call(
            "search", self.client.search, index=self.index, body=body, params={"search_pipeline": self.pipeline}
        )
        hits = [self._hit(h) for h in response.get("hits", {}).get("hits", [])]
        return _newest_copies(hits) if self.serverless else _strip(hits)

    @staticmethod
    def _hit(raw: dict[str, Any]) -> tuple[VectorHit, str]:
        source = raw.get("_source") or {}
        hit = VectorHit(
            memory_id=str(source.get("memory_id")),
            score=float(raw.get("_score") or 0.0),
            text=str(source.get("text", "")),
            kind=str(source.get("kind", "")),
            session_id=source.get("session_id"),
            source_ids=tuple(str(s) for s in source.get("source_ids") or ()),
            created_at=_parse_time(source.get("created_at")),
        )
        return hit, str(source.get("indexed_at", ""))

    def count(self, tenant_id: str, user_id: str) -> int:
        """Documents of this user (current and superseded)."""
        _check(TENANT_RE, tenant_id, "tenant_id")
        _check(ID_RE, user_id, "user_id")
        body = {"query": {"bool": {"filter": scope_filters(tenant_id, user_id, include_invalid=True)}}}
        return int(self._call("count", self.client.count, index=self.index, body=body).get("count", 0))

    def refresh(self) -> None:
        """``_refresh`` on a managed domain; Serverless refreshes on its own (no-op)."""
        if not self.serverless:
            self._call("refresh", self.client.indices.refresh, index=self.index)


def _newest_copies(hits: list[tuple[VectorHit, str]]) -> list[VectorHit]:
    """One hit per memory: the most recently indexed copy, at the rank of the best copy."""
    newest: dict[str, tuple[VectorHit, str]] = {}
    order: list[str] = []
    for hit, indexed_at in hits:
        current = newest.get(hit.memory_id)
        if current is None:
            order.append(hit.memory_id)
            newest[hit.memory_id] = (hit, indexed_at)
        elif indexed_at > current[1]:
            newest[hit.memory_id] = (hit, indexed_at)
    return [newest[m][0] for m in order]


def _strip(hits: list[tuple[VectorHit, str]]) -> list[VectorHit]:
    return [hit for hit, _ in hits]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_vector_store(url: str | None = None, *, index: str | None = None) -> OpenSearchVectorStore:
    """An adapter from the process settings, with the URL and index name overridden when given."""
    settings = get_settings()
    update: dict[str, Any] = {}
    if url is not None:
        update["opensearch_url"] = url
    if index is not None:
        update["memory_index"] = index
    return OpenSearchVectorStore(settings.model_copy(update=update) if update else settings)
