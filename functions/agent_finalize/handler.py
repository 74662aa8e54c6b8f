"""Finalize: charge the user's token quota, emit the run's metrics, return its summary."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.agent.run import RunState
from luma.observability import capture_handler, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return wiring.agent_service().finalize(RunState.model_validate(event))
