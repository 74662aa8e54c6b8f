"""Powertools parser models for the API Gateway events Luma receives.

Powertools' WebSocket models leave out ``requestContext.authorizer``, where API Gateway puts what
the ``$connect`` authorizer returned; these subclasses add it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketConnectEventRequestContext,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketDisconnectEventRequestContext,
    APIGatewayWebSocketMessageEventModel,
    APIGatewayWebSocketMessageEventRequestContext,
)
from pydantic import BaseModel, Field

from luma.domain.models import Principal


class AuthorizerContext(BaseModel):
    """What ``ws_authorizer`` returns as context (flattened by API Gateway)."""

    principal_id: str | None = Field(None, alias="principalId")
    user_id: str | None = Field(None, alias="userId")
    tenant_id: str | None = Field(None, alias="tenantId")
    name: str | None = None

    def principal(self) -> Principal | None:
        if not self.user_id or not self.tenant_id:
            return None
        return Principal(tenant_id=self.tenant_id, user_id=self.user_id, display_name=self.name or None)


class ConnectContext(APIGatewayWebSocketConnectEventRequestContext):
    authorizer: AuthorizerContext | None = None


class DisconnectContext(APIGatewayWebSocketDisconnectEventRequestContext):
    authorizer: AuthorizerContext | None = None


class MessageContext(APIGatewayWebSocketMessageEventRequestContext):
    authorizer: AuthorizerContext | None = None


class WsConnectEvent(APIGatewayWebSocketConnectEventModel):
    request_context: ConnectContext = Field(alias="requestContext")


class WsDisconnectEvent(APIGatewayWebSocketDisconnectEventModel):
    request_context: DisconnectContext = Field(alias="requestContext")


class WsMessageEvent(APIGatewayWebSocketMessageEventModel):
    request_context: MessageContext = Field(alias="requestContext")
    body: str | None = None


def management_endpoint(domain_name: str, stage: str) -> str:
    """The API Gateway management endpoint for a WebSocket API stage."""
    return f"https://{domain_name}/{stage}"


def authorizer_policy(principal: Principal, method_arn: str) -> dict[str, Any]:
    """A REQUEST authorizer's Allow response carrying the principal as context."""
    return {
        "principalId": principal.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}],
        },
        "context": {
            "userId": principal.user_id,
            "tenantId": principal.tenant_id,
            "name": principal.display_name or "",
        },
    }
