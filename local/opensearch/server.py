"""The HTTP front of the local OpenSearch-compatible server: routes (named like the REST API
specification's paths), query parameters, bodies, OpenSearch-shaped errors, optional SigV4 verification.

    server = start_opensearch()          # loopback, a free port
    client = OpenSearch(server.url)      # opensearch-py, unchanged
    ...
    server.stop()
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .engine import Engine, Response
from .errors import OpenSearchError, bad_request

MAX_BODY_BYTES = 100 * 1024 * 1024  # http.max_content_length

# Query parameters every route accepts (the specification's global parameters).
GLOBAL_PARAMS = frozenset({"pretty", "human", "error_trace"})
_INDICES_OPTIONS = {"allow_no_indices", "expand_wildcards", "ignore_unavailable"}
_MANAGER = {"cluster_manager_timeout", "master_timeout"}
_WRITE = {
    "refresh",
    "routing",
    "timeout",
    "wait_for_active_shards",
    "if_seq_no",
    "if_primary_term",
    "version",
    "version_type",
    "pipeline",
    "require_alias",
}
_SEARCH = _INDICES_OPTIONS | {
    "size",
    "from",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_total_hits",
    "rest_total_hits_as_int",
    "seq_no_primary_term",
    "version",
    "search_pipeline",
    "timeout",
    "cancel_after_time_interval",
    "phase_took",
    "preference",
    "routing",
    "request_cache",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "typed_keys",
    "track_scores",
    "search_type",
    "q",
    "include_named_queries_score",
}


@dataclass(frozen=True)
class Route:
    """One operation: method, path template (as in the API specification), accepted query parameters."""

    method: str
    template: str
    handler: Callable[[Engine, dict[str, str], dict[str, str], bytes], Response]
    params: frozenset[str]

    @property
    def parts(self) -> list[str]:
        return [p for p in self.template.split("/") if p]


def _json(body: bytes, *, required: bool = False) -> Any:
    if not body.strip():
        if required:
            raise bad_request("request body is required", "parse_exception")
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OpenSearchError(
            400, "parse_exception", f"Failed to parse content to map: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from None


def _obj(body: bytes) -> dict[str, Any]:
    value = _json(body)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OpenSearchError(400, "parse_exception", "request body must be a JSON object")
    return value


def _routes() -> list[Route]:
    routes: list[Route] = []

    def add(methods: str, template: str, params: set[str], handler: Callable[..., Response]) -> None:
        for method in methods.split(","):
            routes.append(Route(method, template, handler, frozenset(params)))

    add("GET", "/", set(), lambda e, p, q, b: e.info())
    add("HEAD", "/", set(), lambda e, p, q, b: (200, None))
    add("GET,POST", "/_analyze", {"index"}, lambda e, p, q, b: e.analyze(q.get("index"), _obj(b)))
    add("GET,POST", "/{index}/_analyze", set(), lambda e, p, q, b: e.analyze(p["index"], _obj(b)))
    bulk = {
        "refresh",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "pipeline",
        "require_alias",
        "_source",
        "_source_includes",
        "_source_excludes",
    }
    add("POST,PUT", "/_bulk", bulk | {"index"}, lambda e, p, q, b: e.bulk(q.get("index"), b, q))
    add("POST,PUT", "/{index}/_bulk", bulk, lambda e, p, q, b: e.bulk(p["index"], b, q))
    count = _INDICES_OPTIONS | {
        "min_score",
        "routing",
        "preference",
        "terminate_after",
        "q",
        "analyzer",
        "default_operator",
        "df",
        "lenient",
        "analyze_wildcard",
        "ignore_throttled",
    }
    add("GET,POST", "/_count", count, lambda e, p, q, b: e.count(None, _obj(b), q))
    add("GET,POST", "/{index}/_count", count, lambda e, p, q, b: e.count(p["index"], _obj(b), q))
    add("GET,POST", "/_refresh", _INDICES_OPTIONS, lambda e, p, q, b: _refresh(e, None, q))
    add("GET,POST", "/{index}/_refresh", _INDICES_OPTIONS, lambda e, p, q, b: _refresh(e, p["index"], q))
    add("GET,POST", "/_search", _SEARCH, lambda e, p, q, b: e.search(None, _obj(b), q))
    add("GET,POST", "/{index}/_search", _SEARCH, lambda e, p, q, b: e.search(p["index"], _obj(b), q))
    mapping_get = _INDICES_OPTIONS | _MANAGER | {"local"}
    add("GET", "/_mapping", mapping_get, lambda e, p, q, b: e.get_mapping(None, q))
    add("GET", "/{index}/_mapping", mapping_get, lambda e, p, q, b: e.get_mapping(p["index"], q))
    mapping_put = _INDICES_OPTIONS | _MANAGER | {"timeout", "write_index_only"}
    add("PUT,POST", "/{index}/_mapping", mapping_put, lambda e, p, q, b: e.put_mapping(p["index"], _obj(b), q))
    index_get = _INDICES_OPTIONS | _MANAGER | {"flat_settings", "include_defaults", "local"}
    add(
        "PUT",
        "/{index}",
        _MANAGER | {"timeout", "wait_for_active_shards"},
        lambda e, p, q, b: e.create_index(p["index"], _obj(b)),
    )
    add("GET", "/{index}", index_get, lambda e, p, q, b: e.get_index(p["index"], q))
    add("HEAD", "/{index}", index_get - {"master_timeout"}, lambda e, p, q, b: e.index_exists(p["index"], q))
    add(
        "DELETE",
        "/{index}",
        _INDICES_OPTIONS | _MANAGER | {"timeout"},
        lambda e, p, q, b: e.delete_index(p["index"], q),
    )
    add("POST", "/{index}/_doc", _WRITE | {"op_type"}, lambda e, p, q, b: e.index_doc(p["index"], None, _json(b), q))
    add(
        "PUT,POST",
        "/{index}/_doc/{id}",
        _WRITE | {"op_type"},
        lambda e, p, q, b: e.index_doc(p["index"], p["id"], _json(b), q),
    )
    add(
        "PUT,POST",
        "/{index}/_create/{id}",
        _WRITE - {"if_seq_no", "if_primary_term", "require_alias"},
        lambda e, p, q, b: e.index_doc(p["index"], p["id"], _json(b), q, create=True),
    )
    read = {
        "_source",
        "_source_includes",
        "_source_excludes",
        "realtime",
        "refresh",
        "routing",
        "preference",
        "stored_fields",
        "version",
        "version_type",
    }
    add("GET", "/{index}/_doc/{id}", read, lambda e, p, q, b: e.get_doc(p["index"], p["id"], q))
    add("HEAD", "/{index}/_doc/{id}", read, lambda e, p, q, b: (e.get_doc(p["index"], p["id"], q)[0], None))
    add(
        "DELETE",
        "/{index}/_doc/{id}",
        _WRITE - {"pipeline", "require_alias"},
        lambda e, p, q, b: e.delete_doc(p["index"], p["id"], q),
    )
    add(
        "POST",
        "/{index}/_update/{id}",
        (_WRITE - {"pipeline", "version", "version_type"})
        | {"_source", "_source_includes", "_source_excludes", "retry_on_conflict", "lang"},
        lambda e, p, q, b: e.update_doc(p["index"], p["id"], _json(b), q),
    )
    source_read = read - {"stored_fields"}
    add("GET", "/{index}/_source/{id}", source_read, lambda e, p, q, b: e.get_source(p["index"], p["id"], q))
    add(
        "HEAD",
        "/{index}/_source/{id}",
        source_read,
        lambda e, p, q, b: (_status_of(lambda: e.get_source(p["index"], p["id"], q)), None),
    )
    dbq = _INDICES_OPTIONS | {
        "refresh",
        "conflicts",
        "max_docs",
        "wait_for_completion",
        "slices",
        "scroll_size",
        "timeout",
        "requests_per_second",
        "routing",
        "preference",
        "search_timeout",
        "wait_for_active_shards",
        "scroll",
        "analyzer",
        "default_operator",
        "df",
        "lenient",
        "analyze_wildcard",
        "from",
        "sort",
        "_source",
        "_source_includes",
        "_source_excludes",
        "q",
        "search_type",
        "stats",
        "terminate_after",
        "version",
        "request_cache",
    }
    add("POST", "/{index}/_delete_by_query", dbq, lambda e, p, q, b: e.delete_by_query(p["index"], _json(b), q))
    pipelines = {"cluster_manager_timeout"}
    add("GET", "/_search/pipeline", pipelines, lambda e, p, q, b: e.get_pipeline(None))
    add("GET", "/_search/pipeline/{id}", pipelines, lambda e, p, q, b: e.get_pipeline(p["id"]))
    add(
        "PUT",
        "/_search/pipeline/{id}",
        pipelines | {"timeout"},
        lambda e, p, q, b: e.put_pipeline(p["id"], _json(b, required=True)),
    )
    add("DELETE", "/_search/pipeline/{id}", pipelines | {"timeout"}, lambda e, p, q, b: e.delete_pipeline(p["id"]))
    return routes


def _refresh(engine: Engine, expression: str | None, params: dict[str, str]) -> Response:
    if engine.serverless:
        raise OpenSearchError(
            404, "resource_not_found_exception", "_refresh is not supported by Amazon OpenSearch Serverless"
        )
    return engine.refresh(expression, params)


def _status_of(call: Callable[[], Response]) -> int:
    try:
        return call()[0]
    except OpenSearchError as error:
        return error.status


ROUTES = _routes()
SERVERLESS_EXCLUDED = {("GET", "/")}  # the specification's x-distributions-excluded: amazon-serverless


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
    """The route for a request, its path parameters, and the methods the path allows."""
    parts = [unquote(p) for p in path.split("/") if p]
    best: tuple[int, Route, dict[str, str]] | None = None
    allowed: list[str] = []
    for route in ROUTES:
        template = route.parts
        if len(template) != len(parts):
            continue
        params: dict[str, str] = {}
        literal = 0
        for want, got in zip(template, parts, strict=True):
            if want.startswith("{"):
                if got.startswith("_") and want == "{index}" and got not in ("_all",):
                    break
                params[want[1:-1]] = got
            elif want == got:
                literal += 1
            else:
                break
        else:
            allowed.append(route.method)
            if route.method == method and (best is None or literal > best[0]):
                best = (literal, route, params)
    if best is None:
        return None, {}, allowed
    return best[1], best[2], allowed


@dataclass
class SigV4:
    """Credentials the server checks SigV4 signatures against (like an IAM-protected domain)."""

    access_key: str
    secret_key: str
    region: str
    service: str = "es"


@dataclass
class RecordedRequest:
    """One request the server received, and its answer (tests inspect them)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: Any = None


