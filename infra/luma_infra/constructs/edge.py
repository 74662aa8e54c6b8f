"""The edge: CloudFront distributions with an AWS WAF web ACL in front of both APIs.

AWS WAF attaches to CloudFront, REST APIs, ALBs, AppSync, Cognito, App Runner, Amplify and Verified
Access, but not to API Gateway HTTP or WebSocket APIs. So each stage gets:

* :class:`EdgeStack` (``Luma-<stage>-edge``, always in us-east-1, where web ACLs for CloudFront must
  live): the web ACL with its rate rules per client IP, and its ARN in an SSM parameter there.
* :class:`Edge` (in the stage's stack, any region): reads that ARN (an SDK call to us-east-1 at
  deploy time) and puts one distribution in front of each API, with the web ACL, no caching, every
  viewer header but ``Host`` forwarded, and a secret origin header (``X-Luma-Origin-Verify``, from the
  generated ``origin_verify`` secret) without which the functions refuse a request. The APIs' own
  endpoints stay enabled: they are the distributions' origins and the ``@connections`` endpoint.

WAF sees the viewer's address (per-IP rules work); behind CloudFront the functions read it from
``CloudFront-Viewer-Address``. Sampled requests are off: they would keep ``?token=`` query strings
and Authorization headers for hours in the console.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.apis import ORIGIN_VERIFY_HEADER, HttpApi, WebSocketApi
from luma_infra.constructs.functions import Functions, stage_log_group
from luma_infra.nag import acknowledge

EDGE_REGION = "us-east-1"
TWILIO_PATH = "/twilio/"
RATE_LIMITED_BODY = "rate-limited"
PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}


def web_acl_parameter(stage: StageConfig) -> str:
    """The SSM parameter (in us-east-1) that holds the stage's web ACL ARN."""
    return f"/{stage.prefix()}/edge/web-acl-arn"


def _visibility(name: str) -> dict[str, Any]:
    return {"cloudWatchMetricsEnabled": True, "metricName": name, "sampledRequestsEnabled": False}


def _starts_with_twilio() -> dict[str, Any]:
    return {
        "byteMatchStatement": {
            "fieldToMatch": {"uriPath": {}},
            "positionalConstraint": "STARTS_WITH",
            "searchString": TWILIO_PATH,
            "textTransformations": [{"priority": 0, "type": "NONE"}],
        }
    }


def _rate_rule(name: str, priority: int, limit: int, window_s: int, scope_down: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "priority": priority,
        "statement": {
            "rateBasedStatement": {
                "limit": limit,
                "aggregateKeyType": "IP",
                "evaluationWindowSec": window_s,
                "scopeDownStatement": scope_down,
            }
        },
        "action": {
            "block": {
                "customResponse": {
                    "responseCode": 429,
                    "customResponseBodyKey": RATE_LIMITED_BODY,
                    "responseHeaders": [{"name": "retry-after", "value": str(window_s)}],
                }
            }
        },
        "visibilityConfig": _visibility(name),
    }


def web_acl_rules(stage: StageConfig) -> list[dict[str, Any]]:
    """AWS's IP reputation list, then rate limits per client IP: WebSocket handshakes, Twilio webhooks
    (a few addresses send them all), and everything else."""
    waf = stage.waf
    not_twilio = {"notStatement": {"statement": _starts_with_twilio()}}
    websocket_upgrade = {
        "byteMatchStatement": {
            "fieldToMatch": {"singleHeader": {"Name": "upgrade"}},  # a JSON value: CloudFormation casing
            "positionalConstraint": "CONTAINS",
            "searchString": "websocket",
            "textTransformations": [{"priority": 0, "type": "LOWERCASE"}],
        }
    }
    return [
        {
            "name": "AmazonIpReputation",
            "priority": 0,
            "statement": {
                "managedRuleGroupStatement": {"vendorName": "AWS", "name": "AWSManagedRulesAmazonIpReputationList"}
            },
            "overrideAction": {"none": {}},
            "visibilityConfig": _visibility("AmazonIpReputation"),
        },
        _rate_rule("ConnectsPerIp", 1, waf.connects_per_ip, waf.window_s, websocket_upgrade),
        _rate_rule("TwilioPerIp", 2, waf.twilio_per_ip, waf.window_s, _starts_with_twilio()),
        _rate_rule("RequestsPerIp", 3, waf.requests_per_ip, waf.window_s, not_twilio),
    ]


