"""The clinic's reply templates: every key in every language, with the same placeholders."""

from __future__ import annotations

import string
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from luma.assistants.clinic.templates import (
    MONTHS_SHORT,
    TEMPLATES,
    WEEKDAYS,
    WEEKDAYS_SHORT,
    format_when,
    name_suffix,
    render,
    weekday_name,
)
from luma.language import SUPPORTED

SAMPLE = {
    "name": ", Alice",
    "clinic": "Riverside Family Clinic",
    "left": 2,
    "max": 3,
    "minutes": 60,
    "phone": "+33 1 84 88 00 00",
    "first": "Alice",
    "when": "Tue 24 Nov at 09:30",
    "doctor": "Dr. Anika Patel",
    "reason": "annual check-up",
    "location": "Riverside main site",
    "status": "confirmed",
    "weekday": "Tue",
    "day": "24",
    "month": "Nov",
    "time": "09:30",
}


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_every_language_has_every_key() -> None:
    assert set(TEMPLATES) == set(SUPPORTED)
    for lang, table in TEMPLATES.items():
        assert set(table) == set(TEMPLATES["en"]), lang


@pytest.mark.parametrize("key", sorted(TEMPLATES["en"]))
def test_every_key_has_the_same_placeholders_in_every_language(key: str) -> None:
    expected = _placeholders(TEMPLATES["en"][key])
    for lang in SUPPORTED:
        assert _placeholders(TEMPLATES[lang][key]) == expected, (lang, key)
        rendered = render(key, lang, **SAMPLE)
        assert rendered.strip() and "{" not in rendered, (lang, key)


def test_translations_are_not_english_copies() -> None:
    for lang in SUPPORTED:
        if lang != "en":
            same = [
                k for k in TEMPLATES["en"] if len(TEMPLATES["en"][k]) > 12 and TEMPLATES[lang][k] == TEMPLATES["en"][k]
            ]
            assert not same, (lang, same)


def test_unknown_language_falls_back_to_english() -> None:
    assert render("closed", "nl") == "closed"
    assert render("closed", "fr") == "fermé"


def test_dates_in_each_language() -> None:
    start = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))  # a Tuesday
    assert format_when(start, "en") == start.strftime("%a %d %b at %H:%M") == "Tue 24 Nov at 09:30"
    assert format_when(start.replace(day=3), "en") == "Tue 03 Nov at 09:30"  # as before: zero-padded
    assert format_when(start, "fr") == "mar. 24 nov. à 09:30"
    assert format_when(start, "de") == "Di., 24. Nov. um 09:30"
    assert format_when(start, "ar") == "الثلاثاء 24 نوفمبر الساعة 09:30"
    for lang in SUPPORTED:
        assert len(WEEKDAYS[lang]) == len(WEEKDAYS_SHORT[lang]) == 7 and len(MONTHS_SHORT[lang]) == 12
    assert weekday_name(0, "en") == "Monday" and weekday_name(2, "pl") == "środa"


def test_name_suffix() -> None:
    assert name_suffix("Alice", "en") == ", Alice" and name_suffix("", "fr") == ""
    assert name_suffix("Alice", "ar") == "، Alice"
