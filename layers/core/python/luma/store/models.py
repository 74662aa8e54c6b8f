"""PynamoDB rows. Table names, region and endpoint are bound at runtime by :func:`bind_models`.

Key contract (mirrored by the CDK tables in ``infra/``; a contract test compares them):
- connections: ``pk = T#<tenant>#C#<connection>``; GSI ``by_user`` (``gsi1pk = T#<tenant>#U#<user>``,
  ``gsi1sk = connected_at``); TTL ``ttl``. Also phone links, ``pk = T#<tenant>#PH#<e164>`` (no GSI keys, no TTL).
- conversations: ``pk = T#<tenant>#S#<session>``, ``sk = META | M#<ulid> | R#<ulid> | REPORT | IDLE``, and
  ``pk = T#<tenant>#PH#<e164>``, ``sk = CHANNEL#<channel>`` (an address's current session); GSI ``by_user``
  (``gsi1pk = T#<tenant>#U#<user>``, ``gsi1sk = last activity`` for META items; ``gsi1pk = IDLE#<shard>``
  for IDLE items, the sweeper's index); TTL ``ttl``.
- usage: ``pk``/``sk`` (idempotency records, counters); TTL ``ttl``.
- each assistant pack's tables: ``pk``/``sk``, the tenant first in ``pk`` (see ``luma.store.packdata``).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from luma.config import Settings


class _Base(Model):
    class Meta:
        abstract = True
        table_name = "unbound"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"


class UserIndex(GlobalSecondaryIndex["Any"]):
    """GSI ``by_user``: items of one user, newest last."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ConnectionRow(_Base):
    """An open WebSocket connection."""

    class Meta(_Base.Meta):
        table_name = "luma-connections"

    pk = UnicodeAttribute(hash_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    gone = BooleanAttribute(default=False)
    ttl = TTLAttribute(null=True)
    by_user = UserIndex()


class ConversationRow(_Base):
    """Base of every item in the conversations table (discriminated by ``kind``)."""

    class Meta(_Base.Meta):
        table_name = "luma-conversations"
        stream_view_type = "NEW_IMAGE"  # the stream consumers' (infra config.TABLES["conversations"].stream)

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    tenant_id = UnicodeAttribute()
    session_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute(null=True)
    by_user = UserIndex()


class SessionRow(ConversationRow, discriminator="session"):
    """``sk = META``: one per session."""

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute()
    assistant = UnicodeAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    language = UnicodeAttribute()
    last_activity_at = UTCDateTimeAttribute()
    message_count = NumberAttribute(default=0)
    tool_calls = NumberAttribute(default=0)
    state = JSONAttribute(default=dict)
    version = NumberAttribute(default=0)


class MessageRow(ConversationRow, discriminator="message"):
    """``sk = M#<ulid>``: one message (never a growing list on one item)."""

    message_id = UnicodeAttribute()
    role = UnicodeAttribute()
    text = UnicodeAttribute()
    client_message_id = UnicodeAttribute(null=True)
    reply_to = UnicodeAttribute(null=True)
    intent = UnicodeAttribute(null=True)
    route = UnicodeAttribute(null=True)
    meta = JSONAttribute(default=dict)


class DecisionRow(ConversationRow, discriminator="decision"):
    """``sk = R#<message ulid>``: the routing decision for an inbound message (audit)."""

    message_id = UnicodeAttribute()
    intent = UnicodeAttribute(null=True)
    confidence = NumberAttribute()
    margin = NumberAttribute()
    route = UnicodeAttribute()
    reason = UnicodeAttribute()
    latency_ms = NumberAttribute()
    classifier = UnicodeAttribute()
    # The fast path's answer to the message, set once with the reply; ``delivered`` once it went out.
    answer_id = UnicodeAttribute(null=True)
    delivered = BooleanAttribute(null=True)


class ReportRow(ConversationRow, discriminator="report"):
    """``sk = REPORT``: the session report written at close (one per session)."""

    user_id = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class ChannelSessionRow(ConversationRow, discriminator="channel"):
    """``pk = T#<tenant>#PH#<e164>``, ``sk = CHANNEL#<whatsapp|sms>``: the address's current session."""

    user_id = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)


