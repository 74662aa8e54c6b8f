"""Fixed replies (``texts.json``: ``{key: {language: text}}``) and crisis resources (``resources.json``).

The crisis reply is assembled from fixed sentences, never left to the model: acknowledge without
judgement (``crisis.intro.*``), the resources for the person's country (``crisis.helpline`` when a
helpline is known, ``crisis.emergency.*``), and that the conversation stays open (``crisis.open``).
The resources table maps a language to a default country and a country to its emergency number and
helplines; a tenant overrides it with a JSON object of the same shape (merged country by country).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fr", "es", "pt", "de", "it", "ro", "pl", "ar")
_HERE = Path(__file__).resolve().parent


class GuardConfigError(ValueError):
    """A resources override (or a text key) is not what the guard expects."""


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    """Every fixed text: ``{key: {language: text}}``."""
    data: dict[str, dict[str, str]] = json.loads((_HERE / "texts.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def default_resources() -> dict[str, Any]:
    """The shipped resources table."""
    data: dict[str, Any] = json.loads((_HERE / "resources.json").read_text(encoding="utf-8"))
    return data


def split_locale(locale: str | None) -> tuple[str, str | None]:
    """``"fr-BE"`` → ``("fr", "BE")``; ``"pt"`` → ``("pt", None)``; unknown languages fall back to English."""
    if not locale:
        return "en", None
    parts = locale.replace("_", "-").split("-")
    language = parts[0].lower()
    country = parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None
    return (language if language in LANGUAGES else "en"), country


def text(key: str, locale: str | None, **values: str) -> str:
    """The fixed text ``key`` in the locale's language (English when missing), placeholders filled."""
    entry = texts().get(key)
    if entry is None:
        raise GuardConfigError(f"no fixed text {key!r}; known: {', '.join(sorted(texts()))}")
    language, _ = split_locale(locale)
    return (entry.get(language) or entry["en"]).format(**values)


@dataclass(frozen=True)
class CrisisResources:
    """Where to send someone in crisis in one country."""

    country: str | None
    emergency: str
    helpline_name: str | None
    helpline_number: str | None


def merge_resources(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The shipped table with a tenant's overrides merged in (validated)."""
    base = default_resources()
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise GuardConfigError("crisis resources override must be a JSON object")
    unknown = set(overrides) - {"default_country", "countries", "fallback", "_note"}
    if unknown:
        raise GuardConfigError(f"unknown crisis resources keys {sorted(unknown)}")
    merged = {
        "default_country": {**base["default_country"], **dict(overrides.get("default_country") or {})},
        "countries": dict(base["countries"]),
        "fallback": _checked_entry("fallback", overrides.get("fallback") or base["fallback"]),
    }
    for code, entry in dict(overrides.get("countries") or {}).items():
        if not (isinstance(code, str) and len(code) == 2 and code.isalpha()):
            raise GuardConfigError(f"country codes are two letters (ISO 3166-1), not {code!r}")
        merged["countries"][code.upper()] = _checked_entry(code, entry)
    return merged


def _checked_entry(name: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("emergency"), str) or not entry["emergency"]:
        raise GuardConfigError(f"crisis resources for {name}: an object with an 'emergency' number is required")
    helplines = entry.get("helplines", [])
    if not isinstance(helplines, list) or not all(
        isinstance(h, Mapping) and isinstance(h.get("name"), str) and isinstance(h.get("number"), str)
        for h in helplines
    ):
        raise GuardConfigError(f"crisis resources for {name}: 'helplines' must be a list of {{name, number}}")
    return {"emergency": entry["emergency"], "helplines": [dict(h) for h in helplines]}


def crisis_resources(
    locale: str | None, *, country: str | None = None, overrides: Mapping[str, Any] | None = None
) -> CrisisResources:
    """The resources for a locale (``"fr"``, ``"fr-BE"``) or an explicit country, tenant overrides applied."""
    table = merge_resources(overrides)
    language, locale_country = split_locale(locale)
    code = (country or locale_country or table["default_country"].get(language) or "").upper() or None
    entry = table["countries"].get(code) if code else None
    if entry is None:
        entry, code = table["fallback"], None
    helplines = entry.get("helplines") or []
    helpline = next((h for h in helplines if language in h.get("languages", [language])), None) or (
        helplines[0] if helplines else None
    )
    return CrisisResources(
        country=code,
        emergency=entry["emergency"],
        helpline_name=helpline["name"] if helpline else None,
        helpline_number=helpline["number"] if helpline else None,
    )


def crisis_reply(
    types: Sequence[str],
    locale: str | None,
    *,
    country: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """The fixed crisis reply for the crisis ``types`` found (``suicide``, ``self_harm``, ``medical``, …)."""
    res = crisis_resources(locale, country=country, overrides=overrides)
    kinds = set(types)
    if kinds and kinds <= {"medical"}:
        mode = "medical"
    elif kinds and kinds <= {"third_party", "medical"}:
        mode = "third_party"
    else:
        mode = "support"
    parts = [text(f"crisis.intro.{mode}", locale)]
    if res.helpline_number and mode != "medical":
        name = res.helpline_name or ""
        parts.append(text("crisis.helpline", locale, helpline_name=name, helpline_number=res.helpline_number))
    parts.append(text(f"crisis.emergency.{mode}", locale, emergency=res.emergency))
    parts.append(text("crisis.open", locale))
    return " ".join(parts)
