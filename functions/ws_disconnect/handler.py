"""WebSocket ``$disconnect``: forget the connection."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.events import WsDisconnectEvent
from luma.observability import emit, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ctx = parse(event=event, model=WsDisconnectEvent).request_context
    principal = ctx.authorizer.principal() if ctx.authorizer else None
    if principal is not None:
        wiring.connections().delete(principal.tenant_id, ctx.connection_id)
    emit(mn.CONNECTIONS_CLOSED, 1)
    return {"statusCode": 200}
