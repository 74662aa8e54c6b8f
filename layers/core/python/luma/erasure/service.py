"""Running an erasure job: the job's status around the executor's walk."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from luma.config import Settings
from luma.erasure.executor import ErasureExecutor, ErasureIncompleteError, ErasureRun
from luma.erasure.jobs import ErasureJob, ErasureJobs
from luma.erasure.keys import Subject, check_job_id, check_phone
from luma.observability import logger

DEFAULT_FUNCTION = "erasure"
Progress = Callable[[str, Mapping[str, int]], None]


def erasure_function(settings: Settings) -> str:
    """The function that runs jobs: ``LUMA_ERASURE_FUNCTION`` (CDK sets it), else ``erasure`` (local stack)."""
    configured = getattr(settings, "erasure_function", None) or os.environ.get("LUMA_ERASURE_FUNCTION")
    return str(configured or DEFAULT_FUNCTION)


def job_event(job: ErasureJob, subject: Subject, phones: Sequence[str] = ()) -> dict[str, Any]:
    """The payload the erasure function is invoked with."""
    event: dict[str, Any] = {"jobId": job.job_id, "tenantId": subject.tenant_id, "userId": subject.user_id}
    if phones:
        event["phones"] = list(phones)
    return event


def parse_event(event: Mapping[str, Any]) -> tuple[Subject, str, tuple[str, ...]]:
    """``(subject, job id, phones)`` of an invocation payload; :class:`ValueError` when malformed."""
    phones = event.get("phones") or ()
    if not isinstance(phones, list | tuple):
        raise ValueError("phones must be a list")
    return (
        Subject(str(event.get("tenantId", "")), str(event.get("userId", ""))),
        check_job_id(str(event.get("jobId", ""))),
        tuple(check_phone(str(p)) for p in phones),
    )


def run_job(
    settings: Settings,
    subject: Subject,
    job_id: str,
    *,
    jobs: ErasureJobs | None = None,
    executor: ErasureExecutor | None = None,
    phones: Sequence[str] = (),
    time_left: Callable[[], float] | None = None,
    progress: Progress | None = None,
) -> ErasureJob:
    """Run (or run again) one job to its end: ``done``, or ``failed`` with the step and error type.

    Counts add up over the runs of a job. :class:`ErasureIncompleteError` (time ran out) leaves the job
    running with its counts so far: run it again to continue. Raises
    :class:`luma.erasure.jobs.JobNotFoundError` when the user has no such job.
    """
    jobs = jobs or ErasureJobs(settings)
    executor = executor or ErasureExecutor(settings)
    job = jobs.running(subject, job_id)
    run = ErasureRun(
        subject=subject,
        counts=Counter(job.counts),
        notes=list(job.notes),
        phones=tuple(phones),
        time_left=time_left,
    )

    def on_step(step: str) -> None:
        jobs.progress(subject, job_id, run.counts, run.notes)
        if progress is not None:
            progress(step, run.counts)

    run.on_step = on_step
    try:
        executor.erase(run)
    except ErasureIncompleteError:
        jobs.progress(subject, job_id, run.counts, run.notes)
        raise
    except Exception as exc:
        error = f"{run.step or 'start'}: {type(exc).__name__}"
        logger.warning("erasure failed", extra={"job_id": job_id, "tenant_id": subject.tenant_id, "error_type": error})
        jobs.fail(subject, job_id, error, run.counts, run.notes)
        raise
    return jobs.finish(subject, job_id, run.counts, run.notes)
