"""Helpers for the local stack only: demo users to sign in as (never used in AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def demo_users() -> list[dict[str, Any]]:
    """Every served assistant's demo users: id, tenant, name, identity hint, and the assistant they talk to."""
    from luma.assistants.registry import available, get_pack

    users: list[dict[str, Any]] = []
    for name in available():
        pack = get_pack(name)
        for user in pack.demo_users():
            users.append({**user, "assistant": name, "assistantName": pack.display_name or name})
    return users


def repo_root() -> Path:
    """The checkout this package is installed from (editable install)."""
    return Path(__file__).resolve().parents[4]


def ensure_dev_secret(root: Path | None = None) -> str:
    """The local dev JWT key: ``LUMA_DEV_JWT_SECRET`` or ``.luma/dev-secret`` (created, mode 0600)."""
    import os
    import secrets

    env = os.environ.get("LUMA_DEV_JWT_SECRET")
    if env:
        return env
    path = (root or repo_root()) / ".luma" / "dev-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value
