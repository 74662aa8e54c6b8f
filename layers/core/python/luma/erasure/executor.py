"""The erasure executor: walks every store by keys derived from the tenant and the user, deletes in batches.

Steps, in order (each idempotent; a re-run finds only what is left, so a half-finished job converges):

1. ``connections``: the user's connections (connections table, ``by_user`` index, paginated).
2. ``sessions``: the user's sessions (conversations table, ``by_user`` index, paginated); for each, its whole
   partition page by page (messages, routing decisions, report, idle-index entry, escalations, any other item),
   first the S3 objects its messages reference (``meta.media``) and the usage items they name (idempotency
   records, approval task tokens), the ``META`` item last so an interrupted run finds the session again.
3. ``phones``: the user's phone links (a Scan of the connections table filtered on the tenant's ``PH#`` prefix
   *and* the user), plus any phone given explicitly; each address's channel pointers, then the link, each
   deleted on condition that it names this user.
4. ``usage``: by key the rate-limit bucket and identity-attempt counter, and the partitions of the daily
   credit balances still alive (balance and reservations); then a Scan of the usage table filtered on the
   user's own key prefixes (idempotency records of messages never stored, and the images their media claims
   had already put in S3; older credit days).
5. ``memory``: the user's memory partition (items and the "last time" pointer).
6. ``index``: the user's documents in the search index (``VectorStore.delete_user``).
7. ``packs``: each served assistant's ``erase_user(settings, tenant_id, user_id)`` hook, when it has one.

Memory and the index come after the conversations, so what an extraction wrote from them meanwhile is gone too.
No delete is ever addressed by anything but a key built from the tenant and the user (or read from the user's
own items); every item read on the way is checked to name this tenant and user before it is deleted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from luma.config import Settings
from luma.erasure import keys as ek
from luma.erasure.keys import Subject
from luma.store import keys as sk

if TYPE_CHECKING:
    from luma.assistants.contract import AssistantPack
    from luma.memory.vectors import VectorStore

STEPS = ("connections", "sessions", "phones", "usage", "memory", "index", "packs")
MIN_LEFT_S = 30.0  # below this much time left in an invocation, stop and let the next run continue
_BATCH = 25  # BatchWriteItem's limit
_GET_BATCH = 100  # BatchGetItem's limit
_S3_BATCH = 1000  # DeleteObjects' limit
_PAGE = 100
_KIND_COUNTS = {
    "message": "messages",
    "decision": "routing_decisions",
    "report": "reports",
    "idle": "idle_entries",
    "escalation": "escalations",
    "memory": "memory_items",
    "memory_last": "memory_summaries",
}
_UNSET: Any = object()

Key = dict[str, dict[str, str]]
Item = Mapping[str, Any]


class ErasureError(Exception):
    """Base of the executor's errors."""


class ErasureIncompleteError(ErasureError):
    """The invocation's time ran out; running the job again continues where it stopped."""


class ErasureStoreError(ErasureError):
    """A store kept refusing deletes (unprocessed batch items, S3 errors) after retries."""


