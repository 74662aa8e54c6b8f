"""Intents of an assistant pack: its ``intents.json`` (intents, exemplars, oos), read from the pack's package.

An optional ``intents.multilingual.json`` beside it adds exemplars and out-of-scope examples in
other languages (all-MiniLM-L6-v2 is an English model: a language it was not trained on is
classified by its likeness to exemplars written in that language)::

    {"version": 1, "languages": {"fr": {"intents": {"greeting": ["bonjour", ...], ...}, "oos": [...]}, ...}}

Intents are declared (flags, thresholds) only in ``intents.json``; a language may leave some out.
Each language gets its own classifier (own head, own calibration): fitted together, the languages
MiniLM does not know pulled the calibration of the English one down (see docs/decisions.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from luma.language import SUPPORTED

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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


def _pack_json(assistant: str, name: str) -> Any | None:
    """A JSON resource of the installed pack ``assistant`` (None when the pack has no such file)."""
    from luma.assistants.registry import get_pack

    pack = get_pack(assistant)
    return pack.read_json(name) if pack.resource(name).is_file() else None


def parse_multilingual(
    data: dict[str, Any], intents: Mapping[str, IntentSpec], assistant: str = "custom"
) -> dict[str, tuple[dict[str, list[str]], list[str]]]:
    """Validate a decoded ``intents.multilingual.json``: language -> (intent -> exemplars, oos)."""
    if data.get("version") != 1:
        raise ValueError(f"{assistant}: unsupported intents.multilingual.json version {data.get('version')!r}")
    raw = data.get("languages")
    if not isinstance(raw, dict):
        raise ValueError(f"{assistant}: 'languages' must be an object")
    result: dict[str, tuple[dict[str, list[str]], list[str]]] = {}
    for lang, body in raw.items():
        if lang not in SUPPORTED or lang == "en":
            raise ValueError(f"{assistant}: language {lang!r} is not one of {SUPPORTED} (English is intents.json)")
        by_intent: dict[str, list[str]] = {}
        owner: dict[str, str] = {}
        for name, texts in body.get("intents", {}).items():
            if name not in intents:
                raise ValueError(f"{assistant}: {lang} exemplars for undeclared intent {name!r}")
            cleaned = [str(t).strip() for t in texts]
            if not cleaned or any(not t for t in cleaned):
                raise ValueError(f"{assistant}: {lang} intent {name!r} needs non-empty exemplars")
            for text in cleaned:
                other = owner.setdefault(text.casefold(), name)
                if other != name:
                    raise ValueError(f"{assistant}: {lang} exemplar {text!r} is in both {other!r} and {name!r}")
            by_intent[name] = list(dict.fromkeys(cleaned))
        oos = [t for t in (str(x).strip() for x in body.get("oos", [])) if t]
        clash = [t for t in oos if t.casefold() in owner]
        if clash:
            raise ValueError(f"{assistant}: {lang} out-of-scope examples also used as exemplars: {clash[:3]}")
        if len(by_intent) < 2:
            raise ValueError(f"{assistant}: {lang} needs exemplars for at least two intents")
        result[lang] = (by_intent, oos)
    return result


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
    data = _pack_json(assistant, "intents.json")
    if data is None:
        raise ValueError(f"assistant {assistant!r} has no intents.json in its package")
    return parse_intents(data, assistant)


def _read_multilingual(assistant: str) -> dict[str, tuple[dict[str, list[str]], list[str]]]:
    data = _pack_json(assistant, "intents.multilingual.json")
    if data is None:
        return {}
    return parse_multilingual(data, _read(assistant)[0], assistant)


def load_intent_specs(assistant: str) -> dict[str, IntentSpec]:
    """Every intent of the pack's ``intents.json`` with its flags and (English) exemplars."""
    return _read(assistant)[0]


def fast_path_intents(assistant: str) -> frozenset[str]:
    """The intents flagged ``fast_path: true`` (an accepted prediction of another goes to the agent)."""
    return frozenset(name for name, spec in load_intent_specs(assistant).items() if spec.fast_path)


def pack_languages(assistant: str) -> tuple[str, ...]:
    """The languages the pack has exemplars in: ``en`` first, then those of ``intents.multilingual.json``."""
    return ("en", *_read_multilingual(assistant))


def load_intents(assistant: str, *, language: str = "en") -> IntentPack:
    """Load and validate a pack's exemplars in one language.

    Returns ``(exemplars, thresholds, oos)``: intent → utterances, the explicit per-intent
    thresholds (intents with ``null`` are left to calibration) and the out-of-scope examples.
    ``en`` is ``intents.json``; another language is its part of ``intents.multilingual.json``
    (only the intents it has exemplars for), with its own out-of-scope examples plus the English ones.
    """
    intents, oos = _read(assistant)
    thresholds = {name: spec.threshold for name, spec in intents.items() if spec.threshold is not None}
    if language == "en":
        return IntentPack({name: list(spec.exemplars) for name, spec in intents.items()}, thresholds, oos)
    extra = _read_multilingual(assistant)
    if language not in extra:
        raise ValueError(f"{assistant}: no {language!r} exemplars (languages: {', '.join(pack_languages(assistant))})")
    by_intent, lang_oos = extra[language]
    english = {t.casefold() for spec in intents.values() for t in spec.exemplars}
    negatives = list(dict.fromkeys([*lang_oos, *(t for t in oos if t.casefold() not in english)]))
    return IntentPack(
        {name: list(by_intent[name]) for name in intents if name in by_intent},
        {name: t for name, t in thresholds.items() if name in by_intent},
        negatives,
    )
