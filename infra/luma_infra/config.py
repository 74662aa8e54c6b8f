"""Every knob of the deployment, typed, in one place: stages, tables, functions, thresholds.

Functions are wired by convention (``functions/<name>/handler.py``, entry point ``handler``);
what each one may do comes from :data:`FUNCTIONS`. A function folder without an entry gets
:class:`FunctionSpec` defaults and no permissions at all. Per-stage differences are
:class:`StageConfig` values plus ``function_overrides`` (e.g. reserved concurrency in
production). Assistant packs' tables are not listed here: they are discovered from the installed
packs (:mod:`luma_infra.packs`) and reached through the access kind :data:`PACKS`.

Standard library only: the local stack and ``luma dlq`` import this module too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Access = Literal["r", "rw"]
# llm, twilio: provider credentials set by hand; signing (cursor and pseudonymous-id keys) and
# origin_verify (the header CloudFront adds in front of both APIs): generated at creation.
Secret = Literal["llm", "twilio", "signing", "origin_verify"]
OpenSearchMode = Literal["serverless", "domain", "none"]

PROJECT = "luma"
# ``FunctionSpec.tables`` key that grants every table of every deployed assistant pack, with
# ``LUMA_PACK_TABLES`` ({"<pack>.<table>": "<physical name>"}) in the function's environment.
PACKS = "packs"
# What a stream record is kept for by DynamoDB Streams: a failed batch must be redriven before.
STREAM_RETENTION_S = 24 * 3600
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


# --------------------------------------------------------------------------------------------
# Tables: the key schemas are the contract with luma.store.models (tests/infra checks it).
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GsiSpec:
    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One DynamoDB table: string keys, on demand, PITR, the stage's KMS key."""

    partition_key: str = "pk"
    sort_key: str | None = "sk"
    gsis: tuple[GsiSpec, ...] = ()
    ttl_attribute: str | None = None
    stream: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"] | None = None
    env_var: str = ""  # the LUMA_* variable that carries the table name
    description: str = ""


BY_USER = GsiSpec("by_user", "gsi1pk", "gsi1sk")

TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {
        "connections": TableSpec(
            sort_key=None,
            gsis=(BY_USER,),
            ttl_attribute="ttl",
            env_var="LUMA_CONNECTIONS_TABLE",
            description="pk = T#<tenant>#C#<connection_id>; GSI by_user",
        ),
        "conversations": TableSpec(
            gsis=(BY_USER,),
            ttl_attribute="ttl",
            # Consumers: memory extraction, escalation notifications, session reports.
            stream="NEW_IMAGE",
            env_var="LUMA_CONVERSATIONS_TABLE",
            description="single table: sessions, messages, routing decisions, runs, reports",
        ),
        "usage": TableSpec(
            ttl_attribute="ttl",
            env_var="LUMA_USAGE_TABLE",
            description="rate-limit buckets, token/credit counters, idempotency records, erasure jobs",
        ),
    }
)


# --------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamSpec:
    """A DynamoDB Streams subscription; failed batches go to the function's stream DLQ."""

    table: str
    # Lambda event filters (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html)
    filters: tuple[Mapping[str, object], ...] = ()
    batch_size: int = 25
    max_batching_window_s: int = 1
    retry_attempts: int = 3
    max_record_age_s: int = 3600
    parallelization_factor: int = 1
    # Split a failing batch in two and retry each half (a poison record ends alone in the DLQ).
    bisect_batch_on_error: bool = True


@dataclass(frozen=True)
class QueueSpec:
    """An SQS FIFO queue the function consumes in order per message group (partial batch failures);
    a message that keeps failing moves to the queue's own FIFO dead-letter queue."""

    name: str  # luma-<stage>-<name>.fifo; its URL reaches senders as env_var
    env_var: str
    batch_size: int = 10  # FIFO: at most 10
    max_receive_count: int = 5
    visibility_timeout_s: int | None = None  # None: 6 x the consumer's timeout (AWS's advice for Lambda)


