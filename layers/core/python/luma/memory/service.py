"""The memory write path: new messages → memory items (DynamoDB first, then the search index), session
summaries at close, reindexing and erasure of one user's memory.

Idempotent for redelivered stream batches: an offline statement's id is derived from its message id, a
summary's from its session id, so writing one twice finds the first (and re-indexes it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from luma.ids import new_id
from luma.llm import LlmError, LlmProvider
from luma.memory import llm as memory_llm
from luma.memory.dates import day_label
from luma.memory.extractive import SUMMARY_LABEL, extractive_summary, statement_candidates
from luma.memory.model import Candidate, IngestResult, MemoryItem, MemoryKind, SourceMessage
from luma.memory.repository import MemoryConflictError, MemoryRepository
from luma.memory.settings import MemorySettings
from luma.memory.text import is_instruction_echo, keyword_query
from luma.memory.vectors import MemoryDoc, VectorHit, VectorStore

log = logging.getLogger("luma.memory")

Embed = Callable[[list[str]], np.ndarray]
Mask = Callable[[str, str], str]  # (tenant_id, text) -> text with personal data masked per the tenant's policy


def no_mask(tenant_id: str, text: str) -> str:
    """Keep text as it is (tenants whose policy keeps personal data in memory, and tests)."""
    return text


def _now() -> datetime:
    return datetime.now(UTC)


def item_from_hit(tenant_id: str, user_id: str, hit: VectorHit) -> MemoryItem:
    """A memory item as the index knows it (enough to compare and merge; the table has the rest)."""
    return MemoryItem(
        memory_id=hit.memory_id,
        tenant_id=tenant_id,
        user_id=user_id,
        kind=MemoryKind(hit.kind),
        text=hit.text,
        session_id=hit.session_id or "",
        source_ids=tuple(hit.source_ids),
        created_at=hit.created_at,
    )


@dataclass(frozen=True)
class _Pending:
    item: MemoryItem
    vector: np.ndarray


class MemoryService:
    """Writes memory: extraction (model or offline), near-duplicate merging, summaries, reindex, erasure."""

    def __init__(
        self,
        *,
        repo: MemoryRepository,
        store: VectorStore,
        embed: Embed,
        llm: LlmProvider | None = None,
        mask: Mask = no_mask,
        settings: MemorySettings | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.repo = repo
        self.store = store
        self.embed = embed
        self.settings = settings or MemorySettings()
        use_llm = self.settings.memory_extraction != "extractive"
        self.llm = llm if use_llm else None
        self.mask = mask
        self.clock = clock

    # -- index documents ----------------------------------------------------------------------
    @staticmethod
    def _doc(item: MemoryItem, vector: np.ndarray) -> MemoryDoc:
        return MemoryDoc(
            memory_id=item.memory_id,
            tenant_id=item.tenant_id,
            user_id=item.user_id,
            text=item.text,
            vector=[float(x) for x in vector],
            kind=item.kind.value,
            session_id=item.session_id,
            source_ids=item.source_ids,
            created_at=item.occurred_at or item.created_at,
            valid=item.valid,
        )

    def _index(self, items: Sequence[MemoryItem], vectors: np.ndarray | None = None) -> None:
        if not items:
            return
        if vectors is None:
            vectors = self.embed([i.text for i in items])
        self.store.upsert([self._doc(i, v) for i, v in zip(items, vectors, strict=True)])

    # -- near duplicates ----------------------------------------------------------------------
    def _similar(self, tenant_id: str, user_id: str, text: str, vector: np.ndarray, k: int) -> list[VectorHit]:
        return self.store.search(tenant_id, user_id, text=keyword_query(text), vector=[float(x) for x in vector], k=k)

    def _duplicate_of(
        self, tenant_id: str, user_id: str, candidate: Candidate, vector: np.ndarray, pending: list[_Pending]
    ) -> MemoryItem | None:
        """A current memory (written before or earlier in this batch) at least as similar as the threshold."""
        threshold = self.settings.memory_dedup_threshold
        for other in pending:
            if other.item.kind is candidate.kind and float(other.vector @ vector) >= threshold:
                return other.item
        # The nearest neighbour by embedding alone (no keywords), then its exact cosine.
        hits = self.store.search(
            tenant_id, user_id, text="", vector=[float(x) for x in vector], k=1, kinds=[candidate.kind.value]
        )
        if not hits or any(hits[0].memory_id == p.item.memory_id for p in pending):
            return None
        similarity = float(self.embed([hits[0].text])[0] @ vector)
        return item_from_hit(tenant_id, user_id, hits[0]) if similarity >= threshold else None

    def _merge(self, item: MemoryItem, source_ids: tuple[str, ...]) -> MemoryItem | None:
        """Add provenance to a current item (re-read once if it changed meanwhile); None if it is gone."""
        for _attempt in range(2):
            try:
                return self.repo.add_sources(item, source_ids)
            except MemoryConflictError:
                fresh = self.repo.get(item.tenant_id, item.user_id, item.memory_id)
                if fresh is None or not fresh.valid:
                    return None
                item = fresh
        return None

    # -- writes -------------------------------------------------------------------------------
    def _new_item(
        self, tenant_id: str, user_id: str, candidate: Candidate, *, memory_id: str | None = None
    ) -> MemoryItem:
        return MemoryItem(
            memory_id=memory_id or new_id(),
            tenant_id=tenant_id,
            user_id=user_id,
            kind=candidate.kind,
            text=candidate.text,
            session_id=candidate.session_id,
            source_ids=candidate.source_ids,
            created_at=self.clock(),
            occurred_at=candidate.occurred_at,
        )

    def _store_new(self, item: MemoryItem) -> MemoryItem:
        """Write a new item; a redelivered one (same id) is read back instead."""
        try:
            self.repo.add(item)
            return item
        except MemoryConflictError:
            return self.repo.get(item.tenant_id, item.user_id, item.memory_id) or item

    def _write_candidates(
        self, tenant_id: str, user_id: str, candidates: Sequence[Candidate], ids: Sequence[str | None]
    ) -> IngestResult:
        result = IngestResult()
        if not candidates:
            return result
        vectors = self.embed([c.text for c in candidates])
        pending: list[_Pending] = []
        merged: dict[str, MemoryItem] = {}
        for candidate, memory_id, vector in zip(candidates, ids, vectors, strict=True):
            duplicate = self._duplicate_of(tenant_id, user_id, candidate, vector, pending)
            if duplicate is not None and duplicate.memory_id != memory_id:
                kept = self._merge(merged.get(duplicate.memory_id, duplicate), candidate.source_ids)
                if kept is not None:
                    merged[kept.memory_id] = kept
                    result.merged.append(kept.memory_id)
                    pending = [_Pending(kept, p.vector) if p.item.memory_id == kept.memory_id else p for p in pending]
                    continue
            item = self._store_new(self._new_item(tenant_id, user_id, candidate, memory_id=memory_id))
            pending.append(_Pending(item, vector))
            result.added.append(item.memory_id)
        if pending:
            self._index([p.item for p in pending], np.stack([p.vector for p in pending]))
        fresh = {p.item.memory_id for p in pending}
        self._index([m for k, m in merged.items() if k not in fresh])
        return result

    def _masked(self, tenant_id: str, candidates: Iterable[Candidate]) -> list[Candidate]:
        return [replace(c, text=self.mask(tenant_id, c.text)) for c in candidates]

    def ingest(
        self,
        tenant_id: str,
        user_id: str,
        messages: Sequence[SourceMessage],
        *,
        preceding: SourceMessage | None = None,
    ) -> IngestResult:
        """Turn one session's new messages (oldest first) into memory; ``preceding`` = the message before them.

        With a model: mem0-style facts and update decisions; when the model fails or answers
        something unusable, the offline path writes this batch instead.
        """
        if self.llm is not None:
            try:
                return self._ingest_llm(tenant_id, user_id, messages, preceding)
            except (LlmError, memory_llm.MemoryLlmError) as exc:
                log.warning("memory extraction by model failed; offline path used", extra={"error": type(exc).__name__})
        return self.ingest_offline(tenant_id, user_id, messages, preceding=preceding)

    def ingest_offline(
        self,
        tenant_id: str,
        user_id: str,
        messages: Sequence[SourceMessage],
        *,
        preceding: SourceMessage | None = None,
    ) -> IngestResult:
        """The extractive path: each salient user statement with its context and dates."""
        candidates, skipped = statement_candidates(messages, preceding=preceding)
        ids: list[str | None] = []
        seen: dict[str, int] = {}
        for c in candidates:
            primary = c.source_ids[-1]
            seen[primary] = seen.get(primary, -1) + 1
            ids.append(f"{primary}.{seen[primary]}")
        result = self._write_candidates(tenant_id, user_id, self._masked(tenant_id, candidates), ids)
        result.skipped = skipped
        return result

    def _ingest_llm(
        self, tenant_id: str, user_id: str, messages: Sequence[SourceMessage], preceding: SourceMessage | None
    ) -> IngestResult:
        assert self.llm is not None
        shown = [preceding, *messages] if preceding is not None else list(messages)
        facts = memory_llm.extract_facts(self.llm, shown, max_tokens=self.settings.memory_llm_max_tokens)
        new_ids = {m.message_id for m in messages}
        facts = [
            memory_llm.Fact(self.mask(tenant_id, f.text), f.source_ids)
            for f in facts
            if not is_instruction_echo(f.text) and new_ids & set(f.source_ids)
        ]
        result = IngestResult(skipped=0 if facts else sum(1 for m in messages if m.role == "user"))
        if not facts:
            return result
        vectors = self.embed([f.text for f in facts])
        existing: dict[str, MemoryItem] = {}
        for fact, vector in zip(facts, vectors, strict=True):
            for hit in self._similar(tenant_id, user_id, fact.text, vector, self.settings.memory_similar_k):
                existing.setdefault(hit.memory_id, item_from_hit(tenant_id, user_id, hit))
        decisions = memory_llm.decide(
            self.llm, facts, list(existing.values()), max_tokens=self.settings.memory_llm_max_tokens
        )
        session_id = messages[-1].session_id if messages else ""
        when = {m.message_id: m.created_at for m in shown}
        to_add: list[Candidate] = []
        for decision in decisions:
            occurred = min((when[s] for s in decision.fact.source_ids if s in when), default=None)
            candidate = Candidate(MemoryKind.FACT, decision.text, session_id, decision.fact.source_ids, occurred)
            if decision.event == "ADD":
                to_add.append(candidate)
            elif decision.event == "UPDATE" and decision.target is not None:
                updated = self._update(decision.target, candidate)
                if updated is not None:
                    result.updated.append(updated)
                else:
                    to_add.append(candidate)
            elif decision.event == "DELETE" and decision.target is not None:
                if self._delete(decision.target):
                    result.deleted.append(decision.target.memory_id)
            elif decision.event == "NOOP" and decision.target is not None:
                kept = self._merge(decision.target, candidate.source_ids)
                if kept is not None:
                    result.merged.append(kept.memory_id)
                    self._index([kept])
        added = self._write_candidates(tenant_id, user_id, to_add, [None] * len(to_add))
        result.added += added.added
        result.merged += added.merged
        return result

    def _update(self, target: MemoryItem, candidate: Candidate) -> str | None:
        """Supersede ``target`` with the updated fact; returns the new id (None if ``target`` is no longer current)."""
        current = self.repo.get(target.tenant_id, target.user_id, target.memory_id)
        if current is None or not current.valid:
            return None
        now = self.clock()
        new = replace(
            self._new_item(target.tenant_id, target.user_id, candidate),
            supersedes=current.memory_id,
            version=current.version + 1,
            source_ids=tuple(dict.fromkeys((*current.source_ids, *candidate.source_ids))),
        )
        try:
            self.repo.supersede(current, new, at=now)
        except MemoryConflictError:
            return None
        closed = replace(current, valid_until=now, superseded_by=new.memory_id)
        self._index([new, closed])
        return new.memory_id

    def _delete(self, target: MemoryItem) -> bool:
        """Close a memory the user withdrew (kept, marked invalid, in the table and the index)."""
        current = self.repo.get(target.tenant_id, target.user_id, target.memory_id)
        if current is None or not current.valid:
            return False
        now = self.clock()
        try:
            self.repo.invalidate(current.tenant_id, current.user_id, current.memory_id, at=now)
        except MemoryConflictError:
            return False
        self._index([replace(current, valid_until=now)])
        return True

    # -- session summaries --------------------------------------------------------------------
    def summarize_session(
        self, tenant_id: str, user_id: str, session_id: str, messages: Sequence[SourceMessage]
    ) -> MemoryItem | None:
        """The session's summary as a memory item (written once; a second close returns the first).

        A model writes it when one is configured (falling back to the offline summary if it fails);
        the user's "last time" then points at it. None for a session with nothing to summarize.
        """
        memory_id = f"{session_id}.summary"
        existing = self.repo.get(tenant_id, user_id, memory_id)
        if existing is not None:
            return existing
        candidate = self._llm_summary(session_id, messages) if self.llm is not None else None
        candidate = candidate or extractive_summary(messages)
        if candidate is None:
            return None
        [candidate] = self._masked(tenant_id, [candidate])
        item = self._store_new(self._new_item(tenant_id, user_id, candidate, memory_id=memory_id))
        self.repo.put_last_summary(item)
        self._index([item])
        return item

    def _llm_summary(self, session_id: str, messages: Sequence[SourceMessage]) -> Candidate | None:
        assert self.llm is not None
        users = [m for m in messages if m.role == "user"]
        if not users:
            return None
        try:
            text = memory_llm.summarize(self.llm, messages, max_tokens=self.settings.memory_llm_max_tokens)
        except (LlmError, memory_llm.MemoryLlmError) as exc:
            log.warning("session summary by model failed; offline summary used", extra={"error": type(exc).__name__})
            return None
        first = users[0].created_at
        return Candidate(
            kind=MemoryKind.SUMMARY,
            text=f"[{day_label(first)}] {SUMMARY_LABEL} {text}",
            session_id=session_id,
            source_ids=tuple(m.message_id for m in messages),
            occurred_at=first,
        )

    # -- index maintenance and erasure --------------------------------------------------------
    def reindex_user(self, tenant_id: str, user_id: str, *, batch: int = 100) -> int:
        """Rebuild one user's index entries from the table (current and closed items); returns how many."""
        self.store.delete_user(tenant_id, user_id)
        count = 0
        chunk: list[MemoryItem] = []
        for item in self.repo.iter_user(tenant_id, user_id):
            chunk.append(item)
            if len(chunk) == batch:
                self._index(chunk)
                count += len(chunk)
                chunk = []
        self._index(chunk)
        return count + len(chunk)

    def forget_user(self, tenant_id: str, user_id: str) -> int:
        """Erase one user's memory: table items first (the source of truth), then index entries."""
        removed = self.repo.delete_user(tenant_id, user_id)
        self.store.delete_user(tenant_id, user_id)
        return removed
