"""WebSocket ``sendMessage`` and ``$default`` routes, and WhatsApp/SMS turns handed over by the Twilio
webhook (async invoke of a ``ChannelMessage``): validate, persist, classify, route."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.config import get_settings
from luma.domain.models import ChannelMessage
from luma.events import WsEvent, management_endpoint
from luma.observability import capture_handler, logger, metrics
from luma.pipeline.classify import WsRequest

# Cold start: validate config, load the model and fit the router before the first message.
wiring.classify_service().warm_up()


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    if event.get("kind") == "channel_message":  # a Twilio turn; a fault raises: Lambda retries, then the DLQ
        wiring.classify_service().handle_channel(ChannelMessage.model_validate(event))
        return None
    parsed = WsEvent.model_validate(event)
    ctx = parsed.request_context
    wiring.classify_service().handle(
        WsRequest(
            connection_id=ctx.connection_id,
            principal=parsed.principal(),
            body=parsed.body,
            endpoint=get_settings().ws_management_endpoint or management_endpoint(ctx.domain_name, ctx.stage),
            source_ip=parsed.source_ip(),
            assistant=parsed.assistant(),
        )
    )
    return {"statusCode": 200}