class EdgeStack(Stack):
    """The stage's WAF web ACL for CloudFront, in us-east-1 (CloudFront-scoped ACLs must be there)."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "luma")
        Tags.of(self).add("stage", stage.name)
        body = {"code": "RATE_LIMITED", "message": "Too many requests from your network. Please wait a moment."}
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=stage.prefix("edge"),
            description=f"Luma {stage.name}: rate limits per client IP in front of the HTTP and WebSocket APIs",
            scope="CLOUDFRONT",
            default_action={"allow": {}},
            custom_response_bodies={
                RATE_LIMITED_BODY: {"contentType": "APPLICATION_JSON", "content": json.dumps(body)},
            },
            rules=web_acl_rules(stage),
            visibility_config=_visibility(stage.prefix("edge")),
        )
        ssm.StringParameter(
            self,
            "WebAclArn",
            parameter_name=web_acl_parameter(stage),
            string_value=self.web_acl.attr_arn,
            description=f"Luma {stage.name}: ARN of the CloudFront web ACL (read by {stage.stack_name})",
        )
        CfnOutput(self, "WebAclArnOutput", value=self.web_acl.attr_arn)


class Edge(Construct):
    """One CloudFront distribution per API, behind the stage's web ACL, with the origin-verify header."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        functions: Functions,
        origin_secret: secretsmanager.ISecret,
        http_api: HttpApi | None,
        ws_api: WebSocketApi | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        parameter = web_acl_parameter(stage)
        parameter_arn = stack.format_arn(
            service="ssm", region=EDGE_REGION, resource="parameter", resource_name=parameter.lstrip("/")
        )
        read = cr.AwsSdkCall(
            service="SSM",
            action="getParameter",
            parameters={"Name": parameter},
            region=EDGE_REGION,
            physical_resource_id=cr.PhysicalResourceId.of(parameter),
        )
        lookup = cr.AwsCustomResource(
            self,
            "WebAclLookup",
            on_create=read,
            on_update=read,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameter_arn])]
            ),
            install_latest_aws_sdk=False,
            log_group=stage_log_group(self, "WebAclLookupLogs", stage, f"/aws/lambda/{stage.prefix('edge-lookup')}"),
        )
        self.web_acl_arn = lookup.get_response_field("Parameter.Value")
        _acknowledge_custom_resource_provider(stack)

        # A CloudFormation dynamic reference: the value is resolved at deploy time, never in the template.
        origin_value = origin_secret.secret_value_from_json("current").unsafe_unwrap()
        custom = stage.custom_domain
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", custom.certificate_arn) if custom else None
        )
        self.http: cloudfront.Distribution | None = None
        self.ws: cloudfront.Distribution | None = None
        if http_api is not None:
            self.http = self._distribution(
                "Http",
                stage,
                http_api.api.api_id,
                origin_value,
                certificate,
                custom.http_domain if custom else None,
                methods=cloudfront.AllowedMethods.ALLOW_ALL,
                response_headers=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
            )
            self.http_url = f"https://{custom.http_domain if custom else self.http.distribution_domain_name}"
            # Twilio signs the URL it calls: the public one, not the API's own.
            functions.by_name["http_api"].function.add_environment("LUMA_TWILIO_PUBLIC_BASE_URL", self.http_url)
        if ws_api is not None:
            self.ws = self._distribution(
                "WebSocket",
                stage,
                ws_api.api.api_id,
                origin_value,
                certificate,
                custom.ws_domain if custom else None,
                methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                response_headers=None,
            )
            domain = custom.ws_domain if custom else self.ws.distribution_domain_name
            self.ws_url = f"wss://{domain}/{ws_api.stage.stage_name}"

    def _distribution(
        self,
        name: str,
        stage: StageConfig,
        api_id: str,
        origin_value: str,
        certificate: acm.ICertificate | None,
        domain: str | None,
        *,
        methods: cloudfront.AllowedMethods,
        response_headers: cloudfront.IResponseHeadersPolicy | None,
    ) -> cloudfront.Distribution:
        origin = origins.HttpOrigin(
            f"{api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={ORIGIN_VERIFY_HEADER: origin_value},
            read_timeout=Duration.seconds(30),
        )
        distribution = cloudfront.Distribution(
            self,
            f"{name}Distribution",
            comment=f"Luma {stage.name} {name} API behind WAF",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                allowed_methods=methods,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                # Every viewer header (Authorization, Sec-WebSocket-*, Origin) and query string
                # (?token=), plus CloudFront's own (CloudFront-Viewer-Address); Host is the origin's.
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy=response_headers,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                compress=False,
            ),
            web_acl_id=self.web_acl_arn,
            price_class=PRICE_CLASSES[stage.cloudfront_price_class],
            domain_names=[domain] if domain else None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            enable_logging=False,
        )
        acknowledge(
            distribution,
            "CFR3",
            "No CloudFront standard logs: they would record every ?token= query string (the WebSocket "
            "handshake's bearer token). API Gateway's access logs (no query strings) and WAF's metrics "
            "per rule cover each request.",
        )
        acknowledge(
            distribution,
            "CFR1",
            "Patients and field workers connect from wherever they are: no country is refused at the "
            "edge; abuse is limited per client IP by the web ACL's rate rules.",
        )
        if certificate is None:
            acknowledge(
                distribution,
                "CFR4",
                "Without a custom domain the distribution uses the *.cloudfront.net certificate, whose "
                "minimum TLS version CloudFront fixes; with custom_domain it is TLSv1.2_2021.",
            )
        if domain and stage.custom_domain and stage.custom_domain.hosted_zone_id:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self,
                f"{name}Zone",
                hosted_zone_id=stage.custom_domain.hosted_zone_id,
                zone_name=stage.custom_domain.hosted_zone_name or domain.split(".", 1)[1],
            )
            target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(distribution))
            route53.ARecord(self, f"{name}Alias", zone=zone, record_name=domain, target=target)
            route53.AaaaRecord(self, f"{name}AliasV6", zone=zone, record_name=domain, target=target)
        return distribution


def _acknowledge_custom_resource_provider(stack: Stack) -> None:
    """The AwsCustomResource provider function CDK adds once per stack."""
    provider = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
    if provider is None:
        return
    acknowledge(
        provider,
        "IAM4",
        "CDK's AwsCustomResource provider (reads the web ACL ARN from us-east-1 at deploy time) runs "
        "with AWSLambdaBasicExecutionRole: it only writes its own logs.",
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )
    acknowledge(
        provider,
        "L1",
        "CDK's AwsCustomResource provider: its Node.js runtime is chosen by aws-cdk-lib and moves "
        "with CDK upgrades; it runs only during deployments.",
    )
