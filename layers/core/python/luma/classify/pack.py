"""Assistant intent packs: ``luma/assistants/<name>/intents.json`` (intents, exemplars, oos)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ASSISTANTS_DIR = Path(__file__).resolve().parent.parent / "assistants"


@dataclass(frozen=True)
class IntentSpec:
    """One intent of a pack."""

    name: str
    fast_path: bool
    threshold: float | None  # None: use the calibrated threshold
    exemplars: tuple[str, ...]


class IntentPack(NamedTuple):
    """What :meth:`IntentClassifier.fit` needs from a pack; unpacks as ``exemplars, thresholds, oos``."""

    exemplars: dict[str, list[str]]  # intent -> exemplar utterances
    thresholds: dict[str, float]  # explicit per-intent thresholds (null ones are calibrated)
    oos: list[str]  # out-of-scope examples (negatives)


def intents_path(assistant: str) -> Path:
    """Where the pack's ``intents.json`` lives."""
    if not _NAME.match(assistant):
        raise ValueError(f"invalid assistant name {assistant!r}")
    return ASSISTANTS_DIR / assistant / "intents.json"


def parse_intents(data: dict[str, Any], assistant: str = "custom") -> tuple[dict[str, IntentSpec], list[str]]:
    """Validate a decoded ``intents.json`` document; returns the intents and the oos examples."""
    if data.get("version") != 1:
        raise ValueError(f"{assistant}: unsupported intents.json version {data.get('version')!r}")
    raw = data.get("intents")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{assistant}: 'intents' must be a non-empty object")
    intents: dict[str, IntentSpec] = {}
    seen: dict[str, str] = {}
    for name, body in raw.items():
        if not _NAME.match(name) or name == "oos":
            raise ValueError(f"{assistant}: invalid intent name {name!r}")
        exemplars = tuple(str(t).strip() for t in body.get("exemplars", []))
        if not exemplars or any(not t for t in exemplars):
            raise ValueError(f"{assistant}: intent {name!r} needs non-empty exemplars")
        for text in exemplars:
            other = seen.setdefault(text.casefold(), name)
            if other != name:
                raise ValueError(f"{assistant}: exemplar {text!r} is in both {other!r} and {name!r}")
        threshold = body.get("threshold")
        if threshold is not None and not 0.0 < float(threshold) <= 1.0:
            raise ValueError(f"{assistant}: threshold of {name!r} must be in (0, 1] or null")
        intents[name] = IntentSpec(
            name=name,
            fast_path=bool(body.get("fast_path", False)),
            threshold=None if threshold is None else float(threshold),
            exemplars=exemplars,
        )
    oos = tuple(str(t).strip() for t in data.get("oos", []))
    clash = [t for t in oos if t.casefold() in seen]
    if clash:
        raise ValueError(f"{assistant}: out-of-scope examples also used as exemplars: {clash[:3]}")
    return intents, list(oos)


def _read(assistant: str) -> tuple[dict[str, IntentSpec], list[str]]:
    path = intents_path(assistant)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no intents for assistant {assistant!r} ({path})") from None
    return parse_intents(data, assistant)


def load_intent_specs(assistant: str) -> dict[str, IntentSpec]:
    """Every intent of ``luma/assistants/<assistant>/intents.json`` with its flags and exemplars."""
    return _read(assistant)[0]


def fast_path_intents(assistant: str) -> frozenset[str]:
    """The intents flagged ``fast_path: true`` (an accepted prediction of another goes to the agent)."""
    return frozenset(name for name, spec in load_intent_specs(assistant).items() if spec.fast_path)


def load_intents(assistant: str) -> IntentPack:
    """Load and validate ``luma/assistants/<assistant>/intents.json``.

    Returns ``(exemplars, thresholds, oos)``: intent → utterances, the explicit per-intent
    thresholds (intents with ``null`` are left to calibration) and the out-of-scope examples.
    """
    intents, oos = _read(assistant)
    exemplars = {name: list(spec.exemplars) for name, spec in intents.items()}
    thresholds = {name: spec.threshold for name, spec in intents.items() if spec.threshold is not None}
    return IntentPack(exemplars, thresholds, oos)
