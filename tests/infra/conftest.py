"""One synthesized CDK app for the whole session (the first synth costs seconds; reuse it).

The app is the real one (``infra/luma_infra``, every stage), synthesized from this repository
with two test-only additions so the assertions cover the whole design before all runtime code
has landed: a stub handler for every *configured* function whose ``functions/<name>/`` folder
does not exist yet, and the fixture ``agent_run.asl.json`` while ``statemachines/`` has none.
Real folders and files always win; the contract tests look at the real ones only.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")
for var in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
    os.environ.pop(var, None)  # environment-agnostic, like `make synth` without credentials

pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: run `make infra-deps`")
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))


@dataclass
class Synth:
    """The synthesized app: stacks by stage, their templates, and the cloud assembly."""

    app: Any
    stacks: dict[str, Any]
    sources: Any
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stage -> CloudFormation template (JSON)
    edge_templates: dict[str, dict[str, Any]]  # stage -> its us-east-1 edge stack's template
    violations: list[dict[str, Any]]  # cdk-nag (policy validation) report
    stub_functions: set[str]
    fixture_state_machines: set[str]

    def template(self, stage: str = "staging") -> Any:
        from aws_cdk.assertions import Template

        return Template.from_json(self.templates[stage])

    def resources(self, stage: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stage]["Resources"].items() if v["Type"] == type_}

    def table_ids(self, stage: str = "staging") -> dict[str, str]:
        """Logical ids of the stage's tables: the core ones by name, pack tables by ``<pack>.<table>``."""
        stack = self.stacks[stage]
        tables = {**stack.data.tables, **stack.data.pack_tables}
        return {name: stack.resolve(stack.get_logical_id(t.node.default_child)) for name, t in tables.items()}

    def pack_table_keys(self, stage: str = "staging") -> set[str]:
        return set(self.stacks[stage].data.pack_tables)

    def edge_resources(self, stage: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.edge_templates[stage]["Resources"].items() if v["Type"] == type_}

    def template_files(self) -> list[Path]:
        """Every stack's template: the stages' and their edge stacks'."""
        names = [s.stack_name for s in self.stacks.values()] + [s.edge_stack.stack_name for s in self.stacks.values()]
        return [self.outdir / f"{name}.template.json" for name in names]


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from luma_infra.app import build_app
    from luma_infra.config import FUNCTIONS
    from luma_infra.discovery import discover_functions, discover_state_machines

    stubs = tmp_path_factory.mktemp("stub_functions")
    stub_names = set(FUNCTIONS) - set(discover_functions())
    for name in stub_names:
        (stubs / name).mkdir()
        (stubs / name / "handler.py").write_text(
            f'"""Test stub for functions/{name} (not landed yet)."""\n\n\n'
            "def handler(event, context):\n    return None\n"
        )
    real_machines = {m.name for m in discover_state_machines()}
    fixture_machines = {m.name for m in discover_state_machines(FIXTURES / "statemachines")} - real_machines

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(
        {
            "stage": "all",
            "layers": "placeholder",
            "aws:cdk:enable-asset-metadata": True,  # what the CLI sets from cdk.json (assetMetadata)
            "luma:extraFunctionsDir": str(stubs),
            "luma:extraStateMachinesDir": str(FIXTURES / "statemachines"),
        }
    )
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stacks, sources = build_app(context, str(outdir))
    violations: list[dict[str, Any]] = []
    try:
        app.synth()
    except Exception as err:  # policy validation (cdk-nag) failed: keep the report for the test
        report = outdir / "validation-report.json"
        if not report.exists():
            raise
        for plugin in json.loads(report.read_text())["pluginReports"]:
            violations += plugin.get("violations", [])
        if not violations:
            raise err
    templates = {
        stage: json.loads((outdir / f"{stack.stack_name}.template.json").read_text()) for stage, stack in stacks.items()
    }
    edge_templates = {
        stage: json.loads((outdir / f"{stack.edge_stack.stack_name}.template.json").read_text())
        for stage, stack in stacks.items()
    }
    return Synth(app, stacks, sources, outdir, templates, edge_templates, violations, stub_names, fixture_machines)
