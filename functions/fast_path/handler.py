"""Fast path (invoked asynchronously by classify): answer a routed turn with no LLM.

It also sends what is left of a WhatsApp/SMS reply after a failed Twilio send (``twilio_redelivery``
events, see ``luma.channels.delivery``): raising there makes Lambda retry the event, then the DLQ.

No X-Ray SDK here: creating a Tracer costs ~125 ms of cold start on the path that must answer in
tens of milliseconds; Lambda's active tracing still records the invocation segment.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.domain.models import Turn
from luma.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    if event.get("kind") == "twilio_redelivery":
        wiring.twilio_delivery().redeliver(event)
        return
    wiring.fast_path_service().handle(Turn.model_validate(event))
