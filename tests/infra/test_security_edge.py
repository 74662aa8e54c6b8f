"""Issue 12 in the infrastructure: WAF rate rules per IP in front of both APIs (through CloudFront),
the origin check that keeps requests from going around it, CORS origins per stage, Step Functions
logs without execution data, and no secret values in any function's environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

STAGES = ("dev", "staging", "production")
ORIGIN_HEADER = "X-Luma-Origin-Verify"
SECRET_VALUE_NAMES = {
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LUMA_TWILIO_AUTH_TOKEN",
    "LUMA_SIGNING_SECRET",
    "LUMA_DEV_JWT_SECRET",
}


def _luma_functions(synth: Synth, stage: str) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["FunctionName"]: r["Properties"]
        for r in synth.resources(stage, "AWS::Lambda::Function").values()
        if "FunctionName" in r["Properties"]
    }


def _logical_id(synth: Synth, stage: str, type_: str, **match: Any) -> str:
    resources = synth.resources(stage, type_).items()
    found = [k for k, v in resources if all(v["Properties"].get(a) == b for a, b in match.items())]
    assert len(found) == 1, (type_, match, found)
    return found[0]


# -- finding 5: no provider key (or any secret value) in a function's environment -------------
@pytest.mark.parametrize("stage", STAGES)
def test_no_secret_value_in_any_function_environment(synth: Synth, stage: str) -> None:
    from luma_infra.config import STAGES as CONFIG

    for name, props in _luma_functions(synth, stage).items():
        env = props["Environment"]["Variables"]
        assert not SECRET_VALUE_NAMES & set(env), (name, sorted(SECRET_VALUE_NAMES & set(env)))
        for key, value in env.items():
            assert not (isinstance(value, str) and value.startswith(("sk-", "{{resolve:"))), (name, key)
    for fn in ("agent_turn", "classify"):  # the agent and voice-note transcription read the LLM secret
        assert "llm" in CONFIG[stage].function(fn).secrets
        env = _luma_functions(synth, stage)[f"luma-{stage}-{fn.replace('_', '-')}"]["Environment"]["Variables"]
        assert "LUMA_LLM_SECRET_ARN" in env


# -- finding 7: WAF in front of both APIs ------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_the_edge_stack_holds_a_cloudfront_web_acl_with_rate_rules_per_ip(synth: Synth, stage: str) -> None:
    from luma_infra.config import STAGES as CONFIG

    limits = CONFIG[stage].waf
    edge = synth.stacks[stage].edge_stack
    assert edge.region == "us-east-1", "web ACLs for CloudFront must be created in us-east-1"
    assert edge in synth.stacks[stage].dependencies, "the edge stack deploys first"
    (acl,) = synth.edge_resources(stage, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT" and props["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in props["Rules"]}
    expected = {
        "ConnectsPerIp": limits.connects_per_ip,
        "TwilioPerIp": limits.twilio_per_ip,
        "RequestsPerIp": limits.requests_per_ip,
    }
    for name, limit in expected.items():
        rate = rules[name]["Statement"]["RateBasedStatement"]
        assert rate["AggregateKeyType"] == "IP" and rate["Limit"] == limit, name
        assert rate["EvaluationWindowSec"] == limits.window_s
        assert rules[name]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    # Twilio webhooks have their own budget; every other request counts against the general one.
    general = rules["RequestsPerIp"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    assert (
        general["NotStatement"]["Statement"]
        == rules["TwilioPerIp"]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    )
    for rule in props["Rules"]:  # sampled requests would keep tokens (query strings, headers) in the console
        assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is False
    (param,) = synth.edge_resources(stage, "AWS::SSM::Parameter").values()
    assert param["Properties"]["Name"] == f"/luma-{stage}/edge/web-acl-arn"


@pytest.mark.parametrize("stage", STAGES)
def test_both_apis_are_served_through_cloudfront_with_the_web_acl(synth: Synth, stage: str) -> None:
    template = synth.templates[stage]
    (lookup_id,) = synth.resources(stage, "Custom::AWS")
    lookup = json.loads(synth.resources(stage, "Custom::AWS")[lookup_id]["Properties"]["Create"])
    assert lookup["region"] == "us-east-1" and lookup["parameters"]["Name"] == f"/luma-{stage}/edge/web-acl-arn"
    api_ids = {v["Properties"]["ProtocolType"]: k for k, v in synth.resources(stage, "AWS::ApiGatewayV2::Api").items()}
    distributions = synth.resources(stage, "AWS::CloudFront::Distribution")
    origins_seen = set()
    for logical_id, dist in distributions.items():
        config = dist["Properties"]["DistributionConfig"]
        assert config["WebACLId"] == {"Fn::GetAtt": [lookup_id, "Parameter.Value"]}, logical_id
        behavior = config["DefaultCacheBehavior"]
        assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
        assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        assert "Logging" not in config  # standard logs would record ?token= query strings
        (origin,) = config["Origins"]
        assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
        origins_seen |= {ref["Ref"] for ref in origin["DomainName"]["Fn::Join"][1] if isinstance(ref, dict)}
        (header,) = origin["OriginCustomHeaders"]
        assert header["HeaderName"] == ORIGIN_HEADER
        # A dynamic reference: the value is resolved by CloudFormation, it is not in the template.
        joined = header["HeaderValue"]["Fn::Join"][1]
        assert joined[0] == "{{resolve:secretsmanager:" and joined[-1] == ":SecretString:current::}}"
    assert {api_ids["HTTP"], api_ids["WEBSOCKET"]} <= origins_seen
    outputs = template["Outputs"]
    assert outputs["HttpApiUrl"]["Value"]["Fn::Join"][1][1]["Fn::GetAtt"][0] in distributions
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][1]["Fn::GetAtt"][0] in distributions
    # The lookup reads that one parameter, nothing else.
    policies = [
        st
        for p in synth.resources(stage, "AWS::IAM::Policy").values()
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if "ssm:GetParameter" in json.dumps(st["Action"])
    ]
    assert policies and all("parameter/luma-" in json.dumps(st["Resource"]) for st in policies)


@pytest.mark.parametrize("stage", STAGES)
def test_requests_around_cloudfront_are_refused_by_the_functions(synth: Synth, stage: str) -> None:
    functions = _luma_functions(synth, stage)
    origin_secret = _logical_id(synth, stage, "AWS::SecretsManager::Secret", Name=f"luma-{stage}/origin-verify")
    for fn in ("ws_authorizer", "http_api"):
        env = functions[f"luma-{stage}-{fn.replace('_', '-')}"]["Environment"]["Variables"]
        assert env["LUMA_ORIGIN_VERIFY_SECRET_ARN"] == {"Ref": origin_secret}, fn
    generated = synth.resources(stage, "AWS::SecretsManager::Secret")[origin_secret]["Properties"]
    assert generated["GenerateSecretString"]["GenerateStringKey"] == "current"
    # Twilio signs the URL it calls: the webhook checks signatures against the CloudFront URL.
    env = functions[f"luma-{stage}-http-api"]["Environment"]["Variables"]
    (target,) = [v for v in env["LUMA_TWILIO_PUBLIC_BASE_URL"]["Fn::Join"][1] if isinstance(v, dict)]
    assert target["Fn::GetAtt"][0] in synth.resources(stage, "AWS::CloudFront::Distribution")


# -- finding 9: roles ------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_the_user_pool_has_the_operator_group(synth: Synth, stage: str) -> None:
    from luma.auth import OPERATOR_GROUP

    (group,) = synth.resources(stage, "AWS::Cognito::UserPoolGroup").values()
    assert group["Properties"]["GroupName"] == OPERATOR_GROUP == "operator"


# -- finding 14: CORS origins per stage ------------------------------------------------------
def test_cors_origins_are_exact_and_never_a_wildcard(synth: Synth) -> None:
    from luma_infra.config import STAGES as CONFIG
    from luma_infra.config import StageConfig

    for stage in STAGES:
        for api in synth.resources(stage, "AWS::ApiGatewayV2::Api").values():
            origins = api["Properties"].get("CorsConfiguration", {}).get("AllowOrigins", [])
            assert "*" not in origins, stage
            if api["Properties"]["ProtocolType"] == "HTTP":
                assert origins == list(CONFIG[stage].cors_origins), stage
    assert CONFIG["dev"].cors_origins and all("localhost" in o or "127.0.0.1" in o for o in CONFIG["dev"].cors_origins)
    assert CONFIG["staging"].cors_origins == () and CONFIG["production"].cors_origins == ()
    with pytest.raises(ValueError, match="exact origins"):
        StageConfig(name="staging", cors_origins=("*",))
    with pytest.raises(ValueError, match="exact origins"):
        StageConfig(name="dev", cors_origins=("*",))
    with pytest.raises(ValueError, match="dev stage only"):
        StageConfig(name="production", cors_origins=("http://localhost:8787",))
    assert StageConfig(name="production", cors_origins=("https://app.example.com",)).cors_origins


# -- custom domains now live on CloudFront -----------------------------------------------------
def test_a_custom_domain_needs_a_us_east_1_certificate_and_is_served_by_cloudfront(synth: Synth) -> None:
    from aws_cdk import App
    from aws_cdk.assertions import Match, Template
    from luma_infra.config import STAGES as CONFIG
    from luma_infra.config import CustomDomain
    from luma_infra.stack import LumaStack

    with pytest.raises(ValueError, match="us-east-1"):
        CustomDomain("api.example.com", "ws.example.com", "arn:aws:acm:eu-west-1:123456789012:certificate/abc")
    domain = CustomDomain(
        "api.example.com",
        "ws.example.com",
        "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        hosted_zone_id="Z123",
        hosted_zone_name="example.com",
    )
    import dataclasses

    stage = dataclasses.replace(CONFIG["staging"], name="custom", custom_domain=domain)
    template = Template.from_stack(LumaStack(App(), "Luma-custom", stage=stage, sources=synth.sources))
    for name in ("api.example.com", "ws.example.com"):
        template.has_resource_properties(
            "AWS::CloudFront::Distribution",
            {
                "DistributionConfig": Match.object_like(
                    {
                        "Aliases": [name],
                        "ViewerCertificate": Match.object_like({"MinimumProtocolVersion": "TLSv1.2_2021"}),
                    }
                )
            },
        )
    template.resource_count_is("AWS::Route53::RecordSet", 4)  # A and AAAA for each name
    template.resource_count_is("AWS::ApiGatewayV2::DomainName", 0)  # no regional domain to go around WAF
