"""Erasure of one user's data on the real local stack: DynamoDB (moto server), moto's S3 media bucket, the local
OpenSearch-compatible server through opensearch-py, WebSocket and WhatsApp turns through the gateway, and the
``erasure`` function run by the local Lambda runtime after an asynchronous invocation.

Users: ``A`` and ``B`` of tenant ``demo`` whose ids are prefixes of each other (``u-N``, ``u-N0``), ``C`` of
tenant ``acme`` with the same id as ``A`` (and a phone link for the same number), ``D`` for ``luma forget``.
Absence is proven by scanning every table, listing the bucket and searching the index, filtering in the test.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from boto3.dynamodb.types import TypeDeserializer
from fastapi.testclient import TestClient
from luma.agent.store import DynamoAgentStore
from luma.auth import issue_dev_token
from luma.aws import client
from luma.channels.twilio import sign
from luma.classify.embedder import DIMENSION
from luma.config import Settings, get_settings
from luma.domain.models import Message, PhoneLink, Role, Session
from luma.erasure import executor as executor_module
from luma.erasure import keys as ek
from luma.erasure.cli import main as forget_main
from luma.erasure.executor import ErasureIncompleteError
from luma.erasure.jobs import ErasureJobs, JobStatus
from luma.erasure.keys import Subject
from luma.erasure.service import run_job
from luma.http.app import create_app
from luma.http.me import router
from luma.identity import IdentityAttempts
from luma.ids import new_id
from luma.limits import quota_pk
from luma.memory.model import MemoryItem, MemoryKind
from luma.memory.repository import MemoryRepository
from luma.memory.vectors import MemoryDoc, OpenSearchVectorStore
from luma.operators.escalations import EscalationRepository
from luma.store import keys
from luma.store.models import ChannelSessionRow, UsageRow
from luma.store.repos import DynamoConversationRepository, DynamoPhoneRepository
from websockets.sync.client import ClientConnection, connect

from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER

try:  # the operators' inbox (notices of escalations), when this build has it
    from luma.operators import rows as operator_rows
except ImportError:
    operator_rows = None

N = secrets.randbelow(9000) + 1000
A, B, D, E = f"u-{N}", f"u-{N}0", f"u-{N}1", f"u-{N}2"
DEMO, ACME = "demo", "acme"
PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 48


def phone() -> str:
    return f"+3367{secrets.randbelow(10**7):07d}"


@dataclass
class Seeded:
    """What was written for one user (the proof compares it before and after)."""

    tenant: str
    user: str
    phone: str | None = None
    sessions: set[str] = field(default_factory=set)
    media: set[str] = field(default_factory=set)
    approvals: set[str] = field(default_factory=set)


# -- seeding through the real paths ------------------------------------------------------------------------
def until(ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if pred(frame):
            return frame


def websocket_turn(ws: ClientConnection, text: str) -> str:
    """One turn in a new session; its session id once the reply arrived."""
    cid = f"c-{uuid.uuid4().hex[:10]}"
    ws.send(json.dumps({"action": "sendMessage", "text": text, "clientMessageId": cid}))
    frame = until(ws, lambda f: f.get("replyTo") is not None and f.get("type") == "message")
    return str(frame["sessionId"])


def http(stack: Any, method: str, path: str, tenant: str, user: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{stack.url}{path}", method=method, data=b"{}" if method == "POST" else None)
    req.add_header("Authorization", f"Bearer {issue_dev_token(user, tenant)}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def whatsapp_turn_with_image(stack: Any, number: str, user: str, seeded: Seeded) -> None:
    """A signed WhatsApp webhook with an image: stored in S3, referenced from the message, answered."""
    media_url = stack.fake_twilio.add_media(PNG, "image/png")
    sid = "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid,
        "AccountSid": DEV_ACCOUNT_SID,
        "From": f"whatsapp:{number}",
        "To": DEV_WHATSAPP_NUMBER,
        "Body": "what are your opening hours?",
        "NumMedia": "1",
        "MediaUrl0": media_url,
        "MediaContentType0": "image/png",
    }
    url = f"{stack.url}/api/twilio/whatsapp"
    req = urllib.request.Request(url, data=urlencode(params).encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("X-Twilio-Signature", sign(url, params, DEV_AUTH_TOKEN))
    with urllib.request.urlopen(req, timeout=15) as resp:
        assert resp.status == 200
    repo = DynamoConversationRepository(get_settings())
    deadline = time.monotonic() + 20
    while not stack.fake_twilio.messages_to(f"whatsapp:{number}"):
        assert time.monotonic() < deadline, "the WhatsApp message was never answered"
        time.sleep(0.05)
    # (find_idempotent raises KeyError on a media claim still "processing": read the record itself)
    while not (record := UsageRow.get(keys.idempotency_pk(DEMO, user, sid), keys.IDEMPOTENCY)).data.get("session_id"):
        assert time.monotonic() < deadline, "the WhatsApp message was never stored"
        time.sleep(0.05)
    stored = repo.get_message(DEMO, record.data["session_id"], record.data["message_id"])
    assert stored is not None
    (ref,) = stored.meta["media"]
    seeded.sessions.add(stored.session_id)
    seeded.media.add(ref["key"])


def seed_user(stack: Any, sockets: ExitStack, tenant: str, user: str, *, whatsapp: str | None = None) -> Seeded:
    """A WebSocket conversation (closed, with its report, an approval card and an escalation), another one left
    open, a WhatsApp turn with an image, memories in DynamoDB and the index, quota, identity attempts, and a
    media claim whose message was never recorded (its image already in S3)."""
    settings = get_settings()
    seeded = Seeded(tenant, user, whatsapp)
    repo = DynamoConversationRepository(settings)
    ws = sockets.enter_context(connect(f"{stack.ws_url}?token={issue_dev_token(user, tenant)}", open_timeout=10))
    first = websocket_turn(ws, "what are your opening hours?")
    session = repo.get_session(tenant, first)
    assert session is not None and session.user_id == user
    card = new_id()
    repo.save_reply(
        session,
        Message(
            tenant_id=tenant,
            session_id=first,
            message_id=card,
            role=Role.ASSISTANT,
            text="May I move your visit?",
            meta={"kind": "approval_request", "approvalId": card, "approvalStatus": "pending"},
        ),
    )
    DynamoAgentStore(settings).put_approval(
        tenant, {"approval_id": card, "token": "tok", "session_id": first, "user_id": user, "tool": "t"}, 600
    )
    esc = EscalationRepository(settings).open(session, "wants a person")
    if operator_rows is not None:  # the operators' inbox notice of it (as the escalations consumer writes it)
        at, notice_id = datetime.now(UTC), new_id()
        common = {"pk": operator_rows.ops_pk(tenant), "tenant_id": tenant, "session_id": first, "created_at": at}
        marker_sk = f"{operator_rows.MARKER_PREFIX}{esc.escalation_id}"
        operator_rows.NoticeMarkerRow(
            **common, sk=marker_sk, notice_id=notice_id, escalation_id=esc.escalation_id
        ).save()
        operator_rows.NoticeRow(
            **common,
            sk=f"{operator_rows.NOTICE_PREFIX}{notice_id}",
            notice_id=notice_id,
            escalation_id=esc.escalation_id,
            urgency="normal",
        ).save()
    assert http(stack, "POST", f"/api/sessions/{first}/close", tenant, user)[0] == 200
    seeded.sessions.add(first)
    seeded.approvals.add(card)
    seeded.sessions.add(websocket_turn(ws, "where is the clinic?"))

    if whatsapp is not None:
        phones = DynamoPhoneRepository(settings)
        phones.put(PhoneLink(tenant_id=tenant, phone=whatsapp, user_id=user, display_name="Test Person"))
        if tenant == DEMO:  # our Twilio numbers serve the demo tenant
            whatsapp_turn_with_image(stack, whatsapp, user, seeded)
        else:  # the same number in another tenant: a pointer of its own
            ChannelSessionRow(
                pk=keys.phone_pk(tenant, whatsapp),
                sk=keys.channel_sk("whatsapp"),
                tenant_id=tenant,
                session_id=first,
                user_id=user,
                created_at=datetime.now(UTC),
            ).save()

    memory, vectors = MemoryRepository(settings), OpenSearchVectorStore(settings)
    vector = [1.0] + [0.5] * (DIMENSION - 1)
    for text in ("Lives in Lyon with two cats.", "Prefers morning visits."):
        item = MemoryItem(
            memory_id=new_id(),
            tenant_id=tenant,
            user_id=user,
            kind=MemoryKind.STATEMENT,
            text=text,
            session_id=first,
            source_ids=(card,),
            created_at=datetime.now(UTC),
        )
        memory.add(item)
        vectors.upsert(
            [MemoryDoc(item.memory_id, tenant, user, text, vector, "statement", first, (card,), item.created_at)]
        )
    vectors.refresh()

    # the day's credit balance and one reservation, as the usage ledger keeps them (written raw here)
    day_pk = {"S": quota_pk(tenant, user, datetime.now(UTC).date().isoformat())}
    for sk, attrs in (("QUOTA", {"committed": {"N": "321"}}), (f"RES#{new_id()}", {"credits": {"N": "50"}})):
        ddb(settings).put_item(TableName=settings.usage_table, Item={"pk": day_pk, "sk": {"S": sk}, **attrs})
    IdentityAttempts(settings).reserve(tenant, user, claim=f"someone {user} claimed")

    orphan = "SM" + uuid.uuid4().hex
    assert repo.claim_media(tenant, user, orphan).state == "new"
    key = f"{tenant}/2026/01/02/{orphan}-0.png"
    s3(settings).put_object(Bucket=settings.media_bucket, Key=key, Body=PNG, ContentType="image/png")
    repo.save_media_work(tenant, user, orphan, 0, {"type": "image/png", "bucket": settings.media_bucket, "key": key})
    seeded.media.add(key)
    return seeded


def settle(stack: Any) -> None:
    """Let every asynchronous invocation and stream consumer finish (nothing writes behind the proof)."""
    for _ in range(2):
        stack.runtime.wait_idle(30)
        sources = getattr(stack, "event_sources", None)
        if sources is not None:
            sources.wait_idle(30)


# -- the proof: scan everything, filter here --------------------------------------------------------------
def s3(settings: Settings) -> Any:
    return client("s3", region=settings.region, endpoint_url=settings.s3_endpoint_url)


def ddb(settings: Settings) -> Any:
    return client("dynamodb", region=settings.region, endpoint_url=settings.dynamodb_endpoint_url)


def scan_all(settings: Settings) -> Iterator[tuple[str, dict[str, Any]]]:
    deserializer = TypeDeserializer()
    dynamodb = ddb(settings)
    for table in dynamodb.list_tables()["TableNames"]:
        args: dict[str, Any] = {"TableName": table}
        while True:
            page = dynamodb.scan(**args)
            for raw in page.get("Items", []):
                yield table, {k: deserializer.deserialize(v) for k, v in raw.items()}
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def owned(item: dict[str, Any], who: Seeded) -> bool:
    """Whether an item is ``who``'s, by any of its attributes, keys or contents."""
    t, u = who.tenant, who.user
    pk, gsi = str(item.get("pk", "")), str(item.get("gsi1pk", ""))
    if item.get("tenant_id") == t and item.get("user_id") == u:
        return True
    if pk in {keys.session_pk(t, s) for s in who.sessions} or (who.phone and pk == keys.phone_pk(t, who.phone)):
        return True
    if pk in {f"T#{t}#APPROVAL#{a}" for a in who.approvals} or gsi == keys.user_pk(t, u):
        return True
    if pk.startswith(f"T#{t}#") and item.get("session_id") in who.sessions:
        return True  # anything pointing at one of the user's sessions (an operator's inbox notice, ...)
    if pk == ek.job_partition(Subject(t, u)):
        return False  # the erasure's receipt: it holds no user id
    # any mention of the user id (not of a longer id it prefixes) in the tenant's items
    mention = re.compile(rf"(?<![A-Za-z0-9_.:+@-]){re.escape(u)}(?![A-Za-z0-9_.:+@-])")
    return pk.startswith(f"T#{t}#") and bool(mention.search(json.dumps(item, default=str)))