@dataclass(frozen=True)
class FunctionSpec:
    """What one function is and may do. Defaults: small, short, no permissions."""

    description: str = ""
    memory_mb: int = 256
    timeout_s: int = 10
    reserved_concurrency: int | None = None
    tables: Mapping[str, Access] = field(default_factory=dict)  # TABLES names, or PACKS
    scans: tuple[str, ...] = ()  # tables it may Scan besides (erasure only: every other read is keyed)
    invokes: tuple[str, ...] = ()  # functions it invokes asynchronously (env LUMA_<NAME>_FUNCTION)
    starts: tuple[str, ...] = ()  # state machines it starts (env LUMA_<NAME>_STATE_MACHINE_ARN)
    task_tokens: tuple[str, ...] = ()  # state machines whose task tokens it completes
    manage_connections: bool = False  # execute-api:ManageConnections on the WebSocket stage
    secrets: tuple[Secret, ...] = ()  # Secrets Manager secrets it reads (env LUMA_<NAME>_SECRET_ARN)
    opensearch: Literal["none", "read", "write"] = "none"
    async_invoked: bool = False  # invoked with InvocationType=Event: on-failure DLQ, retries
    async_retry_attempts: int = 2
    async_max_event_age_s: int = 3600
    stream: StreamSpec | None = None
    queue: QueueSpec | None = None  # an SQS FIFO queue it consumes
    sends_to: tuple[str, ...] = ()  # functions whose queue it sends to (sqs:SendMessage, the queue's URL in env)
    snap_start: bool = False  # publish versions + alias `live`; callers use the alias
    schedule: str | None = None  # EventBridge schedule expression, e.g. "rate(5 minutes)"
    # The media bucket (env LUMA_MEDIA_BUCKET): read (also signs presigned links), write, or delete only.
    media: Literal["none", "read", "write", "delete"] = "none"
    ws_routes: tuple[str, ...] = ()  # WebSocket route keys (the frame's "action") it serves
    p95_alarm_ms: int | None = None  # defaults to 80 % of the timeout
    environment: Mapping[str, str] = field(default_factory=dict)


