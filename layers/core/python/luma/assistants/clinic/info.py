"""The clinic's static information (hours, locations, doctors) from ``data.json``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DATA_FILE = Path(__file__).parent / "data.json"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@lru_cache(maxsize=1)
def clinic_data() -> dict[str, Any]:
    """The parsed data file (clinic, doctors, demo patients and appointments)."""
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def timezone() -> ZoneInfo:
    return ZoneInfo(clinic_data()["clinic"]["timezone"])


def doctors() -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in clinic_data()["doctors"]}


def locations() -> dict[str, dict[str, Any]]:
    return {loc["id"]: loc for loc in clinic_data()["clinic"]["locations"]}
