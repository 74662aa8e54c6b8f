"""A fake LLM server speaking the Anthropic Messages and OpenAI chat-completions wire formats.

Driven by scripts (text chunks, tool calls, stop reason, usage) and faults (an HTTP error with
``retry-after``, a slow first token, a stream cut after N events). With an empty queue it echoes
the last user message. Runs on 127.0.0.1 in a thread (stdlib ``http.server``)::

    with FakeLlmServer() as fake:
        fake.enqueue(Script(text=["Hel", "lo"]))
        client = anthropic.Anthropic(api_key=fake.api_key, base_url=fake.url)
        client = openai.OpenAI(api_key=fake.api_key, base_url=fake.url + "/v1")

Streams use chunked transfer encoding, so a cut stream is an incomplete body on the client, as
with a real dropped connection.
"""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptToolCall:
    """A tool call the fake model makes. ``raw_arguments`` overrides ``input`` (e.g. malformed JSON)."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    pieces: int = 3  # the argument JSON is streamed in this many pieces
    id: str = field(default_factory=lambda: "toolu_" + uuid.uuid4().hex[:20])

    @property
    def arguments(self) -> str:
        """The argument JSON as streamed."""
        return self.raw_arguments if self.raw_arguments is not None else json.dumps(self.input)


@dataclass
class Script:
    """One scripted response (or fault). ``stop_reason`` uses Anthropic names; None = derived."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[ScriptToolCall] = field(default_factory=list)
    stop_reason: str | None = None  # end_turn | tool_use | max_tokens
    input_tokens: int = 12
    output_tokens: int = 7
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # Faults.
    status: int = 200
    retry_after: str | None = None
    error_type: str | None = None  # Anthropic error type / OpenAI error code in the error body
    first_token_delay_ms: int = 0
    chunk_delay_ms: int = 0
    cut_after_events: int | None = None

    @classmethod
    def error(cls, status: int, retry_after: str | float | None = None, error_type: str | None = None) -> Script:
        """An HTTP error response."""
        return cls(status=status, retry_after=None if retry_after is None else str(retry_after), error_type=error_type)

    def resolved_stop(self) -> str:
        """The stop reason (``tool_use`` when the script makes tool calls, else ``end_turn``)."""
        return self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")


