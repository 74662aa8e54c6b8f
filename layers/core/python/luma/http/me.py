"""The caller's own account: ``DELETE /me`` erases their data, ``GET /me/erasure/{jobId}`` tells how it went.

``DELETE /me`` answers 202 at once with the job (a second request while it runs gets the same job) and
hands it to the ``erasure`` function by an asynchronous invocation, as the Twilio webhook hands turns to
``classify``. Job ids are looked up under the caller's own key: another user's job id is a 404, exactly
like an unknown one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from luma.config import get_settings
from luma.erasure.jobs import ErasureJobs, JobStore
from luma.erasure.keys import Subject
from luma.erasure.service import erasure_function, job_event
from luma.errors import ErrorCode, LumaError
from luma.http.app import Caller, ErrorOut
from luma.invoke import Invoker
from luma.observability import logger


class ErasureAccepted(BaseModel):
    jobId: str
    status: str = Field(description="pending, running, done or failed")


class ErasureStatus(BaseModel):
    jobId: str
    status: str = Field(description="pending, running, done or failed")
    counts: dict[str, int] = Field(description="items erased so far, per kind")
    notes: list[str] = Field(description="what was not searched, and why")
    createdAt: str
    startedAt: str | None = None
    finishedAt: str | None = None
    error: str | None = Field(None, description="the step that failed and the error type")


JobId = Annotated[str, Path(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]


@lru_cache(maxsize=1)
def _default_jobs() -> ErasureJobs:
    return ErasureJobs(get_settings())


@lru_cache(maxsize=1)
def _default_invoker() -> Invoker:
    from luma.invoke import LambdaInvoker

    return LambdaInvoker(get_settings())


def erasure_jobs() -> JobStore:
    """The job store (a dependency tests may override)."""
    return _default_jobs()


def erasure_invoker() -> Invoker:
    """What hands a job to the ``erasure`` function (a dependency tests may override)."""
    return _default_invoker()


router = APIRouter(tags=["me"])


@router.delete("/me", status_code=202, response_model=ErasureAccepted)
def forget_me(
    caller: Caller,
    jobs: Annotated[JobStore, Depends(erasure_jobs)],
    invoker: Annotated[Invoker, Depends(erasure_invoker)],
) -> JSONResponse:
    """Erase everything the caller's account has here: messages, sessions, memory, media, reports, phone links,
    usage records. Answers at once with the job; its status is at ``GET /me/erasure/{jobId}``."""
    subject = Subject(caller.tenant_id, caller.user_id)
    job, created = jobs.start(subject)
    if created:
        try:
            invoker.invoke_async(erasure_function(get_settings()), job_event(job, subject))
        except Exception as exc:
            jobs.fail(subject, job.job_id, f"invoke: {type(exc).__name__}")
            raise LumaError(ErrorCode.INTERNAL) from exc
        logger.info("erasure requested", extra={"job_id": job.job_id, "tenant_id": subject.tenant_id})
    root = get_settings().http_root_path.rstrip("/")
    return JSONResponse(
        ErasureAccepted(jobId=job.job_id, status=job.status.value).model_dump(),
        status_code=202,
        headers={"Location": f"{root}/me/erasure/{job.job_id}"},
    )


@router.get(
    "/me/erasure/{job_id}",
    response_model=ErasureStatus,
    responses={404: {"model": ErrorOut, "description": "No such job of the caller's (ERASURE_JOB_NOT_FOUND)"}},
)
def erasure_status(job_id: JobId, caller: Caller, jobs: Annotated[JobStore, Depends(erasure_jobs)]) -> JSONResponse:
    """The caller's erasure job: status, items erased per kind, what could not be searched."""
    job = jobs.get(Subject(caller.tenant_id, caller.user_id), job_id)
    if job is None:
        raise LumaError(ErrorCode.ERASURE_JOB_NOT_FOUND)
    return JSONResponse(job.to_json(), headers={"cache-control": "no-store"})
