"""HTTP routes for web and mobile clients: health and conversation history.

Every route but ``/health`` needs a bearer token; every query is scoped to the caller's tenant and
user, so another user's session is a 404, exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from luma import __version__
from luma.auth import verify_token
from luma.config import get_settings
from luma.domain.models import Message, Principal, Session
from luma.errors import ErrorCode, LumaError
from luma.store.repos import ConversationRepository


class MessageOut(BaseModel):
    messageId: str
    sessionId: str
    role: str
    text: str
    createdAt: str
    intent: str | None = None
    route: str | None = None
    replyTo: str | None = None
    clientMessageId: str | None = None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            messageId=m.message_id,
            sessionId=m.session_id,
            role=m.role.value,
            text=m.text,
            createdAt=m.created_at.isoformat(),
            intent=m.intent,
            route=m.route.value if m.route else None,
            replyTo=m.reply_to,
            clientMessageId=m.client_message_id,
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


def _principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise LumaError(ErrorCode.AUTH_REQUIRED)
    return verify_token(authorization[7:].strip())


def _repo() -> ConversationRepository:
    raise RuntimeError("overridden by create_app")


Caller = Annotated[Principal, Depends(_principal)]
Repo = Annotated[ConversationRepository, Depends(_repo)]


def create_app(conversations: Callable[[], ConversationRepository] | None = None) -> FastAPI:
    """The FastAPI app; ``conversations`` provides the repository (DynamoDB by default)."""
    if conversations is None:
        from luma import wiring

        conversations = wiring.conversations
    repo_provider = conversations
    app = FastAPI(
        title="Luma HTTP API",
        version=__version__,
        root_path=get_settings().http_root_path,
        responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    )

    @app.exception_handler(LumaError)
    async def _luma_error(_: Request, exc: LumaError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)

    app.dependency_overrides[_repo] = repo_provider

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/sessions", response_model=SessionsPage)
    def list_sessions(
        caller: Caller,
        conv: Repo,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> SessionsPage:
        page = conv.list_sessions(caller.tenant_id, caller.user_id, limit=limit, cursor=cursor)
        return SessionsPage(items=[SessionOut.of(s) for s in page.items], next=page.next)

    @app.get("/sessions/{session_id}/messages", response_model=MessagesPage)
    def list_messages(
        session_id: str,
        caller: Caller,
        conv: Repo,
        after: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> MessagesPage:
        session = conv.get_session(caller.tenant_id, session_id)
        if session is None or session.user_id != caller.user_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        page = conv.list_messages(caller.tenant_id, session_id, after=after, limit=limit)
        return MessagesPage(items=[MessageOut.of(m) for m in page.items], next=page.next)

    return app
