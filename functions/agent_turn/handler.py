"""AgentStep of the agent_run state machine: one streamed LLM call with tools.

The provider SDK is imported at init (SnapStart snapshots it in AWS), not on the first token.
Provider failures leave as exceptions named after their pattern (``LlmRateLimited``, ...): the
state machine's Retry and Catch match those names.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.agent.run import RunState
from luma.observability import capture_handler, logger, metrics

wiring.agent_service().warm_up()


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = wiring.agent_service().step(RunState.model_validate(event))
    return state.model_dump(mode="json")