FUNCTIONS: Mapping[str, FunctionSpec] = MappingProxyType(
    {
        "ws_authorizer": FunctionSpec(
            description="WebSocket $connect REQUEST authorizer: validates ?token= (Cognito JWT)",
            memory_mb=512,  # its cold start imports boto3 to read the origin-verify secret: more CPU
            timeout_s=5,
            secrets=("origin_verify",),  # handshakes that went around CloudFront are refused
            p95_alarm_ms=1000,
        ),
        "ws_connect": FunctionSpec(
            description="WebSocket $connect: records the connection (and the assistant it talks to)",
            timeout_s=5,
            tables={"connections": "rw"},
            p95_alarm_ms=1000,
        ),
        "ws_disconnect": FunctionSpec(
            description="WebSocket $disconnect: forgets the connection",
            timeout_s=5,
            tables={"connections": "rw"},
            p95_alarm_ms=1000,
        ),
        "classify": FunctionSpec(
            description="sendMessage/$default: persist, guard, classify, route (fast path or agent run)",
            memory_mb=1024,  # the ONNX intent classifier: more memory, more CPU
            timeout_s=20,
            # connections r: also the operator connections a taken-over session's messages are relayed to
            # (a gone one is left to $disconnect and its TTL)
            tables={"connections": "r", "conversations": "rw", "usage": "rw", PACKS: "r"},
            invokes=("fast_path",),
            starts=("agent_run",),
            task_tokens=("agent_run",),  # approvals answered from WhatsApp buttons or a yes/no resume the run
            manage_connections=True,
            # llm: voice notes are transcribed with OpenAI's API; signing: pseudonymous sender ids
            secrets=("llm", "twilio", "signing"),
            media="write",  # WhatsApp/SMS images
            # Twilio turns: from the inbound FIFO queue (one conversation's messages in order), or
            # async-invoked when no queue is configured
            queue=QueueSpec(name="twilio_inbound", env_var="LUMA_TWILIO_INBOUND_QUEUE_URL"),
            async_invoked=True,
            ws_routes=("sendMessage",),
            p95_alarm_ms=1500,
        ),
        "fast_path": FunctionSpec(
            description="Fast-path handlers and flows: direct data operations, no LLM",
            memory_mb=512,
            timeout_s=10,
            tables={"conversations": "rw", "usage": "rw", PACKS: "rw", "connections": "r"},
            invokes=("fast_path",),  # twilio_redelivery events: the parts of a reply not yet sent
            manage_connections=True,
            secrets=("twilio",),
            media="read",  # presigned links to documents kept in the media bucket
            async_invoked=True,
            p95_alarm_ms=1000,
        ),
        "http_api": FunctionSpec(
            description="HTTP API (FastAPI + Mangum): health, sessions, Twilio webhooks, MCP tools, erasure requests",
            memory_mb=512,
            timeout_s=15,
            # packs rw: /mcp/<assistant> runs the pack's tools with the caller's identity
            tables={"conversations": "rw", "connections": "r", "usage": "rw", PACKS: "rw"},
            invokes=("classify", "erasure"),
            sends_to=("classify",),  # Twilio webhooks into classify's inbound queue
            # signing: page cursors; origin_verify: requests that went around CloudFront are refused
            secrets=("twilio", "signing", "origin_verify"),
            media="read",  # presigned links in tool results
            p95_alarm_ms=2000,
        ),
        "agent_turn": FunctionSpec(
            description="Agent step: context + memories, LLM call with tools, streamed reply",
            memory_mb=1024,
            timeout_s=120,
            tables={"conversations": "rw", "usage": "rw", "connections": "r", PACKS: "r"},
            manage_connections=True,
            secrets=("llm", "twilio"),
            invokes=("fast_path",),  # a Twilio reply that failed to send is redelivered by fast_path
            opensearch="read",
            snap_start=True,  # anthropic/openai SDK imports cost 0.6-1.3 s of cold start
            p95_alarm_ms=60_000,
        ),
        "agent_tool": FunctionSpec(
            description="Agent run, ExecuteTools Map: one tool call with its checks, timeout and heartbeats",
            memory_mb=512,
            timeout_s=60,
            # usage: identity attempts are counted (and locked out) per user in the usage table
            tables={"conversations": "rw", "usage": "rw", PACKS: "rw", "connections": "r"},
            manage_connections=True,
            secrets=("twilio",),
            invokes=("fast_path",),  # Twilio redelivery events
            media="read",  # presigned links to documents
            p95_alarm_ms=20_000,
        ),
        "agent_approval": FunctionSpec(
            description="Agent run, AwaitApproval (waitForTaskToken): store the token and the request, ask the user",
            timeout_s=15,
            # conversations rw: the approval request is a conversation item (pending until answered)
            tables={"conversations": "rw", "usage": "rw", PACKS: "r", "connections": "r"},
            manage_connections=True,
            secrets=("twilio",),
            invokes=("fast_path",),  # Twilio redelivery events
            p95_alarm_ms=3000,
        ),
        "agent_approve": FunctionSpec(
            description="WebSocket route approve: the user's answer completes the run's task token",
            timeout_s=10,
            # conversations rw: the answer is recorded on the approval request item
            tables={"conversations": "rw", "usage": "rw", "connections": "r"},
            manage_connections=True,
            task_tokens=("agent_run",),
            ws_routes=("approve",),
            p95_alarm_ms=2000,
        ),
        "agent_failure": FunctionSpec(
            description="Agent run, HandleFailure: classify the error, pick a recovery, apologise or escalate",
            timeout_s=30,
            tables={"conversations": "rw", PACKS: "rw", "connections": "r"},
            manage_connections=True,
            secrets=("llm", "twilio"),
            invokes=("fast_path",),  # Twilio redelivery events
            p95_alarm_ms=10_000,
        ),
        "session_sweeper": FunctionSpec(
            description="Schedule: close sessions idle longer than the inactivity delay, write their reports",
            memory_mb=256,
            timeout_s=120,
            tables={"conversations": "rw"},
            schedule="rate(5 minutes)",
            p95_alarm_ms=60_000,
        ),
        "agent_finalize": FunctionSpec(
            description="Agent run, Finalize: settle the run's credits, record its usage and metrics",
            timeout_s=15,
            tables={"usage": "rw"},
            p95_alarm_ms=3000,
        ),
        # DynamoDB Streams consumers of the conversations table.
        "memory_extract": FunctionSpec(
            description="Conversation stream: new messages into long-term memory (DynamoDB items + OpenSearch)",
            memory_mb=1024,  # the embedding model (ONNX) runs here
            timeout_s=60,
            tables={"conversations": "rw"},  # messages read, memory items written (same table)
            secrets=("llm",),  # mem0-style extraction when a model is configured
            opensearch="write",
            stream=StreamSpec(
                table="conversations",
                filters=({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "M#"}]}}}},),
            ),
        ),
        "memory_expire": FunctionSpec(
            description="Conversation stream: a removed memory item (TTL expiry, erasure) takes its index document",
            timeout_s=30,
            opensearch="write",  # deletes the item's document in the memory index
            stream=StreamSpec(
                table="conversations",
                # The table streams NEW_IMAGE: a REMOVE carries only the keys, so the filter is on Keys.
                filters=({"eventName": ["REMOVE"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "MEM#"}]}}}},),
            ),
        ),
        "escalations": FunctionSpec(
            description="Conversation stream: an escalation's inbox notice, pushed to the tenant's operators",
            timeout_s=30,
            # conversations rw: the notice and its marker (one per escalation); connections rw: the
            # tenant's operator connections (by_user index), a gone one is deleted
            tables={"conversations": "rw", "connections": "rw"},
            manage_connections=True,
            stream=StreamSpec(
                table="conversations",
                filters=({"dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "ESC#"}]}}}},),
                max_batching_window_s=0,  # a notice goes out at once: escalations are rare, people wait
            ),
        ),
        "session_report": FunctionSpec(
            description="Conversation stream: a closed session's report and its recap as a memory",
            memory_mb=1024,  # the recap is embedded (ONNX) before it is indexed
            timeout_s=120,  # reads the whole conversation, one LLM summary
            tables={"conversations": "rw"},  # messages read; report and memory items written
            secrets=("llm",),
            opensearch="write",
            stream=StreamSpec(
                table="conversations",
                filters=(
                    {
                        "eventName": ["MODIFY"],
                        "dynamodb": {"NewImage": {"sk": {"S": ["META"]}, "status": {"S": ["closed"]}}},
                    },
                ),
            ),
        ),
        # People in the loop: operators on the same WebSocket API.
        "operator_action": FunctionSpec(
            description="WebSocket operator routes: take over, reply on the user's channel, hand back, close, ack",
            timeout_s=15,
            # conversations: notices, takeovers, audit, the operator's messages; connections rw: operator
            # connections found gone are deleted; usage: idempotency of operator messages
            tables={"conversations": "rw", "connections": "rw", "usage": "rw"},
            manage_connections=True,
            secrets=("twilio",),  # replies to WhatsApp/SMS users
            invokes=("fast_path",),  # Twilio redelivery events
            ws_routes=("takeOver", "operatorMessage", "handBack", "closeEscalation", "operatorSync", "ack"),
            p95_alarm_ms=3000,
        ),
        # Erasure (DELETE /me): a job handed over by http_api, run asynchronously.
        "erasure": FunctionSpec(
            description="Erasure job: a user's messages, sessions, memory, index entries, media, links and usage",
            memory_mb=512,
            timeout_s=900,  # pages through every store; a re-run resumes what is left
            tables={"conversations": "rw", "usage": "rw", "connections": "rw", PACKS: "rw"},
            # phone links (connections) and usage records of messages never stored are found by a
            # Scan filtered on the tenant's and user's keys: no index leads to them
            scans=("connections", "usage"),
            media="delete",
            opensearch="write",  # the user's documents in the memory index
            invokes=("erasure",),  # a job that runs out of time continues in a fresh invocation
            async_invoked=True,
            async_retry_attempts=2,
            p95_alarm_ms=600_000,
        ),
    }
)

