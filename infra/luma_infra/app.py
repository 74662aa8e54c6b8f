"""Building the CDK app: the same code for `cdk synth` (infra/app.py) and for the tests.

Context values (``-c key=value``):

* ``stage``: ``dev`` | ``staging`` | ``production`` | ``all`` (default: the stages CI deploys).
  Each stage is two stacks: ``Luma-<stage>`` and its us-east-1 ``Luma-<stage>-edge`` (the WAF web ACL),
  a dependency that ``cdk deploy Luma-<stage>`` deploys first.
* ``layers``: ``auto`` (default) | ``built`` | ``placeholder`` (see luma_infra/layers.py).
* ``luma:extraFunctionsDir`` (tests): stub functions for configured names not in functions/ yet.
* ``luma:extraStateMachinesDir`` (tests): sample ASL files used when statemachines/ has none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from luma_infra.config import DEFAULT_STAGES, STAGES, StageConfig
from luma_infra.constructs.edge import EDGE_REGION, EdgeStack
from luma_infra.discovery import FUNCTIONS_DIR, discover_functions, discover_state_machines
from luma_infra.layers import resolve_deps_layer, stage_core_layer
from luma_infra.nag import add_checks
from luma_infra.packs import installed_packs
from luma_infra.stack import LumaStack, Sources


def selected_stages(value: str | None) -> list[StageConfig]:
    if value in (None, ""):
        names = list(DEFAULT_STAGES)
    elif value == "all":
        names = list(STAGES)
    else:
        names = [n.strip() for n in value.split(",")]
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"context stage={value!r}: unknown stage(s) {unknown}; known: {', '.join(STAGES)}, all")
    return [STAGES[n] for n in names]


def collect_sources(app: App) -> Sources:
    functions = {name: FUNCTIONS_DIR / name for name in discover_functions()}
    extra = app.node.try_get_context("luma:extraFunctionsDir")
    if extra:
        for name in discover_functions(Path(extra)):
            functions.setdefault(name, Path(extra) / name)
    machines = discover_state_machines()
    extra_sm = app.node.try_get_context("luma:extraStateMachinesDir")
    if extra_sm:
        present = {m.name for m in machines}
        machines += [m for m in discover_state_machines(Path(extra_sm)) if m.name not in present]
    deps = resolve_deps_layer(app.node.try_get_context("layers") or "auto")
    return Sources(
        functions=dict(sorted(functions.items())),
        state_machines=machines,
        deps_layer=deps,
        core_layer=stage_core_layer(),
        packs=installed_packs(),
    )


def environment(stage: StageConfig) -> Environment | None:
    """The stage's account/region, else the CLI's (CDK_DEFAULT_*), else environment-agnostic."""
    account = stage.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = stage.region or os.environ.get("CDK_DEFAULT_REGION")
    if not account and not region:
        return None
    return Environment(account=account, region=region)


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[App, dict[str, LumaStack], Sources]:
    app = App(context=context, outdir=outdir) if (context or outdir) else App()
    sources = collect_sources(app)
    stacks = {}
    for stage in selected_stages(app.node.try_get_context("stage")):
        env = environment(stage)
        edge = EdgeStack(
            app,
            stage.edge_stack_name,
            stage=stage,
            env=Environment(account=env.account if env else None, region=EDGE_REGION),
            description=f"Luma {stage.name}: the WAF web ACL of the CloudFront distributions (us-east-1)",
        )
        stack = LumaStack(
            app,
            stage.stack_name,
            stage=stage,
            sources=sources,
            env=env,
            description=f"Luma {stage.name}: serverless conversational-agent platform",
        )
        stack.add_stack_dependency(edge, reason="the distributions use the edge stack's web ACL")
        stack.edge_stack = edge
        stacks[stage.name] = stack
    add_checks(app)
    return app, stacks, sources
