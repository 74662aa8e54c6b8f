"""Where the runtime code is, found by convention (infra refers to runtime code only by path)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
STATEMACHINES_DIR = REPO_ROOT / "statemachines"
CORE_LAYER_DIR = REPO_ROOT / "layers" / "core"
PYPROJECT = REPO_ROOT / "pyproject.toml"
BUILD_DIR = REPO_ROOT / "build" / "layers"
PLACEHOLDER_LAYER_DIR = REPO_ROOT / "infra" / "assets" / "placeholder-layer"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# Never shipped in an asset.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/*.egg-info", "**/.pytest_cache", "**/tests", "**/.DS_Store"]


def discover_functions(functions_dir: Path = FUNCTIONS_DIR) -> list[str]:
    """Every ``functions/<name>/handler.py``, sorted; names must be snake_case identifiers."""
    names = []
    for handler in sorted(functions_dir.glob("*/handler.py")):
        name = handler.parent.name
        if not _NAME.match(name):
            raise ValueError(f"functions/{name}: a function folder name must match {_NAME.pattern}")
        names.append(name)
    return names


@dataclass(frozen=True)
class StateMachineFile:
    name: str  # agent_run
    path: Path
    placeholders: frozenset[str]  # AgentTurnFunctionArn, ...


def discover_state_machines(statemachines_dir: Path = STATEMACHINES_DIR) -> list[StateMachineFile]:
    """Every ``statemachines/<name>.asl.json`` with the ``${...}`` placeholders it uses."""
    found = []
    for path in sorted(statemachines_dir.glob("*.asl.json")):
        name = path.name.removesuffix(".asl.json")
        if not _NAME.match(name):
            raise ValueError(f"statemachines/{path.name}: the name must match {_NAME.pattern}")
        text = path.read_text(encoding="utf-8")
        found.append(StateMachineFile(name, path, frozenset(PLACEHOLDER.findall(text))))
    return found


def camel(name: str) -> str:
    """``agent_turn`` -> ``AgentTurn`` (the placeholder and construct-id convention)."""
    return "".join(part.capitalize() for part in name.split("_"))


def env_name(name: str) -> str:
    """``fast_path`` -> ``FAST_PATH``."""
    return name.upper()
