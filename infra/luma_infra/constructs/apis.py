"""Ingress: the WebSocket API (web and mobile chat) and the HTTP API (REST + Twilio webhooks).

Clients reach both through CloudFront with an AWS WAF web ACL (:mod:`luma_infra.constructs.edge`):
WAF cannot be attached to HTTP or WebSocket APIs. The APIs' own endpoints stay enabled (CloudFront's
origin, and the ``@connections`` management endpoint), so requests that go around CloudFront are
refused by the code: the authorizer (``$connect``) and the HTTP app check the origin-verify header
CloudFront adds; on ``$connect`` API Gateway already answers 401 when the header is missing.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.functions import Functions, LumaFunction, stage_log_group
from luma_infra.constructs.identity import UserPool
from luma_infra.nag import acknowledge

# The functions each API needs; an API is built once all of them have landed.
WEBSOCKET_FUNCTIONS = ("ws_authorizer", "ws_connect", "ws_disconnect", "classify")
HTTP_FUNCTIONS = ("http_api",)
# Routes of the HTTP API that carry no Cognito JWT (everything else does, through /{proxy+}).
PUBLIC_HTTP_ROUTES = (
    ("GET", "/health", "Load balancer / uptime checks: no caller identity, no data."),
    ("GET", "/status", "Public service status page: no caller identity, no data."),
    ("POST", "/twilio/whatsapp", "Twilio webhook: authenticated by the X-Twilio-Signature HMAC in the function."),
    ("POST", "/twilio/sms", "Twilio webhook: authenticated by the X-Twilio-Signature HMAC in the function."),
    (
        "POST",
        "/events",
        "Client telemetry, also from signed-out pages: a token is optional and verified by the function; "
        "bodies over 16 KB are ignored unread, nothing is stored but a metric.",
    ),
)
WS_ROUTE_SELECTION = "$request.body.action"
_COMMON_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "ip": "$context.identity.sourceIp",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}
WS_ACCESS_LOG_FIELDS = {
    **_COMMON_LOG_FIELDS,
    "eventType": "$context.eventType",
    "connectionId": "$context.connectionId",
    "authorizerError": "$context.authorizer.error",
}
HTTP_ACCESS_LOG_FIELDS = {
    **_COMMON_LOG_FIELDS,
    "method": "$context.httpMethod",
    "path": "$context.path",
    "responseLength": "$context.responseLength",
    "latency": "$context.responseLatency",
    "userAgent": "$context.identity.userAgent",
}
WS_TOKEN_SOURCE = "route.request.querystring.token"
# The header CloudFront adds to every origin request (luma.secrets.ORIGIN_VERIFY_HEADER).
ORIGIN_VERIFY_HEADER = "X-Luma-Origin-Verify"
WS_ORIGIN_SOURCE = f"route.request.header.{ORIGIN_VERIFY_HEADER}"


def _access_logs(scope: Construct, construct_id: str, stage: StageConfig, name: str) -> logs.LogGroup:
    return stage_log_group(scope, construct_id, stage, f"/aws/apigateway/{stage.prefix(name)}")


class ApiGatewayAccount(Construct):
    """API Gateway's account-wide CloudWatch Logs role (WebSocket stages need it for logging)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        acknowledge(
            role,
            "IAM4",
            "API Gateway's account-level logging role: AmazonAPIGatewayPushToCloudWatchLogs is the "
            "AWS-maintained policy for exactly this service role (API Gateway names its own log groups).",
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        )
        self.account = apigw_v1.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)


