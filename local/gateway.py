"""An API Gateway emulator (Starlette/ASGI) for the handlers in ``functions/``.

It serves, on one port:

- ``/ws``: the WebSocket API ($connect with a REQUEST authorizer, route selection on
  ``$request.body.action``, $disconnect), with API Gateway's 32 KB frame limit;
- ``[/{stage}]/@connections/{id}``: the management API, so boto3's ``apigatewaymanagementapi``
  works unchanged;
- ``/2015-03-31/functions/{name}/invocations``: the Lambda Invoke API (boto3 ``lambda``);
- ``/api/...``: an HTTP API ($default route, payload 2.0) in front of ``http_api``;
- ``/dev/...``: local-only helpers (demo users, dev tokens, runtime stats, injected handler faults,
  the stack's fakes and state machines);
- everything else: the static files of ``web/``, with a strict Content-Security-Policy.

The management and Lambda Invoke APIs are for AWS SDK clients on this machine (boto3 sends no
``Origin`` and no ``Sec-Fetch-*`` headers): a request a browser makes is refused with 403, so a web
page (any site the developer visits) cannot post to connections or invoke functions.

Handlers always run on the runtime's thread pool; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from local.events import WsConnection, flatten_authorizer, header_case, http_v2_event, new_id, now_ms
from local.runtime import FunctionNotFoundError, LambdaRuntime

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024
DEFAULT_ROUTES: dict[str, str] = {
    "$connect": "ws_connect",
    "$disconnect": "ws_disconnect",
    "sendMessage": "classify",
    "approve": "agent_approve",
    "$default": "classify",
}


def declared_routes() -> dict[str, str]:
    """The WebSocket routes: the built-in ones plus each function's ``ws_routes`` in the infra config (as in CDK)."""
    from local.streams import infra_config

    routes = dict(DEFAULT_ROUTES)
    for name, spec in infra_config().FUNCTIONS.items():
        for route in getattr(spec, "ws_routes", ()):
            routes.setdefault(route, name)
    return routes


_DISCONNECT_REASONS = {
    1000: "",
    1001: "Going away",
    1005: "Client-side close frame status not set",
    1006: "Connection closed abnormally",
    1009: "Frame size exceeds the 32 KB limit",
    1012: "Service restart",
}
_RUNTIME_FILE = sys.modules[LambdaRuntime.__module__].__file__  # its frames end the emulator's part of a traceback
# What ``GET /dev/info`` always answers (the local stack fills in the values it has).
DEV_INFO_KEYS: tuple[str, ...] = ("fakeLlmUrl", "fakeTwilioUrl", "stateMachines")
_FUNCTION_ARN = re.compile(r"^(?:arn:aws[\w-]*:lambda:[\w-]+:)?(?:\d{12}:)?(?:function:)?([A-Za-z0-9_-]+)(?::.+)?$")
_TOKEN = re.compile(r"(?i)(token=)[^&\s\"]+")
# What the web pages may load and do (web/ works under it: no inline script or style).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
STATIC_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-cache"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# Headers only browsers send: their presence marks a request a web page made.
_BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-mode")


