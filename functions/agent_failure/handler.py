"""HandleFailure: classify a caught error of the run and pick a recovery (never a stack trace to the user)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.agent.run import RunState
from luma.observability import capture_handler, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = wiring.agent_service().handle_failure(RunState.model_validate(event))
    return state.model_dump(mode="json")
