"""WebSocket route ``approve``: the user's answer to an ``approval_request`` resumes the waiting run."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.agent.approve import ApproveRequest, handle_approve
from luma.config import get_settings
from luma.events import WsEvent, management_endpoint
from luma.observability import capture_handler, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = WsEvent.model_validate(event)
    ctx = parsed.request_context
    handle_approve(
        ApproveRequest(
            connection_id=ctx.connection_id,
            principal=parsed.principal(),
            body=parsed.body,
            endpoint=get_settings().ws_management_endpoint or management_endpoint(ctx.domain_name, ctx.stage),
        ),
        agent=wiring.agent_service,
        delivery=wiring.delivery(),
    )
    return {"statusCode": 200}
