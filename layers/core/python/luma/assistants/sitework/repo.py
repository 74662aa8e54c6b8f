"""The field-work data in the pack's ``data`` table: workers, projects, tasks, documents, incidents, progress.

Keys (the tenant first in every ``pk``)::

    T#<tenant>#W#<user>      PROFILE                  a worker: name, phone, role, project ids
    T#<tenant>#PRJ#<project> META                     a project: name, address, manager, members
                             TASK#<task>              a task: title, status, progress %, assignee, due date
                             PROG#<task>#<seq:06d>    one progress update (history: never overwritten)
                             DOC#<document>           a document: title and its S3 object
                             INC#<number:06d>         an incident: reporter, description, severity, media
    T#<tenant>#COUNTER       INC                      the tenant's last incident number (atomic ADD)

Reads are key-addressed: a worker is one GetItem, their projects one BatchGetItem, a project's tasks
(documents, incidents) one Query on the project's partition, paginated by PynamoDB. A progress update
is a transaction: the history item ``PROG#<task>#<seq>`` is written only if absent, where ``seq`` is
the task's update count + 1, together with the task; two racing updates of one task cannot both
take a sequence number, so the loser re-reads the task and goes after the winner (nothing is lost,
each update records the percentage it replaced).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError

from luma.config import Settings, get_settings
from luma.store.models import PackDataRow
from luma.store.packdata import pack_table, table_name

PACK = "sitework"
Role = Literal["worker", "manager"]
TaskStatus = Literal["todo", "in_progress", "blocked", "done"]
Severity = Literal["low", "medium", "high", "critical"]
IncidentStatus = Literal["open", "investigating", "closed"]
LINK_TTL_S = 15 * 60  # presigned document links
PROGRESS_RETRIES = 5


class Worker(BaseModel):
    user_id: str
    tenant_id: str
    name: str
    phone: str | None = None
    role: Role = "worker"
    projects: list[str] = Field(default_factory=list)

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""


class Project(BaseModel):
    project_id: str
    tenant_id: str
    name: str
    address: str
    manager_id: str
    members: list[str] = Field(default_factory=list)


class Task(BaseModel):
    task_id: str
    tenant_id: str
    project_id: str
    title: str
    description: str = ""
    status: TaskStatus = "todo"
    progress: int = Field(0, ge=0, le=100)
    assignee: str | None = None
    due: date | None = None
    updates: int = 0  # progress updates so far: the next one is number updates + 1


class ProgressUpdate(BaseModel):
    tenant_id: str
    project_id: str
    task_id: str
    seq: int
    percent: int = Field(ge=0, le=100)
    previous: int = Field(ge=0, le=100)
    by: str
    at: datetime
    note: str = ""


class Document(BaseModel):
    document_id: str
    tenant_id: str
    project_id: str
    title: str
    key: str  # S3 key in the media bucket
    content_type: str = "application/octet-stream"
    size: int = 0


class Incident(BaseModel):
    number: int
    tenant_id: str
    project_id: str
    reporter_id: str
    description: str
    severity: Severity
    media: list[dict[str, Any]] = Field(default_factory=list)
    status: IncidentStatus = "open"
    created_at: datetime

    @property
    def reference(self) -> str:
        return reference(self.number)


def reference(number: int) -> str:
    """An incident's number as people write it: ``INC-0042``."""
    return f"INC-{number:04d}"


