"""WebSocket routes of operators: ``operatorSync``, ``ack``, ``takeOver``, ``operatorMessage``, ``handBack``,
``closeEscalation`` (answers and errors go back to the operator's connection)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma.config import get_settings
from luma.events import WsEvent, management_endpoint
from luma.observability import capture_handler, logger, metrics
from luma.operators import wiring
from luma.operators.service import ActionRequest


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = WsEvent.model_validate(event)
    ctx = parsed.request_context
    wiring.service().handle(
        ActionRequest(
            connection_id=ctx.connection_id,
            principal=parsed.principal(),
            body=parsed.body,
            endpoint=get_settings().ws_management_endpoint or management_endpoint(ctx.domain_name, ctx.stage),
        )
    )
    return {"statusCode": 200}
