"""Assertions on the synthesized stacks: data, functions and IAM, APIs, orchestration, ops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def staging(synth: Synth) -> Any:
    return synth.template("staging")


@pytest.fixture(scope="module")
def production(synth: Synth) -> Any:
    return synth.template("production")


def _fn(synth: Synth, stage: str, name: str) -> tuple[str, dict[str, Any]]:
    physical = f"luma-{stage}-{name.replace('_', '-')}"
    for logical_id, resource in synth.resources(stage, "AWS::Lambda::Function").items():
        if resource["Properties"].get("FunctionName") == physical:
            return logical_id, resource["Properties"]
    raise AssertionError(f"{physical} not in the {stage} template")


def _role_statements(synth: Synth, stage: str, function_logical_id: str) -> list[dict[str, Any]]:
    """Every IAM statement attached to a function's role (default policy + separate policies)."""
    fn = synth.templates[stage]["Resources"][function_logical_id]
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for resource in synth.resources(stage, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    role = synth.templates[stage]["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role, "function roles use no AWS-managed policies"
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _refs(value: Any) -> set[str]:
    """Logical ids referenced anywhere in a template value."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for v in value.values():
            found |= _refs(v)
    elif isinstance(value, list):
        for v in value:
            found |= _refs(v)
    return found


def _table_ids(synth: Synth, stage: str) -> dict[str, str]:
    """Core tables by name, pack tables by ``<pack>.<table>``."""
    return synth.table_ids(stage)


def _grants(synth: Synth, stage: str, name: str) -> dict[str, set[str]]:
    """Resource (flattened: ``<LogicalId>/index/by_user``, ...) -> the actions a function's role has on it."""
    logical_id, _ = _fn(synth, stage, name)
    found: dict[str, set[str]] = {}
    for st in _role_statements(synth, stage, logical_id):
        for resource in _as_list(st["Resource"]):
            found.setdefault(_flat(resource), set()).update(_as_list(st["Action"]))
    return found


def _flat(value: Any) -> str:
    """A template value as text: Refs and GetAtts as <Id> / <Id.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if "Fn::Join" in value:
            return value["Fn::Join"][0].join(_flat(v) for v in value["Fn::Join"][1])
    return json.dumps(value)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def test_tables_are_on_demand_pitr_kms_encrypted(synth: Synth, staging: Any) -> None:
    from aws_cdk.assertions import Match

    assert len(synth.resources("staging", "AWS::DynamoDB::Table")) == 3 + len(synth.pack_table_keys("staging"))
    staging.all_resources_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        },
    )
    staging.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_conversations_stream_and_ttls(synth: Synth) -> None:
    tables = {
        k: synth.templates["staging"]["Resources"][v]["Properties"] for k, v in _table_ids(synth, "staging").items()
    }
    assert tables["conversations"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    for name in ("connections", "conversations", "usage", *synth.pack_table_keys("staging")):
        assert tables[name]["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    for key in synth.pack_table_keys("staging"):
        assert "StreamSpecification" not in tables[key] and "GlobalSecondaryIndexes" not in tables[key]
        assert [k["AttributeName"] for k in tables[key]["KeySchema"]] == ["pk", "sk"]
    for name in ("connections", "conversations"):
        (gsi,) = tables[name]["GlobalSecondaryIndexes"]
        assert gsi["IndexName"] == "by_user"
        assert gsi["KeySchema"] == [
            {"AttributeName": "gsi1pk", "KeyType": "HASH"},
            {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
        ]


def test_production_data_is_retained_and_protected(synth: Synth) -> None:
    for stage, protected in (("production", True), ("staging", False)):
        for resource in synth.resources(stage, "AWS::DynamoDB::Table").values():
            assert resource["Properties"].get("DeletionProtectionEnabled", False) is protected
            assert resource["DeletionPolicy"] == ("Retain" if protected else "Delete")
        (key,) = synth.resources(stage, "AWS::KMS::Key").values()
        assert key["DeletionPolicy"] == ("Retain" if protected else "Delete")


# ---------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------
def test_every_function_has_the_platform_settings(synth: Synth) -> None:
    for stage in synth.templates:
        for props in synth.resources(stage, "AWS::Lambda::Function").values():
            if "FunctionName" not in props["Properties"]:
                continue  # CDK's own custom-resource provider (the edge's web ACL lookup)
            env = props["Properties"]["Environment"]["Variables"]
            name = props["Properties"]["FunctionName"]
            assert props["Properties"]["Runtime"] == "python3.12", name
            assert props["Properties"]["Architectures"] == ["arm64"], name
            assert props["Properties"]["TracingConfig"] == {"Mode": "Active"}, name
            assert len(props["Properties"]["Layers"]) == 2, name
            assert env["LUMA_ENV"] == "aws"
            assert env["LUMA_AUTH_MODE"] == "cognito"
            assert "LUMA_COGNITO_JWKS_URL" in env and "LUMA_JWT_ISSUER" in env
            # Powertools adds the service dimension from this variable: the dashboard depends on it.
            assert env["POWERTOOLS_SERVICE_NAME"] == "luma"
            assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Luma"
            assert env["POWERTOOLS_LOG_LEVEL"] in {"DEBUG", "INFO"}
            for key, value in env.items():  # secrets travel as ARNs, never as values
                if any(word in key for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")):
                    assert key.endswith("_SECRET_ARN") and isinstance(value, dict), key


def test_function_settings_come_from_config(synth: Synth) -> None:
    from luma_infra.config import STAGES

    for stage in ("staging", "production"):
        config = STAGES[stage]
        for name in synth.sources.functions:
            spec = config.function(name)
            _, props = _fn(synth, stage, name)
            assert props["MemorySize"] == spec.memory_mb, name
            assert props["Timeout"] == spec.timeout_s, name
            assert props.get("ReservedConcurrentExecutions") == spec.reserved_concurrency, name
    assert _fn(synth, "production", "classify")[1]["ReservedConcurrentExecutions"] == 200


def test_each_function_reaches_only_its_tables(synth: Synth) -> None:
    from luma_infra.config import PACKS, STAGES

    tables = _table_ids(synth, "staging")
    packs = synth.pack_table_keys("staging")
    assert packs, "the installed packs declare tables"
    for name in synth.sources.functions:
        spec = STAGES["staging"].function(name)
        logical_id, _ = _fn(synth, "staging", name)
        statements = _role_statements(synth, "staging", logical_id)
        touched: dict[str, set[str]] = {}
        for st in statements:
            for table, table_id in tables.items():
                if table_id in _refs(st["Resource"]) and any(a.startswith("dynamodb:") for a in _as_list(st["Action"])):
                    touched.setdefault(table, set()).update(_as_list(st["Action"]))
        expected = set(spec.tables) - {PACKS} | ({spec.stream.table} if spec.stream else set())
        expected |= packs if PACKS in spec.tables else set()
        assert set(touched) == expected, name
        for table, actions in touched.items():
            assert "dynamodb:*" not in actions, (name, table)
            assert ("dynamodb:Scan" in actions) == (table in spec.scans), (name, table)
            access = spec.tables.get(PACKS if table in packs else table)
            writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & actions
            assert bool(writes) == (access == "rw"), (name, table, sorted(actions))


def test_scans_are_granted_on_tables_only_and_to_erasure_only(synth: Synth) -> None:
    tables = _table_ids(synth, "staging")
    for name in synth.sources.functions:
        scanned = {r for r, actions in _grants(synth, "staging", name).items() if "dynamodb:Scan" in actions}
        if name != "erasure":
            assert not scanned, name
            continue
        assert scanned == {f"<{tables['connections']}.Arn>", f"<{tables['usage']}.Arn>"}, scanned


def test_connection_lookups_may_query_the_by_user_index(synth: Synth) -> None:
    """A run's later frames go to the user's newest connection: a Query on the by_user GSI."""
    connections = _table_ids(synth, "staging")["connections"]
    for name in ("classify", "fast_path", "agent_turn", "agent_tool", "agent_approval", "agent_failure"):
        grants = _grants(synth, "staging", name)
        assert "dynamodb:Query" in grants.get(f"<{connections}.Arn>/index/by_user", set()), name


def test_no_wildcards_beyond_xray(synth: Synth) -> None:
    for name in synth.sources.functions:
        logical_id, _ = _fn(synth, "staging", name)
        for st in _role_statements(synth, "staging", logical_id):
            actions = _as_list(st["Action"])
            assert not any(a.endswith(":*") or a == "*" for a in actions), (name, actions)
            if "*" in _as_list(st["Resource"]):
                assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, (name, actions)


def test_unconfigured_function_gets_defaults_and_no_permissions() -> None:
    from luma_infra.config import DEFAULT_FUNCTION, STAGES

    spec = STAGES["staging"].function("some_future_function")
    assert spec == DEFAULT_FUNCTION
    assert not spec.tables and not spec.invokes and not spec.secrets and not spec.manage_connections


def test_manage_connections_is_scoped_to_the_websocket_stage(synth: Synth) -> None:
    (api_id,) = [
        k
        for k, v in synth.resources("staging", "AWS::ApiGatewayV2::Api").items()
        if v["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]
    from luma_infra.config import STAGES

    for name in synth.sources.functions:
        logical_id, props = _fn(synth, "staging", name)
        grants = [
            st
            for st in _role_statements(synth, "staging", logical_id)
            if "execute-api:ManageConnections" in _as_list(st["Action"])
        ]
        if not STAGES["staging"].function(name).manage_connections:
            assert not grants, name
            continue
        (grant,) = grants
        resource = json.dumps(grant["Resource"])
        assert api_id in resource and "/v1/POST/@connections/*" in resource, resource
        assert "LUMA_WS_MANAGEMENT_ENDPOINT" in props["Environment"]["Variables"]


def test_classify_invokes_fast_path_asynchronously(synth: Synth) -> None:
    logical_id, props = _fn(synth, "staging", "classify")
    fast_path_id, _ = _fn(synth, "staging", "fast_path")
    assert props["Environment"]["Variables"]["LUMA_FAST_PATH_FUNCTION"] == {"Ref": fast_path_id}  # its name
    invokes = [
        st for st in _role_statements(synth, "staging", logical_id) if "lambda:InvokeFunction" in _as_list(st["Action"])
    ]
    assert invokes and all(_refs(st["Resource"]) == {fast_path_id} for st in invokes)
    # The fast path's async invocations end in a DLQ after their retries.
    configs = [
        c["Properties"]
        for c in synth.resources("staging", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": fast_path_id}
    ]
    assert configs and "OnFailure" in configs[0]["DestinationConfig"]


def test_secrets_are_read_through_arns(synth: Synth) -> None:
    logical_id, props = _fn(synth, "staging", "http_api")
    env = props["Environment"]["Variables"]
    for name in ("TWILIO", "SIGNING", "ORIGIN_VERIFY"):
        assert f"LUMA_{name}_SECRET_ARN" in env, name
    assert "LUMA_LLM_SECRET_ARN" not in env
    reads = [
        st
        for st in _role_statements(synth, "staging", logical_id)
        if "secretsmanager:GetSecretValue" in _as_list(st["Action"])
    ]
    assert sum(len(_as_list(st["Resource"])) for st in reads) == 3


def test_agent_turn_uses_snapstart_through_an_alias(synth: Synth) -> None:
    logical_id, props = _fn(synth, "staging", "agent_turn")
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    aliases = [a["Properties"] for a in synth.resources("staging", "AWS::Lambda::Alias").values()]
    assert any(a["Name"] == "live" and a["FunctionName"] == {"Ref": logical_id} for a in aliases)


def test_stream_consumers_have_a_dlq_and_filters(synth: Synth) -> None:
    from luma_infra.config import STAGES

    mappings = [
        m["Properties"]
        for m in synth.resources("staging", "AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    consumers = [n for n in synth.sources.functions if STAGES["staging"].function(n).stream]
    assert len(mappings) == len(consumers) >= 3, "every stream consumer is wired"
    for name in consumers:
        stream = STAGES["staging"].function(name).stream
        logical_id, _ = _fn(synth, "staging", name)
        (m,) = [m for m in mappings if logical_id in _refs(m["FunctionName"])]
        assert m["StartingPosition"] == "LATEST"
        assert m["BisectBatchOnFunctionError"] is stream.bisect_batch_on_error
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert m["MaximumRetryAttempts"] == stream.retry_attempts
        assert m["MaximumRecordAgeInSeconds"] == stream.max_record_age_s
        assert m.get("MaximumBatchingWindowInSeconds", 0) == stream.max_batching_window_s
        assert "OnFailure" in m["DestinationConfig"]
        assert [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]] == [dict(f) for f in stream.filters]


def test_a_stream_spec_can_turn_bisection_off() -> None:
    from luma_infra.config import StreamSpec

    assert StreamSpec(table="conversations").bisect_batch_on_error is True
    assert StreamSpec(table="conversations", bisect_batch_on_error=False).bisect_batch_on_error is False


def test_stream_dlqs_alarm_long_before_their_records_expire(synth: Synth) -> None:
    from luma_infra.config import STREAM_RETENTION_S, AlarmThresholds

    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.resources("staging", "AWS::CloudWatch::Alarm").values()
    }
    queues = {q["Properties"]["QueueName"]: k for k, q in synth.resources("staging", "AWS::SQS::Queue").items()}
    stream_queues = {name: k for name, k in queues.items() if name.endswith("-stream-dlq")}
    assert len(stream_queues) >= 3
    for queue_name, queue_id in stream_queues.items():
        function = queue_name.removeprefix("luma-staging-").removesuffix("-stream-dlq").replace("-", "_")
        camel = "".join(p.capitalize() for p in function.split("_"))
        alarm = alarms[f"luma-staging {camel}StreamDlqAge"]
        assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage" and alarm["Namespace"] == "AWS/SQS"
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
        assert alarm["Threshold"] <= STREAM_RETENTION_S / 4, "hours left to redrive before the stream drops them"
        assert alarm["AlarmActions"]
    for name in alarms:  # async DLQs: depth only (their events are kept in the message itself)
        assert not (name.endswith("AsyncDlqAge")), name
    with pytest.raises(ValueError):
        AlarmThresholds(stream_dlq_age_s=STREAM_RETENTION_S)


def test_dlq_operators_get_one_managed_policy(synth: Synth) -> None:
    resources = synth.templates["staging"]["Resources"]
    (policy_id, policy) = next(
        (k, v["Properties"])
        for k, v in synth.resources("staging", "AWS::IAM::ManagedPolicy").items()
        if v["Properties"].get("ManagedPolicyName") == "luma-staging-dlq-operator"
    )
    assert not policy.get("Roles") and not policy.get("Users") and not policy.get("Groups"), "the deployer attaches it"
    statements = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
    assert statements["FindQueuesByName"]["Action"] == "sqs:ListQueues"
    queue_ids = {
        k
        for k, q in synth.resources("staging", "AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"].endswith(("-dlq", "-dlq.fifo"))
    }
    dlq = statements["DeadLetterQueues"]
    assert _refs(dlq["Resource"]) == queue_ids
    assert set(dlq["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    conversations = synth.table_ids("staging")["conversations"]
    stream = statements["RereadFailedStreamBatches"]
    assert _refs(stream["Resource"]) == {conversations} and "StreamArn" in json.dumps(stream["Resource"])
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator"} <= set(stream["Action"])
    assert statements["DecryptStreamRecords"]["Condition"]["StringEquals"]["kms:ViaService"]
    invoked = _refs(statements["RedriveToTheirFunctions"]["Resource"])
    with_dlqs = {
        _fn(synth, "staging", name)[0]
        for name in ("classify", "fast_path", "erasure", "memory_extract", "session_report", "escalations")
    }
    assert with_dlqs <= invoked, sorted(with_dlqs - invoked)
    assert invoked <= {k for k in resources if resources[k]["Type"] in ("AWS::Lambda::Function", "AWS::Lambda::Alias")}
    (fifo_dlq,) = [k for k in queue_ids if resources[k]["Properties"].get("FifoQueue")]
    assert _refs(statements["MoveFifoDeadLettersBack"]["Resource"]) == {fifo_dlq}
    assert statements["IntoTheirQueues"]["Action"] == "sqs:SendMessage"
    outputs = synth.templates["staging"]["Outputs"]
    assert outputs["DlqOperatorPolicyArn"]["Value"] == {"Ref": policy_id}


# ---------------------------------------------------------------------------------------------
# APIs
# ---------------------------------------------------------------------------------------------
def test_websocket_api_routes_and_authorizer(synth: Synth, staging: Any) -> None:
    staging.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"}
    )
    staging.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "REQUEST",
            # API Gateway answers 401 itself when either is missing (a handshake that went around CloudFront).
            "IdentitySource": ["route.request.querystring.token", "route.request.header.X-Luma-Origin-Verify"],
        },
    )
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("staging", "AWS::ApiGatewayV2::Route").values()
    }
    for key in ("$connect", "$disconnect", "$default", "sendMessage"):
        assert key in routes, key
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    stages = [s["Properties"] for s in synth.resources("staging", "AWS::ApiGatewayV2::Stage").values()]
    assert all("AccessLogSettings" in s for s in stages)
    assert {s["StageName"] for s in stages} == {"v1", "$default"}


def test_http_api_jwt_except_public_routes(synth: Synth) -> None:
    authorizers = [a["Properties"] for a in synth.resources("staging", "AWS::ApiGatewayV2::Authorizer").values()]
    (jwt,) = [a for a in authorizers if a["AuthorizerType"] == "JWT"]
    (pool_id,) = synth.resources("staging", "AWS::Cognito::UserPool")
    assert _refs(jwt["JwtConfiguration"]["Issuer"]) == {pool_id}
    (client_id,) = synth.resources("staging", "AWS::Cognito::UserPoolClient")
    assert jwt["JwtConfiguration"]["Audience"] == [{"Ref": client_id}]
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("staging", "AWS::ApiGatewayV2::Route").values()
    }
    for key in ("GET /health", "GET /status", "POST /twilio/whatsapp", "POST /twilio/sms", "POST /events"):
        assert routes[key]["AuthorizationType"] == "NONE", key
    assert routes["ANY /{proxy+}"]["AuthorizationType"] == "JWT"


# ---------------------------------------------------------------------------------------------
# Orchestration, vectors, operations
# ---------------------------------------------------------------------------------------------
def test_state_machine_logging_tracing_and_least_privilege(synth: Synth) -> None:
    machines = synth.resources("staging", "AWS::StepFunctions::StateMachine")
    assert machines
    for machine in machines.values():
        props = machine["Properties"]
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["TracingConfiguration"] == {"Enabled": True}
    for stage in synth.templates:  # message text and task tokens stay out of the logs in every stage
        for machine in synth.resources(stage, "AWS::StepFunctions::StateMachine").values():
            assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False, stage
    classify_id, props = _fn(synth, "staging", "classify")
    assert "LUMA_AGENT_RUN_STATE_MACHINE_ARN" in props["Environment"]["Variables"]
    starts = [
        st
        for st in _role_statements(synth, "staging", classify_id)
        if "states:StartExecution" in _as_list(st["Action"])
    ]
    assert len(starts) == 1


def test_opensearch_mode_per_stage(synth: Synth) -> None:
    (collection,) = synth.resources("staging", "AWS::OpenSearchServerless::Collection").values()
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert collection["Properties"]["StandbyReplicas"] == "DISABLED"
    (prod,) = synth.resources("production", "AWS::OpenSearchServerless::Collection").values()
    assert prod["Properties"]["StandbyReplicas"] == "ENABLED"
    (domain,) = synth.resources("dev", "AWS::OpenSearchService::Domain").values()
    props = domain["Properties"]
    assert props["EncryptionAtRestOptions"]["Enabled"] and props["NodeToNodeEncryptionOptions"]["Enabled"]
    assert set(props["LogPublishingOptions"]) >= {"SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS"}
    assert "*" not in json.dumps(props["AccessPolicies"]["Statement"][0]["Principal"])
    _, agent = _fn(synth, "staging", "agent_turn")
    assert agent["Environment"]["Variables"]["LUMA_OPENSEARCH_SERVICE"] == "aoss"


def test_alarms_cover_functions_queues_and_state_machines(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.resources("staging", "AWS::CloudWatch::Alarm").values()]
    names = {a["AlarmName"] for a in alarms}
    for fn in synth.sources.functions:
        camel = "".join(p.capitalize() for p in fn.split("_"))
        for kind in ("ErrorRate", "P95Latency", "Throttles"):
            assert f"luma-staging {camel}{kind}" in names, (fn, kind)
    assert any(n.endswith("DlqDepth") for n in names)
    assert "luma-staging AgentRunFailedExecutions" in names
    (topic,) = synth.resources("staging", "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    assert all(a["AlarmActions"] for a in alarms)
