"""Operator routes of the HTTP API: a session's transcript and the escalation queue.

Operators only (``FORBIDDEN`` for anyone else), and only their own tenant: every read is keyed by the
caller's tenant, so another tenant's session is ``SESSION_NOT_FOUND`` like a missing one. The app
includes :data:`router` (``app.include_router(router)``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from luma.errors import ErrorCode, LumaError
from luma.http.app import MessageOut, Operator, Repo, SessionId
from luma.operators.models import escalation_view, queue_order
from luma.operators.settings import OperatorSettings
from luma.operators.store import OperatorStore


def operator_store() -> OperatorStore:
    """The operators' store (DynamoDB); tests override this dependency."""
    from luma.operators import wiring

    return wiring.store()


def operator_settings() -> OperatorSettings:
    from luma.config import get_settings

    return OperatorSettings.from_settings(get_settings())


Store = Annotated[OperatorStore, Depends(operator_store)]
Options = Annotated[OperatorSettings, Depends(operator_settings)]


class OperatorSessionOut(BaseModel):
    sessionId: str
    userId: str
    status: str
    channel: str
    assistant: str
    language: str
    createdAt: str
    lastActivityAt: str
    heldBy: str | None = None


class OperatorMessageOut(MessageOut):
    """A transcript item; ``operatorId`` names the operator who wrote an operator message."""

    operatorId: str | None = None


class TranscriptPage(BaseModel):
    session: OperatorSessionOut
    items: list[OperatorMessageOut]
    next: str | None


class EscalationOut(BaseModel):
    escalationId: str
    sessionId: str
    userId: str
    urgency: str
    reason: str
    channel: str
    assistant: str
    status: str
    createdAt: str
    takenBy: str | None = None
    takenAt: str | None = None
    closedBy: str | None = None
    closedAt: str | None = None
    note: str | None = None


class EscalationQueue(BaseModel):
    items: list[EscalationOut]
    firstResponseS: int


router = APIRouter(prefix="/operator", tags=["operators"])


@router.get("/sessions/{session_id}/messages", response_model=TranscriptPage)
def transcript(
    session_id: SessionId,
    operator: Operator,
    conv: Repo,
    store: Store,
    after: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> TranscriptPage:
    """A session of the operator's tenant, oldest messages first (``next``: the last id, when there are more)."""
    session = conv.get_session(operator.tenant_id, session_id)
    if session is None or session.tenant_id != operator.tenant_id:
        raise LumaError(ErrorCode.SESSION_NOT_FOUND)
    holder = store.holder(operator.tenant_id, session_id)
    page = conv.list_messages(operator.tenant_id, session_id, after=after, limit=limit)
    items = []
    for m in page.items:
        out: dict[str, Any] = MessageOut.of(m, session.assistant).model_dump()
        if m.meta.get("route") == "operator":
            out["route"] = "operator"
            out["operatorId"] = m.meta.get("operatorId")
        items.append(OperatorMessageOut(**out))
    return TranscriptPage(
        session=OperatorSessionOut(
            sessionId=session.session_id,
            userId=session.user_id,
            status=session.status.value,
            channel=session.channel,
            assistant=session.assistant,
            language=session.language,
            createdAt=session.created_at.isoformat(),
            lastActivityAt=session.last_activity_at.isoformat(),
            heldBy=holder.operator_id if holder else None,
        ),
        items=items,
        next=page.next,
    )


@router.get("/escalations", response_model=EscalationQueue)
def escalations(
    operator: Operator,
    store: Store,
    options: Options,
    status: Literal["open", "closed"] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> EscalationQueue:
    """The queue: open (and taken) escalations urgent first, then the longest waiting; or the latest closed."""
    if status == "open":
        found = queue_order(store.escalations.list_open(operator.tenant_id))
    else:
        found = store.escalations.list_closed(operator.tenant_id, limit=limit)
    return EscalationQueue(
        items=[EscalationOut(**escalation_view(e)) for e in found[:limit]],
        firstResponseS=options.first_response_s(operator.tenant_id),
    )
