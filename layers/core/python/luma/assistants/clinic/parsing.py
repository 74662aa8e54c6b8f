"""Deterministic parsing for the clinic's flows: identity answers, dates, yes/no — in nine languages.

Dates: ISO (1987-03-14), day first with ``/``, ``.`` or ``-`` (14/03/1987, 14.03.1987), a month name
in any of the nine languages ("14 mars 1987", "14. März 1987", "14 de março de 1987", "14 marca
1987", "14 مارس 1987") or English month first ("March 14, 1987"). Names are compared accent-free
and lower-case, in Latin script (the clinic's records are).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from luma.answers import is_no, is_yes

__all__ = ["find_date", "fold", "is_no", "is_yes", "month_number", "normalize_name", "parse_identity"]


def fold(text: str) -> str:
    """Lower-case without accents or other combining marks ("Março" -> "marco", "Ș" -> "s")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Letters NFKD does not decompose into a base letter plus a mark.
_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "æ": "ae", "œ": "oe"})

_MONTH_WORDS: dict[int, str] = {
    1: "jan january janvier janv enero ene janeiro januar gennaio gen ianuarie ian styczen stycznia sty يناير",
    2: "feb february fevrier fevr fev febrero fevereiro februar febbraio februarie luty lutego lut فبراير",
    3: "mar march mars marzo marco marz maerz martie marzec marca مارس",
    4: "apr april avril avr abril abr aprile aprilie kwiecien kwietnia kwi ابريل",
    5: "may mai mayo maio maggio mag maj maja مايو",
    6: "jun june juin junio junho juni giugno giu iunie iun czerwiec czerwca cze يونيو",
    7: "jul july juillet juil julio julho juli luglio lug iulie iul lipiec lipca lip يوليو",
    8: "aug august aout agosto ago sierpien sierpnia sie اغسطس",
    9: "sep sept september septembre septiembre setiembre setembro settembre set septembrie wrzesien wrzesnia wrz "
    "سبتمبر",
    10: "oct october octobre octubre outubro oktober okt ottobre ott octombrie pazdziernik pazdziernika paz اكتوبر",
    11: "nov november novembre noviembre novembro noiembrie listopad listopada lis نوفمبر",
    12: "dec december decembre diciembre dic dezembro dez dezember dicembre decembrie grudzien grudnia gru ديسمبر",
}
MONTHS: dict[str, int] = {fold(word): n for n, words in _MONTH_WORDS.items() for word in words.split()}


def month_number(word: str) -> int | None:
    """The month a word names in any of the nine languages (full or abbreviated; case and accents ignored)."""
    return MONTHS.get(fold(word).rstrip("."))


_WORD = r"[^\W\d_]+\.?"
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\b")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+|del\s+)?({_WORD}),?\s+(?:de\s+|del\s+)?(\d{{4}})\b",
    re.I,
)
_MONTH_DAY = re.compile(rf"\b({_WORD})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)

# Words around a name in an identity answer, in the nine languages (folded, apostrophes removed).
# Only leading and trailing ones are dropped, so particles inside a name ("Maria de Souza") stay.
_FILLER = frozenset(
    """
    my name is im i am this its it born on the dob date of birth and full here me hi hello ok okay sure yes
    was thanks thank you please
    je mappelle suis ne nee le la mon nom est de naissance bonjour oui et prenom merci sil vous plait cest
    me llamo soy mi nombre es naci el nacido nacida fecha nacimiento hola si y gracias por favor
    chamo-me chamome chamo o meu e sou nasci em nascido nascida data ola sim obrigado obrigada a
    ich heisse bin mein name ist geboren am geb geburtsdatum hallo ja und vom danke bitte
    mi chiamo sono nato nata il di nascita ciao grazie
    ma numesc sunt numele este nascut nascuta pe data nasterii buna da si multumesc
    nazywam sie jestem urodzony urodzona urodzenia dnia dzien dobry tak imie nazwisko moje to dziekuje prosze
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def normalize_name(name: str) -> str:
    """Lower-case, accents removed, punctuation dropped, single spaces."""
    text = fold(name)
    text = re.sub(r"[^a-z' -]", " ", text).replace("'", "")
    return " ".join(text.split())


def find_date(text: str) -> tuple[date, tuple[int, int]] | None:
    """The first full date in ``text`` (ISO, day-first numeric, or with a month name) and its span."""
    for pattern, order in ((_ISO, "ymd"), (_NUMERIC, "dmy"), (_DAY_MONTH, "dMy"), (_MONTH_DAY, "Mdy")):
        for m in pattern.finditer(text):
            a, b, c = m.groups()
            try:
                if order == "ymd":
                    value = date(int(a), int(b), int(c))
                elif order == "dmy":
                    value = date(int(c), int(b), int(a))
                else:
                    month = month_number(b if order == "dMy" else a)
                    if month is None:
                        continue
                    value = date(int(c), month, int(a) if order == "dMy" else int(b))
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
    words = normalize_name(text[:start] + " " + text[end:]).split()
    while words and words[0] in _FILLER:
        words.pop(0)
    while words and words[-1] in _FILLER:
        words.pop()
    name = " ".join(words)
    if len(words) < 2 or len(name) > 80:
        return None
    return name, dob
