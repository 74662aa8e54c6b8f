"""The dependency-layer recipe and the config table (no synth needed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.infra


def test_layer_requirements_are_the_pyproject_dependencies() -> None:
    from luma_infra.layers import runtime_dependencies

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert runtime_dependencies() == project["dependencies"]


def test_layer_key_changes_with_the_dependencies(tmp_path: Path) -> None:
    from luma_infra.layers import build_key

    a = tmp_path / "a.toml"
    a.write_text('[project]\ndependencies = ["pydantic>=2"]\n')
    b = tmp_path / "b.toml"
    b.write_text('[project]\ndependencies = ["pydantic>=2", "numpy"]\n')
    assert build_key(a) == build_key(a)
    assert build_key(a) != build_key(b)


def test_layer_asset_modes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from luma_infra import layers

    monkeypatch.setattr(layers, "BUILD_DIR", tmp_path / "build" / "layers")
    auto = layers.resolve_deps_layer("auto")
    assert auto.placeholder and (auto.path / "python").is_dir()
    assert layers.resolve_deps_layer("placeholder").placeholder
    with pytest.raises(RuntimeError, match="make layers"):
        layers.resolve_deps_layer("built")
    built = layers.build_dir()
    (built / "python").mkdir(parents=True)
    (built / ".complete").write_text("{}")
    resolved = layers.resolve_deps_layer("auto")
    assert not resolved.placeholder and resolved.path == built
    assert resolved.asset_hash.endswith(layers.build_key())
    with pytest.raises(ValueError):
        layers.resolve_deps_layer("docker")


def test_layer_pip_flags_build_without_docker() -> None:
    from luma_infra import layers

    assert layers.PYTHON_VERSION == "3.12"
    assert "manylinux2014_aarch64" in layers.PLATFORMS
    assert all(p.endswith("_aarch64") for p in layers.PLATFORMS)


def test_config_references_are_consistent() -> None:
    from luma_infra.config import FUNCTIONS, PACKS, STAGES, TABLES

    routes: dict[str, str] = {}
    for name, spec in FUNCTIONS.items():
        assert set(spec.tables) <= set(TABLES) | {PACKS}, name
        assert set(spec.scans) <= set(spec.tables) - {PACKS}, f"{name}: a scanned table must be one of its tables"
        assert set(spec.invokes) <= set(FUNCTIONS), name
        for key in spec.ws_routes:
            assert not key.startswith("$") and key not in routes, (name, key, routes.get(key))
            routes[key] = name
        if spec.stream:
            assert TABLES[spec.stream.table].stream, f"{name} consumes a table without a stream"
        assert spec.timeout_s <= 900 and 128 <= spec.memory_mb <= 10240
    for stage in STAGES.values():
        assert set(stage.function_overrides) <= set(FUNCTIONS), stage.name
        for name in stage.function_overrides:
            stage.function(name)  # overrides name real fields
        assert len(stage.prefix("memory")) <= 32  # OpenSearch Serverless collection name limit
    assert STAGES["production"].production and not STAGES["staging"].production


def _tree(root: Path, pyproject_extra: str = "") -> tuple[Path, Path]:
    source = root / "src"
    (source / "python" / "luma").mkdir(parents=True)
    (source / "python" / "luma" / "__init__.py").write_text("")
    (source / "python" / "luma" / "__pycache__").mkdir()
    (source / "python" / "luma" / "__pycache__" / "x.pyc").write_text("")
    (source / "python" / "luma.egg-info").mkdir()
    (source / "python" / "luma.egg-info" / "entry_points.txt").write_text("[luma.assistants]\nstale = x:Y\n")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "luma"\nversion = "1.2.3"\ndependencies = ["pydantic>=2"]\n'
        '[project.scripts]\nluma = "luma.cli:main"\n'
        '[project.entry-points."luma.assistants"]\nshop = "shop_pack:ShopPack"\n' + pyproject_extra
    )
    return source, pyproject


def test_core_layer_is_staged_with_a_generated_dist_info(tmp_path: Path) -> None:
    import configparser

    from luma_infra.layers import stage_core_layer

    source, pyproject = _tree(tmp_path)
    staged = stage_core_layer(source, pyproject, tmp_path / "build")
    assert (staged / "python" / "luma" / "__init__.py").is_file()
    assert not list(staged.rglob("__pycache__")) and not list(staged.rglob("*.egg-info"))
    (dist_info,) = (staged / "python").glob("*.dist-info")
    assert dist_info.name == "luma-1.2.3.dist-info"
    assert "Requires-Dist: pydantic>=2" in (dist_info / "METADATA").read_text()
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((dist_info / "entry_points.txt").read_text())
    assert dict(parser["luma.assistants"]) == {"shop": "shop_pack:ShopPack"}
    assert dict(parser["console_scripts"]) == {"luma": "luma.cli:main"}
    assert not list(source.rglob("*.dist-info")), "nothing is generated in the source tree"
    # Same content, same directory; a new entry point, a new one.
    assert stage_core_layer(source, pyproject, tmp_path / "build") == staged
    pyproject.write_text(pyproject.read_text() + 'other = "other_pack:OtherPack"\n')
    assert stage_core_layer(source, pyproject, tmp_path / "build") != staged


def test_core_layer_needs_static_entry_points(tmp_path: Path) -> None:
    from luma_infra.layers import dist_info_files

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "luma"\ndynamic = ["version"]\n')
    with pytest.raises(ValueError, match="static"):
        dist_info_files(pyproject)
