"""What the functions added or changed by the packs, memory, operator and erasure work may do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth
from tests.infra.test_stack import _as_list, _fn, _grants, _refs, _role_statements

pytestmark = pytest.mark.infra


def _env(synth: Synth, name: str, stage: str = "staging") -> dict[str, Any]:
    return _fn(synth, stage, name)[1]["Environment"]["Variables"]


def _actions(synth: Synth, name: str, stage: str = "staging") -> set[str]:
    logical_id, _ = _fn(synth, stage, name)
    return {a for st in _role_statements(synth, stage, logical_id) for a in _as_list(st["Action"])}


# ---------------------------------------------------------------------------------------------
# Assistants
# ---------------------------------------------------------------------------------------------
def test_every_function_knows_the_served_assistants(synth: Synth) -> None:
    from luma.assistants.registry import installed

    for stage in ("dev", "staging", "production"):
        for name in synth.sources.functions:
            env = _env(synth, name, stage)
            assert json.loads(env["LUMA_ASSISTANTS"]) == sorted(installed()), (stage, name)
            assert "LUMA_ASSISTANT" not in env  # no default named: each tenant's, else the first served


def test_a_stage_can_serve_a_subset_and_never_an_unknown_pack() -> None:
    from luma_infra.packs import Pack, PackDiscoveryError, PackTable, deployed_packs

    installed = {
        "alpha": Pack("alpha", "a:A", "a", (PackTable("alpha", "data"),)),
        "beta": Pack("beta", "b:B", "b", ()),
    }
    assert [p.name for p in deployed_packs((), installed)] == ["alpha", "beta"]
    assert [p.name for p in deployed_packs(("beta",), installed)] == ["beta"]
    with pytest.raises(PackDiscoveryError, match="not installed"):
        deployed_packs(("gamma",), installed)
    with pytest.raises(PackDiscoveryError, match="no assistant pack"):
        deployed_packs((), {})


def test_pack_discovery_refuses_bad_declarations() -> None:
    from luma_infra.packs import PackDiscoveryError, _load

    class Table:
        def __init__(self, name: str) -> None:
            self.name = name

    class Entry:
        def __init__(self, name: str, target: Any) -> None:
            self.name, self.value, self.dist, self._target = name, "x:Y", None, target

        def load(self) -> Any:
            return self._target

    good = type("P", (), {"name": "shop", "tables": (Table("data"), Table("orders"))})
    assert [t.key for t in _load(Entry("shop", good)).tables] == ["shop.data", "shop.orders"]
    with pytest.raises(PackDiscoveryError, match="names must match"):
        _load(Entry("other", good))
    with pytest.raises(PackDiscoveryError, match="table named"):
        _load(Entry("shop", type("P", (), {"name": "shop", "tables": (Table("Bad-Name"),)})))
    with pytest.raises(PackDiscoveryError, match="twice"):
        _load(Entry("shop", type("P", (), {"name": "shop", "tables": (Table("a"), Table("a"))})))


# ---------------------------------------------------------------------------------------------
# The permission matrix of this round's functions
# ---------------------------------------------------------------------------------------------
def test_classify_answers_approvals_from_whatsapp(synth: Synth) -> None:
    (machine_id,) = synth.resources("staging", "AWS::StepFunctions::StateMachine")
    logical_id, _ = _fn(synth, "staging", "classify")
    sends = [
        st
        for st in _role_statements(synth, "staging", logical_id)
        if "states:SendTaskSuccess" in _as_list(st["Action"])
    ]
    assert sends and all(_refs(st["Resource"]) == {machine_id} for st in sends)


def test_approval_requests_are_conversation_items(synth: Synth) -> None:
    conversations = synth.table_ids("staging")["conversations"]
    for name in ("agent_approval", "agent_approve", "agent_tool", "classify"):
        actions = _grants(synth, "staging", name)[f"<{conversations}.Arn>"]
        assert {"dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions, name


def test_http_api_hands_erasure_jobs_and_turns_on(synth: Synth) -> None:
    env = _env(synth, "http_api")
    erasure_id, _ = _fn(synth, "staging", "erasure")
    classify_id, _ = _fn(synth, "staging", "classify")
    assert env["LUMA_ERASURE_FUNCTION"] == {"Ref": erasure_id}
    assert env["LUMA_CLASSIFY_FUNCTION"] == {"Ref": classify_id}
    logical_id, _ = _fn(synth, "staging", "http_api")
    invoked = set()
    for st in _role_statements(synth, "staging", logical_id):
        if "lambda:InvokeFunction" in _as_list(st["Action"]):
            invoked |= _refs(st["Resource"])
    assert invoked == {erasure_id, classify_id}


def test_erasure_deletes_media_and_index_entries_but_reads_no_media(synth: Synth) -> None:
    actions = _actions(synth, "erasure")
    assert "s3:DeleteObject" in actions
    assert not {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} & actions
    env = _env(synth, "erasure")
    assert env["LUMA_MEDIA_BUCKET"] and env["LUMA_OPENSEARCH_URL"]
    assert "LUMA_PACK_TABLES" in env
    # Asynchronous, with its own DLQ; continues itself when its time runs short.
    assert "LUMA_ERASURE_FUNCTION" in env
    erasure_id, _ = _fn(synth, "staging", "erasure")
    configs = [
        c["Properties"]
        for c in synth.resources("staging", "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": erasure_id}
    ]
    assert configs and "OnFailure" in configs[0]["DestinationConfig"]


def test_documents_are_signed_by_functions_that_may_read_media(synth: Synth) -> None:
    for name in ("fast_path", "agent_tool", "http_api"):
        actions = _actions(synth, name)
        assert "s3:GetObject" in actions and "s3:PutObject" not in actions, name
        assert "LUMA_MEDIA_BUCKET" in _env(synth, name)


def test_memory_functions_have_the_model_and_the_index(synth: Synth) -> None:
    for name in ("memory_extract", "session_report"):
        _, props = _fn(synth, "staging", name)
        assert props["MemorySize"] >= 1024, name  # the ONNX embedding model
        assert len(props["Layers"]) == 2, name  # core + dependencies (onnxruntime, the MiniLM model)
        env = props["Environment"]["Variables"]
        assert "LUMA_LLM_SECRET_ARN" in env, name
        assert env["LUMA_OPENSEARCH_SIGV4"] == "true", name


def test_opensearch_settings_the_adapter_reads(synth: Synth) -> None:
    from luma.config import Settings

    fields = set(Settings.model_fields)
    for stage, service in (("dev", "es"), ("staging", "aoss"), ("production", "aoss")):
        for name in ("agent_turn", "memory_extract", "session_report", "erasure"):
            env = _env(synth, name, stage)
            assert env["LUMA_OPENSEARCH_SERVICE"] == service, (stage, name)
            assert env["LUMA_OPENSEARCH_SIGV4"] == "true"
            assert env["LUMA_MEMORY_INDEX"] == Settings.model_fields["memory_index"].default
            for key in env:
                if key.startswith(("LUMA_OPENSEARCH_", "LUMA_MEMORY_")):
                    assert key.removeprefix("LUMA_").lower() in fields, f"{key}: no such setting"
            url = json.dumps(env["LUMA_OPENSEARCH_URL"])
            assert "https://" in url or "CollectionEndpoint" in url, url
        assert "LUMA_OPENSEARCH_URL" not in _env(synth, "classify", stage)


def test_domain_grants_name_the_memory_index_and_pipeline_only(synth: Synth) -> None:
    (domain_id,) = synth.resources("dev", "AWS::OpenSearchService::Domain")
    for name, level in (("agent_turn", "read"), ("memory_extract", "write")):
        es = {r: a for r, a in _grants(synth, "dev", name).items() if any(x.startswith("es:") for x in a)}
        base = f"<{domain_id}.Arn>"
        expected = {f"{base}/luma-memory", f"{base}/luma-memory/*"}
        if level == "write":
            expected |= {f"{base}/_bulk", f"{base}/_search/pipeline/luma-memory-hybrid"}
        assert set(es) == expected, (name, sorted(es))
        writes = {"es:ESHttpPut", "es:ESHttpDelete"} & es[f"{base}/luma-memory/*"]
        assert bool(writes) == (level == "write"), name


def test_serverless_data_access_names_the_memory_index(synth: Synth) -> None:
    (policy,) = synth.resources("staging", "AWS::OpenSearchServerless::AccessPolicy").values()
    text = json.dumps(policy["Properties"]["Policy"])
    assert "index/luma-staging-memory/luma-memory" in text
    assert "*" not in text.replace('"*"', "")  # no index or collection wildcard


def test_twilio_senders_get_the_content_sids(synth: Synth) -> None:
    from luma_infra.config import STAGES

    for name in synth.sources.functions:
        env = _env(synth, name)
        if "twilio" in STAGES["staging"].function(name).secrets:
            assert json.loads(env["LUMA_TWILIO_CONTENT_SIDS"]) == {}, name
        else:
            assert "LUMA_TWILIO_CONTENT_SIDS" not in env, name


def test_content_sids_are_checked_at_synth() -> None:
    from luma_infra.config import StageConfig

    sid = "HX" + "0" * 32
    assert StageConfig(name="x", twilio_content_sids={"luma_quick_reply_3": sid}).twilio_content_sids
    with pytest.raises(ValueError, match="Content SID"):
        StageConfig(name="x", twilio_content_sids={"luma_quick_reply_3": "nope"})


# ---------------------------------------------------------------------------------------------
# Operators on the WebSocket API
# ---------------------------------------------------------------------------------------------
OPERATOR_ROUTES = ("takeOver", "operatorMessage", "handBack", "closeEscalation", "operatorSync", "ack")


def test_operator_routes_reach_operator_action(synth: Synth) -> None:
    resources = synth.templates["staging"]["Resources"]
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("staging", "AWS::ApiGatewayV2::Route").values()
    }
    operator_id, _ = _fn(synth, "staging", "operator_action")
    approve_id, _ = _fn(synth, "staging", "agent_approve")
    classify_id, _ = _fn(synth, "staging", "classify")
    for key, target in (
        *((k, operator_id) for k in OPERATOR_ROUTES),
        ("approve", approve_id),
        ("sendMessage", classify_id),
    ):
        assert key in routes, key
        integration_id = routes[key]["Target"]["Fn::Join"][1][1]["Ref"]
        uri = resources[integration_id]["Properties"]["IntegrationUri"]
        assert target in _refs(uri), (key, uri)
    assert "LUMA_WS_MANAGEMENT_ENDPOINT" in _env(synth, "operator_action")
    assert "execute-api:ManageConnections" in _actions(synth, "operator_action")


def test_every_twilio_sender_can_queue_a_redelivery(synth: Synth) -> None:
    """A failed WhatsApp/SMS send is handed to fast_path (an async invoke) by whichever function sent it."""
    from luma_infra.config import STAGES

    fast_path_id, _ = _fn(synth, "staging", "fast_path")
    senders = [
        n for n in synth.sources.functions if "twilio" in STAGES["staging"].function(n).secrets and n != "http_api"
    ]
    assert {"classify", "fast_path", "agent_turn", "agent_tool", "agent_approval", "operator_action"} <= set(senders)
    for name in senders:
        assert "LUMA_FAST_PATH_FUNCTION" in _env(synth, name), name
        logical_id, _ = _fn(synth, "staging", name)
        invoked = set()
        for st in _role_statements(synth, "staging", logical_id):
            if "lambda:InvokeFunction" in _as_list(st["Action"]):
                invoked |= _refs(st["Resource"])
        assert fast_path_id in invoked or name == "fast_path", name


def test_operator_fan_out_may_forget_gone_operator_connections(synth: Synth) -> None:
    connections = synth.table_ids("staging")["connections"]
    for name, forgets in (("escalations", True), ("operator_action", True), ("classify", False)):
        grants = _grants(synth, "staging", name)
        assert ("dynamodb:DeleteItem" in grants[f"<{connections}.Arn>"]) is forgets, name
        assert "dynamodb:Query" in grants[f"<{connections}.Arn>/index/by_user"], name


def test_opensearch_admin_roles_are_role_arns() -> None:
    from luma_infra.config import StageConfig

    role = "arn:aws:iam::123456789012:role/luma-ops"
    assert StageConfig(name="x", opensearch_admin_roles=(role,)).opensearch_admin_roles == (role,)
    with pytest.raises(ValueError, match="role ARNs"):
        StageConfig(name="x", opensearch_admin_roles=("arn:aws:iam::123456789012:user/bob",))


# ---------------------------------------------------------------------------------------------
# WhatsApp/SMS turns in order: the inbound FIFO queue
# ---------------------------------------------------------------------------------------------
def test_twilio_turns_go_through_a_fifo_queue_into_classify(synth: Synth) -> None:
    queues = {
        q["Properties"]["QueueName"]: (k, q["Properties"])
        for k, q in synth.resources("staging", "AWS::SQS::Queue").items()
    }
    queue_id, queue = queues["luma-staging-twilio-inbound.fifo"]
    dlq_id, dlq = queues["luma-staging-classify-queue-dlq.fifo"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["DeduplicationScope"] == "messageGroup" and queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert "ContentBasedDeduplication" not in queue or queue["ContentBasedDeduplication"] is False
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    _, classify = _fn(synth, "staging", "classify")
    assert queue["VisibilityTimeout"] >= 6 * classify["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True
    classify_id, _ = _fn(synth, "staging", "classify")
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("staging", "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionName"] == {"Ref": classify_id}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] <= 10
    # The webhook (http_api) may send to it and nothing else; its URL is what twilio_webhook reads.
    assert _env(synth, "http_api")["LUMA_TWILIO_INBOUND_QUEUE_URL"] == {"Ref": queue_id}
    http_id, _ = _fn(synth, "staging", "http_api")
    sends = [st for st in _role_statements(synth, "staging", http_id) if "sqs:SendMessage" in _as_list(st["Action"])]
    assert sends and all(_refs(st["Resource"]) == {queue_id} for st in sends)
    for name in synth.sources.functions:
        logical_id, _ = _fn(synth, "staging", name)
        for st in _role_statements(synth, "staging", logical_id):
            if name != "http_api" and "sqs:SendMessage" in _as_list(st["Action"]):
                assert queue_id not in _refs(st["Resource"]), name  # its async DLQ only
    names = {a["Properties"]["AlarmName"] for a in synth.resources("staging", "AWS::CloudWatch::Alarm").values()}
    assert "luma-staging ClassifyQueueDlqDepth" in names


def test_stage_settings_are_checked_and_reach_every_function() -> None:
    from luma_infra.config import StageConfig

    stage = StageConfig(
        name="x",
        settings={
            "plans": {"pro": {"credits_per_day": 2_000_000}},
            "tenant_plans": {"acme": "pro"},
            "max_text_chars": 900,
        },
    )
    env = stage.settings_env()
    assert json.loads(env["LUMA_PLANS"]) == {"pro": {"credits_per_day": 2_000_000}}
    assert env["LUMA_TENANT_PLANS"] == '{"acme": "pro"}' and env["LUMA_MAX_TEXT_CHARS"] == "900"
    with pytest.raises(ValueError, match="not a setting"):
        StageConfig(name="x", settings={"no_such_setting": 1})
    with pytest.raises(ValueError, match="not a setting"):
        StageConfig(name="x", settings={"auth_mode": "dev"})  # the stack decides it
    with pytest.raises(ValueError, match="invalid"):
        StageConfig(name="x", settings={"tenant_plans": {"acme": "no-such-plan"}})
