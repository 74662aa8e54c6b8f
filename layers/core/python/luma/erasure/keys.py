"""Every key an erasure touches, derived from the tenant and the user (pure functions, no I/O).

Ids never contain ``#`` (tenant ``[A-Za-z0-9_-]``, user ``[A-Za-z0-9_.:+@-]``), and every prefix below ends
with ``#``: ``T#demo#U#u-1#`` can only start keys of user ``u-1``, never of ``u-10``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from luma import identity, limits
from luma.agent.store import approval_pk
from luma.memory.rows import memory_pk
from luma.store import keys

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USER_RE = re.compile(r"^[A-Za-z0-9_.:+@-]{1,128}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
JOB_ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
CHANNELS = ("whatsapp", "sms")  # the channels that keep an address pointer (``CHANNEL#<channel>``)
JOB_SK_PREFIX = "JOB#"
ACTIVE_SK = "ACTIVE"


class InvalidSubjectError(ValueError):
    """A tenant, user, phone or job id that is not well formed (it could widen a key prefix)."""


@dataclass(frozen=True)
class Subject:
    """Whose data is erased: one user of one tenant."""

    tenant_id: str
    user_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.tenant_id, str) or not TENANT_RE.fullmatch(self.tenant_id):
            raise InvalidSubjectError("tenant_id is not a valid tenant id")
        if not isinstance(self.user_id, str) or not USER_RE.fullmatch(self.user_id):
            raise InvalidSubjectError("user_id is not a valid user id")


def check_phone(phone: str) -> str:
    """An E.164 number, as phone links and channel pointers key it."""
    if not isinstance(phone, str) or not PHONE_RE.fullmatch(phone):
        raise InvalidSubjectError("phone must be an E.164 number")
    return phone


def check_job_id(job_id: str) -> str:
    """A job id (a ULID)."""
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise InvalidSubjectError("job_id is not a valid job id")
    return job_id


# -- the user's own partitions and index keys -----------------------------------------------------------
def user_index_key(s: Subject) -> str:
    """``gsi1pk`` of the ``by_user`` index (connections; sessions' META items in conversations)."""
    return keys.user_pk(s.tenant_id, s.user_id)


def memory_partition(s: Subject) -> str:
    """The partition of the user's memory items and "last time" pointer (conversations table)."""
    return memory_pk(s.tenant_id, s.user_id)


def session_partition(s: Subject, session_id: str) -> str:
    return keys.session_pk(s.tenant_id, session_id)


# -- usage table ------------------------------------------------------------------------------------------
def usage_prefixes(s: Subject) -> tuple[str, ...]:
    """Partition-key prefixes of the user's usage items that are one partition each.

    ``T#<t>#U#<u>#`` holds idempotency records and media claims (``…#IDEM#<clientMessageId>``), ``T#<t>#Q#<u>#``
    the daily token counters.
    """
    return (f"{keys.user_pk(s.tenant_id, s.user_id)}#", f"T#{s.tenant_id}#Q#{s.user_id}#")


def usage_point_keys(s: Subject) -> list[tuple[str, str]]:
    """Usage items addressed by key alone: the user's rate-limit bucket and identity-attempt counter."""
    return [
        (limits.rate_pk(s.tenant_id, "U", s.user_id), limits.BUCKET_SK),
        (identity.user_key(s.tenant_id, s.user_id), identity.SK),
    ]


def quota_partitions(s: Subject, today: date, quota_days: int) -> list[str]:
    """The user's daily credit partitions still alive (``QUOTA`` balance and ``RES#`` reservations of a day).

    They live ``quota_days`` after their day (their TTL), so the days from ``today`` back that far (and
    tomorrow, for clocks ahead of ours) cover every one.
    """
    days = (today - timedelta(days=back) for back in range(-1, quota_days + 2))
    return [limits.quota_pk(s.tenant_id, s.user_id, day.isoformat()) for day in days]


def idempotency_key(s: Subject, client_message_id: str) -> tuple[str, str]:
    return keys.idempotency_pk(s.tenant_id, s.user_id, client_message_id), keys.IDEMPOTENCY


def approval_key(s: Subject, approval_id: str) -> tuple[str, str]:
    return approval_pk(s.tenant_id, approval_id), "APPROVAL"


# -- channel addresses ------------------------------------------------------------------------------------
def phone_prefix(tenant_id: str) -> str:
    """``pk`` prefix of a tenant's phone links (connections table)."""
    return f"T#{tenant_id}#PH#"


def pointer_keys(tenant_id: str, phone: str) -> list[tuple[str, str]]:
    """The address's current-session pointers (conversations table), one per channel."""
    return [(keys.phone_pk(tenant_id, check_phone(phone)), keys.channel_sk(c)) for c in CHANNELS]


def phone_link_key(tenant_id: str, phone: str) -> str:
    return keys.phone_pk(tenant_id, check_phone(phone))


# -- what an item of a session partition points at --------------------------------------------------------
def parse_meta(raw: Any) -> dict[str, Any]:
    """A message's ``meta`` (PynamoDB stores the JSON as a string); ``{}`` when absent or malformed."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def media_objects(tenant_id: str, refs: Any, default_bucket: str | None) -> list[tuple[str, str]]:
    """``(bucket, key)`` of the stored images among media references (``meta.media`` or a claim's work).

    Only keys under the tenant's own prefix (``<tenant>/``) are taken: a malformed reference can never
    point the erasure at another tenant's objects.
    """
    out: list[tuple[str, str]] = []
    if isinstance(refs, Mapping):
        items: list[Any] = list(refs.values())
    elif isinstance(refs, list | tuple):
        items = list(refs)
    else:
        return out
    for ref in items:
        if isinstance(ref, Mapping) and isinstance(ref.get("ref"), Mapping):
            ref = ref["ref"]  # a media claim's work: {"<index>": {"ref": {...}, "transcript": ...}}
        if not isinstance(ref, Mapping):
            continue
        key, bucket = ref.get("key"), ref.get("bucket") or default_bucket
        if isinstance(key, str) and isinstance(bucket, str) and bucket and key.startswith(f"{tenant_id}/"):
            out.append((bucket, key))
    return out


def usage_keys_of_message(s: Subject, item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Usage items a message of the user's session names: its idempotency record, its approval's task token."""
    out: list[tuple[str, str]] = []
    cmid = item.get("client_message_id")
    if isinstance(cmid, str) and cmid:
        out.append(idempotency_key(s, cmid))
    meta = parse_meta(item.get("meta"))
    message_id = item.get("message_id")
    if meta.get("kind") == "approval_request" and isinstance(message_id, str) and message_id:
        out.append(approval_key(s, message_id))
    return out


# -- the job ----------------------------------------------------------------------------------------------
def job_partition(s: Subject) -> str:
    """The partition of the user's erasure jobs (usage table): tenant-first, the user only as a digest.

    The job outlives the erasure (its status stays readable), so it must not hold the user id in clear.
    """
    digest = hashlib.sha256(f"{s.tenant_id}\x00{s.user_id}".encode()).hexdigest()[:40]
    return f"T#{s.tenant_id}#ERASURE#{digest}"


def job_sk(job_id: str) -> str:
    return f"{JOB_SK_PREFIX}{check_job_id(job_id)}"
