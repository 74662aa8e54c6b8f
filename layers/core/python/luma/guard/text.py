"""Text normalization for the rule detectors: one form for the nine languages' patterns.

Lower case, no accents (``é``→``e``, ``ł``→``l``, ``ß``→``ss``), Arabic without diacritics and
with its letter variants unified (``أإآ``→``ا``, ``ى``→``ي``, ``ة``→``ه``, no tatweel), typographic
quotes and dashes made plain, whitespace collapsed. :func:`variants` adds de-obfuscated forms
("i g n o r e", "1gn0re") for the injection rules.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TABLE = str.maketrans(
    {
        "ł": "l",
        "ß": "ss",
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "’": "'",
        "‘": "'",
        "´": "'",
        "`": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "„": '"',
        "‟": '"',
        "‚": "'",
        "»": '"',
        "–": "-",
        "—": "-",
        "ى": "ي",
        "ة": "ه",
        "ـ": None,
        "؟": "?",
        "،": ",",
    }
)
_SPACES = re.compile(r"\s+")
_SPACED_LETTERS = re.compile(r"\b(?:\w ){3,}\w\b")
_WIDE_GAP = re.compile(r" {2,}")
_LEET_WORD = re.compile(r"\b\w*[a-z][013457@$]\w*\b|\b[013457@$]\w*[a-z]\w*\b")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


_ARABIC_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ؤ": "و", "ئ": "ي", "ى": "ي", "ة": "ه", "ـ": None})
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670]")


def arabic_form(pattern: str) -> str:
    """A pattern's Arabic letters as :func:`normalize` leaves them (hamza carriers, ta marbuta, no diacritics)."""
    return _ARABIC_MARKS.sub("", pattern.translate(_ARABIC_FORMS))


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_TABLE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_TABLE)


@lru_cache(maxsize=1024)
def normalize(text: str) -> str:
    """Lower case, accents and Arabic diacritics removed, letter variants unified, spaces collapsed."""
    return _SPACES.sub(" ", _plain(text)).strip()


def variants(text: str) -> tuple[str, ...]:
    """The normalized text, plus forms with spaced-out letters joined and digits-for-letters undone."""
    base = normalize(text)
    out = [base]
    # "i g n o r e   p r e v i o u s": single spaces inside a word, wider gaps between words.
    gapped = _WIDE_GAP.sub(" \x01 ", _plain(text).replace("\t", " "))
    joined = _SPACES.sub(" ", _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", ""), gapped).replace("\x01", " "))
    joined = joined.strip()
    if joined != base:
        out.append(joined)
    deleet = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), joined)
    if deleet not in out:
        out.append(deleet)
    return tuple(out)
