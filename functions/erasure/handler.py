"""Erasure of one user's data (invoked asynchronously by ``DELETE /api/me``): runs the job to its end.

Event: ``{"jobId", "tenantId", "userId", "phones"?}``. When the invocation's time runs short, the job is
handed to a fresh invocation of this function with the same event (every step is idempotent, so it
continues); a failure is recorded on the job and raised, so Lambda's retries (then the DLQ) apply.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma.config import get_settings
from luma.erasure.executor import ErasureIncompleteError
from luma.erasure.service import erasure_function, parse_event, run_job
from luma.invoke import LambdaInvoker
from luma.observability import logger
from luma.sessions import lambda_time_left


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    subject, job_id, phones = parse_event(event)
    try:
        job = run_job(settings, subject, job_id, phones=phones, time_left=lambda_time_left(context))
    except ErasureIncompleteError:
        name = getattr(context, "function_name", None) or erasure_function(settings)
        LambdaInvoker(settings).invoke_async(name, event)
        logger.info("erasure continues in a new invocation", extra={"job_id": job_id})
        return {"jobId": job_id, "status": "running", "continued": True}
    logger.info("erasure finished", extra={"job_id": job_id, "status": job.status.value, "counts": job.counts})
    return {"jobId": job_id, "status": job.status.value, "counts": job.counts}
