"""One stack per stage: data, identity, functions, APIs behind CloudFront + WAF, state machines,
vectors, operations (the WAF web ACL itself is in the stage's us-east-1 edge stack)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from luma_infra.config import FUNCTIONS, StageConfig
from luma_infra.constructs.apis import HTTP_FUNCTIONS, WEBSOCKET_FUNCTIONS, ApiGatewayAccount, HttpApi, WebSocketApi
from luma_infra.constructs.data import Data
from luma_infra.constructs.edge import Edge
from luma_infra.constructs.functions import ARCHITECTURE, RUNTIME, Functions
from luma_infra.constructs.identity import Secrets, UserPool
from luma_infra.constructs.observability import Operations, load_metric_names
from luma_infra.constructs.operator_access import DlqOperatorPolicy
from luma_infra.constructs.orchestration import StateMachines
from luma_infra.constructs.vectors import Vectors
from luma_infra.discovery import ASSET_EXCLUDES, CORE_LAYER_DIR, StateMachineFile
from luma_infra.layers import LayerAsset
from luma_infra.packs import Pack, deployed_packs


@dataclass(frozen=True)
class Sources:
    """The runtime code this stack deploys (by convention, from the repository)."""

    functions: dict[str, Path]
    state_machines: list[StateMachineFile]
    deps_layer: LayerAsset
    core_layer: Path = CORE_LAYER_DIR  # the staged copy with the generated dist-info (layers.stage_core_layer)
    packs: dict[str, Pack] = field(default_factory=dict)  # installed assistant packs, by name
    notes: list[str] = field(default_factory=list)


class LumaStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageConfig, sources: Sources, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        Tags.of(self).add("project", "luma")
        Tags.of(self).add("stage", stage.name)
        metric_names = load_metric_names()

        self.packs = deployed_packs(stage.assistants, sources.packs)
        self.data = Data(self, "Data", stage=stage, packs=self.packs)
        self.secrets = Secrets(self, "Secrets", stage=stage, key=self.data.key)
        self.users = UserPool(self, "Users", stage=stage)

        core_layer = lambda_.LayerVersion(
            self,
            "CoreLayer",
            description="Luma core package (luma/)",
            code=lambda_.Code.from_asset(str(sources.core_layer), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        deps = sources.deps_layer
        deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            description="Luma third-party dependencies (pyproject [project] dependencies, arm64, cp312)",
            code=lambda_.Code.from_asset(str(deps.path), asset_hash=deps.asset_hash),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )

        environment = {
            "LUMA_ENV": "aws",
            # The packs this stage serves: exactly those whose tables it created.
            "LUMA_ASSISTANTS": json.dumps([pack.name for pack in self.packs]),
            "LUMA_AUTH_MODE": "cognito",
            "LUMA_COGNITO_JWKS_URL": self.users.jwks_url,
            "LUMA_JWT_ISSUER": self.users.issuer,
            "LUMA_JWT_AUDIENCE": self.users.client.user_pool_client_id,
            "POWERTOOLS_SERVICE_NAME": metric_names.SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": metric_names.NAMESPACE,
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",  # responses carry personal data
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
            **stage.settings_env(),
        }
        if stage.default_assistant:
            environment["LUMA_ASSISTANT"] = stage.default_assistant
        self.functions = Functions(
            self,
            "Functions",
            stage=stage,
            sources=sources.functions,
            data=self.data,
            layers=[core_layer, deps_layer],
            secrets=dict(self.secrets.by_name),
            environment=environment,
        )
        fns = self.functions.by_name

        self.ws_api: WebSocketApi | None = None
        self.http_api: HttpApi | None = None
        missing_ws = [n for n in WEBSOCKET_FUNCTIONS if n not in fns]
        if not missing_ws:
            account = ApiGatewayAccount(self, "ApiGatewayAccount")
            self.ws_api = WebSocketApi(self, "WebSocket", stage=stage, functions=self.functions, account=account)
        else:
            sources.notes.append(f"WebSocket API not built: functions/{', functions/'.join(missing_ws)} missing")
        if all(n in fns for n in HTTP_FUNCTIONS):
            self.http_api = HttpApi(self, "Http", stage=stage, functions=self.functions, users=self.users)
        else:
            sources.notes.append("HTTP API not built: functions/http_api missing")
        self.edge = Edge(
            self,
            "Edge",
            stage=stage,
            functions=self.functions,
            origin_secret=self.secrets.by_name["origin_verify"],
            http_api=self.http_api,
            ws_api=self.ws_api,
        )
        if self.edge.ws is not None:
            CfnOutput(self, "WebSocketUrl", value=self.edge.ws_url, description="wss://.../<stage>?token=<JWT>")
        if self.edge.http is not None:
            CfnOutput(self, "HttpApiUrl", value=self.edge.http_url)

        self.state_machines = StateMachines(
            self, "StateMachines", stage=stage, files=sources.state_machines, functions=self.functions, data=self.data
        )
        self.vectors = Vectors(self, "Vectors", stage=stage, functions=self.functions, key=self.data.key)
        self.operations = Operations(
            self,
            "Operations",
            stage=stage,
            key=self.data.key,
            functions=fns,
            state_machines=self.state_machines.by_name,
            ws_api_id=self.ws_api.api.api_id if self.ws_api else None,
            ws_stage=self.ws_api.stage.stage_name if self.ws_api else None,
            http_api_id=self.http_api.api.api_id if self.http_api else None,
        )

        self.dlq_operator = DlqOperatorPolicy(self, "DlqOperator", stage=stage, functions=fns, data=self.data)

        planned = sorted(set(FUNCTIONS) - set(fns))
        if planned:
            sources.notes.append(f"configured, not landed yet: {', '.join(planned)}")
        sources.notes[:] = list(dict.fromkeys(sources.notes))  # once, not once per stage
        for name, table in self.data.tables.items():
            CfnOutput(self, f"{name.capitalize()}Table", value=table.table_name)
        CfnOutput(
            self,
            "PackTables",
            value=self.to_json_string(self.data.pack_table_names()),
            description='LUMA_PACK_TABLES: the assistant packs\' tables, "<pack>.<table>" -> name',
        )
        CfnOutput(self, "UserPoolId", value=self.users.pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.users.client.user_pool_client_id)
        for name, secret in self.secrets.by_name.items():
            CfnOutput(self, f"{name.capitalize()}SecretArn", value=secret.secret_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.operations.topic.topic_arn)
        CfnOutput(
            self,
            "DlqOperatorPolicyArn",
            value=self.dlq_operator.policy.managed_policy_arn,
            description="attach to the role or group of the people who run `luma dlq list|redrive`",
        )
        if self.vectors.endpoint:
            CfnOutput(self, "OpenSearchEndpoint", value=self.vectors.endpoint)