class IdleRow(ConversationRow, discriminator="idle"):
    """``sk = IDLE``: the session's entry in the idle index (GSI ``by_user`` under ``IDLE#<shard>``)."""

    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    user_id = UnicodeAttribute()


class EscalationRow(ConversationRow, discriminator="escalation"):
    """``sk = ESC#<ulid>``: a request for a person; GSI ``by_user`` under ``T#<tenant>#ESC`` lists a tenant's."""

    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    escalation_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    assistant = UnicodeAttribute()
    channel = UnicodeAttribute()
    urgency = UnicodeAttribute()
    reason = UnicodeAttribute()
    status = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class GuardEventRow(ConversationRow, discriminator="guard"):
    """``sk = G#<ulid>``: one guard event of the session (kind, score, action, policy; never the text)."""

    user_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    stage = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class PhoneLinkRow(_Base):
    """A phone number linked to a user (connections table): ``pk = T#<tenant>#PH#<e164>``.

    It maps a channel address to a principal, as a connection item maps a connection id; no
    ``gsi1pk`` (connections' ``by_user`` index stays connections only) and no TTL.
    """

    class Meta(_Base.Meta):
        table_name = "luma-connections"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="phone")
    tenant_id = UnicodeAttribute()
    phone = UnicodeAttribute()
    user_id = UnicodeAttribute()
    display_name = UnicodeAttribute(null=True)
    anonymous = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()


class UsageRow(_Base):
    """Idempotency records and counters (rate limits and quotas build on it)."""

    class Meta(_Base.Meta):
        table_name = "luma-usage"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    data = JSONAttribute(default=dict)
    created_at = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    # Idempotency records of WhatsApp/SMS messages with attachments: claimed ("processing", with a
    # lease) before any media work, "done" once the message is recorded; finished work rides along.
    claim_state = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    work = JSONAttribute(null=True)


class PackDataRow(_Base):
    """An item of an assistant pack's own table (its tables are declared by the pack: see
    :mod:`luma.store.packdata`, which makes one bound model per table)."""

    class Meta(_Base.Meta):
        abstract = True

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    data = JSONAttribute(default=dict)
    ttl = TTLAttribute(null=True)


_TABLE_SETTING: dict[type[Model], str] = {
    ConnectionRow: "connections_table",
    ConversationRow: "conversations_table",
    UsageRow: "usage_table",
}

ALL_MODELS: tuple[type[Model], ...] = tuple(_TABLE_SETTING)
# Models of items that share a table with one of ALL_MODELS (bound the same way, never created).
_SHARED_TABLE: dict[type[Model], str] = {PhoneLinkRow: "connections_table"}

_bound: tuple[Any, ...] | None = None


def _subclasses(model: type[Model]) -> list[type[Model]]:
    """Every subclass of ``model`` (item kinds declared anywhere share its table and connection)."""
    out: list[type[Model]] = []
    for sub in model.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def bind_models(settings: Settings) -> None:
    """Point every model at the configured tables, region and endpoint (idempotent)."""
    global _bound
    from luma.aws import share_with_pynamodb

    share_with_pynamodb()
    key = (
        settings.region,
        settings.dynamodb_endpoint_url,
        settings.aws_max_pool_connections,
        *(getattr(settings, attr) for attr in _TABLE_SETTING.values()),
    )
    if _bound == key:
        return
    for model, attr in (*_TABLE_SETTING.items(), *_SHARED_TABLE.items()):
        meta: Any = model.Meta
        meta.table_name = getattr(settings, attr)
        meta.region = settings.region
        meta.host = settings.dynamodb_endpoint_url
        # Connection timeouts small enough to fail fast inside a Lambda's budget.
        meta.connect_timeout_seconds = 2
        meta.read_timeout_seconds = 5
        meta.max_retry_attempts = 2
        meta.max_pool_connections = settings.aws_max_pool_connections
        model._connection = None  # PynamoDB caches the connection per model class
    for sub in _subclasses(ConversationRow):
        sub._connection = None
    _bound = key
