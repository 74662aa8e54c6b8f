"""Memory items in DynamoDB (the source of truth; the search index is rebuilt from them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from luma.config import Settings, get_settings
from luma.memory.model import MemoryItem, MemoryKind
from luma.memory.rows import (
    LAST_SUMMARY,
    MEMORY_PREFIX,
    MEMORY_UPPER,
    LastSummaryRow,
    MemoryRow,
    memory_pk,
    memory_sk,
)
from luma.store.models import bind_models
from luma.store.repos import decode_cursor, encode_cursor

_PAGE = 100


class MemoryConflictError(Exception):
    """The item changed meanwhile (already superseded or deleted, or written twice)."""


@dataclass(frozen=True)
class MemoryPage:
    """One page of a user's memory items, oldest first; ``next`` is an opaque cursor."""

    items: list[MemoryItem]
    next: str | None


@dataclass(frozen=True)
class LastSummary:
    """The user's latest session summary."""

    memory_id: str
    session_id: str
    text: str
    occurred_at: datetime | None


def item_from_row(row: MemoryRow) -> MemoryItem:
    """The domain item of a row."""
    return MemoryItem(
        memory_id=row.memory_id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        kind=MemoryKind(row.memory_kind),
        text=row.text,
        session_id=row.session_id,
        source_ids=tuple(str(s) for s in row.source_ids or ()),
        created_at=row.created_at,
        occurred_at=row.occurred_at,
        valid_until=row.valid_until,
        supersedes=row.supersedes,
        superseded_by=row.superseded_by,
        version=int(row.version or 1),
    )


def _conditional_failure(exc: PutError | UpdateError | TransactWriteError) -> bool:
    if isinstance(exc, TransactWriteError):
        return exc.cause_response_code == "TransactionCanceledException"
    return exc.cause_response_code == "ConditionalCheckFailedException"


