"""Deterministic parsing for the field-work flows, in the nine languages: yes/no, cancel, skip,
severity, percentages, and matching typed text against offered choices, projects and tasks.

Everything compares folded text (lower-case, no accents), so "Élevé", "eleve" and "ÉLEVÉ" agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

# Letters NFKD does not decompose into a base letter plus a mark.
_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "œ": "oe"})
# Arabic-Indic and Eastern Arabic-Indic digits to ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case without accents, Arabic-Indic digits as ASCII ("Élevé" -> "eleve", "٥٠" -> "50")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS).translate(_DIGITS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The folded words of ``text``."""
    return _TOKEN.findall(fold(text))


def _words(source: str) -> frozenset[str]:
    return frozenset(fold(w) for w in source.split())


def _phrases(source: Iterable[str]) -> tuple[str, ...]:
    return tuple(fold(p) for p in source)


_YES = _words(
    "yes yeah yep y sure ok okay confirm confirmed correct right go "
    "oui ouais ok confirme confirmer exact daccord "
    "si sí claro vale confirmo correcto "
    "sim claro confirmo certo "
    "ja jawohl genau bestätigen bestatige richtig "
    "sì si certo confermo conferma esatto "
    "da sigur confirm corect "
    "tak jasne potwierdzam zgadza "
    "نعم أجل اجل أكيد اكيد تمام موافق أؤكد"
)
_NO = _words("no nope n nah not dont non pas no nunca não nao nein nicht no non nu nie لا كلا")
_YES_PHRASES = _phrases(["go ahead", "do it", "d'accord", "bien sûr", "por supuesto", "claro que sim", "va bene"])
_NO_PHRASES = _phrases(["don't", "do not", "never mind", "pas maintenant", "ne pas", "lass es", "lascia stare"])

_CANCEL = _words(
    "cancel stop abort quit exit "
    "annuler annule arreter arrete "
    "cancelar cancela parar "
    "cancelar cancele "
    "abbrechen abbruch stopp "
    "annulla annullare basta "
    "anuleaza anulează renunt renunț opreste oprește "
    "anuluj anulować przerwij stop "
    "إلغاء الغاء الغِ توقف"
)
_SKIP = _words(
    "skip none nothing no "
    "passer sauter aucune aucun non rien "
    "omitir saltar ninguna ninguno no nada "
    "pular saltar nenhuma nenhum não nao "
    "überspringen uberspringen weiter keins keine kein nein "
    "salta saltare nessuna nessun no niente "
    "sari sări omite niciuna nicio nu "
    "pomiń pomin dalej brak bez nie "
    "تخطي تخطى تجاوز لا بدون"
)
_SKIP_PHRASES = _phrases(
    [
        "no photo",
        "no picture",
        "pas de photo",
        "sin foto",
        "sem foto",
        "kein foto",
        "nessuna foto",
        "fara poza",
        "fără poză",
        "bez zdjęcia",
        "بدون صورة",
    ]
)

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
_SEVERITY_WORDS: dict[str, frozenset[str]] = {
    "critical": _words(
        "critical crit emergency urgent critique urgence critico crítico crítica critica urgente urgencia "
        "kritisch notfall dringend critic critică critica urgență urgenta krytyczny krytyczna krytyczne pilne "
        "حرج حرجة طارئ طارئة"
    ),
    "high": _words(
        "high serious major severe eleve élevé elevee grave grave alto alta elevado elevada alto hoch schwer "
        "schwerwiegend ernst alto elevato elevata ridicat ridicată grav gravă mare wysoki wysoka poważny powazny "
        "poważne عالي عالية مرتفع مرتفعة خطير خطيرة"
    ),
    "medium": _words(
        "medium moderate mid moyen moyenne modere modéré medio media moderado moderada médio média mittel "
        "mittlere mittelschwer mäßig moderato moderata mediu medie moderat moderată średni sredni średnia "
        "umiarkowany متوسط متوسطة"
    ),
    "low": _words(
        "low minor small faible mineur mineure bas basse bajo baja leve menor baixo baixa ligeiro niedrig gering "
        "klein leicht basso bassa lieve minore scazut scăzut scazută scăzută mic mică ușor usor niski niska "
        "drobny drobne منخفض منخفضة بسيط بسيطة"
    ),
}

