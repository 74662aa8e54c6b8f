"""Memory items in DynamoDB (moto server): one partition per user, supersession instead of overwrites,
provenance merges that cannot lose a concurrent one, pagination, the "last time" pointer, erasure."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from luma.config import Settings
from luma.memory.model import MemoryItem, MemoryKind
from luma.memory.repository import MemoryConflictError, MemoryRepository
from luma.memory.rows import MemoryRow, memory_pk

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(ddb_settings: Settings) -> MemoryRepository:
    return MemoryRepository(ddb_settings, retention_days=30)


def _item(
    user: str, text: str, *, tenant: str = "demo", kind: MemoryKind = MemoryKind.STATEMENT, n: int = 0
) -> MemoryItem:
    return MemoryItem(
        memory_id=f"{uuid.uuid4().hex[:10].upper()}{n:04d}",
        tenant_id=tenant,
        user_id=user,
        kind=kind,
        text=text,
        session_id="s-1",
        source_ids=(f"m{n}",),
        created_at=NOW + timedelta(seconds=n),
        occurred_at=NOW,
    )


def _user() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


def test_an_item_round_trips_with_its_key_ttl_and_provenance(repo: MemoryRepository) -> None:
    user = _user()
    item = _item(user, "[1 March 2025] User: I adopted a cat named Miso.")
    repo.add(item)
    assert repo.get("demo", user, item.memory_id) == item
    row = MemoryRow.get(memory_pk("demo", user), f"MEM#{item.memory_id}")
    assert row.pk == f"T#demo#U#{user}#MEM" and row.serialize()["kind"] == {"S": "memory"}
    assert row.ttl is not None and row.ttl > datetime.now(UTC) + timedelta(days=29)
    with pytest.raises(MemoryConflictError):
        repo.add(replace(item, text="something else"))  # nothing is silently overwritten
    assert repo.get("demo", user, item.memory_id) == item


def test_lookups_are_scoped_by_tenant_and_user(repo: MemoryRepository) -> None:
    alice, bob = _user(), _user()
    item = _item(alice, "Alice's secret")
    repo.add(item)
    assert repo.get("demo", bob, item.memory_id) is None
    assert repo.get("other-tenant", alice, item.memory_id) is None
    assert list(repo.iter_user("demo", bob)) == []


def test_a_changed_fact_supersedes_the_old_one(repo: MemoryRepository) -> None:
    user = _user()
    old = _item(user, "User lives in Lyon.", kind=MemoryKind.FACT)
    repo.add(old)
    new = replace(_item(user, "User moved to Paris.", kind=MemoryKind.FACT, n=1), supersedes=old.memory_id, version=2)
    repo.supersede(old, new, at=NOW + timedelta(hours=1))
    closed = repo.get("demo", user, old.memory_id)
    assert closed is not None and not closed.valid and closed.superseded_by == new.memory_id
    assert closed.text == "User lives in Lyon."  # kept, not overwritten
    assert [i.memory_id for i in repo.iter_user("demo", user, valid_only=True)] == [new.memory_id]
    with pytest.raises(MemoryConflictError):  # an item is superseded once
        repo.supersede(old, replace(new, memory_id=new.memory_id + "X"), at=NOW)


def test_invalidate_closes_a_current_item_once(repo: MemoryRepository) -> None:
    user = _user()
    item = _item(user, "User is allergic to penicillin.")
    repo.add(item)
    repo.invalidate("demo", user, item.memory_id, at=NOW)
    assert repo.get("demo", user, item.memory_id).valid_until == NOW  # type: ignore[union-attr]
    with pytest.raises(MemoryConflictError):
        repo.invalidate("demo", user, item.memory_id, at=NOW)
    with pytest.raises(MemoryConflictError):
        repo.invalidate("demo", user, "NO-SUCH-ITEM", at=NOW)


def test_merged_provenance_is_not_lost_to_a_concurrent_merge(repo: MemoryRepository) -> None:
    user = _user()
    item = _item(user, "User runs every Sunday.")
    repo.add(item)
    first = repo.add_sources(item, ("m7",))
    assert first.source_ids == ("m0", "m7")
    with pytest.raises(MemoryConflictError):
        repo.add_sources(item, ("m8",))  # built on the stale copy: refused, not overwriting m7
    assert repo.get("demo", user, item.memory_id).source_ids == ("m0", "m7")  # type: ignore[union-attr]


def test_listing_is_paginated_oldest_first(repo: MemoryRepository) -> None:
    user = _user()
    items = [_item(user, f"fact {n}", n=n) for n in range(7)]
    for item in items:
        repo.add(item)
    page = repo.list("demo", user, limit=3)
    assert len(page.items) == 3 and page.next is not None
    seen = [i.memory_id for i in repo.iter_user("demo", user)]
    assert sorted(seen) == sorted(i.memory_id for i in items) and len(seen) == 7
    assert (user, "demo") not in set(repo.iter_users()) and ("demo", user) in set(repo.iter_users())


def test_last_summary_pointer_keeps_the_latest(repo: MemoryRepository) -> None:
    user = _user()
    assert repo.get_last_summary("demo", user) is None
    newer = replace(_item(user, "Summary B", kind=MemoryKind.SUMMARY), occurred_at=NOW + timedelta(days=2))
    older = replace(_item(user, "Summary A", kind=MemoryKind.SUMMARY), occurred_at=NOW)
    repo.put_last_summary(newer)
    repo.put_last_summary(older)  # a late close of an older session does not move it back
    last = repo.get_last_summary("demo", user)
    assert last is not None and last.text == "Summary B" and last.memory_id == newer.memory_id


def test_delete_user_empties_one_partition_and_nothing_else(repo: MemoryRepository) -> None:
    gone, kept = _user(), _user()
    for n in range(5):
        repo.add(_item(gone, f"gone {n}", n=n))
    repo.put_last_summary(_item(gone, "summary", kind=MemoryKind.SUMMARY))
    survivor = _item(kept, "kept")
    repo.add(survivor)
    assert repo.delete_user("demo", gone) == 6
    assert list(repo.iter_user("demo", gone)) == [] and repo.get_last_summary("demo", gone) is None
    assert repo.get("demo", kept, survivor.memory_id) == survivor
    assert repo.delete_user("demo", gone) == 0  # idempotent
