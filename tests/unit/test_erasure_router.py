"""``DELETE /me`` and ``GET /me/erasure/{jobId}`` in process, with an in-memory job store and invoker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.erasure.jobs import ErasureJob, JobStatus
from luma.erasure.keys import Subject
from luma.http.app import create_app
from luma.http.me import erasure_invoker, erasure_jobs, router
from luma.ids import new_id

from tests.fakes import MemorySessionStore


class MemoryJobs:
    """The job store's contract (one open job per user; jobs found only under their owner)."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], ErasureJob] = {}

    def start(self, s: Subject) -> tuple[ErasureJob, bool]:
        for (tenant, user, _), job in self.jobs.items():
            if (tenant, user) == (s.tenant_id, s.user_id) and job.status in (JobStatus.PENDING, JobStatus.RUNNING):
                return job, False
        job = ErasureJob(new_id(), s.tenant_id, JobStatus.PENDING, datetime.now(UTC).isoformat())
        self.jobs[(s.tenant_id, s.user_id, job.job_id)] = job
        return job, True

    def get(self, s: Subject, job_id: str) -> ErasureJob | None:
        return self.jobs.get((s.tenant_id, s.user_id, job_id))

    def fail(
        self,
        s: Subject,
        job_id: str,
        error: str,
        counts: Mapping[str, int] | None = None,
        notes: list[str] | None = None,
    ) -> ErasureJob:
        job = self.jobs[(s.tenant_id, s.user_id, job_id)]
        job.status, job.error = JobStatus.FAILED, error
        return job


class RecordingInvoker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("lambda unreachable")
        self.calls.append((function_name, payload))


@pytest.fixture
def api() -> Iterator[tuple[TestClient, MemoryJobs, RecordingInvoker]]:
    jobs, invoker = MemoryJobs(), RecordingInvoker()
    app: FastAPI = create_app(lambda: MemorySessionStore())
    app.include_router(router)
    app.dependency_overrides[erasure_jobs] = lambda: jobs
    app.dependency_overrides[erasure_invoker] = lambda: invoker
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, jobs, invoker


def auth(user: str, tenant: str = "demo") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(user, tenant)}"}


def test_delete_me_answers_202_with_a_job_and_hands_it_to_the_erasure_function(api: Any) -> None:
    client, _, invoker = api
    resp = client.delete("/me", headers=auth("u-1"))
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "pending" and resp.headers["location"].endswith(f"/me/erasure/{body['jobId']}")
    assert invoker.calls == [("erasure", {"jobId": body["jobId"], "tenantId": "demo", "userId": "u-1"})]
    again = client.delete("/me", headers=auth("u-1"))  # while it runs: the same job, not a second invocation
    assert again.status_code == 202 and again.json()["jobId"] == body["jobId"] and len(invoker.calls) == 1
    status = client.get(f"/me/erasure/{body['jobId']}", headers=auth("u-1"))
    assert status.status_code == 200 and status.json()["status"] == "pending"
    assert status.json()["counts"] == {} and status.headers["cache-control"] == "no-store"


def test_another_users_job_is_not_found_even_with_the_same_user_id_in_another_tenant(api: Any) -> None:
    client, _, _ = api
    job_id = client.delete("/me", headers=auth("u-1")).json()["jobId"]
    for headers in (auth("u-10"), auth("u-1", "acme")):
        resp = client.get(f"/me/erasure/{job_id}", headers=headers)
        assert resp.status_code == 404 and resp.json()["code"] == "ERASURE_JOB_NOT_FOUND"
    assert client.get(f"/me/erasure/{new_id()}", headers=auth("u-1")).status_code == 404
    assert client.get("/me/erasure/not-an-id", headers=auth("u-1")).status_code == 422


def test_erasure_needs_a_token(api: Any) -> None:
    client, jobs, invoker = api
    assert client.delete("/me").status_code == 401
    assert client.get(f"/me/erasure/{new_id()}").status_code == 401
    assert jobs.jobs == {} and invoker.calls == []


def test_a_failed_hand_off_fails_the_job_so_the_next_request_starts_again(api: Any) -> None:
    client, jobs, invoker = api
    invoker.fail = True
    resp = client.delete("/me", headers=auth("u-1"))
    assert resp.status_code == 500 and resp.json()["code"] == "INTERNAL"
    (job,) = jobs.jobs.values()
    assert job.status is JobStatus.FAILED and job.error == "invoke: ConnectionError"
    invoker.fail = False
    retry = client.delete("/me", headers=auth("u-1"))
    assert retry.status_code == 202 and retry.json()["jobId"] != job.job_id and len(invoker.calls) == 1
