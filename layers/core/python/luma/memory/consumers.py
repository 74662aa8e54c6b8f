"""What the stream consumers and the session close call: memory from new messages, summaries at close,
and the memory block of an agent step.

- ``memory_extract`` (conversations stream, INSERT of ``M#`` items): :func:`on_message_change`;
- ``session_report`` / the sweeper / an explicit close: :func:`summarize_closed_session`;
- ``agent_turn``: :func:`memory_context_for_turn`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from luma.memory.model import MemoryItem, SourceMessage
from luma.memory.retrieval import MemoryContext, MemoryRetriever
from luma.memory.service import MemoryService
from luma.memory.wiring import get_memory_retriever, get_memory_service
from luma.store import keys
from luma.store.models import MessageRow, SessionRow

log = logging.getLogger("luma.memory")


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return datetime.fromisoformat(text)


def _rememberable(role: str, meta: Mapping[str, Any]) -> bool:
    if role not in ("user", "assistant") or meta.get("refused"):
        return False  # rate-limited or over-quota messages were never answered
    return not (role == "assistant" and meta.get("status") == "agent_unavailable")


def source_from_image(image: Mapping[str, Any]) -> SourceMessage | None:
    """The message of a conversations-table stream image, or None if it is not a message memory can use."""
    if image.get("kind") != "message":
        return None
    raw_meta = image.get("meta") or "{}"
    meta = json.loads(raw_meta) if isinstance(raw_meta, str) else dict(raw_meta)
    role = str(image.get("role", ""))
    if not _rememberable(role, meta) or not str(image.get("text", "")).strip():
        return None
    return SourceMessage(
        message_id=str(image["message_id"]),
        session_id=str(image["session_id"]),
        role=role,  # type: ignore[arg-type]
        text=str(image["text"]),
        created_at=_parse_time(image["created_at"]),
    )


def _from_row(row: MessageRow) -> SourceMessage | None:
    if not _rememberable(row.role, row.meta or {}) or not row.text.strip():
        return None
    return SourceMessage(row.message_id, row.session_id, row.role, row.text, row.created_at)  # type: ignore[arg-type]


def previous_message(tenant_id: str, session_id: str, message_id: str) -> SourceMessage | None:
    """The usable message just before ``message_id`` in its session (one Query, newest first)."""
    result = MessageRow.query(
        keys.session_pk(tenant_id, session_id),
        range_key_condition=MessageRow.sk.between(keys.MESSAGE_PREFIX, keys.message_sk(message_id)),
        scan_index_forward=False,
        limit=4,
    )
    for row in result:
        if row.message_id == message_id:
            continue
        found = _from_row(row)
        if found is not None:
            return found
    return None


def session_messages(tenant_id: str, session_id: str) -> Iterator[SourceMessage]:
    """Every usable message of a session, oldest first (page by page)."""
    last: dict[str, Any] | None = None
    while True:
        result = MessageRow.query(
            keys.session_pk(tenant_id, session_id),
            range_key_condition=MessageRow.sk.between(keys.MESSAGE_PREFIX, keys.MESSAGE_UPPER),
            limit=100,
            last_evaluated_key=last,
        )
        for row in result:
            found = _from_row(row)
            if found is not None:
                yield found
        last = result.last_evaluated_key
        if not last:
            return


def session_owner(tenant_id: str, session_id: str) -> str | None:
    """The user a session belongs to (one GetItem), or None for a session that is gone."""
    try:
        row = SessionRow.get(keys.session_pk(tenant_id, session_id), keys.META, attributes_to_get=["user_id", "kind"])
    except DoesNotExist:
        return None
    return str(row.user_id)


def on_message_change(change: Any, service: MemoryService | None = None) -> None:
    """``memory_extract``: remember what a new user message says (idempotent for redelivered records).

    ``change`` is a :class:`luma.streams.Change` of the conversations table; ``service`` defaults to the
    process-wide one.
    """

    image = change.new_image
    if change.event_name != "INSERT" or not image:
        return
    message = source_from_image(image)
    if message is None or message.role != "user":
        return  # assistant messages are context of the next user message, never memories
    tenant_id = str(image["tenant_id"])
    user_id = session_owner(tenant_id, message.session_id)
    if user_id is None:
        return
    preceding = previous_message(tenant_id, message.session_id, message.message_id)
    service = service or get_memory_service()
    result = service.ingest(tenant_id, user_id, [message], preceding=preceding)
    log.info(
        "memory extracted",
        extra={"added": len(result.added), "merged": len(result.merged), "updated": len(result.updated)},
    )


def summarize_closed_session(
    tenant_id: str, session_id: str, user_id: str | None = None, *, service: MemoryService | None = None
) -> MemoryItem | None:
    """The summary of a closed session as a memory item (written once); its ``text`` goes in the report."""

    user_id = user_id or session_owner(tenant_id, session_id)
    if user_id is None:
        return None
    messages = list(session_messages(tenant_id, session_id))
    return (service or get_memory_service()).summarize_session(tenant_id, user_id, session_id, messages)


def memory_context_for_turn(
    tenant_id: str,
    user_id: str,
    session_id: str,
    query: str,
    *,
    budget_tokens: int | None = None,
    retriever: MemoryRetriever | None = None,
) -> MemoryContext:
    """The memory block of an agent step (place it after the cached prompt prefix) and the ids it used.

    Memory is an aid: when the store cannot answer, the step goes on without it (logged).
    """
    try:
        return (retriever or get_memory_retriever()).context(
            tenant_id, user_id, query, session_id=session_id, budget_tokens=budget_tokens
        )
    except Exception as exc:
        log.warning("memory unavailable for this step", extra={"error": type(exc).__name__})
        return MemoryContext(text="", tokens=0, memory_ids=())
