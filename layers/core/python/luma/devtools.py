"""Helpers for the local stack only: demo users to sign in as (never used in AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_CLINIC_DATA = Path(__file__).parent / "assistants" / "clinic" / "data.json"


def demo_users() -> list[dict[str, Any]]:
    """The seeded demo patients: id, tenant, display name and the identity they verify with."""
    data = json.loads(_CLINIC_DATA.read_text(encoding="utf-8"))
    tenant = data["demo_tenant"]
    return [
        {
            "userId": p["user_id"],
            "tenantId": tenant,
            "name": p["name"],
            "verifyWith": f"{p['name']}, born {p['dob']}",
        }
        for p in data["patients"]
    ]


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
