"""What the agent keeps in DynamoDB besides messages: session state written by tools, pending approvals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from luma.config import Settings
from luma.domain.models import Message, Session, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.store import keys
from luma.store.models import MessageRow, SessionRow, UsageRow, bind_models
from luma.store.repos import message_from_row, session_from_row

StateChange = Callable[[Session], tuple[dict[str, Any], SessionStatus | None]]


class PendingApproval(dict[str, Any]):
    """``{"approval_id", "token", "run_id", "session_id", "user_id", "tool", "prompt"}``."""


class AgentStore(Protocol):
    def recent_messages(self, tenant_id: str, session_id: str, limit: int) -> list[Message]: ...
    def update_session(self, session: Session, change: StateChange) -> None: ...
    def count_tool_call(self, session: Session) -> None: ...
    def put_approval(self, tenant_id: str, approval: dict[str, Any], ttl_s: int) -> None: ...
    def take_approval(self, tenant_id: str, approval_id: str, user_id: str) -> dict[str, Any] | None: ...


def approval_pk(tenant_id: str, approval_id: str) -> str:
    return f"T#{tenant_id}#APPROVAL#{approval_id}"


class DynamoAgentStore:
    """The agent's reads and writes (key-addressed, plus one newest-first Query per step)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        bind_models(settings)

    def recent_messages(self, tenant_id: str, session_id: str, limit: int) -> list[Message]:
        """The newest ``limit`` messages, oldest first."""
        rows = MessageRow.query(
            keys.session_pk(tenant_id, session_id),
            range_key_condition=MessageRow.sk.between(keys.MESSAGE_PREFIX, keys.MESSAGE_UPPER),
            scan_index_forward=False,
            limit=limit,
        )
        return list(reversed([message_from_row(r) for r in rows]))

    def update_session(self, session: Session, change: StateChange) -> None:
        """Apply a tool's state change, conditional on the session's version.

        ``change`` maps a session to its new state (and status); when another writer got there first
        (a message arrived, a parallel tool call), it is applied again to the fresh session, so
        nothing another writer changed is lost.
        """
        current = session
        pk = keys.session_pk(session.tenant_id, session.session_id)
        for _ in range(5):
            state, status = change(current)
            actions: list[Any] = [SessionRow.state.set(state), SessionRow.version.add(1)]
            if status is not None:
                actions.append(SessionRow.status.set(status.value))
            try:
                SessionRow(pk=pk, sk=keys.META).update(
                    actions=actions, condition=SessionRow.pk.exists() & (SessionRow.version == current.version)
                )
                return
            except UpdateError:
                try:
                    current = session_from_row(SessionRow.get(pk, keys.META, consistent_read=True))
                except DoesNotExist:
                    return
        raise LumaError(ErrorCode.INTERNAL, "The session kept changing while a tool updated it.")

    def count_tool_call(self, session: Session) -> None:
        """One more tool call in the session (an atomic ADD; ``max_tools_per_session`` reads it)."""
        SessionRow(pk=keys.session_pk(session.tenant_id, session.session_id), sk=keys.META).update(
            actions=[SessionRow.tool_calls.add(1)], condition=SessionRow.pk.exists()
        )

    def put_approval(self, tenant_id: str, approval: dict[str, Any], ttl_s: int) -> None:
        """Remember a task token until the user answers (or it expires)."""
        now = datetime.now(UTC)
        UsageRow(
            pk=approval_pk(tenant_id, approval["approval_id"]),
            sk="APPROVAL",
            data=approval,
            created_at=now,
            ttl=now + timedelta(seconds=ttl_s + 3600),
        ).save()

    def take_approval(self, tenant_id: str, approval_id: str, user_id: str) -> dict[str, Any] | None:
        """The pending approval, removed atomically (a second answer finds nothing); None if not the user's."""
        try:
            row = UsageRow.get(approval_pk(tenant_id, approval_id), "APPROVAL", consistent_read=True)
        except DoesNotExist:
            return None
        if row.data.get("user_id") != user_id:
            return None
        try:
            row.delete(condition=UsageRow.pk.exists())
        except DeleteError:
            return None
        data: dict[str, Any] = row.data
        return data
