"""Demo data for the local stack: workers (phones linked for WhatsApp), projects, tasks with their
progress history, documents in the media bucket (``sitework/`` prefix) and one past incident."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from luma.assistants.sitework.repo import (
    Document,
    Incident,
    ProgressUpdate,
    Project,
    SiteworkRepository,
    Task,
    Worker,
    progress_sk,
    project_pk,
)
from luma.config import Settings, get_settings
from luma.domain.models import PhoneLink
from luma.observability import logger
from luma.store.repos import DynamoPhoneRepository

TIMEZONE = ZoneInfo("Europe/Paris")
PREFIX = "sitework"


@lru_cache(maxsize=1)
def demo_data() -> dict[str, Any]:
    """The demo company (``data.json`` beside this module)."""
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("data.json").read_text(encoding="utf-8"))
    return data


def demo_users() -> list[dict[str, Any]]:
    """The people of the demo data one can sign in as."""
    data = demo_data()
    out = []
    for w in data["workers"]:
        count = len(w["projects"])
        hint = f"Site manager of {count} projects" if w["role"] == "manager" else f"Field worker on {count} projects"
        out.append(
            {
                "userId": w["user_id"],
                "tenantId": data["demo_tenant"],
                "name": w["name"],
                "identityHint": hint,
                "phone": w["phone"],
            }
        )
    return out


def document_key(tenant_id: str, project_id: str, file: str) -> str:
    return f"{PREFIX}/{tenant_id}/{project_id}/{file}"


def _put_object(repo: SiteworkRepository, bucket: str, key: str, body: bytes, content_type: str) -> None:
    s3 = repo.s3()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except s3.exceptions.NoSuchBucket:
        if not repo.settings.s3_endpoint_url:  # in AWS the bucket is the stack's; never create one here
            raise
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def seed_demo_data(settings: Settings | None = None, *, today: date | None = None, tenant: str | None = None) -> int:
    """Write the demo company (dates relative to ``today``) into ``tenant`` (default: the demo tenant);
    returns the items and objects written."""
    settings = settings or get_settings()
    repo = SiteworkRepository(settings)
    phones = DynamoPhoneRepository(settings)
    data = demo_data()
    tenant = tenant or data["demo_tenant"]
    today = today or datetime.now(TIMEZONE).date()
    count = 0
    for w in data["workers"]:
        repo.put_worker(Worker(tenant_id=tenant, **w))
        phones.put(PhoneLink(tenant_id=tenant, phone=w["phone"], user_id=w["user_id"], display_name=w["name"]))
        count += 2
    for p in data["projects"]:
        repo.put_project(Project(tenant_id=tenant, **p))
        count += 1
    for raw in data["tasks"]:
        fields = {k: v for k, v in raw.items() if k not in ("due_in_days", "history")}
        history: list[int] = raw.get("history", [])
        task = Task(tenant_id=tenant, due=today + timedelta(days=raw["due_in_days"]), updates=len(history), **fields)
        repo.put_task(task)
        count += 1
        previous = 0
        for seq, percent in enumerate(history, start=1):
            at = datetime.combine(today - timedelta(days=len(history) - seq + 1), time(16, 30), tzinfo=TIMEZONE)
            update = ProgressUpdate(
                tenant_id=tenant,
                project_id=task.project_id,
                task_id=task.task_id,
                seq=seq,
                percent=percent,
                previous=previous,
                by=task.assignee or "u-manager",
                at=at.astimezone(UTC),
            )
            repo.table(
                pk=project_pk(tenant, task.project_id),
                sk=progress_sk(task.task_id, seq),
                kind="progress",
                data=update.model_dump(mode="json"),
            ).save()
            previous = percent
            count += 1
    bucket = settings.media_bucket
    if bucket:
        for d in data["documents"]:
            key = document_key(tenant, d["project_id"], d["file"])
            body = d["body"].encode()
            _put_object(repo, bucket, key, body, "text/plain")
            repo.put_document(
                Document(
                    document_id=d["document_id"],
                    tenant_id=tenant,
                    project_id=d["project_id"],
                    title=d["title"],
                    key=key,
                    content_type="text/plain",
                    size=len(body),
                )
            )
            count += 2
    else:
        logger.warning("sitework seed: no media bucket configured (LUMA_MEDIA_BUCKET); documents left out")
    highest = 0
    for i in data["incidents"]:
        at = datetime.combine(today - timedelta(days=i["days_ago"]), time(9, 15), tzinfo=TIMEZONE)
        fields = {k: v for k, v in i.items() if k != "days_ago"}
        incident = Incident(tenant_id=tenant, created_at=at.astimezone(UTC), **fields)
        if repo.get_incident(tenant, incident.project_id, incident.number) is None:
            repo.put_incident(incident)
            count += 1
        highest = max(highest, incident.number)
    repo.raise_incident_counter(tenant, highest)
    return count