@dataclass
class OpenSearchServer:
    """The server: ``url``, ``engine`` (the data), ``requests`` (what it received), ``stop()``."""

    engine: Engine
    httpd: ThreadingHTTPServer
    thread: threading.Thread
    sigv4: SigV4 | None = None
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def reset(self) -> None:
        """Drop every index and pipeline (tests)."""
        with self.engine.lock:
            self.engine.indices.clear()
            self.engine.pipelines.clear()
            self.engine._processors.clear()
        self.requests.clear()

    def __enter__(self) -> OpenSearchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """Status and body (None for no body) of one request."""
        split = urlsplit(target)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        recorded = RecordedRequest(method, split.path, params, headers, body)
        self.requests.append(recorded)
        status, payload = self._dispatch(method, split.path, params, headers, body, target)
        recorded.status, recorded.response = status, payload
        return status, payload

    def _dispatch(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes, target: str
    ) -> tuple[int, Any]:
        if self.sigv4 is not None:
            problem = verify_sigv4(self.sigv4, method, target, headers, body)
            if problem is not None:
                return 403, {"message": problem}
        route, path_params, allowed = match_route(method, path)
        if route is None:
            if allowed:
                return 405, {
                    "error": f"Incorrect HTTP method for uri [{path}] and method [{method}], allowed: "
                    f"[{', '.join(sorted(set(allowed)))}]",
                    "status": 405,
                }
            missing = bad_request(f"no handler found for uri [{path}] and method [{method}]")
            return missing.status, missing.body()
        if self.engine.serverless and (route.method, route.template) in SERVERLESS_EXCLUDED:
            return 404, None
        unknown = sorted(set(params) - route.params - GLOBAL_PARAMS)
        if unknown:
            error = bad_request(f"request [{path}] contains unrecognized parameter: [{unknown[0]}]")
            return error.status, error.body()
        try:
            with self.engine.lock:
                status, payload = route.handler(self.engine, path_params, params, body)
        except OpenSearchError as error:
            status, payload = error.status, error.body()
        except Exception as exc:  # a bug in the server: answer like OpenSearch's 500, keep serving
            print(f"local OpenSearch: {type(exc).__name__}: {exc}", file=sys.stderr)
            failure = OpenSearchError(500, "exception", f"{type(exc).__name__}: {exc}")
            status, payload = failure.status, failure.body()
        if method == "HEAD":
            payload = None
        return status, payload