@dataclass
class RecordedRequest:
    """A request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    auth_ok: bool
    at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic clock)


_OPENAI_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _StreamCutError(Exception):
    pass


def _split(s: str, pieces: int) -> list[str]:
    if not s:
        return []
    size = max(1, -(-len(s) // max(1, pieces)))
    return [s[i : i + size] for i in range(0, len(s), size)]


def _last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages", [])):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            if texts:
                return "".join(texts)
    return ""


FAULT_KINDS = ("429", "500", "cut")
# The control API's names of the fault rates (``POST /_fake/faults``, ``luma bench load``) -> kinds.
FAULT_RATE_KEYS = {"rate429": "429", "rate500": "500", "cutRate": "cut"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping connections (timeouts, cut streams) are expected; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeLlmServer:
    """The fake server: ``start()`` → ``url``; ``enqueue(script)``; ``requests``; ``stop()``."""

    def __init__(
        self,
        api_key: str = "fake-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        responder: Callable[[dict[str, Any]], Script] | None = None,
    ) -> None:
        self.api_key = api_key
        # Answers requests when no script is queued (None: echo the last user message).
        self.responder = responder
        # (monotonic-free wall clock of the first text delta sent, the last user text) per stream.
        self.first_tokens: deque[tuple[float, str]] = deque(maxlen=10_000)
        self._host = host
        self._port = port
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        # Provider faults (``luma bench load --faults``): probability per kind, and what was injected.
        self._fault_rates: dict[str, float] = {}
        self._fault_rng = random.Random(29)
        self.faults_injected: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeLlmServer:
        """Bind (port 0 = a free port) and serve in a daemon thread."""
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _Server((self._host, self._port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL (Anthropic SDK ``base_url``; add ``/v1`` for the OpenAI SDK)."""
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- faults ------------------------------------------------------------------------------
    def set_faults(self, rates: dict[str, float], *, seed: int | None = None) -> dict[str, int]:
        """Answer a share of model calls with ``429``, ``500`` or a stream ``cut`` mid-way (probabilities;
        ``{}`` turns them off); returns what was injected so far (the counts restart with new rates)."""
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown or any(not 0 <= float(p) <= 1 for p in rates.values()):
            raise ValueError(f"expected probabilities for {', '.join(FAULT_KINDS)}")
        with self._lock:
            injected = dict(self.faults_injected)
            self._fault_rates = {k: float(p) for k, p in rates.items() if p}
            if self._fault_rates:
                self.faults_injected = {}
                if seed is not None:
                    self._fault_rng = random.Random(seed)
        return injected

    def set_fault_rates(self, rates: dict[str, Any]) -> dict[str, int]:
        """:meth:`set_faults` from the control API's keys (``rate429``, ``rate500``, ``cutRate``)."""
        return self.set_faults({FAULT_RATE_KEYS[k]: float(v) for k, v in rates.items()})

    def _fault(self) -> str | None:
        """The fault this request gets, if any (drawn once per request, kinds in a fixed order)."""
        with self._lock:
            if not self._fault_rates:
                return None
            roll = self._fault_rng.random()
            for kind in FAULT_KINDS:
                rate = self._fault_rates.get(kind, 0.0)
                if roll < rate:
                    self.faults_injected[kind] = self.faults_injected.get(kind, 0) + 1
                    return kind
                roll -= rate
        return None

    # -- scripts -----------------------------------------------------------------------------
    def enqueue(self, *scripts: Script, times: int = 1) -> None:
        """Queue scripts (each ``times`` times) for the next requests, in order."""
        with self._lock:
            for _ in range(times):
                self._queue.extend(scripts)

    def clear(self) -> None:
        """Drop queued scripts and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        """Scripts not yet served."""
        with self._lock:
            return len(self._queue)

    def _next(self, body: dict[str, Any]) -> Script:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        text = _last_user_text(body) or "(empty)"
        return Script(text=_split(f"echo: {text}", 3))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLlmServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------------
    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:
        """``GET /_fake/first-tokens``: when each stream's first text delta was sent (epoch s) and its marker."""
        if self.path.split("?", 1)[0] != "/_fake/first-tokens":
            self._json(404, {"error": {"type": "not_found_error", "message": "unknown path"}})
            return
        items = [{"at": at, "marker": marker} for at, marker in list(self.fake.first_tokens)]
        self._json(200, {"firstTokens": items})

    def _control(self, raw: bytes) -> None:
        """``POST /_fake/config {"firstTokenDelayMs": 300, "chunkDelayMs": 0}``: tune the responder."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        responder = self.fake.responder
        if not isinstance(body, dict) or responder is None:
            self._json(400, {"error": {"type": "invalid_request_error", "message": "JSON object and a responder"}})
            return
        for key, attr in (("firstTokenDelayMs", "first_token_delay_ms"), ("chunkDelayMs", "chunk_delay_ms")):
            if isinstance(body.get(key), int) and hasattr(responder, attr):
                setattr(responder, attr, body[key])
        current = {
            k: getattr(responder, a, None)
            for k, a in (("firstTokenDelayMs", "first_token_delay_ms"), ("chunkDelayMs", "chunk_delay_ms"))
        }
        self._json(200, current)

    def _faults(self, body: Any) -> None:
        """``POST /_fake/faults {"rate429": p, "rate500": p, "cutRate": p}`` (``{}``: off): provider faults
        for ``luma bench load --faults``; answers ``{"injected": {kind: count}}`` so far."""
        if not isinstance(body, dict) or set(body) - set(FAULT_RATE_KEYS):
            keys = ", ".join(FAULT_RATE_KEYS)
            self._json(400, {"error": {"type": "invalid_request_error", "message": f"keys: {keys}"}})
            return
        try:
            injected = self.fake.set_fault_rates(body)
        except (TypeError, ValueError) as exc:
            self._json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
            return
        self._json(200, {"injected": injected})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?", 1)[0]
        if path == "/_fake/config":
            self._control(raw)
            return
        if path == "/_fake/faults":
            self._faults(body)
            return
        anthropic = path.endswith("/v1/messages")
        openai = path.endswith("/chat/completions")
        key = self.fake.api_key
        # Anthropic accepts x-api-key (older SDKs) or a bearer token (anthropic>=2); OpenAI a bearer token.
        bearer_ok = self.headers.get("authorization") == f"Bearer {key}"
        auth_ok = bearer_ok or (anthropic and self.headers.get("x-api-key") == key)
        self.fake.requests.append(
            RecordedRequest(
                path=path, headers={k.lower(): v for k, v in self.headers.items()}, body=body, auth_ok=auth_ok
            )
        )
        if not (anthropic or openai):
            self._json(404, {"error": {"type": "not_found_error", "message": "unknown path"}})
            return
        if not auth_ok:
            self._error(anthropic, Script.error(401))
            return
        fault = self.fake._fault()
        if fault in ("429", "500"):
            self._error(anthropic, Script.error(int(fault), retry_after=1 if fault == "429" else None))
            return
        script = self.fake._next(body)
        if fault == "cut" and script.status == 200:
            script = dataclasses.replace(script, cut_after_events=2)
        if script.status != 200:
            self._error(anthropic, script)
            return
        model = str(body.get("model", "fake-model"))
        streaming = bool(body.get("stream"))
        if not streaming:
            if script.first_token_delay_ms:
                time.sleep(script.first_token_delay_ms / 1000)
            payload = _anthropic_message(script, model) if anthropic else _openai_completion(script, model)
            self._json(200, payload)
            return
        events = _anthropic_events(script, model) if anthropic else _openai_events(script, model, body)
        first_text = _first_text_index(events) if script.text else None
        marker = _last_user_text(body)[-200:]
        self._start_stream()
        try:
            for i, data in enumerate(events):
                if script.cut_after_events is not None and i >= script.cut_after_events:
                    raise _StreamCutError
                if i == 1 and script.first_token_delay_ms:
                    time.sleep(script.first_token_delay_ms / 1000)
                elif i > 1 and script.chunk_delay_ms:
                    time.sleep(script.chunk_delay_ms / 1000)
                self._chunk(data)
                if i == first_text:
                    self.fake.first_tokens.append((time.time(), marker))
            self._chunk(b"")  # the terminating zero-length chunk
        except _StreamCutError:
            self._cut()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, anthropic: bool, script: Script) -> None:
        status = script.status
        headers = {"retry-after": script.retry_after} if script.retry_after is not None else {}
        if anthropic:
            etype = script.error_type or _ANTHROPIC_ERRORS.get(status, "api_error")
            payload: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": f"fake {status}"}}
        else:
            payload = {"error": {"message": f"fake {status}", "type": "fake_error", "code": script.error_type}}
        self._json(status, payload, headers)


def _first_text_index(events: list[bytes]) -> int | None:
    """Index of the first event carrying assistant text (either wire format)."""
    for i, data in enumerate(events):
        if b'"text_delta"' in data or (b'"content": "' in data and b'"content": ""' not in data):
            return i
    return None


# -- Anthropic wire format ---------------------------------------------------------------------
def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_usage(script: Script) -> dict[str, int]:
    return {
        "input_tokens": script.input_tokens,
        "output_tokens": script.output_tokens,
        "cache_read_input_tokens": script.cache_read_tokens,
        "cache_creation_input_tokens": script.cache_write_tokens,
    }


def _anthropic_message(script: Script, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if script.text:
        content.append({"type": "text", "text": "".join(script.text)})
    for call in script.tool_calls:
        try:
            args = json.loads(call.arguments)
        except ValueError:
            args = {}
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": args})
    return {
        "id": "msg_" + uuid.uuid4().hex[:20],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": script.resolved_stop(),
        "stop_sequence": None,
        "usage": _anthropic_usage(script),
    }


def _anthropic_events(script: Script, model: str) -> list[bytes]:
    start_usage = {**_anthropic_usage(script), "output_tokens": 1}
    message = {**_anthropic_message(script, model), "content": [], "stop_reason": None, "usage": start_usage}
    out = [_sse("message_start", {"type": "message_start", "message": message}), _sse("ping", {"type": "ping"})]
    index = 0
    if script.text:
        block: dict[str, Any] = {"type": "text", "text": ""}
        out.append(_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        for piece in script.text:
            delta = {"type": "text_delta", "text": piece}
            out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for call in script.tool_calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        out.append(_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        for piece in _split(call.arguments, call.pieces):
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": script.resolved_stop(), "stop_sequence": None},
                "usage": _anthropic_usage(script),
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


# -- OpenAI wire format ------------------------------------------------------------------------
def _openai_usage(script: Script) -> dict[str, Any]:
    prompt = script.input_tokens + script.cache_read_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": script.output_tokens,
        "total_tokens": prompt + script.output_tokens,
        "prompt_tokens_details": {"cached_tokens": script.cache_read_tokens},
    }


def _openai_completion(script: Script, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(script.text) or None}
    if script.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in script.tool_calls
        ]
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:20],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _OPENAI_FINISH[script.resolved_stop()]}],
        "usage": _openai_usage(script),
    }


def _openai_events(script: Script, model: str, body: dict[str, Any]) -> list[bytes]:
    cid = "chatcmpl-" + uuid.uuid4().hex[:20]
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return f"data: {json.dumps(data)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in script.text]
    for i, call in enumerate(script.tool_calls):
        head = {"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        out.append(chunk({"tool_calls": [head]}))
        for piece in _split(call.arguments, call.pieces):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, _OPENAI_FINISH[script.resolved_stop()]))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": []}
        usage["usage"] = _openai_usage(script)
        out.append(f"data: {json.dumps(usage)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


def main() -> None:
    """Serve the echo model until interrupted: ``python -m local.fake_llm --port 8089``."""
    import argparse

    parser = argparse.ArgumentParser(description="Fake Anthropic/OpenAI server (echoes the last user message).")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default="fake-key")
    args = parser.parse_args()
    server = FakeLlmServer(api_key=args.api_key, port=args.port).start()
    print(f"ANTHROPIC_BASE_URL={server.url} OPENAI_BASE_URL={server.url}/v1 key={args.api_key}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
