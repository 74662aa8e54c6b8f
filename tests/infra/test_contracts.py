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
    """Table -> Properties in the staging template (core tables by name, pack tables by ``<pack>.<table>``)."""
    resources = synth.templates["staging"]["Resources"]
    return {name: resources[logical_id]["Properties"] for name, logical_id in synth.table_ids("staging").items()}


def _key_schema(items: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in items}


def _assert_same_schema(model: Any, cfn: dict[str, Any], table: str) -> None:
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


def test_every_model_table_exists_in_cdk(synth: Synth) -> None:
    models = _models_module()
    missing = sorted(set(_model_tables(models)) - set(_cfn_tables(synth)))
    assert not missing, f"PynamoDB models for tables the CDK app does not create: {missing}"


@pytest.mark.parametrize("table", ["connections", "conversations", "usage"])
def test_table_key_schema_matches_the_model(synth: Synth, table: str) -> None:
    models = _models_module()
    model = _model_tables(models).get(table)
    if model is None:
        pytest.skip(f"no PynamoDB model for the {table} table in luma.store.models yet")
    _assert_same_schema(model, _cfn_tables(synth)[table], table)


# ---------------------------------------------------------------------------------------------
# Assistant packs: one table per declared table of every installed pack, named by convention
# ---------------------------------------------------------------------------------------------
def _installed_pack_tables() -> dict[str, str]:
    """``<pack>.<table>`` of every installed pack (the registry's own discovery), -> pack name."""
    from luma.assistants.registry import installed

    found = {}
    for name, ep in installed().items():
        target = ep.load()
        for spec in target.tables:
            found[f"{name}.{spec.name}"] = name
    return found


def test_every_installed_pack_table_is_created(synth: Synth) -> None:
    declared = _installed_pack_tables()
    assert declared, "the built-in packs declare tables"
    for stage in STAGES:
        assert synth.pack_table_keys(stage) == set(declared), stage
        resources = synth.templates[stage]["Resources"]
        for key, logical_id in synth.table_ids(stage).items():
            if key in declared:
                pack, table = key.split(".")
                assert resources[logical_id]["Properties"]["TableName"] == f"luma-{stage}-{pack}-{table}"


def test_pack_tables_match_the_pack_data_model(synth: Synth) -> None:
    from luma.config import Settings
    from luma.store.packdata import pack_table

    settings = Settings(pack_table_prefix="luma-staging")
    cfn = _cfn_tables(synth)
    for key in _installed_pack_tables():
        pack, table = key.split(".")
        _assert_same_schema(pack_table(pack, table, settings), cfn[key], key)
        assert cfn[key]["BillingMode"] == "PAY_PER_REQUEST"
        assert cfn[key]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def _resolved_json(value: Any, resources: dict[str, Any]) -> Any:
    """A JSON env value (Fn::Join of text and Refs) with each table Ref replaced by its TableName."""
    if isinstance(value, str):
        return json.loads(value)
    parts = []
    for part in value["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        else:
            parts.append(resources[part["Ref"]]["Properties"]["TableName"])
    return json.loads("".join(parts))


def test_runtime_finds_each_pack_table_through_luma_pack_tables(synth: Synth) -> None:
    """What CDK puts in LUMA_PACK_TABLES is what luma.store.packdata.table_name looks up."""
    from luma.config import Settings
    from luma.store.packdata import table_name
    from luma_infra.config import PACKS, STAGES

    resources = synth.templates["staging"]["Resources"]
    users = [name for name in synth.sources.functions if PACKS in STAGES["staging"].function(name).tables]
    assert {"fast_path", "agent_tool", "http_api", "erasure"} <= set(users)
    for name, fn in _functions_by_name(synth, "staging").items():
        env = fn["Properties"]["Environment"]["Variables"]
        short = name.removeprefix("luma-staging-").replace("-", "_")
        if short not in users:
            assert "LUMA_PACK_TABLES" not in env, name
            continue
        mapping = _resolved_json(env["LUMA_PACK_TABLES"], resources)
        settings = Settings(pack_tables=mapping, pack_table_prefix="wrong-on-purpose")
        for key in _installed_pack_tables():
            pack, table = key.split(".")
            assert table_name(pack, table, settings) == f"luma-staging-{pack}-{table}", (name, key)


def test_no_assistant_is_named_in_infra_code() -> None:
    """Packs are data the app discovers: no installed pack's name appears in infra/ or cdk.json."""
    names = set(_installed_pack_tables().values())
    files = [*sorted((ROOT / "infra").rglob("*.py")), ROOT / "cdk.json"]
    for path in files:
        text = path.read_text(encoding="utf-8").lower()
        for name in names:
            assert not re.search(rf"\b{re.escape(name)}\b", text), f"{path.relative_to(ROOT)} names the {name} pack"


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


def _core_layer_asset(synth: Synth) -> Path:
    (layer,) = [
        r for k, r in synth.resources("staging", "AWS::Lambda::LayerVersion").items() if k.startswith("CoreLayer")
    ]
    return synth.outdir / layer["Metadata"]["aws:asset:path"]


def test_core_layer_ships_the_luma_package(synth: Synth) -> None:
    asset = _core_layer_asset(synth)
    assert (asset / "python" / "luma" / "__init__.py").is_file()  # Lambda puts /opt/python on sys.path
    assert (asset / "python" / "luma" / "metrics_names.py").is_file()
    assert not list(asset.rglob("__pycache__")) and not list(asset.rglob("*.egg-info"))


def test_core_layer_carries_the_distributions_entry_points(synth: Synth) -> None:
    import configparser
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (dist_info,) = (_core_layer_asset(synth) / "python").glob("*.dist-info")
    assert dist_info.name == f"luma-{project['version']}.dist-info"
    metadata = (dist_info / "METADATA").read_text()
    assert "Name: luma\n" in metadata and f"Version: {project['version']}\n" in metadata
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((dist_info / "entry_points.txt").read_text())
    packs = dict(parser["luma.assistants"])
    assert packs == project["entry-points"]["luma.assistants"]
    assert set(_installed_pack_tables().values()) <= set(packs)
    # Never generated in the source tree: the editable install would see two luma distributions.
    assert not list((ROOT / "layers" / "core" / "python").glob("*.dist-info"))


_LAMBDA_LIKE_IMPORT = """
import json, sys
from importlib.metadata import entry_points
found = {}
for ep in entry_points(group="luma.assistants"):
    pack = ep.load()
    found[ep.name] = {
        "dist": str(ep.dist.locate_file("")),
        "module": sys.modules[pack.__module__].__file__,
        "tables": [t.name for t in pack.tables],
    }
print(json.dumps(found))
"""


def test_a_lambda_like_import_finds_the_packs_in_the_staged_layer(synth: Synth, tmp_path: Path) -> None:
    """A fresh interpreter with the staged layer and the dependencies only (the venv's site-packages
    without luma's own editable install) finds both built-in packs through their entry points."""
    import subprocess
    import sys
    import sysconfig

    layer = _core_layer_asset(synth) / "python"
    deps = tmp_path / "deps"  # the venv's site-packages minus luma's dist-info and editable finder
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.startswith(("luma-", "luma.", "__editable__", "luma_")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    program = f"import sys\nsys.path[:0] = [{str(layer)!r}, {str(deps)!r}]\n"  # -S -I: no site-packages at all
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", program + _LAMBDA_LIKE_IMPORT],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LUMA_ENV": "test"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(found) >= {"clinic", "sitework"}, found
    for name, info in found.items():
        assert info["dist"].startswith(str(layer)), (name, info)
        assert info["module"].startswith(str(layer)), (name, info)
        assert info["tables"], name