def verify_sigv4(creds: SigV4, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
    """None when the request carries a valid SigV4 signature for ``creds``, else why not."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return "Missing Authentication Token"
    fields = dict(
        part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",") if "=" in part
    )
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or scope[0] != creds.access_key:
        return "The security token included in the request is invalid."
    if scope[2] != creds.region or scope[3] != creds.service:
        return f"Credential should be scoped to a valid region and service ({creds.region}/{creds.service})."
    payload_hash = lowered.get("x-amz-content-sha256")
    if payload_hash is not None and payload_hash != hashlib.sha256(body).hexdigest():
        return "The provided 'x-amz-content-sha256' header does not match what was computed."
    signed = fields.get("SignedHeaders", "").split(";")
    request = AWSRequest(
        method=method,
        url=f"http://{lowered.get('host', '')}{target}",
        data=body,
        headers={name: lowered[name] for name in signed if name in lowered},
    )
    request.context["timestamp"] = lowered.get("x-amz-date", "")
    auth = SigV4Auth(
        Credentials(creds.access_key, creds.secret_key, lowered.get("x-amz-security-token")),
        creds.service,
        creds.region,
    )
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        return (
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method."
        )
    return None


def _make_handler(server_ref: list[OpenSearchServer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out separately: no 40 ms delayed-ACK stall

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(413, {"error": "Request Entity Too Large", "status": 413})
                return
            body = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding", "").lower() == "gzip" and body:
                body = gzip.decompress(body)
            headers = {k: v for k, v in self.headers.items()}
            status, payload = server_ref[0].handle(self.command, self.path, headers, body)
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            pretty = query.get("pretty", "false").lower() != "false"
            self._send(status, payload, pretty)

        def _send(self, status: int, payload: Any, pretty: bool = False) -> None:
            indent = 2 if pretty else None
            data = b"" if payload is None else json.dumps(payload, ensure_ascii=False, indent=indent).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve
        do_PUT = _serve
        do_DELETE = _serve
        do_HEAD = _serve
        do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def start_opensearch(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    distribution: str = "opensearch",
    sigv4: SigV4 | None = None,
    refresh_interval_s: float | None = None,
) -> OpenSearchServer:
    """Start a server on a background thread (port 0 picks a free port).

    ``distribution="amazon-serverless"`` behaves like an OpenSearch Serverless vector collection where it
    differs (no custom document ids on index/create, no ``_refresh``, no ``_delete_by_query``, no ``GET /``);
    ``sigv4`` makes it require and verify SigV4 signatures; ``refresh_interval_s`` sets the default
    ``index.refresh_interval`` of new indices (OpenSearch's default is 1 s).
    """
    ref: list[OpenSearchServer] = []
    httpd = ThreadingHTTPServer((host, port), _make_handler(ref))
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-opensearch", daemon=True
    )
    server = OpenSearchServer(Engine(distribution, refresh_interval_s), httpd, thread, sigv4)
    ref.append(server)
    thread.start()
    return server


def main(argv: list[str] | None = None) -> None:
    """``python -m local.opensearch [--port N] [--serverless]``: serve until Ctrl-C."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="A local OpenSearch-compatible server (in memory).")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--serverless", action="store_true", help="behave like an OpenSearch Serverless collection")
    args = parser.parse_args(argv)
    server = start_opensearch(port=args.port, distribution="amazon-serverless" if args.serverless else "opensearch")
    print(f"local OpenSearch on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
