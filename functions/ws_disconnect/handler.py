"""WebSocket ``$disconnect``: forget the connection."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.events import WsEvent
from luma.observability import emit, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = WsEvent.model_validate(event)
    principal = parsed.principal()
    if principal is not None:
        wiring.connections().delete(principal.tenant_id, parsed.request_context.connection_id)
    emit(mn.CONNECTIONS_CLOSED, 1)
    return {"statusCode": 200}