def footprint(settings: Settings, who: Seeded) -> dict[str, set[str]]:
    """Everything of ``who``: table items (table|pk|sk), media objects, index documents."""
    items = {f"{table}|{i.get('pk')}|{i.get('sk', '')}" for table, i in scan_all(settings) if owned(i, who)}
    listed = s3(settings).list_objects_v2(Bucket=settings.media_bucket, Prefix=f"{who.tenant}/").get("Contents", [])
    media = {o["Key"] for o in listed} & who.media
    store = OpenSearchVectorStore(settings)
    store.refresh()
    hits = store.client.search(index=store.index, body={"query": {"match_all": {}}, "size": 10_000})["hits"]["hits"]
    docs = {
        h["_id"] for h in hits if (h["_source"].get("tenant_id"), h["_source"].get("user_id")) == (who.tenant, who.user)
    }
    return {"items": items, "media": media, "index": docs}


def kinds_of(fp: dict[str, set[str]]) -> set[str]:
    """Which kinds of things a footprint holds (by key shape)."""
    found = set()
    for entry in fp["items"]:
        table, pk, sk = entry.split("|", 2)
        kind = "META" if sk == "META" else sk.split("#", 1)[0] if sk else pk.split("#")[2]
        found.add(f"{table.removeprefix('luma-')}:{'#'.join(pk.split('#')[2:3])}:{kind}")
    return found | {f"media:{len(fp['media'])}", f"index:{min(len(fp['index']), 2)}+"}


