"""Language detection: accuracy on the clinic's multilingual utterances, short texts, speed, the model file."""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from luma.assistants.registry import get_pack
from luma.language import LATIN, LEXICON, MIN_WORDS, SUPPORTED, _words, detect_language, load_model, with_domain_words

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "layers/core/python/luma/assistants/clinic"


def _labelled() -> list[tuple[str, str]]:
    """(text, language) of every clinic utterance: held-out test rows, exemplars and oos examples."""
    rows = [
        (r["text"], r["lang"])
        for r in map(json.loads, (ROOT / "tests/data/clinic_intents_multilingual_test.jsonl").open(encoding="utf-8"))
    ]
    english = json.loads((CLINIC / "intents.json").read_text(encoding="utf-8"))
    rows += [(t, "en") for body in english["intents"].values() for t in body["exemplars"]]
    rows += [(t, "en") for t in english["oos"]]
    other = json.loads((CLINIC / "intents.multilingual.json").read_text(encoding="utf-8"))
    for lang, body in other["languages"].items():
        rows += [(t, lang) for texts in body["intents"].values() for t in texts]
        rows += [(t, lang) for t in body["oos"]]
    return rows


ROWS = _labelled()
LONG = [(text, lang) for text, lang in ROWS if len(_words(text, LEXICON)[1]) >= MIN_WORDS]
# The clinic's domain words join the core's markers, as in the pipeline for a clinic session.
CLINIC_LEXICON = with_domain_words(dict(get_pack("clinic").lexicon))


def _accuracy(rows: list[tuple[str, str]], previous: dict[str, str | None], lexicon: Any = CLINIC_LEXICON) -> float:
    hits = sum(detect_language(text, previous=previous[text], lexicon=lexicon) == lang for text, lang in rows)
    return hits / len(rows)


def test_the_test_set_is_large_enough_and_covers_every_language() -> None:
    assert len(LONG) >= 1500
    assert {lang for _, lang in LONG} == set(SUPPORTED)


def test_accuracy_without_history() -> None:
    assert _accuracy(LONG, dict.fromkeys((t for t, _ in LONG), None)) >= 0.98


def test_accuracy_without_the_domain_words() -> None:
    # The core's markers alone (an assistant that declares none): long messages still detected.
    assert _accuracy(LONG, dict.fromkeys((t for t, _ in LONG), None), lexicon=LEXICON) >= 0.97


def test_accuracy_when_the_user_switches_language() -> None:
    # The session was in another language: a message of three words or more must still win (measured 0.990).
    rng = random.Random(0)
    previous: dict[str, str | None] = {t: rng.choice([x for x in SUPPORTED if x != lang]) for t, lang in LONG}
    assert _accuracy(LONG, previous) >= 0.97


def test_the_session_language_is_kept() -> None:
    # Every clinic utterance, short ones included, with the session already in its language (measured 0.999).
    previous: dict[str, str | None] = {t: lang for t, lang in ROWS}
    assert _accuracy(ROWS, previous) >= 0.995


@pytest.mark.parametrize(
    ("text", "previous", "expected"),
    [
        ("ok", "fr", "fr"),
        ("ok", None, "en"),
        ("OK 👍", "pl", "pl"),
        ("hola", "en", "es"),
        ("merci", "en", "fr"),
        ("merci beaucoup", "de", "fr"),
        ("sí", "fr", "es"),
        ("si", "fr", "fr"),  # fr/it/es/ro: ambiguous, keep the session's
        ("ja", "en", "de"),
        ("tak", "en", "pl"),
        ("nu", "ro", "ro"),
        ("bom dia", "es", "pt"),
        ("guten Tag", "en", "de"),
        ("thanks", "fr", "en"),
        ("Alice Martin, 14/03/1987", "fr", "fr"),  # names and dates say nothing about the language
        ("Alice Martin 14 mars 1987", "it", "it"),
        ("Dariusz Nowak 09.01.1960", "en", "en"),
        ("I'm Dariusz Nowak, 09/01/1960", "pl", "en"),
        ("نعم", "en", "ar"),
        ("أريد إلغاء موعدي يوم الثلاثاء", "fr", "ar"),
        ("Привет", "de", "de"),  # another script: keep the session's
        ("", "ro", "ro"),
        ("12345", None, "en"),
        ("bonjour, je voudrais annuler mon rendez-vous", "en", "fr"),
        ("Hello, I need to cancel Dr. Kowalski on Friday", "pl", "en"),
        ("Wann hat die Praxis am Samstag geöffnet?", "en", "de"),
        ("Chcę odwołać wizytę w czwartek", "en", "pl"),
        ("Vreau să anulez programarea de mâine", "en", "ro"),
        ("Quero cancelar a minha consulta de amanhã", "es", "pt"),
    ],
)
def test_short_and_typical_messages(text: str, previous: str | None, expected: str) -> None:
    assert detect_language(text, previous=previous, lexicon=CLINIC_LEXICON) == expected


def test_unknown_previous_language_falls_back_to_english() -> None:
    assert detect_language("ok", previous="nl") == "en"


def test_detection_is_fast() -> None:
    load_model()
    texts = [t for t, _ in LONG[::25]]
    timings = []
    for text in texts:
        started = time.perf_counter()
        detect_language(text, previous="en")
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.001  # measured ~0.1 ms per message


def test_model_restricts_to_the_latin_script_languages() -> None:
    model = load_model()
    assert model.langs == LATIN
    probabilities = model.probabilities("où est la clinique ?")
    assert set(probabilities) == set(LATIN) and abs(sum(probabilities.values()) - 1) < 1e-5


def test_model_reproduces_py3langid() -> None:
    py3langid = pytest.importorskip("py3langid.langid")
    reference = py3langid.LanguageIdentifier.from_model_file(py3langid.MODEL_FILE, norm_probs=True)
    reference.set_languages(list(LATIN))
    model = load_model()
    for text, _ in LONG[::40]:
        ours, theirs = model.probabilities(text), dict(reference.rank(text))
        assert max(abs(ours[lang] - theirs[lang]) for lang in LATIN) < 1e-4, text