@dataclass
class _Live:
    """An open WebSocket connection: its event data plus the socket."""

    conn: WsConnection
    ws: WebSocket
    last_active_ms: int = field(default_factory=now_ms)
    close_code: int | None = None

    async def send(self, data: bytes | str) -> None:
        self.last_active_ms = now_ms()
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                await self.ws.send_bytes(data)
                return
        else:
            text = data
        await self.ws.send_text(text)

    async def close(self, code: int, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code
            await self.ws.close(code, reason)


class _RedactTokens(logging.Filter):
    """Masks ``token=...`` in uvicorn's log lines (its WebSocket lines include the query).

    It also drops the spurious "ASGI callable returned without completing handshake." that
    uvicorn's websockets-sansio protocol logs after every denial response (uvicorn PR #3138);
    this app always accepts or denies, so the message carries no information here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "ASGI callable returned without completing handshake.":
            return False
        if record.args:
            record.args = tuple(
                _TOKEN.sub(r"\1***", a) if isinstance(a, str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


def _install_log_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status_code=status, headers=headers, media_type="application/json")


def _aws_error(status: int, error_type: str, message: str) -> Response:
    """A REST-JSON error botocore maps to ``client.exceptions.<error_type>``."""
    return _json(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": error_type})


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _from_browser(request: Request) -> Response | None:
    """A 403 for a request a browser made (``Origin`` / ``Sec-Fetch-*``), None for an SDK client."""
    if not any(name in request.headers for name in _BROWSER_HEADERS):
        return None
    return _aws_error(
        403,
        "AccessDeniedException",
        "Browser requests are refused: this endpoint is for AWS SDK clients on this machine.",
    )


class _NoCacheStatic:
    """``web/`` as static files (index.html at ``/``) with no-cache and security headers; 404 if absent."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, html=True, check_dir=False) if directory else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket to any path but /ws
            await send({"type": "websocket.close", "code": 1000})
            return
        if self.files is None or self.directory is None or not self.directory.is_dir():
            await Response("Not Found", status_code=404)(scope, receive, send)
            return

        async def send_no_cache(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *STATIC_HEADERS]
            await send(message)

        await self.files(scope, receive, send_no_cache)


class Gateway:
    """State and request handlers of the emulator; :func:`create_app` mounts it."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        *,
        stage: str = "local",
        api_id: str = "lumalocal1",
        routes: Mapping[str, str] | None = None,
        authorizer: str | None = "ws_authorizer",
        http_function: str | None = "http_api",
        max_frame_bytes: int = MAX_FRAME_BYTES,
        dev_info: dict[str, Any] | None = None,
    ) -> None:
        self.runtime = runtime
        self.stage = stage
        self.api_id = api_id
        self.routes = dict(declared_routes() if routes is None else routes)
        self.authorizer = authorizer
        self.http_function = http_function
        self.max_frame_bytes = max_frame_bytes
        self.connections: dict[str, _Live] = {}
        # Shared with the stack (``app.state.dev_info``): it sets fake servers' URLs, state machine ARNs.
        self.dev_info: dict[str, Any] = dev_info if dev_info is not None else {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- helpers ---------------------------------------------------------------------------
    async def _call(self, name: str, event: Any) -> Any:
        """Invoke ``name`` on the pool without blocking the event loop."""
        return await asyncio.wrap_future(self.runtime.submit(name, event))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- WebSocket API ---------------------------------------------------------------------
    async def websocket(self, ws: WebSocket) -> None:
        """One WebSocket connection, from the authorizer to $disconnect."""
        scope = ws.scope
        server = scope.get("server") or ("127.0.0.1", 0)
        client = scope.get("client") or ("127.0.0.1", 0)
        headers = [(header_case(k.decode("latin-1")), v.decode("latin-1")) for k, v in scope["headers"]]
        conn = WsConnection(
            connection_id=new_id(),
            domain_name=f"{server[0]}:{server[1]}",
            stage=self.stage,
            api_id=self.api_id,
            source_ip=client[0],
            user_agent=next((v for k, v in headers if k == "User-Agent"), ""),
            headers=headers,
            query=parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
        )
        started = time.perf_counter()
        status = await self._authorize(conn)
        subprotocol: str | None = None
        if status == 200:
            status, subprotocol = await self._connect(conn)
        if status != 200:
            log.info("ws $connect refused %d %.1f ms", status, _ms(started))
            message = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal server error")
            with contextlib.suppress(OSError):  # the client may have left during $connect
                await ws.send_denial_response(_json(status, {"message": message}))
            return
        try:
            await ws.accept(subprotocol=subprotocol)
        except OSError:
            return
        live = _Live(conn=conn, ws=ws)
        self.connections[conn.connection_id] = live
        log.info(
            "ws $connect -> %s 200 %.1f ms conn=%s", self.routes.get("$connect", "-"), _ms(started), conn.connection_id
        )
        code, reason = 1006, ""
        try:
            code, reason = await self._receive_loop(live)
        finally:
            self.connections.pop(conn.connection_id, None)
            if live.close_code is not None:
                code = live.close_code
            await self._disconnect(live, code, reason or _DISCONNECT_REASONS.get(code, ""))

    async def _authorize(self, conn: WsConnection) -> int:
        """Run the REQUEST authorizer; 200 and ``conn.authorizer`` set when allowed."""
        name = self.authorizer
        if not name or not self.runtime.has(name):
            return 200
        event = conn.authorizer_event(self.runtime.region)
        started = time.perf_counter()
        try:
            result = await self._call(name, event)
        except Exception as exc:
            status = 401 if str(exc) == "Unauthorized" else 500
            if status == 500:
                log.warning("authorizer %s failed: %s", name, type(exc).__name__)
            log.info("ws authorizer -> %s %d %.1f ms", name, status, _ms(started))
            return status
        effect = _policy_effect(result, event["methodArn"])
        status = 200 if effect == "Allow" else 500 if effect is None else 403
        if status == 500:
            log.warning("authorizer %s returned no valid policy", name)
        log.info("ws authorizer -> %s %d %.1f ms", name, status, _ms(started))
        if status == 200:
            conn.authorizer = flatten_authorizer(result)
        return status

    async def _connect(self, conn: WsConnection) -> tuple[int, str | None]:
        name = self.routes.get("$connect")
        if not name or not self.runtime.has(name):
            return 200, None
        try:
            result = await self._call(name, conn.connect_event())
        except Exception:
            log.exception("%s failed", name)
            return 500, None
        if not isinstance(result, dict) or "statusCode" not in result:
            return 200, None
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            return 500, None
        if not 200 <= status < 300:
            return status if 400 <= status < 600 else 500, None
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return 200, headers.get("sec-websocket-protocol")

    async def _receive_loop(self, live: _Live) -> tuple[int, str]:
        """Read frames until the connection closes; returns the close code and reason."""
        ws = live.ws
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005), message.get("reason") or ""
            live.last_active_ms = now_ms()
            text: str | None = message.get("text")
            is_base64 = False
            if text is None:
                data: bytes = message.get("bytes") or b""
                size = len(data)
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text, is_base64 = base64.b64encode(data).decode("ascii"), True
            else:
                size = len(text) if len(text) * 4 <= self.max_frame_bytes else len(text.encode("utf-8"))
            if size > self.max_frame_bytes:
                log.info(
                    "ws frame of %d bytes > %d: closing with 1009 conn=%s",
                    size,
                    self.max_frame_bytes,
                    live.conn.connection_id,
                )
                await live.close(1009, "Frame too big")
                continue
            self._dispatch(live, text, is_base64)

    def _select_route(self, body: str, is_base64: bool) -> str | None:
        if not is_base64 and body.lstrip()[:1] == "{":
            try:
                action = json.loads(body).get("action")
            except (ValueError, RecursionError):
                action = None
            if isinstance(action, str) and action in self.routes and not action.startswith("$"):
                return action
        return "$default" if "$default" in self.routes else None

    def _dispatch(self, live: _Live, body: str, is_base64: bool) -> None:
        """Start the route's function on the pool; frames of one connection keep their order."""
        route = self._select_route(body, is_base64)
        conn = live.conn
        if route is None:
            self._spawn(self._send_error(live, "Forbidden", new_id()))
            return
        name = self.routes[route]
        event = conn.message_event(route, body, is_base64=is_base64)
        request_id = event["requestContext"]["requestId"]
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        def done(fut: Future[Any]) -> None:  # runs on the worker thread
            exc = fut.exception()
            status = 200
            if exc is not None:
                status = 500
                if isinstance(exc, FunctionNotFoundError):
                    log.warning("route %s: %s", route, exc)
                else:
                    log.error("%s failed on route %s: %s: %s", name, route, type(exc).__name__, exc, exc_info=exc)
                with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown)
                    loop.call_soon_threadsafe(
                        lambda: self._spawn(self._send_error(live, "Internal server error", request_id))
                    )
            else:
                result = fut.result()
                if isinstance(result, dict) and isinstance(result.get("statusCode"), int):
                    status = result["statusCode"]
            log.info("ws %s -> %s %d %.1f ms conn=%s", route, name, status, _ms(started), conn.connection_id)

        try:
            future = self.runtime.submit(name, event)
        except RuntimeError as exc:  # the pool is shut down (stopping)
            log.warning("ws %s not delivered: %s", route, exc)
            return
        future.add_done_callback(done)

    async def _send_error(self, live: _Live, message: str, request_id: str) -> None:
        """API Gateway's own error frame (integration failure, no route)."""
        payload = {"message": message, "connectionId": live.conn.connection_id, "requestId": request_id}
        with contextlib.suppress(Exception):  # the client is gone: nothing to tell
            await live.send(json.dumps(payload))

    async def _disconnect(self, live: _Live, code: int, reason: str) -> None:
        name = self.routes.get("$disconnect")
        if not name or not self.runtime.has(name):
            return
        started = time.perf_counter()
        status = 200
        try:
            await self._call(name, live.conn.disconnect_event(code, reason))
        except RuntimeError as exc:  # pool already shut down
            status = 503
            log.warning("$disconnect not delivered: %s", exc)
        except Exception:
            status = 500
            log.exception("%s failed", name)
        log.info(
            "ws $disconnect -> %s %d %.1f ms conn=%s code=%d", name, status, _ms(started), live.conn.connection_id, code
        )

    # -- management API --------------------------------------------------------------------
    async def management(self, request: Request) -> Response:
        """``POST|GET|DELETE [/{stage}]/@connections/{connectionId}``."""
        refused = _from_browser(request)
        if refused is not None:
            return refused
        connection_id = request.path_params["connection_id"]
        live = self.connections.get(connection_id)
        if live is None or live.close_code is not None:
            return _aws_error(410, "GoneException", f"Connection {connection_id} is gone")
        method = request.method
        if method == "POST":
            data = await request.body()
            if len(data) > 128 * 1024:
                return _aws_error(413, "PayloadTooLargeException", "Payload exceeds 128 KB")
            try:
                await live.send(data)
            except (OSError, RuntimeError, WebSocketDisconnect):
                return _aws_error(410, "GoneException", f"Connection {connection_id} is gone")
            return Response(status_code=200)
        if method == "GET":
            conn = live.conn
            return _json(
                200,
                {  # the wire names (boto3 shows ConnectedAt, Identity, ...)
                    "connectedAt": _iso(conn.connected_at),
                    "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                    "lastActiveAt": _iso(live.last_active_ms),
                },
            )
        with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
            await live.close(1000, "Connection closed by the server")
        return Response(status_code=204)

    # -- Lambda Invoke API -----------------------------------------------------------------
    async def invoke(self, request: Request) -> Response:
        """``POST /2015-03-31/functions/{FunctionName}/invocations``."""
        refused = _from_browser(request)
        if refused is not None:
            return refused
        match = _FUNCTION_ARN.match(request.path_params["function"])
        name = match.group(1) if match else request.path_params["function"]
        if not self.runtime.has(name):
            return _aws_error(404, "ResourceNotFoundException", f"Function not found: {self.runtime.arn(name)}")
        raw = await request.body()
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return _aws_error(400, "InvalidRequestContentException", "Could not parse request body into json")
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        request_id = new_id()
        started = time.perf_counter()
        if kind == "DryRun":
            return Response(status_code=204)
        if kind == "Event":
            self.runtime.invoke_async(name, event)
            log.info("invoke Event -> %s 202 %.1f ms", name, _ms(started))
            return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
        headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        try:
            result = await self._call(name, event)
            payload = json.dumps(result)
        except Exception as exc:
            log.info("invoke RequestResponse -> %s Unhandled (%s) %.1f ms", name, type(exc).__name__, _ms(started))
            headers["X-Amz-Function-Error"] = "Unhandled"
            return _json(
                200,
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": request_id,
                    "stackTrace": _handler_stack(exc),
                },
                headers,
            )
        log.info("invoke RequestResponse -> %s 200 %.1f ms", name, _ms(started))
        return Response(payload, status_code=200, headers=headers, media_type="application/json")

    # -- HTTP API --------------------------------------------------------------------------
    async def http_api(self, request: Request) -> Response:
        """``/api/{path}`` as an HTTP API ($default route, payload 2.0) in front of ``http_api``."""
        scope = request.scope
        raw_path = scope["path"][len("/api") :] or "/"
        name = self.http_function
        if not name or not self.runtime.has(name):
            if raw_path == "/health" and request.method in ("GET", "HEAD"):
                return _json(200, {"status": "ok", "service": "luma-local-gateway", "functions": self.runtime.names()})
            return _json(404, {"message": "Not Found"})
        server = scope.get("server") or ("127.0.0.1", 0)
        client = scope.get("client") or ("127.0.0.1", 0)
        query_string = scope["query_string"].decode("latin-1")
        event = http_v2_event(
            method=request.method,
            raw_path=raw_path,
            raw_query=query_string,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            query=parse_qsl(query_string, keep_blank_values=True),
            body=await request.body(),
            source_ip=client[0],
            domain_name=f"{server[0]}:{server[1]}",
            api_id=self.api_id,
        )
        started = time.perf_counter()
        try:
            result = await self._call(name, event)
            response = _http_response(result)
        except Exception as exc:
            log.error("%s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
            response = _json(500, {"message": "Internal Server Error"})
        log.info("http %s %s -> %s %d %.1f ms", request.method, raw_path, name, response.status_code, _ms(started))
        return response

    # -- dev-only helpers ------------------------------------------------------------------
    async def demo_users(self, request: Request) -> Response:
        """``GET /dev/demo-users``: the seeded demo patients to sign in as."""
        from luma.devtools import demo_users

        try:
            return _json(200, demo_users())
        except (OSError, KeyError, ValueError) as exc:
            return _json(503, {"message": f"demo data unavailable: {type(exc).__name__}"})

    async def dev_token(self, request: Request) -> Response:
        """``POST /dev/token`` ``{"userId", "tenantId", "name"?, "role"?}``: a dev JWT for that user
        (``role``: ``user``, the default, or ``operator``)."""
        from luma.auth import ROLES, issue_dev_token
        from luma.errors import LumaError

        try:
            body = json.loads(await request.body())
            user_id, tenant_id, role = body["userId"], body["tenantId"], body.get("role", "user")
            if not isinstance(user_id, str) or not isinstance(tenant_id, str):
                raise TypeError("ids must be strings")
            if role not in ROLES:
                raise ValueError("role must be user or operator")
            token = issue_dev_token(user_id, tenant_id, name=body.get("name") or None, role=role)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _json(400, {"message": f"expected JSON {{userId, tenantId, role?}}: {type(exc).__name__}"})
        except LumaError as exc:
            return _json(503, {"message": str(exc)})
        return _json(200, {"token": token}, {"cache-control": "no-store"})

    async def dev_info_route(self, request: Request) -> Response:
        """``GET /dev/info``: the local stack's fake LLM/Twilio URLs and state machine ARNs (None when absent)."""
        info: dict[str, Any] = {key: None for key in DEV_INFO_KEYS}
        info["stateMachines"] = {}
        info.update(self.dev_info)
        return _json(200, info, {"cache-control": "no-store"})

    async def dev_stats(self, request: Request) -> Response:
        """``GET /dev/stats``: per-function invocation counts and durations, the turns' stage timings (median
        and p95 per stage, ``luma.timing``), open connections. ``DELETE`` answers the same and forgets the
        stage timings (a benchmark counts its own turns)."""
        stages = self.runtime.stage_stats(clear=request.method == "DELETE")
        body = {"functions": self.runtime.stats(), "stages": stages, "connections": len(self.connections)}
        return _json(200, body)

    async def dev_faults(self, request: Request) -> Response:
        """``GET|POST|DELETE /dev/faults``: the runtime's injected handler faults (``luma bench load --faults``).

        POST ``{"functions": {"<name>|*": {"before": p, "after": p}}, "seed"?: n}`` replaces them;
        DELETE turns them off; each answers the rates and what was injected so far.
        """
        refused = _from_browser(request)
        if refused is not None:
            return refused
        faults = self.runtime.faults
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
                seed = body.get("seed")
                faults.configure(body["functions"], seed=seed if isinstance(seed, int) else None)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return _json(400, {"message": f"expected {{functions: {{name: {{before, after}}}}}}: {exc}"})
        elif request.method == "DELETE":
            faults.clear()
        return _json(200, faults.snapshot(), {"cache-control": "no-store"})


def _handler_stack(exc: BaseException) -> list[str]:
    """The traceback as Lambda's Python runtime reports it: the handler's frames only, not the emulator's."""
    frames = traceback.extract_tb(exc.__traceback__)
    runtime_frames = [i for i, frame in enumerate(frames) if frame.filename == _RUNTIME_FILE]
    if runtime_frames:
        frames = traceback.StackSummary.from_list(frames[runtime_frames[-1] + 1 :])
    return traceback.format_list(frames)


def _policy_effect(result: Any, method_arn: str) -> str | None:
    """``Allow``/``Deny`` for ``method_arn`` from an IAM policy (explicit Deny wins); None if invalid."""
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        return None
    statements = result["policyDocument"].get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action") or []
        resources = statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        allowed = allowed or statement.get("Effect") == "Allow"
    return "Allow" if allowed else "Deny"


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _http_response(result: Any) -> Response:
    """An HTTP API payload 2.0 response (or an inferred one) as a Starlette response."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return Response(body, status_code=200, media_type="application/json")
    status = int(result["statusCode"])
    raw_body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else json.dumps(raw_body).encode()
    headers: list[tuple[bytes, bytes]] = []
    seen: set[str] = set()
    for name, value in (result.get("headers") or {}).items():
        seen.add(name.lower())
        headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() in seen:
            continue
        headers.extend((name.lower().encode("latin-1"), str(v).encode("latin-1")) for v in values)
    headers.extend((b"set-cookie", str(c).encode("latin-1")) for c in result.get("cookies") or [])
    headers = [h for h in headers if h[0] != b"content-length"]
    if not any(h[0] == b"content-type" for h in headers) and body:
        headers.append((b"content-type", b"application/json"))
    response = Response(body, status_code=status)
    response.raw_headers = [(b"content-length", str(len(body)).encode()), *headers]
    return response


def create_app(
    runtime: LambdaRuntime,
    *,
    web_dir: Path | None = None,
    stage: str = "local",
    api_id: str = "lumalocal1",
    routes: Mapping[str, str] | None = None,
    authorizer: str | None = "ws_authorizer",
    http_function: str | None = "http_api",
    dev_routes: bool = True,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    dev_info: dict[str, Any] | None = None,
) -> Starlette:
    """The gateway as an ASGI app; ``app.state.gateway`` is the :class:`Gateway`.

    ``routes`` maps route keys (``$connect``, ``$disconnect``, actions, ``$default``) to
    function names; ``authorizer`` is the $connect REQUEST authorizer (None: no authorizer).
    Functions that do not exist are skipped for $connect/$disconnect and fail like a broken
    integration for messages. ``dev_info`` (also ``app.state.dev_info``, the same dict, which the
    caller may fill later) is what ``GET /dev/info`` reports.
    """
    gateway = Gateway(
        runtime,
        stage=stage,
        api_id=api_id,
        routes=routes,
        authorizer=authorizer,
        http_function=http_function,
        max_frame_bytes=max_frame_bytes,
        dev_info=dev_info,
    )
    _install_log_redaction()
    methods = ["GET", "POST", "DELETE"]
    table: list[BaseRoute] = [
        WebSocketRoute("/ws", gateway.websocket),
        Route("/@connections/{connection_id}", gateway.management, methods=methods),
        Route("/{stage}/@connections/{connection_id}", gateway.management, methods=methods),
        Route("/2015-03-31/functions/{function}/invocations", gateway.invoke, methods=["POST"]),
        Route("/api", gateway.http_api, methods=_HTTP_METHODS),
        Route("/api/{path:path}", gateway.http_api, methods=_HTTP_METHODS),
    ]
    if dev_routes:
        table += [
            Route("/dev/demo-users", gateway.demo_users, methods=["GET"]),
            Route("/dev/token", gateway.dev_token, methods=["POST"]),
            Route("/dev/stats", gateway.dev_stats, methods=["GET", "DELETE"]),
            Route("/dev/faults", gateway.dev_faults, methods=["GET", "POST", "DELETE"]),
            Route("/dev/info", gateway.dev_info_route, methods=["GET"]),
        ]
    table.append(Mount("/", app=_NoCacheStatic(Path(web_dir) if web_dir else None)))
    app = Starlette(routes=table)
    app.state.gateway = gateway
    app.state.dev_info = gateway.dev_info
    return app


_HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

__all__: list[str] = ["DEFAULT_ROUTES", "MAX_FRAME_BYTES", "Gateway", "create_app"]
