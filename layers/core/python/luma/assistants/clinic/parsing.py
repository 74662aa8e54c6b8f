"""Deterministic parsing for the clinic's flows: identity answers, dates, yes/no."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b")
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_FILLER = re.compile(
    r"\b(my|name|is|i'?m|i am|this is|it'?s|born|on|the|dob|date|of|birth|d\.o\.b|and|full|here|me|"
    r"hi|hello|ok|okay|sure|yes)\b",
    re.I,
)
_YES = re.compile(
    r"^\s*(yes|yeah|yep|y|sure|ok|okay|confirm|please do|do it|go ahead|correct|oui|sí|si|ja|sim|tak|da)\b", re.I
)
_NO = re.compile(r"^\s*(no|nope|n|cancel that|don'?t|do not|keep it|never ?mind|non|nein|nie|nu|não)\b", re.I)


def normalize_name(name: str) -> str:
    """Lower-case, accents removed, punctuation dropped, single spaces."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[^a-zA-Z' -]", " ", text).replace("'", "")
    return " ".join(text.lower().split())


def find_date(text: str) -> tuple[date, tuple[int, int]] | None:
    """The first full date in ``text`` (ISO, day-first numeric, or with a month name) and its span."""
    for pattern, order in ((_ISO, "ymd"), (_NUMERIC, "dmy"), (_DAY_MONTH, "dMy"), (_MONTH_DAY, "Mdy")):
        m = pattern.search(text)
        if not m:
            continue
        a, b, c = m.groups()
        try:
            if order == "ymd":
                value = date(int(a), int(b), int(c))
            elif order == "dmy":
                value = date(int(c), int(b), int(a))
            elif order == "dMy":
                value = date(int(c), _MONTHS[b.lower()], int(a))
            else:
                value = date(int(c), _MONTHS[a.lower()], int(b))
        except ValueError:
            continue
        return value, m.span()
    return None


def parse_identity(text: str) -> tuple[str, date] | None:
    """``(normalized full name, date of birth)`` from an answer like "Alice Martin, 14/03/1987"."""
    found = find_date(text)
    if found is None:
        return None
    dob, (start, end) = found
    rest = text[:start] + " " + text[end:]
    name = normalize_name(_FILLER.sub(" ", rest))
    if len(name.split()) < 2 or len(name) > 80:
        return None
    return name, dob


def is_yes(text: str) -> bool:
    return bool(_YES.match(text)) and not _NO.match(text)


def is_no(text: str) -> bool:
    return bool(_NO.match(text))
