"""Parser models for the API Gateway WebSocket events Luma receives.

Slim pydantic models of just the fields the handlers read (shapes as in the Powertools test events
under ``tests/events/``). Importing Powertools' parser models costs ~120 ms of cold start (every
event model of every service); these cost nothing extra. They also carry
``requestContext.authorizer``, where API Gateway puts what the ``$connect`` authorizer returned,
which Powertools' WebSocket models leave out.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from luma.domain.models import Principal


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class AuthorizerContext(_Model):
    """What ``ws_authorizer`` returns as context (flattened by API Gateway)."""

    principal_id: str | None = Field(None, alias="principalId")
    user_id: str | None = Field(None, alias="userId")
    tenant_id: str | None = Field(None, alias="tenantId")
    name: str | None = None
    role: str | None = None
    # Behind CloudFront: the viewer's address (the event's sourceIp is CloudFront's).
    client_ip: str | None = Field(None, alias="clientIp")
    # The assistant the connection asked for (``$connect?assistant=``), checked against the tenant's.
    assistant: str | None = None

    def principal(self) -> Principal | None:
        if not self.user_id or not self.tenant_id:
            return None
        role = "operator" if self.role == "operator" else "user"
        return Principal(tenant_id=self.tenant_id, user_id=self.user_id, display_name=self.name or None, role=role)


class Identity(_Model):
    source_ip: str | None = Field(None, alias="sourceIp")
    user_agent: str | None = Field(None, alias="userAgent")


class WsRequestContext(_Model):
    route_key: str = Field(alias="routeKey")
    event_type: str = Field(alias="eventType")
    connection_id: str = Field(alias="connectionId")
    domain_name: str = Field(alias="domainName")
    stage: str
    request_id: str | None = Field(None, alias="requestId")
    identity: Identity = Field(default_factory=Identity)
    authorizer: AuthorizerContext | None = None
    disconnect_status_code: int | None = Field(None, alias="disconnectStatusCode")


class WsEvent(_Model):
    """A ``$connect``, ``$disconnect`` or message event of an API Gateway WebSocket API."""

    request_context: WsRequestContext = Field(alias="requestContext")
    headers: dict[str, str] | None = None
    query_string_parameters: dict[str, str] | None = Field(None, alias="queryStringParameters")
    body: str | None = None
    is_base64_encoded: bool = Field(False, alias="isBase64Encoded")

    def principal(self) -> Principal | None:
        auth = self.request_context.authorizer
        return auth.principal() if auth else None

    def source_ip(self) -> str | None:
        """The client's address: the viewer's behind CloudFront (from the authorizer), else the event's."""
        auth = self.request_context.authorizer
        return (auth.client_ip if auth else None) or self.request_context.identity.source_ip

    def assistant(self) -> str | None:
        """The assistant chosen at ``$connect`` (None: the tenant's default)."""
        auth = self.request_context.authorizer
        return auth.assistant or None if auth else None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in (self.headers or {}).items() if k.lower() == lowered), None)


def management_endpoint(domain_name: str, stage: str) -> str:
    """The API Gateway management endpoint for a WebSocket API stage."""
    return f"https://{domain_name}/{stage}"


def authorizer_policy(principal: Principal, method_arn: str, *, assistant: str | None = None) -> dict[str, Any]:
    """A REQUEST authorizer's Allow response carrying the principal (and the chosen assistant) as context."""
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
            "role": principal.role,
            "assistant": assistant or "",
        },
    }
