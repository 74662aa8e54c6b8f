"""WebSocket ``$connect``: store the connection of the principal the authorizer verified."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.domain.models import Connection
from luma.events import WsConnectEvent
from luma.observability import emit, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event=event, model=WsConnectEvent)
    ctx = parsed.request_context
    principal = ctx.authorizer.principal() if ctx.authorizer else None
    if principal is None:
        return {"statusCode": 401, "body": "Unauthorized"}
    wiring.connections().put(
        Connection(
            connection_id=ctx.connection_id,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            source_ip=str(getattr(ctx.identity.source_ip, "network_address", ctx.identity.source_ip)),
            user_agent=(parsed.headers or {}).get("User-Agent"),
        )
    )
    emit(mn.CONNECTIONS_OPENED, 1)
    return {"statusCode": 200}
