"""WebSocket ``$connect`` REQUEST authorizer: verifies ``?token=`` and passes the principal on."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma.auth import verify_token
from luma.errors import LumaError
from luma.events import authorizer_policy
from luma.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        principal = verify_token(token)
    except LumaError as err:
        logger.info("connect refused", extra={"code": err.code.value})
        raise Exception("Unauthorized") from None  # API Gateway answers 401 for this exact message
    return authorizer_policy(principal, event["methodArn"])