class MemoryRepository:
    """Memory items of one table (the conversations table), always addressed by tenant and user."""

    def __init__(self, settings: Settings | None = None, *, retention_days: int = 365) -> None:
        self.settings = settings or get_settings()
        self.retention_days = retention_days
        bind_models(self.settings)

    @property
    def _connection(self) -> Connection:
        return MemoryRow._get_connection().connection

    def _ttl(self, created_at: datetime) -> datetime:
        return max(created_at, datetime.now(UTC)) + timedelta(days=self.retention_days)

    def _row(self, item: MemoryItem) -> MemoryRow:
        return MemoryRow(
            pk=memory_pk(item.tenant_id, item.user_id),
            sk=memory_sk(item.memory_id),
            tenant_id=item.tenant_id,
            session_id=item.session_id,
            created_at=item.created_at,
            ttl=self._ttl(item.created_at),
            user_id=item.user_id,
            memory_id=item.memory_id,
            memory_kind=item.kind.value,
            text=item.text,
            source_ids=list(item.source_ids),
            occurred_at=item.occurred_at,
            valid_until=item.valid_until,
            supersedes=item.supersedes,
            superseded_by=item.superseded_by,
            version=item.version,
        )

    # -- writes -------------------------------------------------------------------------------
    def add(self, item: MemoryItem) -> None:
        """Write a new item; :class:`MemoryConflictError` if its id exists (nothing is overwritten)."""
        try:
            self._row(item).save(condition=MemoryRow.sk.does_not_exist())
        except PutError as exc:
            if _conditional_failure(exc):
                raise MemoryConflictError(item.memory_id) from None
            raise

    def supersede(self, old: MemoryItem, new: MemoryItem, *, at: datetime) -> None:
        """Write ``new`` and close ``old`` (``valid_until = at``) in one transaction.

        Fails with :class:`MemoryConflictError` when ``old`` is no longer current.
        """
        key = MemoryRow(pk=memory_pk(old.tenant_id, old.user_id), sk=memory_sk(old.memory_id))
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(self._row(new), condition=MemoryRow.sk.does_not_exist())
                tx.update(
                    key,
                    actions=[MemoryRow.valid_until.set(at), MemoryRow.superseded_by.set(new.memory_id)],
                    condition=MemoryRow.sk.exists() & MemoryRow.valid_until.does_not_exist(),
                )
        except TransactWriteError as exc:
            if _conditional_failure(exc):
                raise MemoryConflictError(old.memory_id) from None
            raise

    def invalidate(self, tenant_id: str, user_id: str, memory_id: str, *, at: datetime) -> None:
        """Close a current item (a fact the user withdrew); :class:`MemoryConflictError` if not current."""
        key = MemoryRow(pk=memory_pk(tenant_id, user_id), sk=memory_sk(memory_id))
        try:
            key.update(
                actions=[MemoryRow.valid_until.set(at)],
                condition=MemoryRow.sk.exists() & MemoryRow.valid_until.does_not_exist(),
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                raise MemoryConflictError(memory_id) from None
            raise

    def add_sources(self, item: MemoryItem, source_ids: tuple[str, ...]) -> MemoryItem:
        """Add provenance to a current item (a near-duplicate was merged into it); returns the item as stored.

        The condition on the old list makes a concurrent merge fail rather than be lost.
        """
        merged = tuple(dict.fromkeys((*item.source_ids, *source_ids)))
        if merged == item.source_ids:
            return item
        key = MemoryRow(pk=memory_pk(item.tenant_id, item.user_id), sk=memory_sk(item.memory_id))
        try:
            key.update(
                actions=[MemoryRow.source_ids.set(list(merged))],  # type: ignore[arg-type]
                condition=(MemoryRow.source_ids == list(item.source_ids)) & MemoryRow.valid_until.does_not_exist(),
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                raise MemoryConflictError(item.memory_id) from None
            raise
        return MemoryItem(**{**item.__dict__, "source_ids": merged})

    def put_last_summary(self, item: MemoryItem) -> None:
        """Point the user's "last time" at ``item`` unless a later summary is already there."""
        when = item.occurred_at or item.created_at
        row = LastSummaryRow(
            pk=memory_pk(item.tenant_id, item.user_id),
            sk=LAST_SUMMARY,
            tenant_id=item.tenant_id,
            session_id=item.session_id,
            created_at=item.created_at,
            ttl=self._ttl(item.created_at),
            user_id=item.user_id,
            memory_id=item.memory_id,
            text=item.text,
            occurred_at=when,
        )
        try:
            row.save(condition=LastSummaryRow.sk.does_not_exist() | (LastSummaryRow.occurred_at <= when))
        except PutError as exc:
            if not _conditional_failure(exc):
                raise

    # -- reads --------------------------------------------------------------------------------
    def get(self, tenant_id: str, user_id: str, memory_id: str) -> MemoryItem | None:
        """One item of this user, or None."""
        try:
            row = MemoryRow.get(memory_pk(tenant_id, user_id), memory_sk(memory_id), consistent_read=True)
        except DoesNotExist:
            return None
        return item_from_row(row)

    def get_last_summary(self, tenant_id: str, user_id: str) -> LastSummary | None:
        """The user's latest session summary (one GetItem), or None."""
        try:
            row = LastSummaryRow.get(memory_pk(tenant_id, user_id), LAST_SUMMARY)
        except DoesNotExist:
            return None
        return LastSummary(row.memory_id, row.session_id, row.text, row.occurred_at)

    def list(
        self, tenant_id: str, user_id: str, *, limit: int = _PAGE, cursor: str | None = None, valid_only: bool = False
    ) -> MemoryPage:
        """One page of the user's items, oldest first (ids are ULIDs)."""
        limit = max(1, min(limit, self.settings.page_size_max))
        result = MemoryRow.query(
            memory_pk(tenant_id, user_id),
            range_key_condition=MemoryRow.sk.between(MEMORY_PREFIX, MEMORY_UPPER),
            filter_condition=MemoryRow.valid_until.does_not_exist() if valid_only else None,
            limit=limit,
            last_evaluated_key=decode_cursor(cursor),
        )
        items = [item_from_row(r) for r in result]
        return MemoryPage(items=items, next=encode_cursor(result.last_evaluated_key))

    def iter_user(self, tenant_id: str, user_id: str, *, valid_only: bool = False) -> Iterator[MemoryItem]:
        """Every item of the user, page by page."""
        cursor: str | None = None
        while True:
            page = self.list(tenant_id, user_id, cursor=cursor, valid_only=valid_only)
            yield from page.items
            if page.next is None:
                return
            cursor = page.next

    def iter_users(self) -> Iterator[tuple[str, str]]:
        """Every (tenant, user) with memory items: a paginated Scan (operations such as a full reindex)."""
        seen: set[tuple[str, str]] = set()
        last: dict[str, Any] | None = None
        while True:
            result = MemoryRow.scan(page_size=_PAGE, last_evaluated_key=last)
            for row in result:
                pair = (row.tenant_id, row.user_id)
                if pair not in seen:
                    seen.add(pair)
                    yield pair
            last = result.last_evaluated_key
            if not last:
                return

    # -- erasure ------------------------------------------------------------------------------
    def delete_user(self, tenant_id: str, user_id: str) -> int:
        """Delete every memory item of one user and their summary pointer (one partition); returns how many."""
        pk = memory_pk(tenant_id, user_id)
        count = 0
        last: dict[str, Any] | None = None
        while True:
            result = MemoryRow.query(
                pk,
                range_key_condition=MemoryRow.sk.between(MEMORY_PREFIX, MEMORY_UPPER),
                limit=_PAGE,
                last_evaluated_key=last,
                attributes_to_get=["pk", "sk", "kind"],
            )
            keys = [row.sk for row in result]
            with MemoryRow.batch_write() as batch:
                for sk in keys:
                    batch.delete(MemoryRow(pk=pk, sk=sk))
            count += len(keys)
            last = result.last_evaluated_key
            if not last:
                break
        try:
            LastSummaryRow(pk=pk, sk=LAST_SUMMARY).delete(condition=LastSummaryRow.sk.exists())
            count += 1
        except DeleteError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        return count
