"""What the stream consumers and the session close call: memory from new messages, summaries at close,
and the memory block of an agent step.

- ``memory_extract`` (conversations stream, INSERT of ``M#`` items): :func:`on_message_change`;
- ``memory_expire`` (conversations stream, REMOVE of ``MEM#`` items: expired by TTL, or erased):
  :func:`on_memory_removed`;
- ``session_report`` / the sweeper / an explicit close: :func:`summarize_closed_session`;
- ``agent_turn``: :func:`memory_context_for_turn`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from luma.config import Settings, get_settings
from luma.memory.model import MemoryItem, SourceMessage
from luma.memory.retrieval import MemoryContext, MemoryRetriever
from luma.memory.rows import MEMORY_PREFIX, MemoryRow, memory_pk, memory_sk
from luma.memory.service import MemoryService
from luma.memory.vectors import VectorStore
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
        log.info("memory extraction skipped: the session is gone (erased)")
        return
    preceding = previous_message(tenant_id, message.session_id, message.message_id)
    service = service or get_memory_service()
    result = service.ingest(tenant_id, user_id, [message], preceding=preceding)
    written = [*result.added, *result.updated]
    if written and session_owner(tenant_id, message.session_id) is None:
        # Erased while this ran: the erasure may have emptied memory before these were written.
        _forget(service, tenant_id, user_id, written)
        log.info("memory extraction undone: the session was erased meanwhile", extra={"removed": len(written)})
        return
    log.info(
        "memory extracted",
        extra={"added": len(result.added), "merged": len(result.merged), "updated": len(result.updated)},
    )


def _forget(service: MemoryService, tenant_id: str, user_id: str, memory_ids: Sequence[str]) -> None:
    """Remove items just written (table first, then their index documents)."""
    pk = memory_pk(tenant_id, user_id)
    for memory_id in memory_ids:
        MemoryRow(pk, memory_sk(memory_id)).delete()
    service.store.delete(tenant_id, user_id, memory_ids)


# -- memory_expire ---------------------------------------------------------------------------------------
_MEMORY_PK = re.compile(r"^T#(?P<tenant>[^#]+)#U#(?P<user>[^#]+)#MEM$")
_store_lock = threading.Lock()
_stores: dict[int, tuple[Settings, VectorStore]] = {}


def memory_key(pk: object, sk: object) -> tuple[str, str, str] | None:
    """(tenant, user, memory id) of a memory item's keys (``T#<tenant>#U#<user>#MEM``, ``MEM#<id>``), else None."""
    found = _MEMORY_PK.match(pk) if isinstance(pk, str) else None
    if found is None or not isinstance(sk, str) or not sk.startswith(MEMORY_PREFIX) or sk == MEMORY_PREFIX:
        return None
    return found["tenant"], found["user"], sk[len(MEMORY_PREFIX) :]


def _index_store(settings: Settings) -> VectorStore:
    """The search index alone (no embedding model: removing a document needs none), one per settings."""
    with _store_lock:
        cached = _stores.get(id(settings))
        if cached is not None and cached[0] is settings:
            return cached[1]
        from luma.memory.vectors import OpenSearchVectorStore

        store = OpenSearchVectorStore(settings)
        _stores.clear()
        _stores[id(settings)] = (settings, store)
        return store


def on_memory_removed(change: Any, store: VectorStore | None = None) -> None:
    """``memory_expire``: a memory item left the table (its TTL expired, or it was erased): its index document too.

    Works from the record's keys alone (the table streams ``NEW_IMAGE``: a REMOVE carries no image).
    Idempotent: a document already gone is not an error.
    """
    if change.event_name != "REMOVE":
        return
    parsed = memory_key(change.keys.get("pk"), change.keys.get("sk"))
    if parsed is None:
        log.warning("memory_expire: a record that is not a memory item", extra={"eventName": change.event_name})
        return
    tenant_id, user_id, memory_id = parsed
    if store is None:
        settings = get_settings()
        if not settings.opensearch_url:
            return  # no search index configured: nothing outlives the item
        store = _index_store(settings)
    store.delete(tenant_id, user_id, [memory_id])
    log.info("memory index document removed with its item")


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
