"""PynamoDB rows of memory items: item kinds of the conversations table.

Keys (every key starts with the tenant; one partition per user, so one Query lists a user's memory
and erasure empties one partition):

- ``pk = T#<tenant>#U#<user>#MEM``, ``sk = MEM#<memory_id>``: one memory item (one version of a fact;
  a changed fact is a new item naming the one it supersedes, which gets ``valid_until``);
- same ``pk``, ``sk = LAST#summary``: a pointer to the user's latest session summary (one GetItem
  gives the next session its "last time").

No GSI keys (the ``by_user`` index stays sessions and idle entries only); ``ttl`` per retention.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from luma.store.models import ConversationRow

MEMORY_PREFIX = "MEM#"
MEMORY_UPPER = "MEM$"  # '$' sorts right after '#': the upper bound of every MEM# key
LAST_SUMMARY = "LAST#summary"


def memory_pk(tenant_id: str, user_id: str) -> str:
    """The partition of one user's memory."""
    return f"T#{tenant_id}#U#{user_id}#MEM"


def memory_sk(memory_id: str) -> str:
    """The sort key of one memory item."""
    return f"{MEMORY_PREFIX}{memory_id}"


class MemoryRow(ConversationRow, discriminator="memory"):
    """``sk = MEM#<memory_id>``: one memory item. ``session_id`` is the session it came from."""

    user_id = UnicodeAttribute()
    memory_id = UnicodeAttribute()
    memory_kind = UnicodeAttribute()
    text = UnicodeAttribute()
    source_ids = ListAttribute(of=UnicodeAttribute, default=list)
    occurred_at = UTCDateTimeAttribute(null=True)
    valid_until = UTCDateTimeAttribute(null=True)
    supersedes = UnicodeAttribute(null=True)
    superseded_by = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)


class LastSummaryRow(ConversationRow, discriminator="memory_last"):
    """``sk = LAST#summary``: the user's latest session summary (a copy of its id, text and date)."""

    user_id = UnicodeAttribute()
    memory_id = UnicodeAttribute()
    text = UnicodeAttribute()
    occurred_at = UTCDateTimeAttribute(null=True)
