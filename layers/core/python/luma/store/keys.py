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