DEFAULT_FUNCTION = FunctionSpec()


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlarmThresholds:
    error_rate_percent: float = 5.0  # Lambda Errors / Invocations over 5 minutes
    throttles: int = 1  # Lambda Throttles per 5 minutes
    dlq_messages: int = 1  # ApproximateNumberOfMessagesVisible
    # ApproximateAgeOfOldestMessage of a stream DLQ: a stream failure names records that DynamoDB
    # keeps 24 h, so it must be redriven (`luma dlq redrive`) well before that.
    stream_dlq_age_s: int = 4 * 3600
    failed_executions: int = 1  # Step Functions ExecutionsFailed + TimedOut per 5 minutes
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2

    def __post_init__(self) -> None:
        if not 300 <= self.stream_dlq_age_s <= STREAM_RETENTION_S // 2:
            raise ValueError("AlarmThresholds.stream_dlq_age_s: between 5 minutes and 12 h (records live 24 h)")


@dataclass(frozen=True)
class CustomDomain:
    """Optional API domains, served by the CloudFront distributions in front of the APIs.

    CloudFront only takes ACM certificates from us-east-1, whatever the stack's region: the
    certificate must cover both names.
    """

    http_domain: str  # e.g. api.luma.example.com
    ws_domain: str  # e.g. ws.luma.example.com
    certificate_arn: str  # arn:aws:acm:us-east-1:...
    hosted_zone_id: str | None = None  # creates Route 53 alias records when set
    hosted_zone_name: str | None = None

    def __post_init__(self) -> None:
        if ":us-east-1:" not in self.certificate_arn:
            raise ValueError(
                "custom_domain.certificate_arn must be a us-east-1 certificate (CloudFront takes no other): "
                + self.certificate_arn
            )


