"""Erasure key derivation: every key and prefix is the user's own, never a neighbour's (``u-1`` vs ``u-10``)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from luma import identity, limits
from luma.agent.store import approval_pk
from luma.erasure import keys as ek
from luma.erasure.keys import InvalidSubjectError, Subject
from luma.memory.rows import memory_pk
from luma.store import keys

TODAY = date(2026, 3, 10)


def every_key_of(tenant: str, user: str) -> list[str]:
    """Partition keys the platform writes for a user (as the writers build them)."""
    return [
        keys.user_pk(tenant, user),
        keys.idempotency_pk(tenant, user, "SM0123"),
        keys.idempotency_pk(tenant, user, "m-1"),
        limits.rate_pk(tenant, "U", user),
        limits.quota_pk(tenant, user, "2026-03-10"),
        identity.user_key(tenant, user),
        memory_pk(tenant, user),
    ]


@pytest.mark.parametrize(
    ("mine", "neighbour"),
    [
        (("demo", "u-1"), ("demo", "u-10")),
        (("demo", "u-10"), ("demo", "u-1")),
        (("demo", "u-1"), ("demo2", "u-1")),
        (("de", "u-1"), ("demo", "u-1")),
        (("demo", "a.b"), ("demo", "a.b.c")),
    ],
)
def test_no_prefix_or_key_of_a_user_reaches_a_similar_users_items(
    mine: tuple[str, str], neighbour: tuple[str, str]
) -> None:
    s = Subject(*mine)
    theirs = every_key_of(*neighbour)
    for prefix in ek.usage_prefixes(s):
        assert not any(k.startswith(prefix) for k in theirs), (prefix, theirs)
    exact = {
        ek.user_index_key(s),
        ek.memory_partition(s),
        *(pk for pk, _ in ek.usage_point_keys(s)),
        *ek.quota_partitions(s, TODAY, 3),
    }
    assert exact.isdisjoint(theirs)
    assert ek.job_partition(s) != ek.job_partition(Subject(*neighbour))
    if mine[0] != neighbour[0]:
        assert not keys.phone_pk(neighbour[0], "+33612345001").startswith(ek.phone_prefix(s.tenant_id))


def test_the_users_own_keys_are_all_covered() -> None:
    s = Subject("demo", "u-1")
    idem, quota = ek.usage_prefixes(s)
    assert keys.idempotency_pk("demo", "u-1", "SM0123").startswith(idem)
    assert limits.quota_pk("demo", "u-1", "2026-01-01").startswith(quota)
    assert ek.user_index_key(s) == "T#demo#U#u-1"
    assert ek.memory_partition(s) == "T#demo#U#u-1#MEM"
    assert ek.session_partition(s, "S1") == "T#demo#S#S1"


def test_point_keys_cover_the_bucket_the_attempts_and_every_live_credit_day() -> None:
    s = Subject("demo", "u-1")
    assert ek.usage_point_keys(s) == [
        (limits.rate_pk("demo", "U", "u-1"), limits.BUCKET_SK),
        (identity.user_key("demo", "u-1"), identity.SK),
    ]
    days = {pk.rsplit("#", 1)[1] for pk in ek.quota_partitions(s, TODAY, 3)}
    # today, tomorrow (a clock ahead), and every day whose items' TTL (day + 1 + 3 days) has not passed
    assert days == {"2026-03-11", "2026-03-10", "2026-03-09", "2026-03-08", "2026-03-07", "2026-03-06"}
    assert all(pk.startswith(ek.usage_prefixes(s)[1]) for pk in ek.quota_partitions(s, TODAY, 3))


@pytest.mark.parametrize(
    ("tenant", "user"),
    [
        ("demo", ""),
        ("", "u-1"),
        ("demo", "u#1"),
        ("de#mo", "u-1"),
        ("demo", "u 1"),
        ("demo", "u" * 129),
        ("demo", None),
    ],
)
def test_a_subject_that_could_widen_a_prefix_is_refused(tenant: str, user: str) -> None:
    with pytest.raises(InvalidSubjectError):
        Subject(tenant, user)


def test_phones_and_job_ids_are_checked() -> None:
    assert ek.pointer_keys("demo", "+33612345001") == [
        ("T#demo#PH#+33612345001", "CHANNEL#whatsapp"),
        ("T#demo#PH#+33612345001", "CHANNEL#sms"),
    ]
    assert ek.phone_link_key("demo", "+33612345001") == "T#demo#PH#+33612345001"
    for bad in ("33612345001", "+336#1", "+0612345001", ""):
        with pytest.raises(InvalidSubjectError):
            ek.check_phone(bad)
    assert ek.job_sk("01JABCDEFGHJKMNPQRSTVWXYZ0") == "JOB#01JABCDEFGHJKMNPQRSTVWXYZ0"
    for bad in ("short", "01JABCDEFGHJKMNPQRSTVWXYZI", "../../etc/passwd-0123456789"):
        with pytest.raises(InvalidSubjectError):
            ek.check_job_id(bad)


def test_the_job_key_is_tenant_first_and_holds_no_user_id() -> None:
    pk = ek.job_partition(Subject("demo", "u-alice"))
    assert pk.startswith("T#demo#ERASURE#") and "u-alice" not in pk
    assert pk != ek.job_partition(Subject("acme", "u-alice"))


def test_media_objects_are_taken_from_messages_and_claims_under_the_tenant_only() -> None:
    meta_media = [
        {"type": "image/png", "bucket": "media", "key": "demo/2026/03/10/SM1-0.png"},
        {"type": "audio/ogg", "transcribed": True},  # no object
        {"type": "image/png", "bucket": "media", "key": "acme/2026/03/10/SM9-0.png"},  # another tenant's: never
        {"type": "image/png", "key": "demo/2026/03/10/SM1-1.png"},  # no bucket: the configured one
        "garbage",
    ]
    assert ek.media_objects("demo", meta_media, "default") == [
        ("media", "demo/2026/03/10/SM1-0.png"),
        ("default", "demo/2026/03/10/SM1-1.png"),
    ]
    work = {"0": {"ref": {"bucket": "media", "key": "demo/2026/03/10/SM2-0.jpg"}}, "1": {"ref": {"transcribed": True}}}
    assert ek.media_objects("demo", work, None) == [("media", "demo/2026/03/10/SM2-0.jpg")]
    assert ek.media_objects("demo", None, "b") == [] and ek.media_objects("demo", "x", "b") == []
    assert ek.media_objects("dem", meta_media, "b") == []  # "dem/" is not a prefix of "demo/..."


def test_a_messages_usage_items_are_its_idempotency_record_and_its_approval() -> None:
    s = Subject("demo", "u-1")
    message = {"client_message_id": "SM77", "message_id": "01M", "meta": "{}"}
    assert ek.usage_keys_of_message(s, message) == [(keys.idempotency_pk("demo", "u-1", "SM77"), keys.IDEMPOTENCY)]
    card = {"message_id": "01APPROVAL", "meta": json.dumps({"kind": "approval_request", "approvalId": "01APPROVAL"})}
    assert ek.usage_keys_of_message(s, card) == [(approval_pk("demo", "01APPROVAL"), "APPROVAL")]
    assert ek.usage_keys_of_message(s, {"message_id": "01X", "meta": "not json"}) == []
    assert ek.parse_meta('["a"]') == {} and ek.parse_meta({"a": 1}) == {"a": 1}