@dataclass
class ErasureRun:
    """One run of a job: whose data, what was erased so far (per kind), what could not be searched."""

    subject: Subject
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    phones: tuple[str, ...] = ()
    time_left: Callable[[], float] | None = None
    on_step: Callable[[str], None] | None = None
    step: str = ""
    margin_s: float = MIN_LEFT_S

    def __post_init__(self) -> None:
        # Stop with MIN_LEFT_S to spare, or a quarter of the time given, whichever is less: a short
        # invocation still makes progress before it hands over.
        if self.time_left is not None:
            self.margin_s = min(MIN_LEFT_S, max(0.0, self.time_left()) / 4)

    def check(self) -> None:
        """Raise :class:`ErasureIncompleteError` when the invocation is about to run out of time."""
        if self.time_left is not None and self.time_left() < self.margin_s:
            raise ErasureIncompleteError(self.step)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _str(item: Item, name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _key(item: Item, names: Sequence[str]) -> Key:
    return {n: {"S": str(item[n]["S"])} for n in names}


def _code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


def operator_keys() -> tuple[Callable[[str], str], str, str] | None:
    """``(ops_pk, marker prefix, notice prefix)`` of the operators' inbox, when this build has one."""
    try:
        from luma.operators import rows
    except ImportError:
        return None
    try:
        return rows.ops_pk, str(rows.MARKER_PREFIX), str(rows.NOTICE_PREFIX)
    except AttributeError:
        return None


class ErasureExecutor:
    """Deletes one user's data everywhere it is kept (DynamoDB, S3, the search index, packs' tables)."""

    def __init__(
        self,
        settings: Settings,
        *,
        ddb: Any = None,
        s3: Any = None,
        vectors: VectorStore | None = _UNSET,
        packs: Callable[[], list[tuple[str, AssistantPack]]] | None = None,
        scan_usage: bool = True,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.settings = settings
        self._ddb = ddb
        self._s3 = s3
        self._vectors = vectors
        self._pack_source = packs
        self.scan_usage = scan_usage
        self.today = today or (lambda: datetime.now(UTC).date())

    # -- clients -----------------------------------------------------------------------------------------
    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            from luma.aws import client

            self._ddb = client(
                "dynamodb", region=self.settings.region, endpoint_url=self.settings.dynamodb_endpoint_url
            )
        return self._ddb

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            from luma.aws import client

            self._s3 = client("s3", region=self.settings.region, endpoint_url=self.settings.s3_endpoint_url)
        return self._s3

    @property
    def vectors(self) -> VectorStore | None:
        if self._vectors is _UNSET:
            if not self.settings.opensearch_url:
                self._vectors = None
            else:
                from luma.memory.vectors import OpenSearchVectorStore

                self._vectors = OpenSearchVectorStore(self.settings)
        vectors: VectorStore | None = self._vectors
        return vectors

    def packs(self) -> list[tuple[str, AssistantPack]]:
        if self._pack_source is not None:
            return self._pack_source()
        from luma.assistants.registry import available, get_pack

        return [(name, get_pack(name)) for name in available(self.settings)]

    # -- the walk ----------------------------------------------------------------------------------------
    def erase(self, run: ErasureRun) -> None:
        """Every step in order; ``run.counts``/``run.notes`` grow as it goes, ``run.on_step`` after each step."""
        for step in STEPS:
            run.step = step
            run.check()
            getattr(self, f"_{step}")(run)
            if run.on_step is not None:
                run.on_step(step)
        run.step = ""

    def _mine(self, run: ErasureRun, item: Item) -> bool:
        """False (and counted as ``skipped_foreign``) for an item naming another tenant or user."""
        s = run.subject
        tenant, user = _str(item, "tenant_id"), _str(item, "user_id")
        if (tenant is not None and tenant != s.tenant_id) or (user is not None and user != s.user_id):
            run.counts["skipped_foreign"] += 1
            return False
        return True

    def _connections(self, run: ErasureRun) -> None:
        """The user's connections; an operator's are indexed under the tenant's operator key instead."""
        s = run.subject
        table = self.settings.connections_table
        pages = [self._query(table, "gsi1pk", ek.user_index_key(s), index="by_user", attrs=("pk",))]
        ops = operator_keys()
        if ops is not None:
            only_user = ("#user_id = :u", {":u": {"S": s.user_id}})
            pages.append(
                self._query(table, "gsi1pk", ops[0](s.tenant_id), index="by_user", attrs=("pk",), where=only_user)
            )
        for page in (p for source in pages for p in source):
            run.check()
            doomed = [
                _key(i, ["pk"])
                for i in page
                if self._mine(run, i)
                and _str(i, "user_id") == s.user_id
                and (_str(i, "pk") or "").startswith(f"T#{s.tenant_id}#C#")
            ]
            self._delete_keys(table, doomed)
            run.counts["connections"] += len(doomed)

    def _sessions(self, run: ErasureRun) -> None:
        s = run.subject
        table = self.settings.conversations_table
        attrs = ("pk", "sk", "session_id")
        for page in self._query(table, "gsi1pk", ek.user_index_key(s), index="by_user", attrs=attrs):
            for item in page:
                run.check()
                pk, sk_, session_id = _str(item, "pk"), _str(item, "sk"), _str(item, "session_id")
                if not self._mine(run, item) or _str(item, "user_id") != s.user_id:
                    continue
                if sk_ == sk.META and session_id and pk == ek.session_partition(s, session_id):
                    self._erase_session(run, pk)
                elif pk and pk.startswith(sk.tenant_prefix(s.tenant_id)):
                    self._delete_keys(table, [_key(item, ["pk", "sk"])])  # another kind indexed under the user
                    run.counts["other_items"] += 1

    def _erase_session(self, run: ErasureRun, pk: str) -> None:
        """One session's partition, page by page; its ``META`` item last."""
        s = run.subject
        table = self.settings.conversations_table
        attrs = ("pk", "sk", "meta", "client_message_id", "message_id")
        meta_key: Key | None = None
        for page in self._query(table, "pk", pk, attrs=attrs):
            run.check()
            doomed: list[Key] = []
            kinds: Counter[str] = Counter()
            objects: list[tuple[str, str]] = []
            usage: list[tuple[str, str]] = []
            escalations: list[str] = []
            for item in page:
                if not self._mine(run, item):
                    continue
                key = _key(item, ["pk", "sk"])
                item_sk = _str(item, "sk") or ""
                if item_sk == sk.META:
                    meta_key = key
                    continue
                if item_sk.startswith("ESC#"):
                    escalations.append(item_sk.removeprefix("ESC#"))
                meta = ek.parse_meta(_str(item, "meta"))
                objects += ek.media_objects(s.tenant_id, meta.get("media"), self.settings.media_bucket)
                plain = {n: _str(item, n) for n in ("client_message_id", "message_id")}
                usage += ek.usage_keys_of_message(s, {**plain, "meta": meta})
                doomed.append(key)
                kinds[_KIND_COUNTS.get(_str(item, "kind") or "", "session_items_other")] += 1
            self._delete_objects(run, objects)
            self._delete_usage(run, usage)
            self._delete_notices(run, escalations)  # before the escalations that lead to them
            self._delete_keys(table, doomed)
            run.counts.update(kinds)
        if meta_key is not None:
            self._delete_keys(table, [meta_key])
            run.counts["sessions"] += 1

    def _phones(self, run: ErasureRun) -> None:
        s = run.subject
        phones = dict.fromkeys(ek.check_phone(p) for p in run.phones)
        scan = self._scan(
            self.settings.connections_table,
            "begins_with(#pk, :prefix) AND #tenant_id = :t AND #user_id = :u",
            {":prefix": {"S": ek.phone_prefix(s.tenant_id)}, ":t": {"S": s.tenant_id}, ":u": {"S": s.user_id}},
            attrs=("pk", "phone"),
        )
        for page in scan:
            run.check()
            for item in page:
                phone = _str(item, "phone")
                if self._mine(run, item) and phone and _str(item, "pk") == ek.phone_link_key(s.tenant_id, phone):
                    phones[phone] = None
        for phone in phones:
            run.check()
            for pointer_pk, pointer_sk in ek.pointer_keys(s.tenant_id, phone):  # pointers first, the link last
                key = {"pk": {"S": pointer_pk}, "sk": {"S": pointer_sk}}
                if self._delete_if_mine(self.settings.conversations_table, key, s):
                    run.counts["channel_pointers"] += 1
            link = {"pk": {"S": ek.phone_link_key(s.tenant_id, phone)}}
            if self._delete_if_mine(self.settings.connections_table, link, s):
                run.counts["phone_links"] += 1

    def _usage(self, run: ErasureRun) -> None:
        s = run.subject
        self._delete_usage(run, ek.usage_point_keys(s))
        for pk in ek.quota_partitions(s, self.today(), self.settings.quota_ttl_days):
            for page in self._query(self.settings.usage_table, "pk", pk, attrs=("pk", "sk")):
                run.check()
                self._delete_found_usage(run, page)
        if not self.scan_usage:
            run.note("usage table not scanned: records of messages never stored expire with their TTL")
            return
        prefixes = ek.usage_prefixes(s)
        scan = self._scan(
            self.settings.usage_table,
            "begins_with(#pk, :p0) OR begins_with(#pk, :p1)",
            {":p0": {"S": prefixes[0]}, ":p1": {"S": prefixes[1]}},
            attrs=("pk", "sk", "work"),
        )
        for page in scan:
            run.check()
            found = [i for i in page if (_str(i, "pk") or "").startswith(prefixes)]
            self._delete_found_usage(run, found)

    def _memory(self, run: ErasureRun) -> None:
        table = self.settings.conversations_table
        for page in self._query(table, "pk", ek.memory_partition(run.subject), attrs=("pk", "sk")):
            run.check()
            mine = [i for i in page if self._mine(run, i)]
            self._delete_keys(table, [_key(i, ["pk", "sk"]) for i in mine])
            run.counts.update(_KIND_COUNTS.get(_str(i, "kind") or "", "memory_other") for i in mine)

    def _index(self, run: ErasureRun) -> None:
        vectors = self.vectors
        if vectors is None:
            run.note("no search index configured (LUMA_OPENSEARCH_URL): nothing to erase there")
            return
        run.counts["index_entries"] += int(vectors.delete_user(run.subject.tenant_id, run.subject.user_id))

    def _packs(self, run: ErasureRun) -> None:
        for name, pack in self.packs():
            run.check()
            hook = getattr(pack, "erase_user", None)
            if not callable(hook):
                run.note(f"assistant {name} has no erase_user hook: its own tables were not searched")
                continue
            run.counts[f"pack_{name}"] += int(hook(self.settings, run.subject.tenant_id, run.subject.user_id) or 0)

    def _delete_notices(self, run: ErasureRun, escalation_ids: list[str]) -> None:
        """The operators' inbox notices of these escalations (found by their markers, keyed by escalation)."""
        ops = operator_keys()
        if ops is None or not escalation_ids:
            return
        ops_pk, marker_prefix, notice_prefix = ops
        table, pk = self.settings.conversations_table, ops_pk(run.subject.tenant_id)
        wanted = [{"pk": {"S": pk}, "sk": {"S": f"{marker_prefix}{e}"}} for e in dict.fromkeys(escalation_ids)]
        markers = self._existing(table, wanted, attrs=("pk", "sk", "notice_id", "escalation_id"))
        doomed = [_key(m, ["pk", "sk"]) for m in markers if self._mine(run, m)]
        notices = [n for m in markers if self._mine(run, m) and (n := _str(m, "notice_id"))]
        doomed += [{"pk": {"S": pk}, "sk": {"S": f"{notice_prefix}{n}"}} for n in notices]
        self._delete_keys(table, doomed)
        run.counts["operator_notices"] += len(notices)

    # -- usage items -------------------------------------------------------------------------------------
    def _delete_usage(self, run: ErasureRun, wanted: list[tuple[str, str]]) -> None:
        """Usage items by key: those that exist are deleted (with the images their media claims stored)."""
        keys = [{"pk": {"S": pk}, "sk": {"S": sk_}} for pk, sk_ in dict.fromkeys(wanted)]
        self._delete_found_usage(run, self._existing(self.settings.usage_table, keys, attrs=("pk", "sk", "work")))

    def _delete_found_usage(self, run: ErasureRun, items: list[Item]) -> None:
        s = run.subject
        objects: list[tuple[str, str]] = []
        for item in items:
            work = ek.parse_meta(_str(item, "work"))
            objects += ek.media_objects(s.tenant_id, work, self.settings.media_bucket)
        self._delete_objects(run, objects)
        self._delete_keys(self.settings.usage_table, [_key(i, ["pk", "sk"]) for i in items])
        idem, quota = ek.usage_prefixes(s)
        for item in items:
            pk, sk_ = _str(item, "pk") or "", _str(item, "sk") or ""
            if pk.startswith(quota):
                run.counts["quota_counters" if sk_ == "QUOTA" else "credit_reservations"] += 1
            elif pk.startswith(idem):
                run.counts["idempotency_records"] += 1
            elif sk_ == "APPROVAL":
                run.counts["approvals"] += 1
            elif sk_ == "BUCKET":
                run.counts["rate_limit_buckets"] += 1
            elif sk_ == "ATTEMPTS":
                run.counts["identity_attempts"] += 1
            else:
                run.counts["usage_other"] += 1

    # -- DynamoDB ----------------------------------------------------------------------------------------
    def _projection(self, attrs: Sequence[str]) -> tuple[str, dict[str, str]]:
        """A projection of ``attrs`` (plus the owner attributes) and its names: ``#<attribute>`` each."""
        wanted = dict.fromkeys((*attrs, "kind", "tenant_id", "user_id"))
        names = {f"#{name}": name for name in wanted}
        return ", ".join(names), names

    def _query(
        self,
        table: str,
        key_name: str,
        key_value: str,
        *,
        index: str | None = None,
        attrs: Sequence[str] = (),
        where: tuple[str, dict[str, Any]] | None = None,
    ) -> Iterator[list[Item]]:
        """Pages of one partition (of the table or of an index), in key order; ``where`` filters them."""
        projection, names = self._projection((*attrs, key_name))
        args: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": f"#{key_name} = :k",
            "ExpressionAttributeValues": {":k": {"S": key_value}},
            "ExpressionAttributeNames": names,
            "ProjectionExpression": projection,
            "Limit": _PAGE,
        }
        if where is not None:
            args["FilterExpression"] = where[0]
            args["ExpressionAttributeValues"].update(where[1])
        if index:
            args["IndexName"] = index
        else:
            args["ConsistentRead"] = True
        while True:
            page = self.ddb.query(**args)
            yield list(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            args["ExclusiveStartKey"] = last

    def _scan(
        self, table: str, condition: str, values: dict[str, Any], *, attrs: Sequence[str]
    ) -> Iterator[list[Item]]:
        """Pages of a Scan whose filter names the tenant and the user (``#pk``, ``#tenant_id``, ``#user_id``)."""
        projection, names = self._projection((*attrs, "pk"))
        args: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": condition,
            "ExpressionAttributeValues": values,
            "ExpressionAttributeNames": names,
            "ProjectionExpression": projection,
            "ConsistentRead": True,
        }
        while True:
            page = self.ddb.scan(**args)
            yield list(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            args["ExclusiveStartKey"] = last

    def _existing(self, table: str, keys: list[Key], *, attrs: Sequence[str]) -> list[Item]:
        """The items among ``keys`` that exist (BatchGetItem, consistent, unprocessed keys retried)."""
        projection, names = self._projection(attrs)
        found: list[Item] = []
        for start in range(0, len(keys), _GET_BATCH):
            request: dict[str, Any] = {
                table: {
                    "Keys": keys[start : start + _GET_BATCH],
                    "ConsistentRead": True,
                    "ProjectionExpression": projection,
                    "ExpressionAttributeNames": names,
                }
            }
            for attempt in range(8):
                out = self.ddb.batch_get_item(RequestItems=request)
                found += out.get("Responses", {}).get(table, [])
                request = out.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(2.0, 0.05 * 2**attempt))
            else:
                raise ErasureStoreError(f"{table}: reads left unprocessed after retries")
        return found

    def _delete_keys(self, table: str, keys: list[Key]) -> None:
        """BatchWriteItem deletes, 25 at a time, unprocessed items retried with backoff."""
        unique = list({tuple(sorted((k, v["S"]) for k, v in key.items())): key for key in keys}.values())
        for start in range(0, len(unique), _BATCH):
            request: dict[str, Any] = {table: [{"DeleteRequest": {"Key": k}} for k in unique[start : start + _BATCH]]}
            for attempt in range(8):
                out = self.ddb.batch_write_item(RequestItems=request)
                request = out.get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(min(2.0, 0.05 * 2**attempt))
            else:
                raise ErasureStoreError(f"{table}: deletes left unprocessed after retries")

    def _delete_if_mine(self, table: str, key: Key, s: Subject) -> bool:
        """Delete one item if it names this tenant and user; True when something was deleted."""
        try:
            out = self.ddb.delete_item(
                TableName=table,
                Key=key,
                ConditionExpression="tenant_id = :t AND user_id = :u",
                ExpressionAttributeValues={":t": {"S": s.tenant_id}, ":u": {"S": s.user_id}},
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False  # absent, or another user's
            raise
        return bool(out.get("Attributes"))

    # -- S3 ----------------------------------------------------------------------------------------------
    def _delete_objects(self, run: ErasureRun, objects: list[tuple[str, str]]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for bucket, key in dict.fromkeys(objects):
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, object_keys in by_bucket.items():
            for start in range(0, len(object_keys), _S3_BATCH):
                chunk = object_keys[start : start + _S3_BATCH]
                out = self.s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": False}
                )
                errors = [e for e in out.get("Errors", []) if e.get("Code") != "NoSuchKey"]
                if errors:
                    raise ErasureStoreError(f"media bucket refused {len(errors)} deletes ({errors[0].get('Code')})")
                run.counts["media_objects"] += len(out.get("Deleted", []))