@dataclass(frozen=True)
class WafLimits:
    """AWS WAF rate rules per client IP on both CloudFront distributions (requests per window)."""

    window_s: Literal[60, 120, 300, 600] = 300
    requests_per_ip: int = 1500  # everything but the Twilio webhooks
    connects_per_ip: int = 100  # WebSocket handshakes (each one runs the authorizer)
    twilio_per_ip: int = 15000  # Twilio sends every webhook from a small pool of addresses

    def __post_init__(self) -> None:
        for name in ("requests_per_ip", "connects_per_ip", "twilio_per_ip"):
            if not 10 <= getattr(self, name) <= 2_000_000_000:
                raise ValueError(f"WafLimits.{name} must be between 10 and 2e9 (AWS WAF's range)")


@dataclass(frozen=True)
class StageConfig:
    name: str
    account: str | None = None  # None: from the CLI's credentials (CDK_DEFAULT_ACCOUNT)
    region: str | None = None  # None: CDK_DEFAULT_REGION
    production: bool = False  # RETAIN data, deletion protection
    # Assistant packs this stage serves (LUMA_ASSISTANTS) and whose tables it creates; empty: every
    # pack installed where `cdk synth` runs (the ``luma.assistants`` entry points).
    assistants: tuple[str, ...] = ()
    default_assistant: str | None = None  # LUMA_ASSISTANT; None: each tenant's default, else the first
    log_level: str = "INFO"
    log_retention_days: int = 30
    message_retention_days: int = 365  # LUMA_MESSAGE_RETENTION_DAYS's default; media objects expire with it
    api_stage_name: str = "v1"  # the WebSocket stage: wss://<domain>/<api_stage_name>
    api_throttle_rate: int = 100  # requests per second, per stage
    api_throttle_burst: int = 200
    # Browser origins the HTTP API answers CORS for: exact origins, never "*"; https only outside dev.
    # Empty: no cross-origin browser access (mobile apps and servers are not affected by CORS).
    cors_origins: tuple[str, ...] = ()
    waf: WafLimits = field(default_factory=WafLimits)
    cloudfront_price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    opensearch_mode: OpenSearchMode = "serverless"
    opensearch_standby_replicas: bool = False  # serverless: redundancy doubles the OCU floor
    opensearch_instance_type: str = "t3.small.search"  # domain mode
    opensearch_instance_count: int = 1
    opensearch_volume_gb: int = 10
    # IAM role ARNs allowed to write the memory index besides the functions (Serverless data access
    # policy), for `luma memory reindex`; a managed domain trusts the account's IAM policies instead.
    opensearch_admin_roles: tuple[str, ...] = ()
    cognito_threat_protection: bool = False  # Cognito Plus feature plan (billed per MAU)
    alarm_email: str | None = None  # subscribes to the alarm topic when set
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)
    function_overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    custom_domain: CustomDomain | None = None
    # Content SIDs of the WhatsApp interactive templates (LUMA_TWILIO_CONTENT_SIDS), e.g.
    # {"luma_quick_reply_3": "HX..."}; empty: the functions find or create them at run time.
    twilio_content_sids: Mapping[str, str] = field(default_factory=dict)
    # Product settings for every function, by luma.config.Settings field name, e.g.
    # {"plans": {"pro": {"credits_per_day": 2000000}}, "tenant_plans": {"acme": "pro"},
    #  "llm_routes": {"<assistant>": {"*": {"tier": "strong"}}}}; checked against Settings at synth and
    # set as LUMA_<NAME> (JSON for mappings and lists).
    settings: Mapping[str, object] = field(default_factory=dict)

    def settings_env(self) -> dict[str, str]:
        """``settings`` as the functions' environment, validated by the settings model itself."""
        from luma.config import Settings

        reserved = {"env", "auth_mode", "assistants", "assistant", "cognito_jwks_url", "jwt_issuer", "jwt_audience"}
        for name in self.settings:
            if name not in Settings.model_fields or name in reserved or name.endswith(("_table", "_secret_arn")):
                raise ValueError(f"stage {self.name}: settings[{name!r}] is not a setting a stage may set")
        try:
            Settings(**self.settings)  # type: ignore[arg-type]
        except ValueError as err:
            raise ValueError(f"stage {self.name}: settings are invalid: {err}") from err
        return {
            f"LUMA_{name.upper()}": value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            for name, value in sorted(self.settings.items())
        }

    def __post_init__(self) -> None:
        self.settings_env()  # a wrong name or value fails the synth, not the first cold start
        for template, sid in self.twilio_content_sids.items():
            if not _CONTENT_SID.match(sid):
                raise ValueError(f"stage {self.name}: twilio_content_sids[{template!r}] is not a Content SID (HX...)")
        for arn in self.opensearch_admin_roles:
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/", arn):
                raise ValueError(f"stage {self.name}: opensearch_admin_roles takes IAM role ARNs: {arn!r}")
        if self.default_assistant and self.assistants and self.default_assistant not in self.assistants:
            raise ValueError(f"stage {self.name}: default_assistant {self.default_assistant!r} is not in assistants")
        for origin in self.cors_origins:
            local = origin.startswith(("http://localhost", "http://127.0.0.1"))
            if "*" in origin or origin.endswith("/") or not (origin.startswith("https://") or local):
                raise ValueError(
                    f"stage {self.name}: cors_origins takes exact origins like https://app.example.com: {origin!r}"
                )
            if local and self.name != "dev":
                raise ValueError(f"stage {self.name}: localhost origins are for the dev stage only: {origin!r}")

    @property
    def stack_name(self) -> str:
        return f"Luma-{self.name}"

    @property
    def edge_stack_name(self) -> str:
        """The us-east-1 stack of the stage's WAF web ACL (CloudFront's WAF lives in us-east-1)."""
        return f"Luma-{self.name}-edge"

    def prefix(self, name: str = "") -> str:
        """A physical name: ``luma-<stage>[-<name>]`` (hyphens, lower case)."""
        base = f"{PROJECT}-{self.name}"
        return f"{base}-{name.replace('_', '-')}" if name else base

    def function(self, name: str) -> FunctionSpec:
        """The spec of ``functions/<name>``: the table entry (or defaults) plus stage overrides."""
        spec = FUNCTIONS.get(name, DEFAULT_FUNCTION)
        overrides = self.function_overrides.get(name)
        return dataclasses.replace(spec, **overrides) if overrides else spec  # type: ignore[arg-type]