class WebSocketApi(Construct):
    """$connect (Lambda REQUEST authorizer on ?token=), $disconnect, $default (classify), and the
    route keys each function declares (``FunctionSpec.ws_routes``: sendMessage, approve, operator routes)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        functions: Functions,
        account: ApiGatewayAccount,
    ) -> None:
        super().__init__(scope, construct_id)
        fns = functions.by_name

        def integration(name: str, fn: LumaFunction) -> integrations.WebSocketLambdaIntegration:
            return integrations.WebSocketLambdaIntegration(name, fn.target)

        authorizer = authorizers.WebSocketLambdaAuthorizer(
            "TokenAuthorizer",
            fns["ws_authorizer"].target,
            identity_source=[WS_TOKEN_SOURCE, WS_ORIGIN_SOURCE],
        )
        self.api = apigw.WebSocketApi(
            self,
            "Api",
            api_name=stage.prefix("ws"),
            description=f"Luma {stage.name}: chat over WebSocket (docs/protocol.md)",
            route_selection_expression=WS_ROUTE_SELECTION,
            connect_route_options=apigw.WebSocketRouteOptions(
                integration=integration("Connect", fns["ws_connect"]), authorizer=authorizer
            ),
            disconnect_route_options=apigw.WebSocketRouteOptions(
                integration=integration("Disconnect", fns["ws_disconnect"])
            ),
            default_route_options=apigw.WebSocketRouteOptions(
                integration=integration("DefaultRouteIntegration", fns["classify"])
            ),
        )
        # Every other route by convention: FunctionSpec.ws_routes (the frame's "action").
        self.routes: dict[str, str] = {}
        for name, fn in sorted(fns.items()):
            for key in fn.spec.ws_routes:
                if key.startswith("$") or key in self.routes:
                    raise ValueError(f"WebSocket route {key!r} of {name}: reserved, or also {self.routes.get(key)}'s")
                self.routes[key] = name
                self.api.add_route(key, integration=integration(key[:1].upper() + key[1:], fn))
        for route in ("$disconnect", "$default", *self.routes):
            acknowledge(
                self.api.node.find_child(f"{route}-Route"),
                "APIG4",
                "WebSocket APIs authorize only on $connect (the Lambda authorizer on ?token=); every "
                "later frame travels on that authenticated connection and carries its identity in "
                "requestContext.authorizer (operator routes check the operator role in the function).",
            )

        access_logs = _access_logs(self, "AccessLogs", stage, "ws")
        self.stage = apigw.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=stage.api_stage_name,
            auto_deploy=True,
            access_log_settings=AccessLogs(access_logs, WS_ACCESS_LOG_FIELDS),
            throttle=apigw.ThrottleSettings(rate_limit=stage.api_throttle_rate, burst_limit=stage.api_throttle_burst),
        )
        self.stage.node.add_dependency(account)
        functions.wire_websocket(self.api.api_id, self.stage.stage_name)


class HttpApi(Construct):
    """Cognito JWT on everything (``ANY /{proxy+}``) except the public routes above."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        functions: Functions,
        users: UserPool,
    ) -> None:
        super().__init__(scope, construct_id)
        handler = functions.by_name["http_api"].target
        cors = None
        if stage.cors_origins:
            cors = apigw.CorsPreflightOptions(
                allow_origins=list(stage.cors_origins),
                allow_methods=[apigw.CorsHttpMethod.ANY],
                allow_headers=["authorization", "content-type", "idempotency-key"],
            )
        jwt = authorizers.HttpJwtAuthorizer(
            "CognitoJwt",
            users.issuer,
            jwt_audience=[users.client.user_pool_client_id],
            identity_source=["$request.header.Authorization"],
        )
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=stage.prefix("http"),
            description=f"Luma {stage.name}: REST API and Twilio webhooks",
            create_default_stage=False,
            default_authorizer=jwt,
            cors_preflight=cors,
        )
        integration = integrations.HttpLambdaIntegration("HttpApi", handler)
        for method, path, reason in PUBLIC_HTTP_ROUTES:
            (route,) = self.api.add_routes(
                path=path,
                methods=[apigw.HttpMethod(method)],
                integration=integration,
                authorizer=apigw.HttpNoneAuthorizer(),
            )
            acknowledge(route, "APIG4", reason)
        self.api.add_routes(path="/{proxy+}", methods=[apigw.HttpMethod.ANY], integration=integration)

        access_logs = _access_logs(self, "AccessLogs", stage, "http")
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=AccessLogs(access_logs, HTTP_ACCESS_LOG_FIELDS),
            throttle=apigw.ThrottleSettings(rate_limit=stage.api_throttle_rate, burst_limit=stage.api_throttle_burst),
        )


@jsii.implements(apigw.IAccessLogSettings)
class AccessLogs:
    """One JSON line per request into a log group (no bodies, no tokens: query strings are not logged)."""

    def __init__(self, log_group: logs.ILogGroup, fields: dict[str, str]) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)
        self._format = apigw_v1.AccessLogFormat.custom(json.dumps(fields, separators=(",", ":")))

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format
