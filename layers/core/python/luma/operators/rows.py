"""DynamoDB rows of the operators' side; every key starts with the tenant.

Conversations table:

- inbox notice: ``pk = T#<tenant>#OPS``, ``sk = N#<ulid>`` (the cursor operators resync from), TTL;
  it points at its escalation (session and escalation ids, urgency), never copies what the user said;
- notice marker: ``pk = T#<tenant>#OPS``, ``sk = NE#<escalation id>`` → the notice id (one notice per
  escalation: a redelivered stream record finds it);
- takeover: ``pk = T#<tenant>#S#<session>``, ``sk = TAKEOVER``: who holds the session, and the
  user's WhatsApp/SMS address once a message of theirs was relayed (erased with the session);
- audit: ``pk = T#<tenant>#OPAUDIT``, ``sk = A#<ulid>``: one per operator action (ids only, no text), TTL.

Connections table: an operator's connection is its connection item (``pk = T#<tenant>#C#<id>``, so
``$disconnect`` removes it) indexed in ``by_user`` under ``T#<tenant>#OPS`` instead of the user key,
so the tenant's operators are one Query away.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from luma.config import Settings
from luma.store.models import ConversationRow, bind_models

NOTICE_PREFIX = "N#"
NOTICE_UPPER = "N$"  # '$' sorts right after '#': the upper bound of every N# key
MARKER_PREFIX = "NE#"
TAKEOVER = "TAKEOVER"
AUDIT_PREFIX = "A#"


def ops_pk(tenant_id: str) -> str:
    """The tenant's operators: inbox partition (conversations) and connection index key (connections)."""
    return f"T#{tenant_id}#OPS"


def audit_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#OPAUDIT"


class NoticeRow(ConversationRow, discriminator="op_notice"):
    """``sk = N#<ulid>``: one escalation notice in the tenant's inbox."""

    notice_id = UnicodeAttribute()
    escalation_id = UnicodeAttribute()
    urgency = UnicodeAttribute()
    acked_by = UnicodeAttribute(null=True)
    acked_at = UTCDateTimeAttribute(null=True)


class NoticeMarkerRow(ConversationRow, discriminator="op_notice_marker"):
    """``sk = NE#<escalation id>``: the notice written for an escalation."""

    notice_id = UnicodeAttribute()
    escalation_id = UnicodeAttribute()


class TakeoverRow(ConversationRow, discriminator="op_takeover"):
    """``sk = TAKEOVER``: the operator holding a taken-over session."""

    operator_id = UnicodeAttribute()
    taken_at = UTCDateTimeAttribute()
    # {"channel", "to", "from"}: where a WhatsApp/SMS user is answered (learnt from their messages).
    address = JSONAttribute(null=True)


class AuditRow(ConversationRow, discriminator="op_audit"):
    """``sk = A#<ulid>``: one operator action (ids and outcome only)."""

    action = UnicodeAttribute()
    operator_id = UnicodeAttribute()
    escalation_id = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute()
    details = JSONAttribute(default=dict)


class _OperatorIndex(GlobalSecondaryIndex["Any"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class OperatorConnectionRow(Model):
    """An operator's open WebSocket connection (connections table, bound by :func:`bind_operator_rows`)."""

    class Meta:
        table_name = "luma-connections"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
    role = UnicodeAttribute(default="operator")
    # The API Gateway management endpoint of the connection's stage (https://domain/stage).
    endpoint = UnicodeAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    gone = BooleanAttribute(default=False)
    ttl = TTLAttribute(null=True)
    by_user = _OperatorIndex()


_bound: tuple[Any, ...] | None = None


def bind_operator_rows(settings: Settings) -> None:
    """Bind every model (:func:`bind_models`) and the operator connection row to the connections table."""
    global _bound
    bind_models(settings)
    key = (settings.region, settings.dynamodb_endpoint_url, settings.connections_table)
    if _bound == key:
        return
    meta: Any = OperatorConnectionRow.Meta
    meta.table_name = settings.connections_table
    meta.region = settings.region
    meta.host = settings.dynamodb_endpoint_url
    meta.connect_timeout_seconds = 2
    meta.read_timeout_seconds = 5
    meta.max_retry_attempts = 2
    OperatorConnectionRow._connection = None
    _bound = key
