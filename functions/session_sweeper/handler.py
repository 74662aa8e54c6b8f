"""Idle-session sweeper (an EventBridge schedule, e.g. every 5 minutes): close sessions idle longer than
``LUMA_SESSION_INACTIVITY_S`` and write their reports. Off the hot path; the logic is in ``luma.sessions``."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.config import get_settings
from luma.observability import emit, logger, metrics
from luma.sessions import lambda_time_left, sweep_idle_sessions


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    result = sweep_idle_sessions(
        wiring.conversations(),
        idle_s=settings.session_inactivity_s,
        max_sessions=settings.session_sweep_max,
        time_left_s=lambda_time_left(context),
    )
    emit(mn.SESSIONS_CLOSED_IDLE, result.closed + result.reported)
    logger.info("idle sweep done", extra=result.as_dict())
    return result.as_dict()