STAGES: Mapping[str, StageConfig] = MappingProxyType(
    {
        "dev": StageConfig(
            name="dev",
            log_level="DEBUG",
            log_retention_days=7,
            api_throttle_rate=20,
            api_throttle_burst=40,
            cors_origins=("http://localhost:8787", "http://127.0.0.1:8787"),  # `luma dev` serves web/ there
            # A single-node managed domain: the cheapest always-on vector store (see docs/deploy.md).
            opensearch_mode="domain",
        ),
        "staging": StageConfig(
            name="staging",
            log_retention_days=30,
            api_throttle_rate=50,
            api_throttle_burst=100,
            opensearch_mode="serverless",
        ),
        "production": StageConfig(
            name="production",
            production=True,
            log_retention_days=90,
            api_throttle_rate=500,
            api_throttle_burst=1000,
            opensearch_mode="serverless",
            opensearch_standby_replicas=True,
            cognito_threat_protection=True,
            function_overrides={
                "classify": {"reserved_concurrency": 200},
                "fast_path": {"reserved_concurrency": 100},
                "agent_turn": {"reserved_concurrency": 100},
            },
        ),
    }
)

# What `cdk synth` builds when no `-c stage=` is given: the stages CI deploys.
DEFAULT_STAGES = ("staging", "production")
