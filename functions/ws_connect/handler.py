"""WebSocket ``$connect``: store the connection of the principal the authorizer verified."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.domain.models import Connection
from luma.events import WsEvent
from luma.observability import emit, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = WsEvent.model_validate(event)
    principal = parsed.principal()
    if principal is None:
        return {"statusCode": 401, "body": "Unauthorized"}
    ctx = parsed.request_context
    wiring.connections().put(
        Connection(
            connection_id=ctx.connection_id,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            source_ip=ctx.identity.source_ip,
            user_agent=parsed.header("User-Agent") or ctx.identity.user_agent,
        )
    )
    emit(mn.CONNECTIONS_OPENED, 1)
    return {"statusCode": 200}
