"""Contracts between the runtime code and the infrastructure (they pass as the code lands)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, Synth

pytestmark = pytest.mark.infra

STAGES = ("dev", "staging", "production")


def _real_functions() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))


def _functions_by_name(synth: Synth, stage: str) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["FunctionName"]: r
        for r in synth.resources(stage, "AWS::Lambda::Function").values()
        if "FunctionName" in r["Properties"]
    }


# ---------------------------------------------------------------------------------------------
# Every functions/<name> is deployed
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_every_function_folder_is_deployed(synth: Synth, stage: str) -> None:
    deployed = _functions_by_name(synth, stage)
    for name in _real_functions():
        physical = f"luma-{stage}-{name.replace('_', '-')}"
        assert physical in deployed, f"functions/{name} is not deployed in {stage}"
        props = deployed[physical]["Properties"]
        assert props["Handler"] == "handler.handler"
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_each_function_ships_its_own_folder(synth: Synth) -> None:
    """The code asset of functions/<name> is that folder (handler.py byte for byte)."""
    deployed = _functions_by_name(synth, "staging")
    for name in _real_functions():
        resource = deployed[f"luma-staging-{name.replace('_', '-')}"]
        asset_dir = synth.outdir / resource["Metadata"]["aws:asset:path"]
        assert (asset_dir / "handler.py").read_bytes() == (ROOT / "functions" / name / "handler.py").read_bytes()
        assert not list(asset_dir.rglob("__pycache__")), "bytecode caches must not be shipped"


# ---------------------------------------------------------------------------------------------
# DynamoDB key schemas == PynamoDB models
# ---------------------------------------------------------------------------------------------
def _models_module() -> Any:
    if importlib.util.find_spec("luma.store.models") is None:
        pytest.skip("luma.store.models does not exist yet (the store lands with the runtime issues)")
    import luma.store.models as models

    return models


def _model_tables(models: Any) -> dict[str, Any]:
    """CDK table name (connections, ...) -> PynamoDB model class."""
    from pynamodb.models import Model

    mapping = getattr(models, "_TABLE_SETTING", None)
    if mapping:  # {ConnectionRow: "connections_table", ...}
        return {attr.removesuffix("_table"): model for model, attr in mapping.items()}
    found = {}
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, Model) and not getattr(value.Meta, "abstract", False):
            table = str(value.Meta.table_name).removeprefix("luma-")
            found.setdefault(table, value)
    return found


def _cfn_tables(synth: Synth) -> dict[str, dict[str, Any]]:
    """Logical table name -> Properties, from the staging template (ids are Data<Name>...)."""
    tables = {}
    for logical_id, resource in synth.resources("staging", "AWS::DynamoDB::Table").items():
        match = re.match(r"^Data([A-Z][a-z]+)[0-9A-F]{8}$", logical_id)
        assert match, logical_id
        tables[match.group(1).lower()] = resource["Properties"]
    return tables


def _key_schema(items: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in items}


def test_every_model_table_exists_in_cdk(synth: Synth) -> None:
    models = _models_module()
    missing = sorted(set(_model_tables(models)) - set(_cfn_tables(synth)))
    assert not missing, f"PynamoDB models for tables the CDK app does not create: {missing}"


@pytest.mark.parametrize("table", ["connections", "conversations", "usage", "clinic"])
def test_table_key_schema_matches_the_model(synth: Synth, table: str) -> None:
    models = _models_module()
    model = _model_tables(models).get(table)
    if model is None:
        pytest.skip(f"no PynamoDB model for the {table} table in luma.store.models yet")
    cfn = _cfn_tables(synth)[table]
    schema = model._get_schema()

    assert _key_schema(cfn["KeySchema"]) == _key_schema(schema["key_schema"]), f"{table}: key schema"
    cfn_types = {a["AttributeName"]: a["AttributeType"] for a in cfn["AttributeDefinitions"]}
    model_types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    assert cfn_types == model_types, f"{table}: key attribute types"

    cfn_gsis = {
        g["IndexName"]: (_key_schema(g["KeySchema"]), g["Projection"]["ProjectionType"])
        for g in cfn.get("GlobalSecondaryIndexes", [])
    }
    model_gsis = {
        g["index_name"]: (_key_schema(g["key_schema"]), g["projection"]["ProjectionType"])
        for g in schema.get("global_secondary_indexes", [])
    }
    assert cfn_gsis == model_gsis, f"{table}: global secondary indexes"
    assert not schema.get("local_secondary_indexes"), f"{table}: LSIs cannot be added after creation"

    from pynamodb.attributes import TTLAttribute

    ttl = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    cfn_ttl = cfn.get("TimeToLiveSpecification", {})
    if ttl:
        assert cfn_ttl == {"AttributeName": ttl[0], "Enabled": True}, f"{table}: TTL attribute"
    else:
        assert not cfn_ttl, f"{table}: the table has TTL but the model has no TTLAttribute"


# ---------------------------------------------------------------------------------------------
# Every ${...} placeholder of every statemachines/*.asl.json is substituted
# ---------------------------------------------------------------------------------------------
def _deployed_definitions(synth: Synth, stage: str = "staging") -> dict[str, tuple[str, dict[str, Any]]]:
    """State machine name -> (definition text as deployed, DefinitionSubstitutions)."""
    found = {}
    for machine in synth.resources(stage, "AWS::StepFunctions::StateMachine").values():
        props = machine["Properties"]
        if "DefinitionS3Location" in props:  # DefinitionBody.from_file: an S3 file asset
            text = (synth.outdir / f"asset.{props['DefinitionS3Location']['Key']}").read_text()
        else:
            text = props["DefinitionString"]
        found[props["StateMachineName"]] = (text, props.get("DefinitionSubstitutions", {}))
    return found


def _check_substituted(synth: Synth, name: str, path: Path) -> None:
    from luma_infra.discovery import PLACEHOLDER

    deployed = _deployed_definitions(synth)
    key = f"luma-staging-{name.replace('_', '-')}"
    assert key in deployed, f"statemachines/{path.name} is not deployed"
    text, substitutions = deployed[key]
    assert text == path.read_text(encoding="utf-8"), "the deployed definition is the file, unchanged"
    json.loads(text)
    used = set(PLACEHOLDER.findall(text))
    missing = sorted(used - set(substitutions))
    assert not missing, f"{path.name}: placeholders without a substitution: {missing}"
    for placeholder in used:
        value = substitutions[placeholder]
        assert isinstance(value, dict) and ({"Ref", "Fn::GetAtt"} & set(value)), (
            f"{path.name}: ${{{placeholder}}} must resolve to a deployed resource, got {value!r}"
        )


def test_every_asl_placeholder_is_substituted(synth: Synth) -> None:
    from luma_infra.discovery import discover_state_machines

    files = discover_state_machines()
    if not files:
        assert not list((ROOT / "statemachines").glob("*.asl.json"))
        return  # nothing to deploy yet: the stack loads every file as it lands
    for file in files:
        assert file.placeholders, f"{file.path.name}: no ${{...}} placeholders at all?"
        _check_substituted(synth, file.name, file.path)


def test_placeholder_convention_on_the_fixture_definition(synth: Synth) -> None:
    """The substitution machinery end to end (on the fixture while the real ASL is missing)."""
    if not synth.fixture_state_machines:
        pytest.skip("statemachines/ has real definitions; the test above covers them")
    from tests.infra.conftest import FIXTURES

    for name in synth.fixture_state_machines:
        _check_substituted(synth, name, FIXTURES / "statemachines" / f"{name}.asl.json")


def test_core_layer_ships_the_luma_package(synth: Synth) -> None:
    (layer,) = [
        r for k, r in synth.resources("staging", "AWS::Lambda::LayerVersion").items() if k.startswith("CoreLayer")
    ]
    asset = synth.outdir / layer["Metadata"]["aws:asset:path"]
    assert (asset / "python" / "luma" / "__init__.py").is_file()  # Lambda puts /opt/python on sys.path
    assert (asset / "python" / "luma" / "metrics_names.py").is_file()
    assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.egg-info"))