def worker_pk(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#W#{user_id}"


def project_pk(tenant_id: str, project_id: str) -> str:
    return f"T#{tenant_id}#PRJ#{project_id}"


def counter_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#COUNTER"


def progress_sk(task_id: str, seq: int) -> str:
    return f"PROG#{task_id}#{seq:06d}"


def status_after(task: Task, percent: int) -> TaskStatus:
    """A task's status once it is at ``percent``: done at 100, in progress above 0 (blocked stays blocked)."""
    if percent >= 100:
        return "done"
    if task.status == "blocked":
        return "blocked"
    return "in_progress" if percent > 0 else "todo"


class ProgressConflictError(RuntimeError):
    """Other updates of the task kept winning the race (after several retries)."""


class SiteworkRepository:
    """Key-addressed access to the pack's table, and presigned links to documents in the media bucket."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.table: type[PackDataRow] = pack_table(PACK, "data", self.settings)
        self._s3: Any = None
        self._ddb: Any = None

    # -- workers and projects --------------------------------------------------------------------
    def get_worker(self, tenant_id: str, user_id: str) -> Worker | None:
        try:
            row = self.table.get(worker_pk(tenant_id, user_id), "PROFILE")
        except DoesNotExist:
            return None
        return Worker.model_validate(row.data)

    def delete_worker(self, tenant_id: str, user_id: str) -> int:
        """Remove a worker's profile (erasure); the company's project records stay. Items removed."""
        try:
            self.table.get(worker_pk(tenant_id, user_id), "PROFILE").delete()
        except DoesNotExist:
            return 0
        return 1

    def put_worker(self, worker: Worker) -> None:
        self._save(worker_pk(worker.tenant_id, worker.user_id), "PROFILE", "worker", worker)

    def get_project(self, tenant_id: str, project_id: str) -> Project | None:
        try:
            row = self.table.get(project_pk(tenant_id, project_id), "META")
        except DoesNotExist:
            return None
        return Project.model_validate(row.data)

    def get_projects(self, tenant_id: str, project_ids: list[str]) -> list[Project]:
        """Projects by id (one BatchGetItem), in the order asked; missing ones left out."""
        keys = [(project_pk(tenant_id, pid), "META") for pid in dict.fromkeys(project_ids)]
        if not keys:
            return []
        found = {Project.model_validate(r.data).project_id: r for r in self.table.batch_get(keys)}
        return [Project.model_validate(found[pid].data) for pid in dict.fromkeys(project_ids) if pid in found]

    def put_project(self, project: Project) -> None:
        self._save(project_pk(project.tenant_id, project.project_id), "META", "project", project)

    # -- tasks and progress ----------------------------------------------------------------------
    def list_tasks(self, tenant_id: str, project_id: str, *, limit: int = 200) -> list[Task]:
        return [Task.model_validate(r.data) for r in self._query(project_pk(tenant_id, project_id), "TASK#", limit)]

    def get_task(self, tenant_id: str, project_id: str, task_id: str) -> Task | None:
        try:
            row = self.table.get(project_pk(tenant_id, project_id), f"TASK#{task_id}")
        except DoesNotExist:
            return None
        return Task.model_validate(row.data)

    def put_task(self, task: Task) -> None:
        self._save(project_pk(task.tenant_id, task.project_id), f"TASK#{task.task_id}", "task", task)

    def list_progress(self, tenant_id: str, project_id: str, task_id: str, *, limit: int = 10) -> list[ProgressUpdate]:
        """A task's progress updates, newest first."""
        rows = self._query(project_pk(tenant_id, project_id), f"PROG#{task_id}#", limit, newest_first=True)
        return [ProgressUpdate.model_validate(r.data) for r in rows]

    def record_progress(
        self, task: Task, percent: int, *, by: str, at: datetime | None = None, note: str = ""
    ) -> tuple[Task, ProgressUpdate]:
        """Set a task's progress and append the update to its history (safe under concurrent updates)."""
        from pynamodb.connection import Connection
        from pynamodb.transactions import TransactWrite

        at = at or datetime.now(UTC)
        current = task
        for _attempt in range(PROGRESS_RETRIES):
            update = ProgressUpdate(
                tenant_id=current.tenant_id,
                project_id=current.project_id,
                task_id=current.task_id,
                seq=current.updates + 1,
                percent=percent,
                previous=current.progress,
                by=by,
                at=at,
                note=note[:500],
            )
            updated = current.model_copy(
                update={"progress": percent, "status": status_after(current, percent), "updates": update.seq}
            )
            pk = project_pk(current.tenant_id, current.project_id)
            history = self.table(pk=pk, sk=progress_sk(current.task_id, update.seq), kind="progress")
            history.data = update.model_dump(mode="json")
            row = self.table(pk=pk, sk=f"TASK#{current.task_id}")
            connection = Connection(region=self.settings.region, host=self.settings.dynamodb_endpoint_url)
            try:
                with TransactWrite(connection=connection) as tx:
                    tx.save(history, condition=self.table.pk.does_not_exist())
                    tx.update(
                        row,
                        actions=[self.table.data.set(updated.model_dump(mode="json"))],
                        condition=self.table.pk.exists(),
                    )
            except TransactWriteError as exc:
                if not _lost_race(exc):
                    raise
                fresh = self.get_task(current.tenant_id, current.project_id, current.task_id)
                if fresh is None:
                    raise
                current = fresh
                continue
            return updated, update
        raise ProgressConflictError(f"task {task.task_id}: {PROGRESS_RETRIES} concurrent updates won the race")

    # -- documents -------------------------------------------------------------------------------
    def list_documents(self, tenant_id: str, project_id: str, *, limit: int = 50) -> list[Document]:
        return [Document.model_validate(r.data) for r in self._query(project_pk(tenant_id, project_id), "DOC#", limit)]

    def put_document(self, document: Document) -> None:
        self._save(project_pk(document.tenant_id, document.project_id), f"DOC#{document.document_id}", "document",
                   document)  # fmt: skip

    def document_link(self, document: Document, *, expires_s: int = LINK_TTL_S) -> str | None:
        """A presigned GET link to the document's object (signed locally, no S3 call); None with no bucket."""
        bucket = self.settings.media_bucket
        if not bucket:
            return None
        url: str = self.s3().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": document.key}, ExpiresIn=expires_s
        )
        return url

    def _dynamodb(self) -> Any:
        if self._ddb is None:
            from luma.aws import client

            settings = self.settings
            self._ddb = client("dynamodb", region=settings.region, endpoint_url=settings.dynamodb_endpoint_url)
        return self._ddb

    def s3(self) -> Any:
        if self._s3 is None:
            from luma.aws import client

            self._s3 = client("s3", region=self.settings.region, endpoint_url=self.settings.s3_endpoint_url)
        return self._s3

    # -- incidents -------------------------------------------------------------------------------
    def next_incident_number(self, tenant_id: str) -> int:
        """The tenant's next incident number: an atomic ``ADD`` on its counter item (unique under concurrency)."""
        answer = self._dynamodb().update_item(
            TableName=table_name(PACK, "data", self.settings),
            Key={"pk": {"S": counter_pk(tenant_id)}, "sk": {"S": "INC"}},
            UpdateExpression="ADD #n :one SET kind = :kind",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":kind": {"S": "counter"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["n"]["N"])

    def create_incident(
        self,
        *,
        tenant_id: str,
        project_id: str,
        reporter_id: str,
        description: str,
        severity: Severity,
        media: list[dict[str, Any]] | None = None,
        at: datetime | None = None,
    ) -> Incident:
        """Record a new incident under the tenant's next number."""
        incident = Incident(
            number=self.next_incident_number(tenant_id),
            tenant_id=tenant_id,
            project_id=project_id,
            reporter_id=reporter_id,
            description=description[:2000],
            severity=severity,
            media=list(media or []),
            created_at=at or datetime.now(UTC),
        )
        self.put_incident(incident)
        return incident

    def put_incident(self, incident: Incident) -> None:
        """Write an incident once (an existing number is never overwritten)."""
        row = self.table(
            pk=project_pk(incident.tenant_id, incident.project_id),
            sk=f"INC#{incident.number:06d}",
            kind="incident",
            data=incident.model_dump(mode="json"),
        )
        try:
            row.save(condition=self.table.pk.does_not_exist())
        except PutError as exc:
            raise RuntimeError(f"incident {incident.reference} already exists") from exc

    def list_incidents(self, tenant_id: str, project_id: str, *, limit: int = 20) -> list[Incident]:
        """A project's incidents, newest first."""
        rows = self._query(project_pk(tenant_id, project_id), "INC#", limit, newest_first=True)
        return [Incident.model_validate(r.data) for r in rows]

    def get_incident(self, tenant_id: str, project_id: str, number: int) -> Incident | None:
        try:
            row = self.table.get(project_pk(tenant_id, project_id), f"INC#{number:06d}")
        except DoesNotExist:
            return None
        return Incident.model_validate(row.data)

    def raise_incident_counter(self, tenant_id: str, number: int) -> None:
        """Make the tenant's counter at least ``number`` (seed data that comes with numbered incidents)."""
        try:
            self._dynamodb().update_item(
                TableName=table_name(PACK, "data", self.settings),
                Key={"pk": {"S": counter_pk(tenant_id)}, "sk": {"S": "INC"}},
                UpdateExpression="SET #n = :v, kind = :kind",
                ConditionExpression="attribute_not_exists(#n) OR #n < :v",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":v": {"N": str(number)}, ":kind": {"S": "counter"}},
            )
        except self._dynamodb().exceptions.ConditionalCheckFailedException:
            pass  # already at or past it

    # -- helpers ---------------------------------------------------------------------------------
    def _save(self, pk: str, sk: str, kind: str, model: BaseModel) -> None:
        self.table(pk=pk, sk=sk, kind=kind, data=model.model_dump(mode="json")).save()

    def _query(self, pk: str, prefix: str, limit: int, *, newest_first: bool = False) -> list[PackDataRow]:
        """Items of one partition under a sort-key prefix, at most ``limit`` (PynamoDB follows the pages)."""
        rows = self.table.query(
            pk,
            range_key_condition=self.table.sk.startswith(prefix),
            scan_index_forward=not newest_first,
            limit=limit,
            page_size=min(limit, 100),
        )
        return list(rows)


def _lost_race(exc: TransactWriteError) -> bool:
    """The transaction was cancelled by another writer (a taken sequence number or a concurrent transaction)."""
    codes = {r.code for r in exc.cancellation_reasons if r is not None}
    if codes:
        return bool(codes & {"ConditionalCheckFailed", "TransactionConflict"})
    return exc.cause_response_code in {"TransactionCanceledException", "TransactionConflictException"}
