"""Every custom metric the dashboard reads is emitted somewhere in the code.

Emission sites are found statically (AST) in ``layers/core/python/luma`` and ``functions/``:
``metrics.add_metric(name=X)``, ``single_metric(name=X)`` and ``emit(X, ...)`` (the helper in
``luma.observability``), where X is a ``luma.metrics_names`` constant or a string literal.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, Synth

pytestmark = pytest.mark.infra

# Metrics the dashboard reads before the code that emits them has landed. Remove a name when its
# emitter lands (the test fails while a pending name is already emitted, so this only shrinks).
PENDING: set[str] = set()

SCANNED = (ROOT / "layers" / "core" / "python" / "luma", ROOT / "functions")
EMITTERS = {"add_metric", "single_metric", "emit"}


def _metric_names_module() -> Any:
    from luma_infra.constructs.observability import load_metric_names

    return load_metric_names()


def _constant_values() -> dict[str, str]:
    names = _metric_names_module()
    return {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


def emitted_metric_names(bases: tuple[Path, ...] = SCANNED) -> dict[str, list[str]]:
    """Metric name -> ["file:line", ...] for every static emission site."""
    constants = _constant_values()
    found: dict[str, list[str]] = {}
    for base in bases:
        for path in sorted(base.rglob("*.py")):
            if path.name == "metrics_names.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if fname not in EMITTERS:
                    continue
                arg = next((k.value for k in node.keywords if k.arg == "name"), None)
                if arg is None and node.args:
                    arg = node.args[0]
                value = None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    value = arg.value
                elif isinstance(arg, ast.Attribute) and arg.attr in constants:
                    value = constants[arg.attr]
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    value = constants[arg.id]
                if value:
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    found.setdefault(value, []).append(f"{where}:{node.lineno}")
    return found


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_text(p) for p in parts)
    return "TOKEN"  # tokens sit inside JSON strings of the body


def dashboard_custom_metrics(template: dict[str, Any], namespace: str) -> set[str]:
    """Names of the custom-namespace metrics a dashboard body reads (metric arrays and SEARCH)."""
    names: set[str] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = json.loads(_text(resource["Properties"]["DashboardBody"]))
        for widget in body["widgets"]:
            for metric in widget.get("properties", {}).get("metrics", []):
                if metric and metric[0] == namespace:
                    names.add(metric[1])
                for item in metric:
                    if isinstance(item, dict) and "expression" in item:
                        for search in re.findall(r"SEARCH\('\{(\w+)[^}]*\}([^']*)'", item["expression"]):
                            if search[0] == namespace:
                                names.update(re.findall(r'MetricName="(\w+)"', search[1]))
    return names


@pytest.fixture(scope="module")
def dashboard_names(synth: Synth) -> set[str]:
    names = dashboard_custom_metrics(synth.templates["staging"], _metric_names_module().NAMESPACE)
    assert names, "the dashboard reads no custom metric?"
    return names


def test_dashboard_reads_only_declared_metric_names(dashboard_names: set[str]) -> None:
    declared = set(_metric_names_module().ALL)
    assert dashboard_names <= declared, f"not in luma/metrics_names.py: {sorted(dashboard_names - declared)}"
    assert declared <= dashboard_names, f"declared but not on the dashboard: {sorted(declared - dashboard_names)}"


def test_every_dashboard_metric_is_emitted_by_the_code(dashboard_names: set[str]) -> None:
    emitted = emitted_metric_names()
    missing = sorted(dashboard_names - set(emitted) - PENDING)
    assert not missing, (
        f"the dashboard reads {missing} but no code emits them (metrics.add_metric(name=...) / emit(...)); "
        "emit them, or list them in PENDING with the issue that will"
    )


def test_pending_list_only_shrinks(dashboard_names: set[str]) -> None:
    emitted = emitted_metric_names()
    landed = {name: emitted[name] for name in sorted(PENDING & set(emitted))}
    assert not landed, f"now emitted, remove from PENDING in {Path(__file__).name}: {landed}"
    assert dashboard_names >= PENDING, f"PENDING names the dashboard does not read: {sorted(PENDING - dashboard_names)}"


def test_the_scanner_sees_all_call_shapes(tmp_path: Path) -> None:
    """Guard the scanner itself: constants, literals, keyword and positional forms."""
    (tmp_path / "sample.py").write_text(
        "from luma import metrics_names as mn\n"
        "from luma.metrics_names import DELIVERY_GONE\n"
        "emit(mn.TURNS, 1, route='agent')\n"
        "metrics.add_metric(name=mn.ERRORS, unit='Count', value=1)\n"
        "metrics.add_metric(name='ConnectionsOpened', unit='Count', value=1)\n"
        "with single_metric(name=DELIVERY_GONE, unit='Count', value=1): pass\n"
        "emit(some_variable, 1)\n"
    )
    found = emitted_metric_names((tmp_path,))
    assert set(found) == {"Turns", "Errors", "ConnectionsOpened", "DeliveryGone"}
