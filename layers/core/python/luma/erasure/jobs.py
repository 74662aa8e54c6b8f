"""Erasure jobs: one item per job in the ``usage`` table, and one lock item per user.

Keys (tenant first; the user only as a digest, since the job outlives the data it erased):
``pk = T#<tenant>#ERASURE#<sha256(tenant, user)>``, ``sk = JOB#<job id>`` holds ``status`` (``pending``,
``running``, ``done``, ``failed``), ``counts`` (items erased per kind, summed over every run of the job),
``notes`` (what was not searched and why), ``error`` (the failing step and exception type, never a
message), ``created_at``/``started_at``/``finished_at`` and a ``ttl`` of :data:`JOB_TTL_DAYS` after it ends.
``sk = ACTIVE`` names the job in progress, with a lease: a second request while it runs gets the same
job; once the job ends (or its lease lapses) the next request starts a new one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from luma.config import Settings
from luma.erasure.keys import ACTIVE_SK, Subject, job_partition, job_sk
from luma.ids import new_id

JOB_TTL_DAYS = 30  # how long a finished job's status stays readable
LEASE_S = 3600  # a job not finished by then (its executor died) no longer blocks a new one
_DAY_S = 86_400


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


OPEN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class ErasureJobError(Exception):
    """A job could not be read or written."""


class JobNotFoundError(ErasureJobError):
    """No such job for this user (another user's job is not found either)."""


@dataclass
class ErasureJob:
    """One erasure of one user's data (the user is not part of it)."""

    job_id: str
    tenant_id: str
    status: JobStatus
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    runs: int = 0

    def to_json(self) -> dict[str, Any]:
        """The status document clients read (``GET /me/erasure/{jobId}``)."""
        return {
            "jobId": self.job_id,
            "status": self.status.value,
            "counts": dict(sorted(self.counts.items())),
            "notes": list(self.notes),
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "error": self.error,
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(int(value))}


def _counts_attr(counts: Mapping[str, int]) -> dict[str, Any]:
    return {"M": {k: _n(v) for k, v in counts.items()}}


def _notes_attr(notes: list[str]) -> dict[str, Any]:
    return {"L": [_s(n) for n in notes]}


def _code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code")) if isinstance(response, dict) else None


class JobStore(Protocol):
    """What the HTTP routes need of the job store (:class:`ErasureJobs`; tests give a fake)."""

    def start(self, s: Subject) -> tuple[ErasureJob, bool]: ...
    def get(self, s: Subject, job_id: str) -> ErasureJob | None: ...
    def fail(
        self,
        s: Subject,
        job_id: str,
        error: str,
        counts: Mapping[str, int] | None = None,
        notes: list[str] | None = None,
    ) -> ErasureJob: ...


def job_from_item(item: Mapping[str, Any]) -> ErasureJob:
    """The job of a raw DynamoDB item."""

    def opt(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    return ErasureJob(
        job_id=item["job_id"]["S"],
        tenant_id=item["tenant_id"]["S"],
        status=JobStatus(item["status"]["S"]),
        created_at=item["created_at"]["S"],
        counts={k: int(v["N"]) for k, v in item.get("counts", {}).get("M", {}).items()},
        notes=[str(v["S"]) for v in item.get("notes", {}).get("L", [])],
        started_at=opt("started_at"),
        finished_at=opt("finished_at"),
        error=opt("error"),
        runs=int(item.get("runs", {}).get("N", "0")),
    )


class ErasureJobs:
    """Job items in the usage table; every call is key-addressed (GetItem, conditional writes)."""

    def __init__(self, settings: Settings, *, client: Any = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.table = settings.usage_table
        self.clock = clock
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from luma.aws import client

            self._client = client(
                "dynamodb", region=self.settings.region, endpoint_url=self.settings.dynamodb_endpoint_url
            )
        return self._client

    def _key(self, s: Subject, sk: str) -> dict[str, Any]:
        return {"pk": _s(job_partition(s)), "sk": _s(sk)}

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, s: Subject, job_id: str) -> ErasureJob | None:
        """The user's job with this id, or None (a malformed id, or another user's job, is None too)."""
        try:
            sk = job_sk(job_id)
        except ValueError:
            return None
        item = self.client.get_item(TableName=self.table, Key=self._key(s, sk), ConsistentRead=True).get("Item")
        return job_from_item(item) if item else None

    def active(self, s: Subject) -> tuple[str, int] | None:
        """``(job id, lease end)`` of the user's job in progress, if any."""
        item = self.client.get_item(TableName=self.table, Key=self._key(s, ACTIVE_SK), ConsistentRead=True).get("Item")
        if not item:
            return None
        return item["job_id"]["S"], int(item["lease_until"]["N"])

    # -- writes ------------------------------------------------------------------------------------------
    def start(self, s: Subject) -> tuple[ErasureJob, bool]:
        """The user's job in progress, or a new pending one; ``created`` tells which.

        The lock item and the job are written in one transaction, conditional on the lock being absent (or
        being the lapsed one just read), so two concurrent requests end up with one job.
        """
        for _ in range(5):
            now = self.clock()
            current = self.active(s)
            if current is not None and current[1] > now:
                job = self.get(s, current[0])
                if job is not None and job.status in OPEN_STATUSES:
                    return job, False
            job_id = new_id()
            job = ErasureJob(job_id=job_id, tenant_id=s.tenant_id, status=JobStatus.PENDING, created_at=_iso(now))
            lock_condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            if current is not None:
                lock_condition = {
                    "ConditionExpression": "job_id = :old",
                    "ExpressionAttributeValues": {":old": _s(current[0])},
                }
            try:
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    **self._key(s, ACTIVE_SK),
                                    "kind": _s("erasure_lock"),
                                    "job_id": _s(job_id),
                                    "lease_until": _n(now + LEASE_S),
                                    "ttl": _n(now + LEASE_S + _DAY_S),
                                },
                                **lock_condition,
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    **self._key(s, job_sk(job_id)),
                                    "kind": _s("erasure_job"),
                                    "job_id": _s(job_id),
                                    "tenant_id": _s(s.tenant_id),
                                    "status": _s(JobStatus.PENDING.value),
                                    "created_at": _s(job.created_at),
                                    "counts": _counts_attr({}),
                                    "notes": _notes_attr([]),
                                    "runs": _n(0),
                                    "ttl": _n(now + JOB_TTL_DAYS * _DAY_S),
                                },
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
            except Exception as exc:
                if _code(exc) in ("TransactionCanceledException", "TransactionConflictException"):
                    continue  # another request took the lock meanwhile: read it again
                raise
            if current is not None:
                self._abandon(s, current[0])
            return job, True
        raise ErasureJobError("the erasure lock kept changing")

    def _abandon(self, s: Subject, job_id: str) -> None:
        """Mark a job whose lease lapsed as failed (its executor died); a finished one is left alone."""
        self._end(s, job_id, JobStatus.FAILED, error="abandoned: its lease lapsed", only_open=True)

    def running(self, s: Subject, job_id: str) -> ErasureJob:
        """Mark the job running (again, on a re-run) and renew its lease; :class:`JobNotFoundError` if absent."""
        now = self.clock()
        try:
            out = self.client.update_item(
                TableName=self.table,
                Key=self._key(s, job_sk(job_id)),
                UpdateExpression=(
                    "SET #st = :running, started_at = if_not_exists(started_at, :now), #ttl = :ttl "
                    "REMOVE finished_at, #err ADD runs :one"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#st": "status", "#ttl": "ttl", "#err": "error"},
                ExpressionAttributeValues={
                    ":running": _s(JobStatus.RUNNING.value),
                    ":now": _s(_iso(now)),
                    ":ttl": _n(now + JOB_TTL_DAYS * _DAY_S),
                    ":one": _n(1),
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise JobNotFoundError(job_id) from None
            raise
        self._renew(s, job_id, now)
        return job_from_item(out["Attributes"])

    def _renew(self, s: Subject, job_id: str, now: float) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(s, ACTIVE_SK),
                UpdateExpression="SET lease_until = :lease, #ttl = :ttl",
                ConditionExpression="job_id = :id",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":lease": _n(now + LEASE_S),
                    ":ttl": _n(now + LEASE_S + _DAY_S),
                    ":id": _s(job_id),
                },
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise  # a re-run of a finished job holds no lock: nothing to renew

    def progress(self, s: Subject, job_id: str, counts: Mapping[str, int], notes: list[str]) -> None:
        """Record the counts so far (a reader sees the job advance)."""
        self.client.update_item(
            TableName=self.table,
            Key=self._key(s, job_sk(job_id)),
            UpdateExpression="SET counts = :c, notes = :n",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":c": _counts_attr(counts), ":n": _notes_attr(notes)},
        )

    def finish(self, s: Subject, job_id: str, counts: Mapping[str, int], notes: list[str]) -> ErasureJob:
        """The job is done: status, counts, end time; the lock is released."""
        return self._end(s, job_id, JobStatus.DONE, counts=counts, notes=notes)

    def fail(
        self,
        s: Subject,
        job_id: str,
        error: str,
        counts: Mapping[str, int] | None = None,
        notes: list[str] | None = None,
    ) -> ErasureJob:
        """The job failed (``error`` names the step and exception type only); the lock is released."""
        return self._end(s, job_id, JobStatus.FAILED, error=error[:200], counts=counts, notes=notes)

    def _end(
        self,
        s: Subject,
        job_id: str,
        status: JobStatus,
        *,
        error: str | None = None,
        counts: Mapping[str, int] | None = None,
        notes: list[str] | None = None,
        only_open: bool = False,
    ) -> ErasureJob:
        now = self.clock()
        sets = ["#st = :status", "finished_at = :now", "#ttl = :ttl"]
        values: dict[str, Any] = {
            ":status": _s(status.value),
            ":now": _s(_iso(now)),
            ":ttl": _n(now + JOB_TTL_DAYS * _DAY_S),
        }
        if error is not None:
            sets.append("#err = :err")
            values[":err"] = _s(error)
        if counts is not None:
            sets.append("counts = :c")
            values[":c"] = _counts_attr(counts)
        if notes is not None:
            sets.append("notes = :n")
            values[":n"] = _notes_attr(notes)
        condition = "attribute_exists(pk)"
        if only_open:
            condition += " AND #st IN (:pending, :running)"
            values[":pending"] = _s(JobStatus.PENDING.value)
            values[":running"] = _s(JobStatus.RUNNING.value)
        names = {"#st": "status", "#ttl": "ttl"}
        if error is not None:
            names["#err"] = "error"
        try:
            out = self.client.update_item(
                TableName=self.table,
                Key=self._key(s, job_sk(job_id)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            if only_open:
                found = self.get(s, job_id)
                if found is not None:
                    return found
            raise JobNotFoundError(job_id) from None
        if not only_open:
            self._release(s, job_id)
        return job_from_item(out["Attributes"])

    def _release(self, s: Subject, job_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(s, ACTIVE_SK),
                ConditionExpression="job_id = :id",
                ExpressionAttributeValues={":id": _s(job_id)},
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
