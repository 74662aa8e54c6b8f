"""WebSocket ``$connect`` REQUEST authorizer: verifies ``?token=`` and passes the principal on.

What it returns as ``context`` travels in ``requestContext.authorizer`` of every later event of the
connection: ``userId``, ``tenantId``, ``name``, ``role`` (``user``/``operator``), ``assistant`` (the
``?assistant=`` asked for, when the tenant may use it; another is refused) and, behind
CloudFront, ``clientIp`` (the viewer's address; the event's own ``sourceIp`` is CloudFront's).
A handshake that did not come through CloudFront (when the origin check is configured) is refused.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma.assistants.registry import resolve as resolve_assistant
from luma.auth import verify_token
from luma.config import get_settings
from luma.errors import LumaError
from luma.events import authorizer_policy
from luma.observability import logger
from luma.secrets import origin_verified, viewer_ip


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    headers = event.get("headers") or {}
    if not origin_verified(headers, settings):
        logger.info("connect refused", extra={"code": "ORIGIN_NOT_VERIFIED"})
        raise Exception("Unauthorized")  # API Gateway answers 401 for this exact message
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        principal = verify_token(token, settings=settings)
    except LumaError as err:
        logger.info("connect refused", extra={"code": err.code.value})
        raise Exception("Unauthorized") from None
    requested = (event.get("queryStringParameters") or {}).get("assistant")
    try:
        assistant = resolve_assistant(principal.tenant_id, requested, settings) if requested else None
    except LumaError as err:
        logger.info("connect refused", extra={"code": err.code.value})
        raise Exception("Unauthorized") from None
    policy = authorizer_policy(principal, event["methodArn"], assistant=assistant)
    client_ip = viewer_ip(headers, settings)
    if client_ip:
        policy["context"]["clientIp"] = client_ip
    return policy
