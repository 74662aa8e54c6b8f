"""HTTP routes for web and mobile clients: health, status, conversation history, session close and
report, client-side events; and the Twilio webhooks (WhatsApp, SMS).

Every route but ``/health``, ``/status``, ``/events`` and the Twilio webhooks (signed by Twilio instead)
needs a bearer token; every query is scoped to the caller's tenant and user, so another user's session
is a 404, exactly like a missing one. Operator-only routes depend on :func:`require_operator` (403
``FORBIDDEN`` for anyone else). Authenticated routes take a token from the caller's rate-limit
buckets (user and source IP, :mod:`luma.limits`). Page cursors are signed and bound to their owner
(:mod:`luma.http.cursors`). In AWS the API sits behind CloudFront and WAF: a request without
CloudFront's origin-verify header is refused (403), and the client's address is CloudFront's
``CloudFront-Viewer-Address``. Errors are JSON ``{"code", "message", ...}`` everywhere (invalid input:
422 ``VALIDATION_FAILED``), mapped in one place (:func:`create_app`'s exception handlers): 401 carries
``WWW-Authenticate: Bearer``, 429 (``RATE_LIMITED``) carries ``Retry-After`` in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from luma import __version__
from luma.auth import verify_token
from luma.config import get_settings
from luma.domain.models import Message, Principal, Session
from luma.errors import ErrorCode, LumaError, user_message
from luma.http import client_events, cursors
from luma.http.status import Check, default_checks, run_checks
from luma.http.twilio_webhook import EMPTY_TWIML, TWIML_MEDIA_TYPE, TwilioWebhook
from luma.http.twilio_webhook import request_body_schema as twilio_body_schema
from luma.limits import Limiter, NoLimits
from luma.observability import logger
from luma.secrets import origin_verified, viewer_ip
from luma.sessions import SessionReport, close_session, get_report
from luma.store.repos import SessionStore


class MessageOut(BaseModel):
    """One item of a conversation: a message, an approval request (the card), or a run in progress."""

    kind: Literal["message", "approval_request", "run"] = "message"
    messageId: str
    sessionId: str
    role: str
    text: str
    createdAt: str
    intent: str | None = None
    route: str | None = None
    replyTo: str | None = None
    clientMessageId: str | None = None
    assistant: str | None = None
    choices: list[dict[str, str]] | None = None
    runId: str | None = None
    # kind "run": "running" while the agent writes; seq: the last token frame included in ``text``.
    status: str | None = None
    seq: int | None = None
    # kind "approval_request": the card's id, question and outcome.
    approvalId: str | None = None
    prompt: str | None = None
    approvalStatus: Literal["pending", "approved", "declined", "timed_out"] | None = None
    expiresAt: str | None = None

    @classmethod
    def of(cls, m: Message, assistant: str | None = None) -> MessageOut:
        """A stored message as the API shows it; ``assistant`` is its session's."""
        meta = m.meta
        kind: Literal["message", "approval_request", "run"] = "message"
        if meta.get("kind") == "approval_request":
            kind = "approval_request"
        elif meta.get("status") == "running":
            kind = "run"
        return cls(
            kind=kind,
            messageId=m.message_id,
            sessionId=m.session_id,
            role=m.role.value,
            text=m.text,
            createdAt=m.created_at.isoformat(),
            intent=m.intent,
            route=m.route.value if m.route else None,
            replyTo=m.reply_to,
            clientMessageId=m.client_message_id,
            assistant=assistant if m.role.value == "assistant" else None,
            choices=meta.get("choices"),
            runId=meta.get("runId"),
            status=meta.get("status") if kind == "run" else None,
            seq=meta.get("seq") if kind == "run" else None,
            approvalId=meta.get("approvalId"),
            prompt=m.text if kind == "approval_request" else None,
            approvalStatus=meta.get("approvalStatus"),
            expiresAt=meta.get("expiresAt"),
        )


class MessagesPage(BaseModel):
    items: list[MessageOut]
    next: str | None


class SessionOut(BaseModel):
    sessionId: str
    status: str
    channel: str
    language: str
    createdAt: str
    lastActivityAt: str
    messageCount: int

    @classmethod
    def of(cls, s: Session) -> SessionOut:
        return cls(
            sessionId=s.session_id,
            status=s.status.value,
            channel=s.channel,
            language=s.language,
            createdAt=s.created_at.isoformat(),
            lastActivityAt=s.last_activity_at.isoformat(),
            messageCount=s.message_count,
        )


class SessionsPage(BaseModel):
    items: list[SessionOut]
    next: str | None


