"""The catalogue of user-facing texts, in the nine languages Luma answers in.

One JSON document of the core (``texts.json`` beside this module: error messages, the agent's
fixed answers, generic labels) and one per assistant pack (its ``texts.json``), both shaped
``{key: {language: text}}``. A pack's text wins over the core's for the same key, so a pack words
``error.SESSION_LOCKED`` its own way (naming its own phone line). A missing language falls back to English.
Texts take ``{placeholders}`` filled from keyword arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from luma.language import DEFAULT, SUPPORTED

CORE_FILE = Path(__file__).with_name("texts.json")


class MissingTextError(KeyError):
    """No catalogue has the key."""


@lru_cache(maxsize=1)
def core_texts() -> dict[str, dict[str, str]]:
    """The core catalogue."""
    data: dict[str, dict[str, str]] = json.loads(CORE_FILE.read_text(encoding="utf-8"))
    return data


def _pack_texts(assistant: str | None) -> Mapping[str, Mapping[str, str]]:
    if not assistant:
        return {}
    from luma.assistants.registry import PackError, get_pack

    try:
        return get_pack(assistant).texts
    except PackError:
        return {}


def lookup(key: str, language: str, *, assistant: str | None = None) -> str | None:
    """The raw text of ``key`` (pack first, then core; ``language`` then English), or None."""
    lang = language if language in SUPPORTED else DEFAULT
    for table in (_pack_texts(assistant).get(key), core_texts().get(key)):
        if table:
            found = table.get(lang) or table.get(DEFAULT)
            if found:
                return found
    return None


def text(key: str, language: str = DEFAULT, *, assistant: str | None = None, **values: Any) -> str:
    """The text ``key`` in ``language`` for ``assistant``'s conversations, placeholders filled."""
    raw = lookup(key, language, assistant=assistant)
    if raw is None:
        raise MissingTextError(key)
    return raw.format(**values) if values else raw


def has(key: str, *, assistant: str | None = None) -> bool:
    """True when some catalogue has ``key``."""
    return lookup(key, DEFAULT, assistant=assistant) is not None
