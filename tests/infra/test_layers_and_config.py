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
    from luma_infra.config import FUNCTIONS, STAGES, TABLES

    for name, spec in FUNCTIONS.items():
        assert set(spec.tables) <= set(TABLES), name
        assert set(spec.invokes) <= set(FUNCTIONS), name
        if spec.stream:
            assert TABLES[spec.stream.table].stream, f"{name} consumes a table without a stream"
        assert spec.timeout_s <= 900 and 128 <= spec.memory_mb <= 10240
    for stage in STAGES.values():
        assert set(stage.function_overrides) <= set(FUNCTIONS), stage.name
        for name in stage.function_overrides:
            stage.function(name)  # overrides name real fields
        assert len(stage.prefix("memory")) <= 32  # OpenSearch Serverless collection name limit
    assert STAGES["production"].production and not STAGES["staging"].production
