"""Fast path (invoked asynchronously by classify): answer a routed turn with no LLM."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.domain.models import Turn
from luma.observability import get_tracer, logger, metrics

tracer = get_tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    wiring.fast_path_service().handle(Turn.model_validate(event))
