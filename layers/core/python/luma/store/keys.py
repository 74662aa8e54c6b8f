"""Key builders: every partition key starts with the tenant (IAM ``dynamodb:LeadingKeys``)."""

from __future__ import annotations

META = "META"
IDEMPOTENCY = "IDEM"
MESSAGE_PREFIX = "M#"
MESSAGE_UPPER = "M$"  # '$' sorts right after '#': the upper bound of every M# key


def tenant_prefix(tenant_id: str) -> str:
    return f"T#{tenant_id}#"


def connection_pk(tenant_id: str, connection_id: str) -> str:
    return f"T#{tenant_id}#C#{connection_id}"


def user_pk(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#U#{user_id}"


def session_pk(tenant_id: str, session_id: str) -> str:
    return f"T#{tenant_id}#S#{session_id}"


def message_sk(message_id: str) -> str:
    return f"{MESSAGE_PREFIX}{message_id}"


def decision_sk(message_id: str) -> str:
    return f"R#{message_id}"


def idempotency_pk(tenant_id: str, user_id: str, client_message_id: str) -> str:
    return f"T#{tenant_id}#U#{user_id}#IDEM#{client_message_id}"


# Session reports and routing decisions (conversations table, same partition as the session).
REPORT = "REPORT"
DECISION_PREFIX = "R#"
DECISION_UPPER = "R$"  # the upper bound of every R# key


# Channel addresses (WhatsApp/SMS). A phone link lives in the connections table (it maps an address
# to a principal, like a connection id); the current session of an address lives in the
# conversations table, in the address's own partition.
def phone_pk(tenant_id: str, phone: str) -> str:
    return f"T#{tenant_id}#PH#{phone}"


def channel_sk(channel: str) -> str:
    return f"CHANNEL#{channel}"


# Idle index: one ``IDLE`` item per session (written with the session), indexed in the ``by_user`` GSI
# under ``gsi1pk = IDLE#<shard>``, ``gsi1sk`` = last activity as last known (the sweeper corrects it
# lazily). The sweeper queries each shard for entries older than the idle cutoff.
IDLE = "IDLE"
IDLE_SHARDS = 8


def idle_shard(session_id: str) -> int:
    """A stable shard of a session (spreads the index over IDLE_SHARDS GSI partitions)."""
    import zlib

    return zlib.crc32(session_id.encode()) % IDLE_SHARDS


def idle_gsi_pk(shard: int) -> str:
    return f"IDLE#{shard}"
