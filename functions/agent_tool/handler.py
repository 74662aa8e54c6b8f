"""RunTool (inside the ExecuteTools Map): one tool call with its checks, timeout and heartbeats."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.observability import capture_handler, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return wiring.agent_service().run_tool(event)