# -- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(local_stack: Any) -> Iterator[dict[str, Seeded]]:
    with ExitStack() as sockets:
        seeded = {
            "A": seed_user(local_stack, sockets, DEMO, A, whatsapp=phone()),
            "B": seed_user(local_stack, sockets, DEMO, B, whatsapp=phone()),
            "D": seed_user(local_stack, sockets, DEMO, D),
        }
        seeded["C"] = seed_user(local_stack, sockets, ACME, A, whatsapp=seeded["A"].phone)
        settle(local_stack)
        yield seeded  # the WebSockets stay open: their connection items are part of the proof


@pytest.fixture(scope="module")
def api(local_stack: Any) -> Iterator[TestClient]:
    """The HTTP app with the erasure routes, as the lead wires them; jobs go to the real local runtime."""
    app = create_app()
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def bearer(tenant: str, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(user, tenant)}"}


def wait_job(who: Subject, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job once it ended, read from the job store."""
    jobs = ErasureJobs(get_settings())
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get(who, job_id)
        assert job is not None
        if job.status in (JobStatus.DONE, JobStatus.FAILED):
            return job.to_json()
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


# -- tests --------------------------------------------------------------------------------------------------
def test_delete_me_erases_one_user_everywhere_and_nothing_of_anyone_else(
    local_stack: Any, world: dict[str, Seeded], api: TestClient
) -> None:
    settings = get_settings()
    before = {name: footprint(settings, who) for name, who in world.items()}
    kinds = kinds_of(before["A"])
    expected = {
        "conversations:S:META",  # sessions
        "conversations:S:M",  # messages and the approval card
        "conversations:S:R",  # routing decisions
        "conversations:S:REPORT",
        "conversations:S:IDLE",
        "conversations:S:ESC",
        "conversations:PH:CHANNEL",  # the WhatsApp address's pointer
        "conversations:U:MEM",
        "connections:C:C",  # the open WebSocket
        "connections:PH:PH",  # the phone link
        "usage:U:IDEM",  # idempotency records and the orphan media claim
        "usage:APPROVAL:APPROVAL",
        "usage:RL:BUCKET",
        "usage:Q:QUOTA",  # the day's credit balance
        "usage:Q:RES",  # and a reservation
        "usage:IDA:ATTEMPTS",
        "media:2",  # the WhatsApp image and the orphan claim's image
        "index:2+",  # the two seeded memories, and whatever extraction made of the turns
    }
    if operator_rows is not None:
        expected |= {"conversations:OPS:N", "conversations:OPS:NE"}
    assert expected <= kinds, expected - kinds
    assert before["C"]["index"] and before["B"]["media"] and before["D"]["items"]

    resp = api.delete("/me", headers=bearer(DEMO, A))
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["jobId"]
    assert resp.json()["status"] == "pending"
    # Polled from the store: an HTTP poll would take a token from the user's rate-limit bucket, i.e. write one.
    job = wait_job(Subject(DEMO, A), job_id)
    assert job["status"] == "done", job
    counts = job["counts"]
    memories = [i for i in before["A"]["items"] if "#MEM|MEM#" in i]
    assert counts["sessions"] == 3 and counts["media_objects"] == 2
    assert counts["index_entries"] == len(before["A"]["index"]) and counts["memory_items"] == len(memories) >= 2
    assert counts["phone_links"] == 1 and counts["channel_pointers"] == 1
    assert counts["approvals"] == 1 and counts["escalations"] == 1 and counts["reports"] == 1
    assert (
        counts["quota_counters"] == 1
        and counts["credit_reservations"] == 1
        and counts["rate_limit_buckets"] == 1
        and counts["identity_attempts"] == 1
    )
    assert counts["connections"] == 1 and counts["idempotency_records"] == 4 and "skipped_foreign" not in counts
    assert counts.get("operator_notices", 0) == (1 if operator_rows is not None else 0)
    assert {"pack_clinic", "pack_sitework"} <= counts.keys()  # every served pack's erase_user hook ran

    after = {name: footprint(settings, who) for name, who in world.items()}
    assert after["A"] == {"items": set(), "media": set(), "index": set()}
    for name in ("B", "C", "D"):
        assert after[name] == before[name], name

    # Idempotent: the finished job run again, and a new request, find nothing left and change nothing else.
    again = run_job(settings, Subject(DEMO, A), job_id)
    assert again.status is JobStatus.DONE and again.counts == counts
    second = api.delete("/me", headers=bearer(DEMO, A))
    assert second.status_code == 202 and second.json()["jobId"] != job_id
    rerun = wait_job(Subject(DEMO, A), second.json()["jobId"])
    # only the bucket this very request took a token from
    assert rerun["status"] == "done" and {k: v for k, v in rerun["counts"].items() if v} == {"rate_limit_buckets": 1}
    assert footprint(settings, world["A"]) == {"items": set(), "media": set(), "index": set()}
    for name in ("B", "C", "D"):
        assert footprint(settings, world[name]) == before[name], name

    # The job is readable by its owner only: not by the neighbour, not by the same id in another tenant.
    mine = api.get(f"/me/erasure/{job_id}", headers=bearer(DEMO, A))
    assert mine.status_code == 200 and mine.json()["status"] == "done" and mine.json()["counts"] == counts
    for tenant, user in ((DEMO, B), (ACME, A)):
        other = api.get(f"/me/erasure/{job_id}", headers=bearer(tenant, user))
        assert other.status_code == 404 and other.json()["code"] == "ERASURE_JOB_NOT_FOUND"


def test_a_second_request_while_a_job_is_open_gets_that_job(local_stack: Any) -> None:
    jobs = ErasureJobs(get_settings())
    who = Subject(DEMO, f"u-{N}9")
    first, created = jobs.start(who)
    assert created and first.status is JobStatus.PENDING
    same, created_again = jobs.start(who)
    assert same.job_id == first.job_id and not created_again
    assert jobs.start(Subject(ACME, f"u-{N}9"))[0].job_id != first.job_id  # another tenant: its own job
    jobs.finish(who, first.job_id, {}, [])
    fresh, created_fresh = jobs.start(who)
    assert created_fresh and fresh.job_id != first.job_id
    assert jobs.get(who, first.job_id).status is JobStatus.DONE  # type: ignore[union-attr]


def test_luma_forget_erases_a_user_of_a_running_local_stack(
    local_stack: Any, world: dict[str, Seeded], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = get_settings()
    before = {name: footprint(settings, world[name]) for name in ("B", "C", "D")}
    assert before["D"]["items"] and before["D"]["index"]
    code = forget_main(["--tenant", DEMO, "--user", D, "--url", local_stack.url, "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    job = json.loads(out.strip().splitlines()[-1])
    assert job["status"] == "done" and job["counts"]["sessions"] == 2
    assert job["counts"]["index_entries"] == len(before["D"]["index"]) >= 2
    assert "sessions" in err and "index" in err and D not in err  # progress on stderr, without the user id
    assert footprint(settings, world["D"]) == {"items": set(), "media": set(), "index": set()}
    assert footprint(settings, world["B"]) == before["B"] and footprint(settings, world["C"]) == before["C"]


def test_luma_forget_refuses_without_confirmation_or_a_stack(
    local_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert forget_main(["--tenant", DEMO, "--user", E, "--url", local_stack.url]) == 1  # stdin is not a terminal
    assert forget_main(["--tenant", DEMO, "--user", E, "--url", "http://127.0.0.1:9", "--yes"]) == 2
    with pytest.raises(SystemExit):
        forget_main(["--tenant", DEMO, "--user", "u#1", "--yes"])
    assert "refusing" in capsys.readouterr().err


def test_delete_me_through_the_gateway(local_stack: Any) -> None:
    """``DELETE /api/me`` through the gateway and the ``http_api`` function, once the lead includes the router."""
    with ExitStack() as sockets:
        ws = sockets.enter_context(connect(f"{local_stack.ws_url}?token={issue_dev_token(E, DEMO)}", open_timeout=10))
        session_id = websocket_turn(ws, "what are your opening hours?")
    settle(local_stack)
    status, body = http(local_stack, "DELETE", "/api/me", DEMO, E)
    if status in (404, 405):
        pytest.skip("luma.http.me's router is not included in luma.http.app yet")
    assert status == 202, body
    job = wait_job(Subject(DEMO, E), body["jobId"])
    assert job["status"] == "done" and job["counts"]["sessions"] == 1
    assert DynamoConversationRepository(get_settings()).get_session(DEMO, session_id) is None
    status, read = http(local_stack, "GET", f"/api/me/erasure/{body['jobId']}", DEMO, E)
    assert status == 200 and read["status"] == "done"


def test_an_interrupted_job_resumes_and_items_naming_someone_else_are_never_deleted(
    local_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose invocation runs out of time stops with its counts so far, and the next run finishes it;
    an item of another user found in the user's partition (it should never be there) is left alone. Pages of
    two items, so every query is paginated while its items are being deleted."""
    monkeypatch.setattr(executor_module, "_PAGE", 2)
    settings = get_settings()
    user = f"u-{N}3"
    repo = DynamoConversationRepository(settings)
    sessions = []
    for _ in range(3):
        session_id = new_id()
        session = Session(tenant_id=DEMO, session_id=session_id, user_id=user, assistant="clinic")
        assert repo.create_session(session)
        for n in range(3):
            repo.save_reply(
                session,
                Message(tenant_id=DEMO, session_id=session_id, message_id=new_id(), role=Role.USER, text=f"hi {n}"),
            )
        sessions.append(session_id)
    # B's escalation, written (wrongly) into one of this user's partitions
    intruder = EscalationRepository(settings).open(
        repo.get_session(DEMO, sessions[0]).model_copy(update={"user_id": B}),  # type: ignore[union-attr]
        "not this user's",
    )
    who = Subject(DEMO, user)
    jobs = ErasureJobs(settings)
    job, _ = jobs.start(who)

    def time_left() -> float:  # the invocation "runs out of time" once the first session is gone
        return 0.0 if any(repo.get_session(DEMO, s) is None for s in sessions) else 100.0

    with pytest.raises(ErasureIncompleteError):
        run_job(settings, who, job.job_id, time_left=time_left)
    partial = jobs.get(who, job.job_id)
    assert partial is not None and partial.status is JobStatus.RUNNING and partial.counts["sessions"] == 1
    finished = run_job(settings, who, job.job_id)
    assert finished.status is JobStatus.DONE and finished.runs == 2
    assert finished.counts["sessions"] == 3 and finished.counts["messages"] == 9
    assert finished.counts["skipped_foreign"] >= 1
    assert all(repo.get_session(DEMO, s) is None for s in sessions)
    left = EscalationRepository(settings).get(DEMO, sessions[0], intruder.escalation_id)
    assert left is not None and left.user_id == B
