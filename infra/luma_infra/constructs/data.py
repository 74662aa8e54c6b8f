"""State: one customer-managed KMS key, the DynamoDB tables of :data:`config.TABLES` and of the
deployed assistant packs, and the media bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from luma_infra.config import PACKS, TABLES, StageConfig, TableSpec
from luma_infra.discovery import camel
from luma_infra.nag import acknowledge
from luma_infra.packs import Pack

# Every pack table: string keys ``pk``/``sk`` (the tenant first in every ``pk``) and a TTL attribute,
# as luma.store.models.PackDataRow declares them.
PACK_TABLE = TableSpec(partition_key="pk", sort_key="sk", ttl_attribute="ttl")

STRING = ddb.AttributeType.STRING

# DynamoDB data-plane actions (no Scan: every read is key-addressed or a paginated Query).
TABLE_READ_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)
# What a caller of a table encrypted with a customer-managed key needs, spelled out (these
# are the expansions of the usual kms:ReEncrypt* / kms:GenerateDataKey* grants).
KMS_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KMS_WRITE_ACTIONS = (
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)


class Data(Construct):
    """The stage's KMS key and tables, with least-privilege grant helpers."""

    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, packs: list[Pack]) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        removal = RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{stage.prefix()}",
            description=f"Luma {stage.name}: DynamoDB tables, secrets, alarm topic",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(30 if stage.production else 7),
        )
        # CloudWatch alarms publish to the encrypted alarm topic.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKeyForTheAlarmTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy "*" is this key
            )
        )

        self.specs: dict[str, TableSpec] = dict(TABLES)
        self.tables: dict[str, ddb.Table] = {
            name: self._table(name.capitalize(), spec, None) for name, spec in TABLES.items()
        }
        # "<pack>.<table>" -> table, named luma-<stage>-<pack>-<table> (what LUMA_PACK_TABLES maps).
        self.pack_tables: dict[str, ddb.Table] = {}
        for pack in packs:
            for declared in pack.tables:
                self.pack_tables[declared.key] = self._table(
                    f"Pack{camel(pack.name)}{camel(declared.name)}",
                    PACK_TABLE,
                    f"{stage.prefix()}-{pack.name}-{declared.name}",
                )

        # Images received on WhatsApp/SMS, referenced from their messages; kept as long as messages.
        self.media = s3.Bucket(
            self,
            "Media",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(stage.message_retention_days))],
            removal_policy=removal,
            auto_delete_objects=False,
        )
        acknowledge(
            self.media,
            "S1",
            "Access to media objects is logged by CloudTrail data events when the account enables them; "
            "a server access log bucket per stage would hold the same object keys a second time.",
        )

    def _table(self, construct_id: str, spec: TableSpec, table_name: str | None) -> ddb.Table:
        stage = self.stage
        table = ddb.Table(
            self,
            construct_id,
            table_name=table_name,
            partition_key=ddb.Attribute(name=spec.partition_key, type=STRING),
            sort_key=ddb.Attribute(name=spec.sort_key, type=STRING) if spec.sort_key else None,
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            stream=ddb.StreamViewType[spec.stream] if spec.stream else None,
            deletion_protection=stage.production,
            removal_policy=RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY,
        )
        for gsi in spec.gsis:
            table.add_global_secondary_index(
                index_name=gsi.name,
                partition_key=ddb.Attribute(name=gsi.partition_key, type=STRING),
                sort_key=ddb.Attribute(name=gsi.sort_key, type=STRING) if gsi.sort_key else None,
                projection_type=ddb.ProjectionType.ALL,
            )
        return table

    def table_statements(self, name: str, access: str) -> list[iam.PolicyStatement]:
        """Least-privilege statements for one table (its ARN and its named indexes only), or for
        every pack table when ``name`` is :data:`config.PACKS` (none deployed: no statements)."""
        if name == PACKS:
            resources = [table.table_arn for _, table in sorted(self.pack_tables.items())]
            if not resources:
                return []
        elif name in self.tables:
            table = self.tables[name]
            resources = [table.table_arn] + [f"{table.table_arn}/index/{gsi.name}" for gsi in self.specs[name].gsis]
        else:
            raise KeyError(f"unknown table {name!r} (known: {', '.join(self.tables)}, {PACKS})")
        actions = list(TABLE_READ_ACTIONS) + (list(TABLE_WRITE_ACTIONS) if access == "rw" else [])
        kms_actions = list(KMS_READ_ACTIONS) + (list(KMS_WRITE_ACTIONS) if access == "rw" else [])
        return [
            iam.PolicyStatement(actions=actions, resources=resources),
            iam.PolicyStatement(
                actions=kms_actions,
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Stack.of(self).region}.amazonaws.com"}},
            ),
        ]

    def scan_statement(self, names: tuple[str, ...]) -> iam.PolicyStatement:
        """dynamodb:Scan on these tables themselves (never their indexes)."""
        unknown = [n for n in names if n not in self.tables]
        if unknown:
            raise KeyError(f"scans: unknown table(s) {unknown} (known: {', '.join(self.tables)})")
        return iam.PolicyStatement(actions=["dynamodb:Scan"], resources=[self.tables[n].table_arn for n in names])

    def pack_table_names(self) -> dict[str, str]:
        """``LUMA_PACK_TABLES``: "<pack>.<table>" -> the physical name (tokens, resolved at deploy time)."""
        return {key: table.table_name for key, table in sorted(self.pack_tables.items())}

    def stream_statements(self, name: str) -> list[iam.PolicyStatement]:
        table = self.tables[name]
        if table.table_stream_arn is None:
            raise ValueError(f"table {name} has no stream: set TableSpec.stream in config.TABLES")
        return [
            iam.PolicyStatement(
                actions=[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
                resources=[table.table_stream_arn],
            ),
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:DescribeKey"], resources=[self.key.key_arn]),
        ]
