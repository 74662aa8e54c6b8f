"""AwaitApproval (``lambda:invoke.waitForTaskToken``): store the task token, ask the user.

The run waits until ``agent_approve`` completes the token with the user's answer (or the state's
timeout passes).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.observability import capture_handler, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    wiring.agent_service().request_approval(event)
