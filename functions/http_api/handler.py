"""HTTP API (API Gateway HTTP API, payload 2.0): FastAPI behind Mangum."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma.http.app import create_app
from luma.observability import logger
from mangum import Mangum

_asgi = Mangum(create_app(), lifespan="off")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = _asgi(event, context)
    return result
