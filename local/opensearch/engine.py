"""The engine behind the HTTP server: indices, documents, bulk, search, count, delete by query, search
pipelines, analysis. Every method returns ``(status, body)`` or raises :class:`OpenSearchError`; the
caller holds :attr:`Engine.lock`.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import os
import threading
import time
import uuid
from typing import Any

from . import search as search_phase
from .analysis import ANALYZERS, Token, run_chain
from .errors import OpenSearchError, bad_request, index_not_found, parsing
from .index import Index, StoredDoc, flatten_settings
from .mapping import Mappings
from .pipelines import Processor, parse_pipeline, stored_copy

VERSION = "2.19.0"
LUCENE_VERSION = "9.12.1"
DISTRIBUTIONS = ("opensearch", "amazon-serverless")
_INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')

Response = tuple[int, Any]


def _shards(index: Index, *, noop: bool = False) -> dict[str, int]:
    if noop:
        return {"total": 0, "successful": 0, "failed": 0}
    return {"total": index.replicas + 1, "successful": 1, "failed": 0}


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "")


class Engine:
    """An in-memory, single-node cluster."""

    def __init__(self, distribution: str = "opensearch", refresh_interval_s: float | None = None) -> None:
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}")
        self.lock = threading.RLock()
        self.distribution = distribution
        self.default_refresh_interval = refresh_interval_s
        self.indices: dict[str, Index] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self._processors: dict[str, Processor | None] = {}
        self.cluster_uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]

    @property
    def serverless(self) -> bool:
        return self.distribution == "amazon-serverless"

    # Cluster --------------------------------------------------------------------------------------

    def info(self) -> Response:
        return 200, {
            "name": "luma-local",
            "cluster_name": "luma-local",
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "distribution": "opensearch",
                "number": VERSION,
                "build_type": "tar",
                "build_hash": "0" * 40,
                "build_date": "2025-02-05T00:00:00.000000000Z",
                "build_snapshot": False,
                "lucene_version": LUCENE_VERSION,
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }

    # Index names ----------------------------------------------------------------------------------

    def resolve(
        self, expression: str | None, *, allow_no_indices: bool = True, ignore_unavailable: bool = False
    ) -> list[Index]:
        """Indices named by a comma-separated expression with wildcards (``None``/``_all``: every index)."""
        if expression in (None, "", "_all", "*"):
            found = list(self.indices.values())
            if not found and not allow_no_indices and expression not in (None, ""):
                raise index_not_found(expression or "_all")
            return found
        names: list[str] = []
        for part in str(expression).split(","):
            part = part.strip()
            if not part:
                continue
            if part.startswith("-") and names:
                names = [n for n in names if not fnmatch.fnmatchcase(n, part[1:])]
                continue
            if "*" in part:
                matches = sorted(n for n in self.indices if fnmatch.fnmatchcase(n, part))
                if not matches and not allow_no_indices:
                    raise index_not_found(part)
                names.extend(m for m in matches if m not in names)
            elif part in self.indices:
                if part not in names:
                    names.append(part)
            elif part == "_all":
                names.extend(n for n in self.indices if n not in names)
            elif not ignore_unavailable:
                raise index_not_found(part)
        if not names and not allow_no_indices:
            raise index_not_found(str(expression))
        return [self.indices[n] for n in names]

    @staticmethod
    def validate_name(name: str) -> None:
        def invalid(reason: str) -> OpenSearchError:
            return OpenSearchError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], {reason}",
                index=name,
                index_uuid="_na_",
            )

        if not name or name in (".", ".."):
            raise invalid("must not be '.' or '..'")
        if name != name.lower():
            raise invalid("must be lowercase")
        if name[0] in "-_+":
            raise invalid("must not start with '_', '-', or '+'")
        bad = sorted(c for c in set(name) if c in _INVALID_NAME_CHARS)
        if bad:
            raise invalid('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]')
        if len(name.encode()) > 255:
            raise invalid("index name is too long, (" + str(len(name.encode())) + " > 255)")

    # Index APIs -----------------------------------------------------------------------------------

    def create_index(self, name: str, body: dict[str, Any]) -> Response:
        self.validate_name(name)
        if name in self.indices:
            existing = self.indices[name]
            raise OpenSearchError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                index=name,
                index_uuid=existing.uuid,
            )
        unknown = set(body) - {"settings", "mappings", "aliases"}
        if unknown:
            raise parsing(f"unknown key [{sorted(unknown)[0]}] for create index")
        if body.get("aliases"):
            raise bad_request("index aliases are not supported by this server")
        settings = flatten_settings(body.get("settings"))
        mappings = Mappings(body.get("mappings"))
        self.indices[name] = self._new_index(name, settings, mappings)
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def _new_index(self, name: str, settings: dict[str, Any], mappings: Mappings) -> Index:
        if self.default_refresh_interval is not None and "refresh_interval" not in settings:
            settings["refresh_interval"] = f"{int(self.default_refresh_interval * 1000)}ms"
        return Index(name, settings, mappings)

    def _auto_create(self, name: str) -> Index:
        index = self.indices.get(name)
        if index is None:
            self.validate_name(name)
            index = self._new_index(name, {}, Mappings())
            self.indices[name] = index
        return index

    def get_index(self, expression: str, params: dict[str, str]) -> Response:
        indices = self.resolve(expression, **self._lenient(params))
        flat = _truthy(params.get("flat_settings"))
        return 200, {
            i.name: {"aliases": {}, "mappings": i.mappings.to_json(), "settings": i.settings_json(flat)}
            for i in indices
        }

    def index_exists(self, expression: str, params: dict[str, str]) -> Response:
        try:
            found = self.resolve(expression, allow_no_indices=False, ignore_unavailable=False)
        except OpenSearchError:
            return 404, None
        return (200 if found else 404), None

    def delete_index(self, expression: str, params: dict[str, str]) -> Response:
        for index in self.resolve(expression, **self._lenient(params)):
            del self.indices[index.name]
        return 200, {"acknowledged": True}

    def get_mapping(self, expression: str | None, params: dict[str, str]) -> Response:
        indices = self.resolve(expression, **self._lenient(params))
        return 200, {i.name: {"mappings": i.mappings.to_json()} for i in indices}

    def put_mapping(self, expression: str, body: dict[str, Any], params: dict[str, str]) -> Response:
        indices = self.resolve(expression, **self._lenient(params))
        for index in indices:  # validate everywhere before changing anything
            trial = copy.deepcopy(index.mappings)
            trial.update(body)
        for index in indices:
            index.mappings.update(body)
        return 200, {"acknowledged": True}

    @staticmethod
    def _lenient(params: dict[str, str]) -> dict[str, bool]:
        return {
            "allow_no_indices": params.get("allow_no_indices", "true").lower() != "false",
            "ignore_unavailable": _truthy(params.get("ignore_unavailable")),
        }

    # Documents ------------------------------------------------------------------------------------

    def _check_serverless_id(self, doc_id: str | None) -> None:
        if self.serverless and doc_id is not None:
            raise bad_request("Document ID is not supported in create/index operation request")

    def _check_serverless_refresh(self, params: dict[str, str]) -> None:
        if self.serverless and params.get("refresh", "false").lower() != "false":
            raise bad_request("refresh is not supported by Amazon OpenSearch Serverless")

    def index_doc(
        self, index_name: str, doc_id: str | None, body: Any, params: dict[str, str], *, create: bool = False
    ) -> Response:
        self._check_serverless_id(doc_id)
        self._check_serverless_refresh(params)
        if not isinstance(body, dict):
            raise parsing("request body is required")
        op_type = params.get("op_type", "create" if create else "index")
        if op_type not in ("index", "create"):
            raise bad_request(f"opType must be 'create' or 'index', found: [{op_type}]")
        index = self._auto_create(index_name)
        stored, created = self._write(index, doc_id, body, params, create=op_type == "create")
        self._maybe_refresh([index], params)
        return (201 if created else 200), self._write_result(index, stored, "created" if created else "updated")

    def _write(
        self, index: Index, doc_id: str | None, source: dict[str, Any], meta: dict[str, Any], *, create: bool
    ) -> tuple[StoredDoc, bool]:
        if doc_id is not None:
            doc_id = str(doc_id)
            if not doc_id:
                raise OpenSearchError(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: if _id is specified it must not be empty;",
                )
            if len(doc_id.encode()) > 512:
                raise OpenSearchError(
                    400,
                    "action_request_validation_exception",
                    f"Validation Failed: 1: id [{doc_id[:20]}...] is too long, must be no longer "
                    f"than 512 bytes but was: {len(doc_id.encode())};",
                )
        if meta.get("version_type") not in (None, "internal") or meta.get("version") not in (None, ""):
            raise bad_request("external versioning is not supported by this server")
        doc_id = doc_id if doc_id is not None else _auto_id()
        existing = index.docs.get(doc_id)
        self._check_seq_no(index, doc_id, existing, meta)
        if create and existing is not None:
            raise self._conflict(
                index, doc_id, f"version conflict, document already exists (current version [{existing.version}])"
            )
        indexed = index.mappings.index_document(source)
        stored = index.put(doc_id, source, indexed)
        return stored, existing is None

    def _check_seq_no(self, index: Index, doc_id: str, existing: StoredDoc | None, meta: dict[str, Any]) -> None:
        if_seq_no, if_term = meta.get("if_seq_no"), meta.get("if_primary_term")
        if if_seq_no is None and if_term is None:
            return
        if if_seq_no is None or if_term is None:
            raise OpenSearchError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: ifSeqNo is set, but primary term is [0];",
            )
        try:
            seq_no, term = int(if_seq_no), int(if_term)
        except (TypeError, ValueError):
            raise bad_request(f"Failed to parse if_seq_no [{if_seq_no}] or if_primary_term [{if_term}]") from None
        if existing is None:
            raise self._conflict(
                index,
                doc_id,
                f"version conflict, required seqNo [{seq_no}], primary term [{term}]. but no document was found",
            )
        if existing.seq_no != seq_no or existing.primary_term != term:
            raise self._conflict(
                index,
                doc_id,
                f"version conflict, required seqNo [{seq_no}], primary term [{term}]. current document has seqNo "
                f"[{existing.seq_no}] and primary term [{existing.primary_term}]",
            )

    @staticmethod
    def _conflict(index: Index, doc_id: str, detail: str) -> OpenSearchError:
        return OpenSearchError(
            409,
            "version_conflict_engine_exception",
            f"[{doc_id}]: {detail}",
            index=index.name,
            shard="0",
            index_uuid=index.uuid,
        )

    @staticmethod
    def _write_result(index: Index, stored: StoredDoc, result: str) -> dict[str, Any]:
        return {
            "_index": index.name,
            "_id": stored.id,
            "_version": stored.version,
            "result": result,
            "_shards": _shards(index),
            "_seq_no": stored.seq_no,
            "_primary_term": stored.primary_term,
        }

    def get_doc(self, index_name: str, doc_id: str, params: dict[str, str]) -> Response:
        index = self.indices.get(index_name)
        if index is None:
            raise index_not_found(index_name)
        stored = index.docs.get(doc_id)
        if stored is None:
            return 404, {"_index": index_name, "_id": doc_id, "found": False}
        body: dict[str, Any] = {
            "_index": index_name,
            "_id": doc_id,
            "_version": stored.version,
            "_seq_no": stored.seq_no,
            "_primary_term": stored.primary_term,
            "found": True,
        }
        source = self._doc_source(stored, params)
        if source is not None:
            body["_source"] = source
        return 200, body

    def get_source(self, index_name: str, doc_id: str, params: dict[str, str]) -> Response:
        index = self.indices.get(index_name)
        if index is None:
            raise index_not_found(index_name)
        stored = index.docs.get(doc_id)
        if stored is None:
            raise OpenSearchError(404, "resource_not_found_exception", f"Document not found [{index_name}]/[{doc_id}]")
        return 200, self._doc_source(stored, params) or {}

    @staticmethod
    def _doc_source(stored: StoredDoc, params: dict[str, str]) -> dict[str, Any] | None:
        spec = (
            search_phase._source_from_params(params)
            if any(k in params for k in ("_source", "_source_includes", "_source_excludes"))
            else None
        )
        if spec is False:
            return None
        if spec and (spec["includes"] or spec["excludes"]):
            return search_phase.filter_source(stored.source, spec["includes"], spec["excludes"])
        return stored.source

    def delete_doc(self, index_name: str, doc_id: str, params: dict[str, str]) -> Response:
        self._check_serverless_refresh(params)
        index = self.indices.get(index_name)
        if index is None:
            raise index_not_found(index_name)
        status, body = self._delete(index, doc_id, params)
        self._maybe_refresh([index], params)
        return status, body

    def _delete(self, index: Index, doc_id: str, meta: dict[str, Any]) -> Response:
        existing = index.docs.get(doc_id)
        self._check_seq_no(index, doc_id, existing, meta)
        seq_no = index.next_seq_no()
        if existing is None:
            version = index.tombstones.get(doc_id, 0) + 1
            index.tombstones[doc_id] = version
            result, status = "not_found", 404
        else:
            index.remove(doc_id)
            version = existing.version + 1
            index.tombstones[doc_id] = version
            result, status = "deleted", 200
        return status, {
            "_index": index.name,
            "_id": doc_id,
            "_version": version,
            "result": result,
            "_shards": _shards(index),
            "_seq_no": seq_no,
            "_primary_term": index.primary_term,
        }

    def update_doc(self, index_name: str, doc_id: str, body: Any, params: dict[str, str]) -> Response:
        self._check_serverless_refresh(params)
        index = self.indices.get(index_name)
        if index is None:
            raise index_not_found(index_name)
        if not isinstance(body, dict):
            raise parsing("request body is required")
        status, result = self._update(index, doc_id, body, params)
        self._maybe_refresh([index], params)
        return status, result

    def _update(self, index: Index, doc_id: str, body: dict[str, Any], meta: dict[str, Any]) -> Response:
        unknown = set(body) - {
            "doc",
            "upsert",
            "doc_as_upsert",
            "detect_noop",
            "_source",
            "script",
            "scripted_upsert",
            "lang",
        }
        if unknown:
            raise parsing(f"[UpdateRequest] unknown field [{sorted(unknown)[0]}]")
        if "script" in body:
            raise bad_request("scripts are not supported by this server (painless is not implemented)")
        if self.serverless and ("upsert" in body or body.get("doc_as_upsert")):
            raise bad_request("update by upsert is not supported by Amazon OpenSearch Serverless")
        doc = body.get("doc")
        if doc is None:
            raise OpenSearchError(
                400, "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"
            )
        if not isinstance(doc, dict):
            raise parsing("[doc] must be an object")
        existing = index.docs.get(doc_id)
        self._check_seq_no(index, doc_id, existing, meta)
        if existing is None:
            if body.get("doc_as_upsert"):
                source = doc
            elif isinstance(body.get("upsert"), dict):
                source = body["upsert"]
            else:
                raise OpenSearchError(
                    404,
                    "document_missing_exception",
                    f"[{doc_id}]: document missing",
                    index=index.name,
                    shard="0",
                    index_uuid=index.uuid,
                )
            stored = index.put(doc_id, source, index.mappings.index_document(source))
            return 201, self._with_get(self._write_result(index, stored, "created"), stored, body, meta)
        merged = _deep_merge(existing.source, doc)
        if merged == existing.source and body.get("detect_noop", True):
            result = {
                "_index": index.name,
                "_id": doc_id,
                "_version": existing.version,
                "result": "noop",
                "_shards": _shards(index, noop=True),
                "_seq_no": existing.seq_no,
                "_primary_term": existing.primary_term,
            }
            return 200, self._with_get(result, existing, body, meta)
        stored = index.put(doc_id, merged, index.mappings.index_document(merged))
        return 200, self._with_get(self._write_result(index, stored, "updated"), stored, body, meta)

    @staticmethod
    def _with_get(
        result: dict[str, Any], stored: StoredDoc, body: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any]:
        wanted = body.get("_source", meta.get("_source"))
        if wanted in (None, False, "false"):
            return result
        result["get"] = {
            "_seq_no": stored.seq_no,
            "_primary_term": stored.primary_term,
            "found": True,
            "_source": stored.source,
        }
        return result

    # Bulk -------------------------------------------------------------------------------------------

    def bulk(self, default_index: str | None, payload: bytes, params: dict[str, str]) -> Response:
        self._check_serverless_refresh(params)
        started = time.monotonic()
        lines = payload.decode("utf-8").split("\n")
        if payload and not payload.endswith(b"\n"):
            raise bad_request("The bulk request must be terminated by a newline [\\n]")
        operations: list[tuple[str, dict[str, Any], Any]] = []
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if not line:
                continue
            try:
                action_line = json.loads(line)
            except json.JSONDecodeError:
                raise bad_request(
                    f"Malformed action/metadata line [{i}], expected START_OBJECT but found [VALUE_STRING]"
                ) from None
            if not isinstance(action_line, dict) or len(action_line) != 1:
                raise bad_request(
                    f"Malformed action/metadata line [{i}], expected START_OBJECT or END_OBJECT but "
                    "found [VALUE_STRING]"
                )
            action, meta = next(iter(action_line.items()))
            if action not in ("index", "create", "update", "delete"):
                raise bad_request(
                    f"Malformed action/metadata line [{i}], expected one of [create, delete, index, "
                    f"update] but found [{action}]"
                )
            if not isinstance(meta, dict):
                raise bad_request(f"Malformed action/metadata line [{i}], expected START_OBJECT but found [{meta}]")
            unknown = set(meta) - {
                "_index",
                "_id",
                "routing",
                "if_seq_no",
                "if_primary_term",
                "version",
                "version_type",
                "pipeline",
                "require_alias",
                "retry_on_conflict",
                "_source",
            }
            if unknown:
                raise bad_request(f"Action/metadata line [{i}] contains an unknown parameter [{sorted(unknown)[0]}]")
            source: Any = None
            if action != "delete":
                while i < len(lines) and not lines[i].strip():
                    i += 1
                if i >= len(lines):
                    raise bad_request("The bulk request must be terminated by a newline [\\n]")
                try:
                    source = json.loads(lines[i])
                except json.JSONDecodeError:
                    raise parsing(f"Failed to parse source of line [{i + 1}]") from None
                i += 1
            operations.append((action, meta, source))
        if not operations:
            raise OpenSearchError(
                400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"
            )
        missing = [n for n, (_, meta, _) in enumerate(operations, 1) if not (meta.get("_index") or default_index)]
        if missing:
            raise OpenSearchError(
                400,
                "action_request_validation_exception",
                "Validation Failed: " + "".join(f"{n}: index is missing;" for n in missing),
            )
        items: list[dict[str, Any]] = []
        touched: dict[str, Index] = {}
        for action, meta, source in operations:
            name = str(meta.get("_index") or default_index)
            doc_id = meta.get("_id")
            try:
                index = self._auto_create(name) if action != "delete" else self.indices.get(name)
                if index is None:
                    raise index_not_found(name)
                touched[index.name] = index
                status, result = self._bulk_item(index, action, None if doc_id is None else str(doc_id), meta, source)
                result["status"] = status
            except OpenSearchError as error:
                status = error.status
                result = {"_index": name, "_id": doc_id, "status": status, "error": error.cause()}
            items.append({action: result})
        self._maybe_refresh(list(touched.values()), params)
        return 200, {
            "took": int((time.monotonic() - started) * 1000),
            "errors": any("error" in next(iter(item.values())) for item in items),
            "items": items,
        }

    def _bulk_item(self, index: Index, action: str, doc_id: str | None, meta: dict[str, Any], source: Any) -> Response:
        if action == "delete":
            if doc_id is None:
                raise OpenSearchError(
                    400, "action_request_validation_exception", "Validation Failed: 1: id is missing;"
                )
            return self._delete(index, doc_id, meta)
        if action == "update":
            if doc_id is None:
                raise OpenSearchError(
                    400, "action_request_validation_exception", "Validation Failed: 1: id is missing;"
                )
            if not isinstance(source, dict):
                raise parsing("Failed to parse update request")
            status, result = self._update(index, doc_id, source, meta)
            return status, result
        if not isinstance(source, dict):
            raise OpenSearchError(
                400, "mapper_parsing_exception", "failed to parse: the document must be a JSON object"
            )
        self._check_serverless_id(doc_id)
        stored, created = self._write(index, doc_id, source, meta, create=action == "create")
        return (201 if created else 200), self._write_result(index, stored, "created" if created else "updated")

    # Refresh ----------------------------------------------------------------------------------------

    def refresh(self, expression: str | None, params: dict[str, str]) -> Response:
        indices = self.resolve(expression, **self._lenient(params))
        for index in indices:
            index.refresh()
        shards = sum(i.shards for i in indices)
        total = sum(i.shards * (i.replicas + 1) for i in indices)
        return 200, {"_shards": {"total": total, "successful": shards, "failed": 0}}

    @staticmethod
    def _maybe_refresh(indices: list[Index], params: dict[str, Any]) -> None:
        if str(params.get("refresh", "false")).lower() in ("true", "", "wait_for"):
            for index in indices:
                index.refresh()

    # Search ---------------------------------------------------------------------------------------

    def lookup(self, index_name: str, doc_id: str) -> dict[str, Any] | None:
        index = self.indices.get(index_name)
        if index is None:
            raise index_not_found(index_name)
        stored = index.docs.get(doc_id)
        return None if stored is None else stored.source

    def search(self, expression: str | None, body: Any, params: dict[str, str]) -> Response:
        if "q" in params:
            raise bad_request("query strings (the q parameter) are not supported by this server; send a query body")
        if params.get("search_type") == "dfs_query_then_fetch":
            raise bad_request("search_type dfs_query_then_fetch is not supported by this server")
        targets = self.resolve(expression, **self._lenient(params))
        processor = self._pipeline_for(targets, params)
        return 200, search_phase.search(targets, body if body is not None else {}, params, processor, self.lookup)

    def _pipeline_for(self, targets: list[Index], params: dict[str, str]) -> Processor | None:
        name = params.get("search_pipeline")
        if name is None:
            defaults = {i.settings.get("search.default_pipeline") for i in targets} - {None, "_none"}
            if len(defaults) > 1:
                raise bad_request("the target indices have different default search pipelines")
            name = next(iter(defaults), None)
        if name in (None, "_none"):
            return None
        if name not in self.pipelines:
            raise bad_request(f"Pipeline {name} is not defined")
        return self._processors[name]

    def count(self, expression: str | None, body: Any, params: dict[str, str]) -> Response:
        if "q" in params:
            raise bad_request("query strings (the q parameter) are not supported by this server; send a query body")
        targets = self.resolve(expression, **self._lenient(params))
        return 200, search_phase.count(targets, body if isinstance(body, dict) else {}, params, self.lookup)

    def delete_by_query(self, expression: str, body: Any, params: dict[str, str]) -> Response:
        if self.serverless:
            raise OpenSearchError(
                404, "resource_not_found_exception", "_delete_by_query is not supported by Amazon OpenSearch Serverless"
            )
        if "q" in params:
            raise bad_request("query strings (the q parameter) are not supported by this server; send a query body")
        if params.get("wait_for_completion", "true").lower() == "false":
            raise bad_request("wait_for_completion=false (tasks) is not supported by this server")
        if not isinstance(body, dict) or "query" not in body:
            raise OpenSearchError(400, "action_request_validation_exception", "Validation Failed: 1: query is missing;")
        unknown = set(body) - {"query", "max_docs", "slice"}
        if unknown:
            raise parsing(f"[delete_by_query] unknown field [{sorted(unknown)[0]}]")
        conflicts = params.get("conflicts", "abort")
        if conflicts not in ("abort", "proceed"):
            raise bad_request(f'conflicts may only be "proceed" or "abort" but was [{conflicts}]')
        max_docs = body.get("max_docs", params.get("max_docs"))
        limit = int(max_docs) if max_docs is not None else None
        started = time.monotonic()
        targets = self.resolve(expression, **self._lenient(params))
        total = deleted = conflicts_seen = 0
        failures: list[dict[str, Any]] = []
        for index in targets:
            for segment, pos in search_phase.matching(index, body["query"], self.lookup):
                if limit is not None and total >= limit:
                    break
                total += 1
                snapshot = segment.docs[pos]
                live = index.docs.get(snapshot.id)
                if live is None or live.seq_no != snapshot.seq_no:
                    conflicts_seen += 1
                    if conflicts == "abort":
                        detail = (
                            "but no document was found"
                            if live is None
                            else f"current document has seqNo [{live.seq_no}] and primary term [{live.primary_term}]"
                        )
                        error = self._conflict(
                            index,
                            snapshot.id,
                            f"version conflict, required seqNo "
                            f"[{snapshot.seq_no}], primary term [{snapshot.primary_term}]. {detail}",
                        )
                        failures.append({"index": index.name, "id": snapshot.id, "cause": error.cause(), "status": 409})
                        break
                    continue
                self._delete(index, snapshot.id, {})
                deleted += 1
            if failures:
                break
        self._maybe_refresh(targets, params)
        result = {
            "took": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "total": total,
            "deleted": deleted,
            "batches": 1 if total else 0,
            "version_conflicts": conflicts_seen,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": failures,
        }
        return (409 if failures else 200), result

    # Search pipelines -------------------------------------------------------------------------------

    def put_pipeline(self, pipeline_id: str, body: Any) -> Response:
        processor = parse_pipeline(body)
        self.pipelines[pipeline_id] = stored_copy(body)
        self._processors[pipeline_id] = processor
        return 200, {"acknowledged": True}

    def get_pipeline(self, pipeline_id: str | None) -> Response:
        if pipeline_id is None:
            return 200, {name: stored_copy(body) for name, body in self.pipelines.items()}
        found = {}
        for part in pipeline_id.split(","):
            for name, body in self.pipelines.items():
                if fnmatch.fnmatchcase(name, part):
                    found[name] = stored_copy(body)
        if not found:
            return 404, {}
        return 200, found

    def delete_pipeline(self, pipeline_id: str) -> Response:
        if pipeline_id not in self.pipelines:
            raise OpenSearchError(404, "resource_not_found_exception", f"pipeline [{pipeline_id}] is missing")
        in_use = [i.name for i in self.indices.values() if i.settings.get("search.default_pipeline") == pipeline_id]
        if in_use:
            raise bad_request(f"pipeline [{pipeline_id}] is the default search pipeline of {in_use}")
        del self.pipelines[pipeline_id]
        del self._processors[pipeline_id]
        return 200, {"acknowledged": True}

    # Analysis ---------------------------------------------------------------------------------------

    def analyze(self, index_name: str | None, body: Any) -> Response:
        if not isinstance(body, dict):
            raise parsing("request body is required")
        unknown = set(body) - {
            "analyzer",
            "text",
            "tokenizer",
            "filter",
            "char_filter",
            "field",
            "explain",
            "attributes",
            "normalizer",
        }
        if unknown:
            raise parsing(f"Unknown parameter [{sorted(unknown)[0]}] in request body")
        if body.get("char_filter") or body.get("normalizer") or body.get("explain"):
            raise bad_request("char filters, normalizers and explain are not supported by this server's _analyze")
        texts = body.get("text")
        if texts is None:
            raise OpenSearchError(400, "action_request_validation_exception", "Validation Failed: 1: text is missing;")
        texts = texts if isinstance(texts, list) else [texts]
        tokenizer: str = "standard"
        filters: tuple[str, ...] = ("lowercase",)
        if "analyzer" in body:
            if body["analyzer"] not in ANALYZERS:
                raise bad_request(f"failed to find global analyzer [{body['analyzer']}]")
            tokenizer, filters = ANALYZERS[body["analyzer"]]
        elif "field" in body:
            if index_name is None:
                raise bad_request("analysis by field needs an index")
            index = self.indices.get(index_name)
            if index is None:
                raise index_not_found(index_name)
            mapped = index.mappings.fields.get(str(body["field"]))
            analyzer = mapped.analyzer if mapped is not None and mapped.type == "text" else "keyword"
            tokenizer, filters = ANALYZERS[analyzer]
        elif "tokenizer" in body:
            tokenizer = str(body["tokenizer"])
            raw_filters = body.get("filter") or []
            if not all(isinstance(f, str) for f in raw_filters):
                raise bad_request("custom token filter definitions are not supported by this server")
            filters = tuple(raw_filters)
        tokens: list[dict[str, Any]] = []
        offset_base, position_base = 0, 0
        for n, text in enumerate(texts):
            text = str(text)
            produced: list[Token] = run_chain(text, tokenizer, filters)
            for token in produced:
                tokens.append(
                    {
                        "token": token.term,
                        "start_offset": token.start + offset_base,
                        "end_offset": token.end + offset_base,
                        "type": token.type,
                        "position": token.position + position_base,
                    }
                )
            offset_base += len(text.encode("utf-16-le")) // 2 + 1
            if produced:
                position_base = tokens[-1]["position"] + 101 if n < len(texts) - 1 else position_base
        return 200, {"tokens": tokens}


def _auto_id() -> str:
    """A 20-character URL-safe id like OpenSearch's auto-generated ones."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode()


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A new source: ``base`` with ``changes`` merged in (values are shared; stored sources are never mutated)."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