class ErrorOut(BaseModel):
    code: str
    message: str


class CheckOut(BaseModel):
    ok: bool
    ms: float
    detail: str
    required: bool


class StatusOut(BaseModel):
    status: str = Field(description="ok when every required check is ok, else degraded")
    version: str
    checks: dict[str, CheckOut]


class EventsAccepted(BaseModel):
    accepted: int
    dropped: str | None = None


class CloseRequest(BaseModel):
    rating: int | None = Field(None, ge=1, le=5, description="Optional satisfaction rating, 1 to 5.")

    @field_validator("rating", mode="before")
    @classmethod
    def _a_json_integer(cls, value: Any) -> Any:
        # JSON Schema's integer: 2 and 2.0, but not true or "2" (pydantic's lax mode would take both).
        if isinstance(value, bool | str):
            raise ValueError("must be an integer")
        return value


SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


def _principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise LumaError(ErrorCode.AUTH_REQUIRED)
    return verify_token(authorization[7:].strip())


def _optional_principal(authorization: str | None) -> Principal | None:
    try:
        return _principal(authorization)
    except LumaError:
        return None


def _repo() -> SessionStore:
    raise RuntimeError("overridden by create_app")


def _limiter() -> Limiter:
    raise RuntimeError("overridden by create_app")


def _client_ip(request: Request) -> str | None:
    """The caller's address: CloudFront's viewer address behind CloudFront, else the connection's."""
    return viewer_ip(request.headers, get_settings()) or (request.client.host if request.client else None)


def _through_cloudfront(request: Request) -> None:
    """Refuses requests that went around CloudFront (and its WAF) when the origin check is configured."""
    if not origin_verified(request.headers, get_settings()):
        raise StarletteHTTPException(403, "Requests must come through the API's public endpoint.")


def _caller(
    request: Request,
    principal: Annotated[Principal, Depends(_principal)],
    limiter: Annotated[Limiter, Depends(_limiter)],
) -> Principal:
    """The authenticated caller, once a token was taken from their buckets (429 + Retry-After if empty)."""
    decision = limiter.check(principal, _client_ip(request))
    if not decision.allowed:
        raise decision.error()
    return principal


Caller = Annotated[Principal, Depends(_caller)]


def require_operator(caller: Caller) -> Principal:
    """The caller, if the token gives them the ``operator`` role; 403 ``FORBIDDEN`` otherwise."""
    if caller.role != "operator":
        raise LumaError(ErrorCode.FORBIDDEN, role="operator")
    return caller


Operator = Annotated[Principal, Depends(require_operator)]
Repo = Annotated[SessionStore, Depends(_repo)]


class _RootPath:
    """Sets the ASGI ``root_path`` the API is served under (Mangum always passes ""), so the Swagger page
    loads ``{root_path}/openapi.json`` and the spec's ``servers`` names it; routing is unchanged (the
    gateway strips the prefix before the event is built)."""

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": self.root_path}
        await self.app(scope, receive, send)


_HTTP_CODES = {
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location, message and type of each error; never the input (it may be large or personal)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()[:20]
    ]


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds ``limit`` bytes (the rest is not buffered)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _default_webhook() -> TwilioWebhook:
    from luma import wiring
    from luma.invoke import LambdaInvoker

    settings = get_settings()
    return TwilioWebhook(settings, wiring.twilio_account, LambdaInvoker(settings))


def error_headers(exc: LumaError) -> dict[str, str] | None:
    """The headers an error's status calls for: ``WWW-Authenticate`` on 401, ``Retry-After`` on 429."""
    if exc.http_status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if exc.http_status == 429:
        retry = exc.details.get("retryAfter")
        seconds = int(retry) if isinstance(retry, int | float) and not isinstance(retry, bool) else 1
        return {"Retry-After": str(max(1, seconds))}
    return None


def _webhook_event(request: Request, body: bytes) -> dict[str, Any]:
    """The API Gateway event behind this request (Mangum keeps it in the scope), else one rebuilt from
    the request as a server in front of nothing would see it (tests, a plain ASGI server)."""
    event = request.scope.get("aws.event")
    if isinstance(event, dict) and "requestContext" in event:
        return event
    headers = dict(request.headers)
    headers.setdefault("x-forwarded-proto", request.url.scheme)
    return {
        "headers": headers,
        "body": body,
        "isBase64Encoded": False,
        "rawPath": request.url.path,
        "rawQueryString": request.url.query,
        "requestContext": {"stage": "$default", "domainName": request.url.netloc},
    }


