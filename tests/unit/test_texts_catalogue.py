"""The text catalogues: the core's and every installed pack's, complete in the nine languages."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

import pytest
from luma.assistants.registry import get_pack, installed
from luma.language import SUPPORTED
from luma.texts import core_texts, text

LANGUAGES = frozenset(SUPPORTED)
assert len(LANGUAGES) == 9


def _placeholders(value: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}


def _problems(catalogue: Mapping[str, Mapping[str, str]]) -> list[str]:
    problems = []
    for key, table in catalogue.items():
        missing = sorted(LANGUAGES - set(table))
        extra = sorted(set(table) - LANGUAGES)
        if missing or extra:
            problems.append(f"{key}: missing {missing}, unknown {extra}")
            continue
        expected = _placeholders(table["en"])
        for lang, value in table.items():
            if not value.strip():
                problems.append(f"{key} [{lang}]: empty")
            elif _placeholders(value) != expected:
                problems.append(f"{key} [{lang}]: placeholders {sorted(_placeholders(value))} != {sorted(expected)}")
            else:
                value.format(**dict.fromkeys(expected, "x"))  # no stray braces
    return problems


def test_the_core_catalogue_is_complete_in_nine_languages() -> None:
    assert core_texts(), "the core catalogue is empty"
    assert _problems(core_texts()) == []


@pytest.mark.parametrize("pack", sorted(installed()))
def test_every_installed_pack_catalogue_is_complete_in_nine_languages(pack: str) -> None:
    assert _problems(get_pack(pack).texts) == []


# Words of one assistant's domain, in the nine languages: the core's texts must fit any assistant.
_DOMAIN = re.compile(
    r"\b(?:clinic|clinique|cl[ií]nica|klinik\w*|praxis|appointments?|rendez-vous|citas?|consultas?|termin(?:e|en)?|"
    r"appuntament\w*|programar\w*|wizyt\w*|patients?|pacientes?|patienten|pazient\w*|pacjent\w*|doctors?|"
    r"m[ée]decins?|m[ée]dicos?|[äa]rzt\w*|lekarz\w*|incidents?|incidentes?|vorf[äa]ll\w*|zdarzen\w*|"
    r"chantiers?|obras?|baustell\w*|cantier\w*|[șs]antier\w*|budow\w*|عيادة|موعد|مريض|طبيب|حادث)\b",
    re.IGNORECASE,
)


def test_the_core_catalogue_names_no_assistant_domain() -> None:
    for sample in ("votre rendez-vous", "Termine absagen", "un incidente", "على حادث", "la clínica"):
        assert _DOMAIN.search(sample), sample
    for sample in ("محادثة", "no he podido terminar", "a conversation"):
        assert not _DOMAIN.search(sample), sample
    # Whole words of a domain in any language, and the core-words rule's substrings ("patientez" too).
    substrings = re.compile(r"clinic|appointment|patient|doctor|incident|sitework", re.IGNORECASE)
    found = [
        f"{key} [{lang}]: {value}"
        for key, table in core_texts().items()
        for lang, value in table.items()
        if _DOMAIN.search(value) or substrings.search(value)
    ]
    assert found == []


def test_a_pack_text_wins_over_the_core_and_languages_fall_back_to_english() -> None:
    assert "site" in text("agent.apology", "en", assistant="sitework")
    assert text("agent.apology", "en") == core_texts()["agent.apology"]["en"]
    assert text("error.INTERNAL", "xx") == core_texts()["error.INTERNAL"]["en"]
    assert text("error.IDENTITY_LOCKED", "pl", minutes=5).startswith("Zbyt wiele")
