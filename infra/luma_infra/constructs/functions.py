"""The one Lambda factory: every ``functions/<name>/handler.py`` becomes a function by convention.

Each function gets: Python 3.12 on arm64, the core + dependency layers, its own log group and
its own role (no AWS-managed policies), X-Ray active tracing, the Powertools environment,
memory / timeout / reserved concurrency from ``config.FUNCTIONS``, and exactly the permissions
its entry lists. Permissions on resources made later (the WebSocket stage, state machines,
OpenSearch) are attached by :meth:`Functions.wire_*` as separate policies, so no function
depends on a resource that depends on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Annotations, ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from luma_infra.config import PACKS, TABLES, FunctionSpec, StageConfig
from luma_infra.constructs.data import Data
from luma_infra.discovery import ASSET_EXCLUDES, camel, env_name
from luma_infra.nag import acknowledge, resource_finding

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "handler.handler"


@dataclass
class LumaFunction:
    """One deployed function and what callers need to know about it."""

    name: str
    spec: FunctionSpec
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup
    alias: lambda_.Alias | None = None  # SnapStart functions are invoked through `live`
    dlqs: dict[str, sqs.Queue] = field(default_factory=dict)  # "async" / "stream" / "queue"
    queue: sqs.Queue | None = None  # the FIFO queue it consumes (FunctionSpec.queue)

    @property
    def target(self) -> lambda_.IFunction:
        """What to invoke: the `live` alias for SnapStart functions, else the function."""
        return self.alias or self.function

    @property
    def invoke_arn(self) -> str:
        return self.alias.function_arn if self.alias else self.function.function_arn

    @property
    def invoke_name(self) -> str:
        """A FunctionName for lambda:Invoke (``name:live`` for SnapStart functions)."""
        name = self.function.function_name
        return f"{name}:{self.alias.alias_name}" if self.alias else name


class Functions(Construct):
    """Builds all discovered functions from the config table."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        sources: dict[str, Path],
        data: Data,
        layers: list[lambda_.ILayerVersion],
        secrets: dict[str, secretsmanager.ISecret],
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.data = data
        self.secrets = secrets
        self.by_name: dict[str, LumaFunction] = {}
        for name, source in sources.items():
            self.by_name[name] = self._build(name, source, layers, environment)
        # Functions invoked by others: wired once all exist.
        for fn in self.by_name.values():
            for callee in fn.spec.invokes:
                self._wire_invoke(fn, callee)
            for consumer in fn.spec.sends_to:
                self._wire_send(fn, consumer)

    # ---------------------------------------------------------------------------------------
    def _build(
        self, name: str, source: Path, layers: list[lambda_.ILayerVersion], common_env: dict[str, str]
    ) -> LumaFunction:
        stage = self.stage
        spec = stage.function(name)
        scope = Construct(self, camel(name))
        function_name = stage.prefix(name)

        log_group = stage_log_group(scope, "Logs", stage, f"/aws/lambda/{function_name}")
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Luma {stage.name} {name}: only its log group, tables and listed actions",
        )
        log_group.grant_write(role)
        for table, access in spec.tables.items():
            for statement in self.data.table_statements(table, access):
                role.add_to_policy(statement)
        if spec.scans:
            unlisted = sorted(set(spec.scans) - set(spec.tables))
            if unlisted:
                raise ValueError(f"{name}: scans {unlisted} must also be in its tables")
            role.add_to_policy(self.data.scan_statement(spec.scans))
        for secret in spec.secrets:
            self.secrets[secret].grant_read(role)

        environment = dict(common_env)
        environment["POWERTOOLS_LOG_LEVEL"] = stage.log_level
        for table in spec.tables:
            if table == PACKS:
                environment["LUMA_PACK_TABLES"] = Stack.of(self).to_json_string(self.data.pack_table_names())
            else:
                environment[TABLES[table].env_var] = self.data.tables[table].table_name
        for secret in spec.secrets:
            environment[f"LUMA_{env_name(secret)}_SECRET_ARN"] = self.secrets[secret].secret_arn
        if "twilio" in spec.secrets:  # WhatsApp interactive templates (not secret: Content SIDs)
            environment["LUMA_TWILIO_CONTENT_SIDS"] = json.dumps(dict(stage.twilio_content_sids), sort_keys=True)
        if spec.media != "none":
            self._media(role, spec, environment)
        environment.update(spec.environment)

        function = lambda_.Function(
            scope,
            "Function",
            function_name=function_name,
            description=spec.description or f"Luma {name}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(source), exclude=ASSET_EXCLUDES),
            layers=layers,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            reserved_concurrent_executions=spec.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            environment=environment,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.snap_start else None,
            recursive_loop=lambda_.RecursiveLoop.TERMINATE,
        )
        acknowledge(
            role,
            "IAM5",
            "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not "
            "support resource-level permissions (AWS requires Resource '*').",
            "Resource::*",
        )
        acknowledge(
            function,
            "L1",
            "Python 3.12 is the platform's pinned runtime: the dependency layer is built for "
            "cp312/arm64 wheels and SnapStart is validated on it; runtime upgrades are deliberate.",
        )

        fn = LumaFunction(name, spec, function, role, log_group)
        if spec.snap_start:
            fn.alias = lambda_.Alias(scope, "Live", alias_name="live", version=function.current_version)
            # Versions are published (current_version) and callers use the alias.
            Annotations.of(function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish", "published through the `live` alias"
            )
        if spec.async_invoked:
            dlq = self._queue(scope, "AsyncDlq", f"{function_name}-async-dlq")
            fn.dlqs["async"] = dlq
            # Applies to InvocationType=Event only; on the alias when callers use the alias.
            fn.target.configure_async_invoke(
                on_failure=destinations.SqsDestination(dlq),
                retry_attempts=spec.async_retry_attempts,
                max_event_age=Duration.seconds(spec.async_max_event_age_s),
            )
        if spec.stream:
            stream = spec.stream
            for statement in self.data.stream_statements(stream.table):
                role.add_to_policy(statement)
            dlq = self._queue(scope, "StreamDlq", f"{function_name}-stream-dlq")
            fn.dlqs["stream"] = dlq
            table = self.data.tables[stream.table]
            fn.target.add_event_source_mapping(
                "Stream",
                event_source_arn=table.table_stream_arn,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=stream.batch_size,
                max_batching_window=Duration.seconds(stream.max_batching_window_s),
                bisect_batch_on_error=stream.bisect_batch_on_error,
                report_batch_item_failures=True,
                retry_attempts=stream.retry_attempts,
                max_record_age=Duration.seconds(stream.max_record_age_s),
                parallelization_factor=stream.parallelization_factor,
                on_failure=event_sources.SqsDlq(dlq),
                filters=[lambda_.FilterCriteria.filter(dict(f)) for f in stream.filters] or None,
            )
        if spec.queue:
            self._consume_queue(scope, fn)
        if spec.schedule:
            events.Rule(
                scope,
                "Schedule",
                description=f"Luma {stage.name}: run {name} on a schedule",
                schedule=events.Schedule.expression(spec.schedule),
                targets=[events_targets.LambdaFunction(fn.target, retry_attempts=2)],
            )
        return fn

    def _media(self, role: iam.Role, spec: FunctionSpec, environment: dict[str, str]) -> None:
        """The media bucket's objects: read (and presigned links), write, or delete only (erasure)."""
        media = self.data.media
        environment["LUMA_MEDIA_BUCKET"] = media.bucket_name
        objects = media.arn_for_objects("*")
        if spec.media == "delete":
            role.add_to_policy(iam.PolicyStatement(actions=["s3:DeleteObject"], resources=[objects]))
        else:
            write = spec.media == "write"
            role.add_to_policy(
                iam.PolicyStatement(actions=["s3:GetObject", *(["s3:PutObject"] if write else [])], resources=[objects])
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if write else [])],
                    resources=[self.data.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
                )
            )
        acknowledge(
            role,
            "IAM5",
            "Media objects are keyed <tenant>/<session>/<message>: which keys a function touches is only "
            "known per message, so the grant covers the objects of this one bucket (no bucket-level actions).",
            resource_finding(role, objects),
        )

    def _consume_queue(self, scope: Construct, fn: LumaFunction) -> None:
        """The function's FIFO queue (high-throughput mode: per message group), its FIFO DLQ, the mapping."""
        spec = fn.spec.queue
        assert spec is not None
        dlq = self._queue(scope, "QueueDlq", f"{self.stage.prefix(fn.name)}-queue-dlq.fifo", fifo=True)
        fn.dlqs["queue"] = dlq
        fn.queue = sqs.Queue(
            scope,
            "Queue",
            queue_name=f"{self.stage.prefix(spec.name)}.fifo",
            fifo=True,
            content_based_deduplication=False,  # senders give the deduplication id
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(spec.visibility_timeout_s or 6 * fn.spec.timeout_s),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=spec.max_receive_count, queue=dlq),
        )
        fn.target.add_event_source(
            event_sources.SqsEventSource(fn.queue, batch_size=spec.batch_size, report_batch_item_failures=True)
        )

    def _queue(self, scope: Construct, construct_id: str, queue_name: str, *, fifo: bool = False) -> sqs.Queue:
        queue = sqs.Queue(
            scope,
            construct_id,
            queue_name=queue_name,
            fifo=fifo or None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            queue,
            "SQS3",
            "This queue is itself a dead-letter queue (a Lambda on-failure destination, or a queue's "
            "redrive target); it is alarmed on depth and drained by an operator.",
        )
        return queue

    # ---------------------------------------------------------------------------------------
    # Late wiring: separate policies, attached to the caller's role.
    # ---------------------------------------------------------------------------------------
    def _policy(self, fn: LumaFunction, construct_id: str, statements: list[iam.PolicyStatement]) -> iam.Policy:
        return iam.Policy(self.node.find_child(camel(fn.name)), construct_id, statements=statements, roles=[fn.role])

    def _wire_invoke(self, caller: LumaFunction, callee_name: str) -> None:
        callee = self.by_name.get(callee_name)
        if callee is None:
            return  # the callee's folder has not landed yet
        if callee is caller:
            # A function invoking itself (fast_path's redelivery events): its own Ref/Arn in its
            # environment would be a circular dependency, so use the name it is created with.
            name = self.stage.prefix(callee_name)
            arn = Stack.of(self).format_arn(
                service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            invoke_name, invoke_arn = name, arn
        else:
            invoke_name, invoke_arn = callee.invoke_name, callee.invoke_arn
        caller.function.add_environment(f"LUMA_{env_name(callee_name)}_FUNCTION", invoke_name)
        self._policy(
            caller,
            f"Invoke{camel(callee_name)}",
            [iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[invoke_arn])],
        )

    def _wire_send(self, sender: LumaFunction, consumer_name: str) -> None:
        consumer = self.by_name.get(consumer_name)
        if consumer is None or consumer.queue is None or consumer.spec.queue is None:
            return  # the consumer's folder has not landed yet
        sender.function.add_environment(consumer.spec.queue.env_var, consumer.queue.queue_url)
        self._policy(
            sender,
            f"SendTo{camel(consumer_name)}",
            [iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[consumer.queue.queue_arn])],
        )

    def wire_state_machine(self, sm_name: str, state_machine_arn: str) -> None:
        """Starters get states:StartExecution and the ARN; task-token users get Send* on it."""
        for fn in self.by_name.values():
            if sm_name in fn.spec.starts:
                fn.function.add_environment(f"LUMA_{env_name(sm_name)}_STATE_MACHINE_ARN", state_machine_arn)
                self._policy(
                    fn,
                    f"Start{camel(sm_name)}",
                    [iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine_arn])],
                )
            if sm_name in fn.spec.task_tokens:
                self._policy(
                    fn,
                    f"TaskTokens{camel(sm_name)}",
                    [
                        iam.PolicyStatement(
                            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                            resources=[state_machine_arn],
                        )
                    ],
                )

    def wire_websocket(self, api_id: str, stage_name: str) -> None:
        """execute-api:ManageConnections on this API's stage only, plus its endpoint in env."""
        stack = Stack.of(self)
        endpoint = f"https://{api_id}.execute-api.{stack.region}.{stack.url_suffix}/{stage_name}"
        connections_arn = stack.format_arn(
            service="execute-api", resource=api_id, resource_name=f"{stage_name}/POST/@connections/*"
        )
        for fn in self.by_name.values():
            if not fn.spec.manage_connections:
                continue
            fn.function.add_environment("LUMA_WS_MANAGEMENT_ENDPOINT", endpoint)
            policy = self._policy(
                fn,
                "ManageConnections",
                [iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[connections_arn])],
            )
            acknowledge(
                policy,
                "IAM5",
                "Connection ids are created at run time: the grant is scoped to POST @connections/* "
                "of this WebSocket API's stage and nothing else.",
                resource_finding(self, connections_arn),
            )

    def with_opensearch(self) -> dict[str, list[LumaFunction]]:
        """Functions that read or write the vector store, by access level."""
        levels: dict[str, list[LumaFunction]] = {"read": [], "write": []}
        for fn in self.by_name.values():
            if fn.spec.opensearch != "none":
                levels[fn.spec.opensearch].append(fn)
        return levels

    def add_policy(self, fn: LumaFunction, construct_id: str, statements: list[iam.PolicyStatement]) -> iam.Policy:
        return self._policy(fn, construct_id, statements)


_RETENTIONS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The smallest CloudWatch Logs retention that keeps at least ``days``."""
    for value, member in sorted(_RETENTIONS.items()):
        if value >= days:
            return member
    return logs.RetentionDays.TWO_YEARS


def stage_log_group(scope: Construct, construct_id: str, stage: StageConfig, log_group_name: str) -> logs.LogGroup:
    """A log group with the stage's retention, kept (RETAIN) in production and removed elsewhere."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=retention(stage.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY,
    )
