"""Memory items and the messages they are made from (provider- and storage-neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal


class MemoryKind(StrEnum):
    """What a memory item holds."""

    STATEMENT = "statement"  # something the user said, with its context and date (offline path)
    FACT = "fact"  # a fact extracted by a model (LLM path)
    SUMMARY = "summary"  # a session's summary, written at close


@dataclass(frozen=True)
class SourceMessage:
    """A message memory is made from: the fields extraction reads, nothing else.

    ``speaker`` is the name shown in memory text (the user's display name when known, else
    ``User``/``Assistant``).
    """

    message_id: str
    session_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: datetime
    speaker: str | None = None

    @property
    def who(self) -> str:
        """The speaker's label in memory text."""
        return self.speaker or ("User" if self.role == "user" else "Assistant")


@dataclass(frozen=True)
class MemoryItem:
    """One memory item (one version of a fact). ``valid_until`` set = superseded or deleted.

    Items are immutable except for ``valid_until``/``superseded_by`` and merged provenance: a changed
    fact is a new item that names the one it ``supersedes``.
    """

    memory_id: str
    tenant_id: str
    user_id: str
    kind: MemoryKind
    text: str
    session_id: str
    source_ids: tuple[str, ...]
    created_at: datetime
    occurred_at: datetime | None = None  # when what it says happened (the message's date)
    valid_until: datetime | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    version: int = 1

    @property
    def valid(self) -> bool:
        """True while the item is current (neither superseded nor deleted)."""
        return self.valid_until is None


@dataclass(frozen=True)
class Candidate:
    """A memory about to be written: text (already masked), provenance, when it happened."""

    kind: MemoryKind
    text: str
    session_id: str
    source_ids: tuple[str, ...]
    occurred_at: datetime | None = None


@dataclass
class IngestResult:
    """What one extraction pass did (counts and the ids it wrote)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # new items that superseded an old one
    deleted: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # existing items that gained provenance
    skipped: int = 0  # messages with nothing worth remembering

    @property
    def written(self) -> int:
        """Items created, superseded, deleted or merged."""
        return len(self.added) + len(self.updated) + len(self.deleted) + len(self.merged)
