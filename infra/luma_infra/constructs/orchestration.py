"""Step Functions: every ``statemachines/<name>.asl.json``, with placeholders substituted.

Placeholders follow one convention (the local runner substitutes the same names):

* ``${<Camel>FunctionArn}`` / ``${<Camel>FunctionName}`` -> ``functions/<snake>``
  (the ``live`` alias for SnapStart functions); the state machine may invoke exactly these.
* ``${<Camel>TableName}`` / ``${<Camel>TableArn}`` -> the ``<snake>`` table; the state machine
  gets read-write on exactly these (for direct DynamoDB service integrations).

A placeholder that matches nothing fails the synth: a definition is never deployed with a
literal ``${...}`` left in it.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.data import Data
from luma_infra.constructs.functions import Functions, stage_log_group
from luma_infra.discovery import StateMachineFile, camel
from luma_infra.nag import acknowledge


def substitutions(functions: Functions, data: Data) -> dict[str, tuple[str, str, str]]:
    """Every placeholder the convention offers: ``{placeholder: (kind, name, value)}``."""
    subs: dict[str, tuple[str, str, str]] = {}
    for name, fn in functions.by_name.items():
        subs[f"{camel(name)}FunctionArn"] = ("function", name, fn.invoke_arn)
        subs[f"{camel(name)}FunctionName"] = ("function", name, fn.invoke_name)
    for name, table in data.tables.items():
        subs[f"{camel(name)}TableName"] = ("table", name, table.table_name)
        subs[f"{camel(name)}TableArn"] = ("table", name, table.table_arn)
    return subs


class StateMachines(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        files: list[StateMachineFile],
        functions: Functions,
        data: Data,
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, sfn.StateMachine] = {}
        available = substitutions(functions, data)
        for file in files:
            unknown = sorted(file.placeholders - available.keys())
            if unknown:
                raise ValueError(
                    f"statemachines/{file.path.name}: no value for placeholder(s) "
                    + ", ".join("${" + u + "}" for u in unknown)
                    + " (expected ${<Function>FunctionArn|Name} for a functions/<function> folder, "
                    "or ${<Table>TableName|Arn} for a table in infra config)"
                )
            used = {p: available[p] for p in sorted(file.placeholders)}
            scope_ = Construct(self, camel(file.name))
            # /aws/vendedlogs/ keeps the CloudWatch Logs resource policy small.
            log_group = stage_log_group(scope_, "Logs", stage, f"/aws/vendedlogs/states/{stage.prefix(file.name)}")
            machine = sfn.StateMachine(
                scope_,
                "StateMachine",
                state_machine_name=stage.prefix(file.name),
                state_machine_type=sfn.StateMachineType.STANDARD,  # task tokens, runs > 5 min
                definition_body=sfn.DefinitionBody.from_file(str(file.path)),
                definition_substitutions={p: value for p, (_, _, value) in used.items()},
                # Every state transition is logged, never its input and output: they carry message
                # text, personal data and task tokens (which would let a log reader answer approvals).
                logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
                tracing_enabled=True,
            )
            invoked = sorted({functions.by_name[n].invoke_arn for kind, n, _ in used.values() if kind == "function"})
            if invoked:
                machine.add_to_role_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=invoked))
            for table in sorted({n for kind, n, _ in used.values() if kind == "table"}):
                for statement in data.table_statements(table, "rw"):
                    machine.add_to_role_policy(statement)
            acknowledge(
                machine.role,
                "IAM5",
                "Step Functions logging and X-Ray tracing: the CloudWatch Logs delivery actions "
                "(logs:CreateLogDelivery, ...) and xray:PutTraceSegments/GetSamplingRules do not "
                "support resource-level permissions (AWS requires Resource '*').",
                "Resource::*",
            )
            functions.wire_state_machine(file.name, machine.state_machine_arn)
            self.by_name[file.name] = machine
