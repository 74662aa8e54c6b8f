"""WebSocket ``$connect``: store the connection of the principal the authorizer verified.

An operator's connection is recorded with its role, indexed under its tenant's operators, so
escalation notices and relayed messages find every open operator connection of the tenant.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import metrics_names as mn
from luma import wiring
from luma.config import get_settings
from luma.domain.models import Connection
from luma.events import WsEvent, management_endpoint
from luma.observability import emit, logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = WsEvent.model_validate(event)
    principal = parsed.principal()
    if principal is None:
        return {"statusCode": 401, "body": "Unauthorized"}
    ctx = parsed.request_context
    user_agent = parsed.header("User-Agent") or ctx.identity.user_agent
    if principal.role == "operator":
        from luma.operators import wiring as operators
        from luma.operators.models import OperatorConnection

        operators.store().add_connection(
            OperatorConnection(
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                connection_id=ctx.connection_id,
                endpoint=get_settings().ws_management_endpoint or management_endpoint(ctx.domain_name, ctx.stage),
                source_ip=ctx.identity.source_ip,
                user_agent=user_agent,
            )
        )
    else:
        wiring.connections().put(
            Connection(
                connection_id=ctx.connection_id,
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                source_ip=ctx.identity.source_ip,
                user_agent=user_agent,
            )
        )
    emit(mn.CONNECTIONS_OPENED, 1)
    return {"statusCode": 200}