def create_app(
    conversations: Callable[[], SessionStore] | None = None,
    *,
    status_checks: Callable[[], list[Check]] | None = None,
    status_cache_s: float = 5.0,
    limiter: Callable[[], Limiter] | None = None,
    twilio_webhook: Callable[[], TwilioWebhook] | None = None,
) -> FastAPI:
    """The FastAPI app; ``conversations`` provides the repository (DynamoDB by default) and
    ``status_checks`` the dependency checks of ``GET /status`` (:func:`luma.http.status.default_checks`),
    whose result is reused for ``status_cache_s`` (an unauthenticated route must not multiply reads).
    ``limiter`` defaults to the DynamoDB limiter with the default repository, else to no limits;
    ``twilio_webhook`` to one built from the settings (the Twilio account and a Lambda invoker)."""
    if conversations is None:
        from luma import wiring

        conversations = wiring.conversations
        limiter = limiter or wiring.limiter
    repo_provider = conversations
    limiter_provider: Callable[[], Limiter] = limiter or NoLimits
    webhooks: list[TwilioWebhook] = []

    def webhook() -> TwilioWebhook:
        if not webhooks:  # built on the first webhook call: other routes never import the Twilio SDK
            webhooks.append(twilio_webhook() if twilio_webhook is not None else _default_webhook())
        return webhooks[0]

    checks_provider = status_checks or default_checks
    last_status: list[tuple[float, bool, dict[str, Any]]] = []
    app = FastAPI(
        title="Luma HTTP API",
        version=__version__,
        dependencies=[Depends(_through_cloudfront)],
        responses={
            400: {"model": ErrorOut},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut, "description": "Not allowed (FORBIDDEN): an operator-only route"},
            404: {"model": ErrorOut},
            422: {"model": ErrorOut},
            429: {
                "model": ErrorOut,
                "description": "Over a rate limit (RATE_LIMITED)",
                "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
            },
        },
    )

    @app.exception_handler(LumaError)
    async def _luma_error(_: Request, exc: LumaError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=error_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        code = ErrorCode.VALIDATION_FAILED
        body = {"code": code.value, "message": user_message(code), "errors": _validation_errors(exc)}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework-level errors (unparsable body, unknown path, wrong method) in the same JSON shape.
        if exc.status_code == 400:
            body = {"code": ErrorCode.BAD_REQUEST.value, "message": user_message(ErrorCode.BAD_REQUEST)}
        else:
            body = {"code": _HTTP_CODES.get(exc.status_code, "HTTP_ERROR"), "message": str(exc.detail)[:200]}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("http fault", extra={"path": request.url.path, "error_type": type(exc).__name__})
        code = ErrorCode.INTERNAL
        return JSONResponse({"code": code.value, "message": user_message(code)}, status_code=500)

    app.dependency_overrides[_repo] = repo_provider
    app.dependency_overrides[_limiter] = limiter_provider
    root_path = get_settings().http_root_path.rstrip("/")
    if root_path:
        app.add_middleware(_RootPath, root_path=root_path)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/status",
        response_model=StatusOut,
        responses={503: {"model": StatusOut, "description": "A required dependency is failing"}},
    )
    def status() -> JSONResponse:
        """Each dependency checked with a short timeout: 200 when every required one is ok, else 503."""
        now = time.monotonic()
        if last_status and now - last_status[0][0] < status_cache_s:
            _, healthy, results = last_status[0]
        else:
            healthy, results = run_checks(checks_provider())
            last_status[:] = [(now, healthy, results)]
        body = StatusOut(status="ok" if healthy else "degraded", version=__version__, checks=results)
        return JSONResponse(
            body.model_dump(), status_code=200 if healthy else 503, headers={"cache-control": "no-store"}
        )

    @app.post(
        "/events",
        status_code=202,
        response_model=EventsAccepted,
        openapi_extra={"requestBody": client_events.request_body_schema()},
    )
    async def events(request: Request, authorization: Annotated[str | None, Header()] = None) -> EventsAccepted:
        """Client-side events (one, or an array of at most 20; body at most 16 KB). Always 202: an invalid
        or oversized body is ignored, never an error a client must handle. The bearer token is optional."""
        body = await _read_bounded(request, client_events.MAX_BODY_BYTES)
        if body is None:
            client_events.record([], None, dropped="too_large")
            return EventsAccepted(accepted=0, dropped="too_large")
        parsed, dropped = client_events.parse(body)
        client_events.record(parsed, _optional_principal(authorization), dropped=dropped)
        return EventsAccepted(accepted=len(parsed), dropped=dropped)

    twilio_responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "Empty TwiML: Twilio is answered at once, the reply follows through the REST API.",
            "content": {TWIML_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        403: {"model": ErrorOut, "description": "Missing or wrong X-Twilio-Signature (SIGNATURE_INVALID)"},
        413: {"model": ErrorOut, "description": "Body over LUMA_TWILIO_MAX_BODY_BYTES (FRAME_TOO_LARGE)"},
    }

    async def _twilio(request: Request, channel: Literal["whatsapp", "sms"]) -> Response:
        limit = get_settings().twilio_max_body_bytes
        body = await _read_bounded(request, limit)
        if body is None:
            raise LumaError(ErrorCode.FRAME_TOO_LARGE, f"The request body exceeds {limit} bytes.")
        await run_in_threadpool(webhook().accept, _webhook_event(request, body), channel)
        return Response(EMPTY_TWIML, media_type=TWIML_MEDIA_TYPE)

    @app.post(
        "/twilio/whatsapp",
        response_class=Response,
        responses=twilio_responses,
        openapi_extra={"requestBody": twilio_body_schema()},
    )
    async def twilio_whatsapp(request: Request, x_twilio_signature: Annotated[str | None, Header()] = None) -> Response:
        """Twilio's incoming-message webhook for WhatsApp (signed with ``X-Twilio-Signature``, no bearer
        token). Answered at once with empty TwiML; the turn is processed asynchronously."""
        return await _twilio(request, "whatsapp")

    @app.post(
        "/twilio/sms",
        response_class=Response,
        responses=twilio_responses,
        openapi_extra={"requestBody": twilio_body_schema()},
    )
    async def twilio_sms(request: Request, x_twilio_signature: Annotated[str | None, Header()] = None) -> Response:
        """Twilio's incoming-message webhook for SMS (as ``/twilio/whatsapp``)."""
        return await _twilio(request, "sms")

    @app.post("/sessions/{session_id}/close", response_model=SessionReport, response_model_by_alias=True)
    def close(
        session_id: SessionId,
        caller: Caller,
        conv: Repo,
        body: Annotated[CloseRequest | None, Body()] = None,
    ) -> JSONResponse:
        """Close the caller's session and return its report; closing again returns the same report."""
        report = close_session(
            conv,
            caller.tenant_id,
            session_id,
            user_id=caller.user_id,
            closed_by="user",
            rating=body.rating if body else None,
        )
        return JSONResponse(report.to_json())

    @app.get(
        "/sessions/{session_id}/report",
        response_model=SessionReport,
        response_model_by_alias=True,
        responses={404: {"model": ErrorOut, "description": "No such session, or not closed yet (REPORT_NOT_FOUND)"}},
    )
    def report(session_id: SessionId, caller: Caller, conv: Repo) -> JSONResponse:
        """The report written when the caller's session was closed; 404 before it is closed."""
        found = get_report(conv, caller.tenant_id, session_id, user_id=caller.user_id)
        if found is None:
            raise LumaError(ErrorCode.REPORT_NOT_FOUND)
        return JSONResponse(found.to_json())

    @app.get("/sessions", response_model=SessionsPage)
    def list_sessions(
        caller: Caller,
        conv: Repo,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> SessionsPage:
        """The caller's sessions, most recently active first; ``next`` is a cursor only the caller can use."""
        settings = get_settings()
        scope = f"sessions:{caller.tenant_id}:{caller.user_id}"
        inner = cursors.unseal(cursor, scope=scope, settings=settings)
        page = conv.list_sessions(caller.tenant_id, caller.user_id, limit=limit, cursor=inner)
        return SessionsPage(
            items=[SessionOut.of(s) for s in page.items],
            next=cursors.seal(page.next, scope=scope, settings=settings),
        )

    @app.get("/sessions/{session_id}/messages", response_model=MessagesPage)
    def list_messages(
        session_id: SessionId,
        caller: Caller,
        conv: Repo,
        after: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> MessagesPage:
        session = conv.get_session(caller.tenant_id, session_id)
        if session is None or session.user_id != caller.user_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        page = conv.list_messages(caller.tenant_id, session_id, after=after, limit=limit)
        return MessagesPage(items=[MessageOut.of(m, session.assistant) for m in page.items], next=page.next)

    from luma.http.me import router as me_router
    from luma.http.operators import router as operator_router
    from luma.http.security import router as security_router
    from luma.http.usage import router as usage_router
    from luma.mcp.server import mount_mcp

    app.include_router(me_router)
    app.include_router(operator_router)
    app.include_router(security_router)
    app.include_router(usage_router)
    mount_mcp(app)
    return app
