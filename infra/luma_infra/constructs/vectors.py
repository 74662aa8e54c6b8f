"""Long-term memory vectors in OpenSearch: a Serverless VECTORSEARCH collection or a managed domain.

Chosen per stage (``StageConfig.opensearch_mode``); docs/deploy.md compares their idle cost.
Both are reached with SigV4 from the functions whose config says ``opensearch="read"|"write"``;
their environment carries what ``luma.memory.vectors`` reads: ``LUMA_OPENSEARCH_URL``,
``LUMA_OPENSEARCH_SERVICE`` (``aoss`` | ``es``), ``LUMA_OPENSEARCH_SIGV4=true``, the index
(``LUMA_MEMORY_INDEX``) and the hybrid search pipeline (``LUMA_MEMORY_SEARCH_PIPELINE``). Grants
name that one index and that one pipeline. With ``none``, memory retrieval and extraction are off
(no URL in the environment).
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import aws_opensearchservice as opensearch
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.functions import Functions, stage_log_group
from luma_infra.nag import acknowledge, resource_finding

# The memory index and the search pipeline the adapter creates (luma.config defaults, set explicitly).
MEMORY_INDEX = "luma-memory"
SEARCH_PIPELINE = "luma-memory-hybrid"
ENGINE_VERSION = opensearch.EngineVersion.OPENSEARCH_2_19

AOSS_ACTIONS = {
    "read": ["aoss:DescribeIndex", "aoss:ReadDocument"],
    "write": [
        "aoss:DescribeIndex",
        "aoss:ReadDocument",
        "aoss:WriteDocument",
        "aoss:CreateIndex",
        "aoss:UpdateIndex",
    ],
}
# Search pipelines (PUT /_search/pipeline/<id>) are collection items in Serverless.
AOSS_COLLECTION_ACTIONS = {
    "read": ["aoss:DescribeCollectionItems"],
    "write": ["aoss:DescribeCollectionItems", "aoss:CreateCollectionItems", "aoss:UpdateCollectionItems"],
}
ES_ACTIONS = {
    "read": ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"],  # _search is a POST
    "write": ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"],
}


class Vectors(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageConfig, functions: Functions, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.endpoint: str | None = None
        self.service = ""
        users = functions.with_opensearch()
        if stage.opensearch_mode == "serverless":
            self._serverless(functions, users)
        elif stage.opensearch_mode == "domain":
            self._domain(functions, users, key)
        if self.endpoint:
            for level in users.values():
                for fn in level:
                    fn.function.add_environment("LUMA_OPENSEARCH_URL", self.endpoint)
                    fn.function.add_environment("LUMA_OPENSEARCH_SERVICE", self.service)
                    fn.function.add_environment("LUMA_OPENSEARCH_SIGV4", "true")
                    fn.function.add_environment("LUMA_MEMORY_INDEX", MEMORY_INDEX)
                    fn.function.add_environment("LUMA_MEMORY_SEARCH_PIPELINE", SEARCH_PIPELINE)

    # ---------------------------------------------------------------------------------------
    def _serverless(self, functions: Functions, users: dict[str, list]) -> None:
        stage = self.stage
        name = stage.prefix("memory")  # 3-32 lower-case characters
        encryption = aoss.CfnSecurityPolicy(
            self,
            "Encryption",
            name=f"{name}-enc",
            type="encryption",
            policy=json.dumps(
                {"Rules": [{"ResourceType": "collection", "Resource": [f"collection/{name}"]}], "AWSOwnedKey": True}
            ),
        )
        network = aoss.CfnSecurityPolicy(
            self,
            "Network",
            name=f"{name}-net",
            type="network",
            # Public endpoint, IAM (SigV4) + the data access policy below: Lambdas stay out of a VPC.
            policy=json.dumps(
                [
                    {
                        "Rules": [{"ResourceType": "collection", "Resource": [f"collection/{name}"]}],
                        "AllowFromPublic": True,
                    }
                ]
            ),
        )
        collection = aoss.CfnCollection(
            self,
            "Collection",
            name=name,
            type="VECTORSEARCH",
            description=f"Luma {stage.name}: long-term memory vectors",
            standby_replicas="ENABLED" if stage.opensearch_standby_replicas else "DISABLED",
        )
        collection.add_resource_dependency(encryption)
        collection.add_resource_dependency(network)
        collection.apply_removal_policy(RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY)
        self.endpoint = collection.attr_collection_endpoint
        self.service = "aoss"

        rules = []
        principals = {level: [fn.role.role_arn for fn in fns] for level, fns in users.items()}
        # People who run `luma memory reindex` (it creates the index and the pipeline, then writes).
        principals["write"] = principals.get("write", []) + list(stage.opensearch_admin_roles)
        for level, arns in principals.items():
            if not arns:
                continue
            rules.append(
                {
                    "Rules": [
                        {
                            "ResourceType": "index",
                            "Resource": [f"index/{name}/{MEMORY_INDEX}"],
                            "Permission": AOSS_ACTIONS[level],
                        },
                        {
                            "ResourceType": "collection",
                            "Resource": [f"collection/{name}"],
                            "Permission": AOSS_COLLECTION_ACTIONS[level],
                        },
                    ],
                    "Principal": arns,
                    "Description": f"luma {level}",
                }
            )
        for fns in users.values():
            for fn in fns:
                functions.add_policy(
                    fn,
                    "OpenSearch",
                    [iam.PolicyStatement(actions=["aoss:APIAccessAll"], resources=[collection.attr_arn])],
                )
        if rules:
            aoss.CfnAccessPolicy(
                self, "DataAccess", name=f"{name}-data", type="data", policy=Stack.of(self).to_json_string(rules)
            )

    # ---------------------------------------------------------------------------------------
    def _domain(self, functions: Functions, users: dict[str, list], key: kms.IKey) -> None:
        stage = self.stage
        removal = RemovalPolicy.RETAIN if stage.production else RemovalPolicy.DESTROY
        slow_logs = stage_log_group(self, "SlowLogs", stage, f"/aws/opensearch/{stage.prefix('memory')}/slow")
        app_logs = stage_log_group(self, "AppLogs", stage, f"/aws/opensearch/{stage.prefix('memory')}/app")
        # The log delivery permission, as a plain resource policy (the Domain construct's own
        # `logging` option would add a custom-resource Lambda to write it).
        logs_policy = logs.ResourcePolicy(
            self,
            "LogsPolicy",
            resource_policy_name=stage.prefix("opensearch-logs"),
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("es.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[slow_logs.log_group_arn, app_logs.log_group_arn],
                )
            ],
        )
        multi_node = stage.opensearch_instance_count > 1
        domain = opensearch.Domain(
            self,
            "Domain",
            domain_name=stage.prefix("memory"),
            version=ENGINE_VERSION,
            capacity=opensearch.CapacityConfig(
                data_nodes=stage.opensearch_instance_count,
                data_node_instance_type=stage.opensearch_instance_type,
                multi_az_with_standby_enabled=False,
            ),
            ebs=opensearch.EbsOptions(volume_size=stage.opensearch_volume_gb),
            zone_awareness=opensearch.ZoneAwarenessConfig(enabled=multi_node, availability_zone_count=2)
            if multi_node
            else opensearch.ZoneAwarenessConfig(enabled=False),
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True, kms_key=key),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            removal_policy=removal,
        )
        cfn = domain.node.default_child
        assert isinstance(cfn, opensearch.CfnDomain)
        cfn.log_publishing_options = {
            log_type: opensearch.CfnDomain.LogPublishingOptionProperty(
                enabled=True, cloud_watch_logs_log_group_arn=group.log_group_arn
            )
            for log_type, group in (
                ("SEARCH_SLOW_LOGS", slow_logs),
                ("INDEX_SLOW_LOGS", slow_logs),
                ("ES_APPLICATION_LOGS", app_logs),
            )
        }
        domain.node.add_dependency(logs_policy)
        # IAM decides (SigV4): the domain trusts this account's identity policies, which grant
        # each function only its indexes. Set on the L1 resource: the Domain construct's own
        # `access_policies` option deploys a custom-resource Lambda to write it.
        cfn.access_policies = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": Stack.of(self).format_arn(service="iam", region="", resource="root")},
                    "Action": "es:ESHttp*",
                    "Resource": Stack.of(self).format_arn(
                        service="es", resource="domain", resource_name=f"{stage.prefix('memory')}/*"
                    ),
                }
            ],
        }
        self.endpoint = f"https://{domain.domain_endpoint}"
        self.service = "es"
        index = f"{domain.domain_arn}/{MEMORY_INDEX}"
        index_paths = f"{index}/*"  # _search, _mapping, _doc/<id>, _delete_by_query, _refresh

        def statements(level: str) -> list[iam.PolicyStatement]:
            found = [iam.PolicyStatement(actions=ES_ACTIONS[level], resources=[index, index_paths])]
            if level == "write":
                # _bulk carries the index in its body; the pipeline is created by ensure_ready.
                found.append(iam.PolicyStatement(actions=["es:ESHttpPost"], resources=[f"{domain.domain_arn}/_bulk"]))
                found.append(
                    iam.PolicyStatement(
                        actions=["es:ESHttpGet", "es:ESHttpPut"],
                        resources=[f"{domain.domain_arn}/_search/pipeline/{SEARCH_PIPELINE}"],
                    )
                )
            return found

        for level, fns in users.items():
            for fn in fns:
                policy = functions.add_policy(fn, "OpenSearch", statements(level))
                acknowledge(
                    policy,
                    "IAM5",
                    f"The paths under the one memory index '{MEMORY_INDEX}' of this domain (_search, _mapping, "
                    "_doc/<id>, _delete_by_query): document ids are made at run time.",
                    resource_finding(self, index_paths),
                )
        reason_public = (
            "Reached with SigV4 by IAM roles only (no resource policy grants anyone else); a VPC "
            "would put every Lambda behind NAT gateways for a single small dev/test domain."
        )
        acknowledge(domain, "OS1", reason_public)
        acknowledge(domain, "OS3", reason_public)
        if not multi_node:
            single = (
                f"A single-node domain ({stage.opensearch_instance_type}) keeps the {stage.name} stage "
                "cheap; the index is rebuildable from DynamoDB (memory items are kept there)."
            )
            acknowledge(domain, "OS4", single)
            acknowledge(domain, "OS7", single)
        else:
            acknowledge(domain, "OS4", "Data nodes only: dedicated masters are worth it above 3 data nodes.")