_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3})(?:[.,]\d+)?(?![\d])")
_PERCENT = re.compile(
    r"(?<!\d)(\d{1,3})(?:[.,]\d+)?\s*(?:%|٪|percent|per cent|pct|pour ?cent|por ?ciento|por ?cento|prozent|"
    r"per ?cento|procent|la suta|la sută|procent\w*|بالمئة|بالمائة|في المئة)"
)
_DONE = _phrases(
    [
        "finished",
        "done",
        "completed",
        "complete",
        "all done",
        "termine",
        "terminé",
        "terminee",
        "fini",
        "finie",
        "acabado",
        "terminado",
        "completado",
        "concluido",
        "concluída",
        "fertig",
        "erledigt",
        "abgeschlossen",
        "finito",
        "completato",
        "terminato",
        "terminat",
        "gata",
        "finalizat",
        "skończone",
        "skonczone",
        "zakończone",
        "zakonczone",
        "gotowe",
        "انتهى",
        "اكتمل",
        "مكتمل",
    ]
)
_HALF = _phrases(
    ["halfway", "half way", "half done", "a moitie", "à moitié", "a la mitad", "a meio", "zur hälfte", "a metà",
     "la jumatate", "la jumătate", "w połowie", "النصف"]
)  # fmt: skip


def _short(text: str, max_words: int) -> bool:
    return 0 < len(tokens(text)) <= max_words


def _has_phrase(folded: str, phrases: Iterable[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", folded) for p in phrases)


def is_yes(text: str) -> bool:
    """A short agreement ("yes", "oui", "tak", "نعم", "go ahead"), with no refusal in it."""
    if not _short(text, 5) or is_no(text):
        return False
    folded = fold(text)
    return bool(set(tokens(text)) & _YES) or _has_phrase(folded, _YES_PHRASES)


def is_no(text: str) -> bool:
    """A short refusal ("no", "non", "nein", "لا", "don't")."""
    if not _short(text, 5):
        return False
    return bool(set(tokens(text)) & _NO) or _has_phrase(fold(text), _NO_PHRASES)


def is_cancel(text: str) -> bool:
    """A short request to abandon the current step ("cancel", "annuler", "stop", "إلغاء")."""
    return _short(text, 3) and bool(set(tokens(text)) & _CANCEL)


def is_skip(text: str) -> bool:
    """A short "no photo" answer ("skip", "no", "pas de photo", "pomiń")."""
    if not _short(text, 4):
        return False
    return bool(set(tokens(text)) & _SKIP) or _has_phrase(fold(text), _SKIP_PHRASES)


def parse_severity(text: str) -> str | None:
    """The severity a text names (the most severe when several), or None."""
    words = set(tokens(text))
    for level in ("critical", "high", "medium", "low"):
        if words & _SEVERITY_WORDS[level]:
            return level
    return None


def parse_percent(text: str, *, bare: bool = False) -> int | None:
    """A percentage in 0..100: "60%", "60 percent", "fini" (100), "halfway" (50); a bare number when ``bare``."""
    folded = fold(text)
    found = _PERCENT.search(folded)
    if found is None and bare:
        numbers = _NUMBER.findall(folded)
        found_value = int(numbers[0]) if len(numbers) == 1 else None
    else:
        found_value = int(found.group(1)) if found else None
    if found_value is not None:
        return found_value if 0 <= found_value <= 100 else None
    if _has_phrase(folded, _HALF):
        return 50
    if _has_phrase(folded, _DONE):
        return 100
    return None


def pick_option(text: str, options: Sequence[T], label: str = "label") -> T | None:
    """The option a typed reply names: its number in the list ("2"), or its label (whole or most words)."""
    folded = fold(text).strip()
    if not folded or not options:
        return None
    number = re.fullmatch(r"\(?(\d{1,2})[.)]?", folded)
    if number:
        index = int(number.group(1)) - 1
        return options[index] if 0 <= index < len(options) else None
    labels = [fold(str(getattr(o, label, o) if not isinstance(o, dict) else o.get(label, ""))) for o in options]
    exact = [o for o, lab in zip(options, labels, strict=True) if lab == folded]
    if exact:
        return exact[0]
    return best_match(text, list(zip(options, labels, strict=True)))


# Words too common in titles and names to tell one from another.
_GENERIC = _words(
    "the and for with from task tasks project projects site sites work works level floor des les une pour avec "
    "sur del las los para con der die das und fur für auf del per con della dei sul pentru cu si și na do dla "
    "oraz"
)


def significant(text: str) -> set[str]:
    """The folded words of at least four letters that are not generic."""
    return {w for w in tokens(text) if len(w) >= 4 and w not in _GENERIC}


def best_match(text: str, candidates: Sequence[tuple[T, str]]) -> T | None:
    """The one candidate whose name shares the most significant words with ``text`` (None on a tie or none)."""
    words = significant(text)
    if not words:
        return None
    scored = sorted(((len(words & significant(name)), i) for i, (_, name) in enumerate(candidates)), reverse=True)
    if not scored or scored[0][0] == 0:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return candidates[scored[0][1]][0]
