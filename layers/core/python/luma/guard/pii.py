"""Personal data in text: detection with spans and kinds, and masking.

Kinds: ``email``, ``phone`` (validated with ``phonenumbers``, imported on the first candidate),
``card`` (Luhn and issuer prefix), ``iban`` (length per country and mod-97), ``national_id``
(US SSN, UK NINO, FR NIR, ES DNI/NIE, IT codice fiscale, PT NIF, BR CPF, RO CNP, PL PESEL,
DE Steuer-ID, SA national id, AE Emirates ID — with their checksums where one exists; the weak
ones need a keyword nearby), ``dob`` (a date after a birth keyword, or a full date too old to be
a booking), ``ip`` (public IPv4) and ``secret`` (bearer tokens, JWTs, AWS key ids, ``token=``).

What is *not* personal data is left alone: ISO timestamps and times, dates without a birth
context, AWS identifiers (ARNs, request ids, UUIDs, ULIDs, X-Ray trace ids, hex ids), tokens
mixing letters and digits (order and execution names), prices, years and reference numbers.
With ``examples=True`` (model output), e-mails on reserved example domains, fictional phone
ranges and values introduced by "for example"/"e.g." (nine languages) are the assistant's own
examples and are kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

KINDS = ("email", "phone", "card", "iban", "national_id", "dob", "ip", "secret")
PLACEHOLDERS = {kind: f"<{kind}>" for kind in KINDS} | {"national_id": "<id>"}


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One piece of personal data: where it is, its kind, and a detail that never holds the value."""

    kind: str
    start: int
    end: int
    detail: str

    @property
    def placeholder(self) -> str:
        """The text that replaces it when masked."""
        return PLACEHOLDERS[self.kind]


class _Lazy:
    """A regular expression compiled on first use: importing this module (every log line's masker) stays cheap."""

    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def rx(self) -> re.Pattern[str]:
        """The compiled expression."""
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled


# -- what is never personal data ---------------------------------------------------------------------

_PROTECTED = _Lazy(
    r"""
      \d{4}-\d{2}-\d{2}(?:[T\s]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?  # ISO date/timestamp
    | \b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b                                             # time of day
    | (?<!\d[/.])\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b(?![/.]\d)                                 # numeric date
    | \barn:aws[\w-]*:[^\s"',;]+                                                           # ARN
    | \b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b      # UUID (request ids)
    | \b1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}\b                                                 # X-Ray trace id
    | \b[0-7][0-9A-HJKMNP-TV-Z]{25}\b                                                      # ULID
    | \b(?=[0-9]*[a-fA-F])[0-9a-fA-F]{16,}\b                                              # hex ids, hashes
    | \b(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w]+(?:[-_][\w]+)+\b                                # ord-2024-123456, run_01…
    | \b(?=\w*[A-Za-z])(?=\w*\d)\w{6,}\b                                                   # abc123def456
    | (?:[$€£¥]|\b(?:USD|EUR|GBP|CHF|RON|PLN|SAR|AED|MAD|EGP|BRL|MXN|lei|zł|zl)\b)\s?(?:_AMOUNT_)        # prices
    | (?:_AMOUNT_)\s?(?:[$€£¥%]|(?:USD|EUR|GBP|CHF|RON|PLN|SAR|AED|MAD|EGP|BRL|MXN|euros?|dollars?|lei|zł
        |złotych|zl|reais|dirhams?|ms|sec|seconds?|kb|mb|gb|km|kg)\b)                     # amounts, units
    | (?<![\d.])\bv?\d+\.\d+\.\d+(?:\.\d+)?\b(?!\.\d)                                               # versions (not IPs)
    """.replace("_AMOUNT_", r"\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"),
    re.VERBOSE | re.IGNORECASE,
)

# A cheap first look: nothing below can match a text without one of these.
_TRIGGER = _Lazy(
    r"@|\d(?:[\s().\-/]?\d){5}|\b(?:19|20)\d\d\b|\d\.\d+\.\d+\.\d|[A-Z]{2}\d\d|bearer|token|eyJ|AKIA|secret|"
    r"password|api.?key",
    re.I,
)

# -- e-mail, secrets, IP ---------------------------------------------------------------------------

_EMAIL = _Lazy(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
_EXAMPLE_DOMAIN = _Lazy(r"@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|[\w-]+\.(?:example|test|invalid|localhost))$", re.I)
_SECRET = _Lazy(
    r"(?i:\bbearer\s+)(?P<bearer>[A-Za-z0-9._~+/=-]{8,})"
    r"|(?P<jwt>\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*)"
    r"|(?P<akid>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"
    r"|(?i:\b(?:token|api[_-]?key|secret|password|passwd|pwd|access[_-]?key)\s*[=:]\s*)(?P<value>[^\s\"',;&]{6,})"
)
_IPV4 = _Lazy(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w.]|\.\d)")

# -- numbers -----------------------------------------------------------------------------------------

_CARD = _Lazy(
    r"(?<![\w.,/-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{4,5})(?![\w-]|[.,]\d)"
)
_PHONE = _Lazy(
    r"(?<![\w#/@.:=+-])(?:whatsapp:|tel:)?(?P<prefix>\+|%2B|00)?\s?\(?"
    r"\d(?:[\d]|[ .\-]\(?|\)\s?){5,22}\d(?![\w]|[.,]\d|:\d)",
    re.IGNORECASE,
)
_IBAN_START = _Lazy(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})(?=[ -]?[A-Za-z0-9])")
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21,
    "HU": 28, "IE": 22, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "LB": 28, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MA": 28, "MC": 27, "MD": 24, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "VA": 22,
}  # fmt: skip

# Words that make a number a reference, not a phone number (nine languages).
_REFERENCE_BEFORE = _Lazy(
    r"(?:order|ref|reference|invoice|booking|tracking|ticket|account|acct|case|confirmation|transaction|serial|"
    r"commande|facture|reservation|suivi|dossier|pedido|factura|reserva|seguimiento|expediente|encomenda|fatura|"
    r"bestell\w*|rechnung\w*|auftrag\w*|buchung\w*|sendung\w*|kunden\w*|ordine|fattura|prenotazione|pratica|"
    r"comanda|comenzii|rezervare|zamowieni\w*|faktur\w*|rezerwacj\w*|przesylk\w*|طلب|فاتوره|حجز|مرجع|"
    r"#|n°|\bno\.|\bnr\b\.?|\bnum\.)\W{0,3}(?:\w+\W{1,3}){0,2}$",
    re.IGNORECASE,
)
_FICTIONAL_PHONE = _Lazy(
    r"^(?:1\d{3}555010\d|1\d{3}55501\d\d|33(?:19900|26191|35301|46571|53649|63998|93998)\d{4}|"
    r"447700900\d{3}|44207946\d{4}|44113496\d{4})$"
)
_REGIONS: dict[str | None, tuple[str, ...]] = {
    "en": ("US", "GB", "IE", "CA", "AU"),
    "fr": ("FR", "BE", "CH", "CA"),
    "es": ("ES", "MX", "AR", "CO"),
    "pt": ("PT", "BR"),
    "de": ("DE", "AT", "CH"),
    "it": ("IT", "CH"),
    "ro": ("RO", "MD"),
    "pl": ("PL",),
    "ar": ("SA", "AE", "EG", "MA", "LB", "JO"),
    None: ("US", "GB", "FR", "ES", "PT", "DE", "IT", "RO", "PL", "SA", "AE", "EG", "MA"),
}

# Regions whose national numbers are written with a leading 0 (so "1733126400" is no UK number).
_TRUNK_ZERO = frozenset(
    {"GB", "IE", "AU", "FR", "BE", "CH", "DE", "AT", "RO", "MD", "SA", "AE", "EG", "MA", "LB", "JO", "AR"}
)

# -- dates of birth ----------------------------------------------------------------------------------

_MONTHS = (
    r"jan\w*|feb\w*|mar\w*|apr\w*|may|jun\w*|jul\w*|aug\w*|sep\w*|oct\w*|nov\w*|dec\w*|"
    r"janv\w*|fevr\w*|févr\w*|avr\w*|mai|juin|juil\w*|aout|août|sept\w*|déc\w*|"
    r"ener\w*|febr\w*|marz\w*|abr\w*|juni\w*|juli\w*|agost\w*|septi\w*|setem\w*|octu\w*|outu\w*|novi\w*|dici\w*|"
    r"janei\w*|fever\w*|março|maio|junho|julho|dezem\w*|"
    r"jän\w*|märz|okt\w*|dez\w*|"
    r"genn\w*|febb\w*|aprile|magg\w*|giugno|luglio|sette\w*|otto\w*|"
    r"ianu\w*|febru\w*|martie|aprilie|iunie|iulie|augu\w*|"
    r"stycz\w*|lut\w*|marc\w*|kwiet\w*|maj\w*|czerw\w*|lip\w*|sierp\w*|wrze\w*|paźdz\w*|pazdz\w*|listop\w*|grud\w*|"
    r"يناير|فبراير|مارس|ابريل|أبريل|مايو|يونيو|يوليو|اغسطس|أغسطس|سبتمبر|اكتوبر|أكتوبر|نوفمبر|ديسمبر"
)
_DATE = _Lazy(
    r"(?<![\w/.-])(?:"
    r"(?P<y1>(?:19|20)\d{2})-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?![\d:T])"
    r"|(?:0?[1-9]|[12]\d|3[01])[/.\-](?:0?[1-9]|1[0-2])[/.\-](?P<y2>(?:19|20)?\d{2})"
    rf"|(?:0?[1-9]|[12]\d|3[01])\.?(?:er|st|nd|rd|th)?\s+(?:de\s+)?(?:{_MONTHS})\.?,?\s+(?:de\s+)?(?P<y3>(?:19|20)\d{{2}})"
    rf"|(?:{_MONTHS})\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+(?P<y4>(?:19|20)\d{{2}})"
    r")(?![\w/]|[.\-]\d)",
    re.IGNORECASE,
)
_BIRTH = _Lazy(
    r"born|birth|\bd\.?o\.?b\b|\bnee? (?:le|en|au|a)\b|naissance|\bnaci\w*|nascid\w*|nascimento|"
    r"\bnat[oa] (?:il|a|nel)\b|nascita|geboren|geburt\w*|\bgeb\.|nascut\w*|nasterii|nastere|urodz\w*|"
    r"ولد|ولدت|مواليد|الميلاد|ميلاد",
    re.IGNORECASE,
)
_EXAMPLE_BEFORE = _Lazy(
    r"(?:for example|for instance|\be\.\s?g\.|such as|par exemple|\bp\.\s?ex\.|por ejemplo|\bp\.\s?ej\.|por exemplo|"
    r"zum beispiel|\bz\.\s?b\.|beispielsweise|ad esempio|per esempio|\bad es\.|de exemplu|\bde ex\.|na przyklad|"
    r"\bnp\.|\bformat\w*|مثلا|مثال|على سبيل المثال)"
    r"[\s:,\"'(«“]*(?:[^\s!?]+[\s,]+){0,4}$",
    re.IGNORECASE,
)
_PHONE_WORD = _Lazy(
    r"phone|mobile|cell|call|whatsapp|\btel|sms|text me|appel|portable|llama|movil|celular|telemovel|ligue|handy|"
    r"ruf|chiama|cellulare|suna|numarul meu|zadzwon|komork|هاتف|جوال|اتصل|موبايل",
    re.IGNORECASE,
)

# -- national ids ----------------------------------------------------------------------------------


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _fr_nir(s: str) -> bool:
    body = s[:13].upper().replace("2A", "19").replace("2B", "18")
    month = int(s[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99) or not body.isdigit():
        return False
    return int(s[13:]) == 97 - int(body) % 97


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _es_dni(s: str) -> bool:
    s = s.upper()
    return _DNI_LETTERS[int(s[:8]) % 23] == s[8]


def _es_nie(s: str) -> bool:
    s = s.upper()
    return _es_dni(str("XYZ".index(s[0])) + s[1:])


_CF_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14,
         16, 10, 22, 25, 24, 23],
        strict=True,
    )
)  # fmt: skip


def _it_cf(s: str) -> bool:
    s = s.upper()
    total = 0
    for i, ch in enumerate(s[:15]):
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == s[15]


def _pt_nif(s: str) -> bool:
    r = sum(int(s[i]) * (9 - i) for i in range(8)) % 11
    return int(s[8]) == (0 if r < 2 else 11 - r)


def _br_cpf(s: str) -> bool:
    d = [int(c) for c in s]
    if len(set(d)) == 1:
        return False
    c1 = sum(d[i] * (10 - i) for i in range(9)) * 10 % 11 % 10
    c2 = sum(d[i] * (11 - i) for i in range(10)) * 10 % 11 % 10
    return d[9] == c1 and d[10] == c2


def _ro_cnp(s: str) -> bool:
    if not (1 <= int(s[3:5]) <= 12 and 1 <= int(s[5:7]) <= 31 and 1 <= int(s[7:9]) <= 52):
        return False
    r = sum(int(a) * int(b) for a, b in zip(s[:12], "279146358279", strict=True)) % 11
    return int(s[12]) == (1 if r == 10 else r)


def _pl_pesel(s: str) -> bool:
    month = int(s[2:4]) % 20
    if not (1 <= month <= 12 and 1 <= int(s[4:6]) <= 31):
        return False
    total = sum(int(a) * w for a, w in zip(s[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3), strict=True))
    return int(s[10]) == (10 - total % 10) % 10


def _de_steuer_id(s: str) -> bool:
    if s[0] == "0" or len(set(s[:10])) not in (8, 9):
        return False
    product = 10
    for ch in s[:10]:
        total = (int(ch) + product) % 10 or 10
        product = total * 2 % 11
    check = 11 - product
    return int(s[10]) == (0 if check == 10 else check)


def _us_ssn(s: str) -> bool:
    return not (s[:3] in ("000", "666") or s[0] == "9" or s[3:5] == "00" or s[5:] == "0000")


@dataclass(frozen=True)
class _IdRule:
    name: str
    pattern: _Lazy
    check: Callable[[str], bool]
    context: _Lazy | None  # a keyword that must come shortly before (weak checksums)
    formatted: bool = False  # letters or a distinctive punctuation: never blanked as an identifier


def _ctx(words: str) -> _Lazy:
    return _Lazy(rf"(?:{words})\W{{0,6}}(?:\w+\W{{1,4}}){{0,4}}$", re.IGNORECASE)


_ID_RULES = (
    _IdRule("us_ssn", _Lazy(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), _us_ssn, None, formatted=True),
    _IdRule("us_ssn", _Lazy(r"(?<![\w-])\d{3}[ ]?\d{2}[ ]?\d{4}(?![\w-])"), _us_ssn, _ctx(r"ssn|social security")),
    _IdRule(
        "gb_nino",
        _Lazy(r"(?<!\w)(?![DFIQUV])[A-Z](?![DFIOQUV])[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)"),
        lambda s: s[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"),
        _ctx(r"national insurance|\bnino\b|\bni number|\bni no"),
        formatted=True,
    ),
    _IdRule(
        "fr_nir",
        _Lazy(r"(?<![\w-])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}(?![\w-])"),
        _fr_nir,
        None,
    ),
    _IdRule("es_dni", _Lazy(r"(?<![\w-])\d{8}[ -]?[A-Za-z](?![\w-])"), _es_dni, None, formatted=True),
    _IdRule("es_nie", _Lazy(r"(?<![\w-])[XYZxyz][ -]?\d{7}[ -]?[A-Za-z](?![\w-])"), _es_nie, None, formatted=True),
    _IdRule(
        "it_cf",
        _Lazy(
            r"(?<![\w-])[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[ABCDEHLMPRSTabcdehlmprst][0-9LMNPQRSTUVlmnpqrstuv]{2}"
            r"[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z](?![\w-])"
        ),
        _it_cf,
        None,
        formatted=True,
    ),
    _IdRule("br_cpf", _Lazy(r"(?<![\w.-])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w-])"), _br_cpf, None, formatted=True),
    _IdRule("br_cpf", _Lazy(r"(?<![\w.-])\d{11}(?![\w-])"), _br_cpf, _ctx(r"cpf")),
    _IdRule("ro_cnp", _Lazy(r"(?<![\w-])[1-8]\d{12}(?![\w-])"), _ro_cnp, None),
    _IdRule("pl_pesel", _Lazy(r"(?<![\w-])\d{11}(?![\w-])"), _pl_pesel, _ctx(r"pesel")),
    _IdRule(
        "de_steuer_id",
        _Lazy(r"(?<![\w-])[1-9]\d ?\d{3} ?\d{3} ?\d{3}(?![\w-])"),
        _de_steuer_id,
        _ctx(r"steuer\w*|identifikationsnummer|idnr|tax id|\btin\b|tax identification"),
    ),
    _IdRule(
        "pt_nif",
        _Lazy(r"(?<![\w-])[1-35689]\d{2} ?\d{3} ?\d{3}(?![\w-])"),
        _pt_nif,
        _ctx(r"\bnif\b|contribuinte|fiscal|tax id|\bnipc\b"),
    ),
    _IdRule(
        "sa_nid",
        _Lazy(r"(?<![\w-])[12]\d{9}(?![\w-])"),
        _luhn,
        _ctx(r"هويه|هوية|الهويه|الهوية|اقامه|إقامة|اقامة|iqama|national id|السجل المدني"),
    ),
    _IdRule("ae_eid", _Lazy(r"(?<![\w-])784-?\d{4}-?\d{7}-?\d(?![\w-])"), _luhn, None, formatted=True),
)

# Ids with letters or a distinctive punctuation are looked for in the original text; digit-only ones in
# the copy where timestamps, AWS ids and prices are blanked.
_LETTER_ID_RULES = tuple(r for r in _ID_RULES if r.formatted)
_DIGIT_ID_RULES = tuple(r for r in _ID_RULES if r not in _LETTER_ID_RULES)
_LETTER_ID_HINT = _Lazy(r"\d{7}|[A-Za-z]{6}\d|[A-Za-z]{2} ?\d\d ?\d\d ?\d\d|\d{3}[-.]\d{2,3}[-.]\d")
_SECRET_HINTS = ("bearer", "eyj", "akia", "asia", "token", "key", "secret", "passw", "pwd")
_DIGIT_RUN = _Lazy(r"\d(?:[ .\-()]?\d){6}")
_IP_HINT = _Lazy(r"\d\.\d+\.\d+\.\d")
_DATE_HINT = _Lazy(r"\d[/.\-]\d|(?:19|20)\d\d")
_TIMESTAMP_AFTER = _Lazy(r"T|\s\d{1,2}:\d{2}")

_CARD_PREFIX = _Lazy(r"^(?:4|5[1-5]|2[2-7]|3[47]|3(?:0[0-5]|[689])|6(?:011|5|4[4-9]|2)|35|50|5[6-9]|6[0-9])")


def _card_brand(digits: str) -> str:
    for brand, pattern in (
        ("visa", r"4"),
        ("mastercard", r"5[1-5]|2[2-7]"),
        ("amex", r"3[47]"),
        ("discover", r"6(?:011|5|4[4-9])"),
        ("jcb", r"35"),
        ("diners", r"3(?:0[0-5]|[689])"),
        ("unionpay", r"62"),
    ):
        if re.match(pattern, digits):
            return brand
    return "maestro"


def _iban_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


# -- helpers -----------------------------------------------------------------------------------------

_STRIP = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "’": "'", "ø": "o", "æ": "ae"})


def fold(text: str) -> str:
    """Lower case without accents (Polish ł, German ß included): for keyword matching."""
    text = unicodedata.normalize("NFKD", text.translate(_STRIP).lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


@lru_cache(maxsize=1)
def _phonenumbers() -> Any:
    import phonenumbers

    return phonenumbers


@lru_cache(maxsize=4096)
def _phone_region(candidate: str, regions: tuple[str, ...]) -> str | None:
    """The region where ``candidate`` is a valid number (``"intl"`` for +/00 numbers), else None."""
    pn = _phonenumbers()
    digits = re.sub(r"\D", "", candidate)
    international = candidate.lstrip("(").startswith(("+", "%2B", "%2b")) or candidate.startswith("00")
    if international:
        number = "+" + (digits[2:] if candidate.startswith("00") else digits)
        try:
            parsed = pn.parse(number, None)
        except pn.NumberParseException:
            return None
        return pn.region_code_for_number(parsed) or "intl" if pn.is_valid_number(parsed) else None
    for region in regions:
        if region in _TRUNK_ZERO and not digits.startswith("0"):
            continue  # people write national numbers there with their trunk prefix
        try:
            parsed = pn.parse(digits, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(parsed):
            return region
    return None


def _e164_tail(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return digits[-9:] if len(digits) >= 7 else ""


def _allowed_forms(allow: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    forms: set[str] = set()
    for item in allow:
        if not item:
            continue
        forms.add(_compact(item))
        forms.add(item.strip().lower())
        tail = _e164_tail(item)
        if tail:
            forms.add("tel:" + tail)
    return frozenset(forms), tuple(a for a in allow if a)


# -- detection ---------------------------------------------------------------------------------------


def detect(
    text: str,
    *,
    language: str | None = None,
    allow: Iterable[str] = (),
    examples: bool = False,
    kinds: Iterable[str] | None = None,
    now_year: int | None = None,
) -> list[PiiSpan]:
    """Personal data in ``text``, sorted by position and never overlapping.

    ``language`` picks the phone regions tried for numbers without a country code (all nine
    languages' main countries when None). ``allow`` lists values that are not to be reported
    (the tenant's own phone number, e.g.), compared without spaces or punctuation. ``examples``
    keeps the assistant's own examples (model output). ``kinds`` restricts the kinds looked for.
    """
    if not text or not _TRIGGER.rx.search(text):
        return []
    wanted = frozenset(KINDS if kinds is None else kinds)
    unknown = wanted - frozenset(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    found: list[PiiSpan] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int, detail: str) -> None:
        found.append(PiiSpan(kind, start, end, detail))
        taken.append((start, end))

    lowered = text.lower()
    if "secret" in wanted and any(hint in lowered for hint in _SECRET_HINTS):
        for m in _SECRET.rx.finditer(text):
            group = next(g for g in ("bearer", "jwt", "akid", "value") if m.group(g))
            add("secret", m.start(group), m.end(group), group)
    if "email" in wanted and "@" in text:
        for m in _EMAIL.rx.finditer(text):
            if _overlaps(m.start(), m.end(), taken):
                continue
            if examples and (_EXAMPLE_DOMAIN.rx.search(m.group()) or _is_example(text, m.start())):
                continue
            add("email", m.start(), m.end(), "email")
    if "iban" in wanted:
        for start, end, country in _ibans(text):
            if not _overlaps(start, end, taken):
                add("iban", start, end, country)
    if "national_id" in wanted and _LETTER_ID_HINT.rx.search(text):
        for rule in _LETTER_ID_RULES:
            for m in rule.pattern.rx.finditer(text):
                if not _overlaps(m.start(), m.end(), taken) and _id_ok(rule, text, m):
                    add("national_id", m.start(), m.end(), rule.name)
    if "ip" in wanted and _IP_HINT.rx.search(text):
        for m in _IPV4.rx.finditer(text):
            if not _overlaps(m.start(), m.end(), taken) and _public_ipv4(m.group()):
                add("ip", m.start(), m.end(), "ipv4")
    if "dob" in wanted and _DATE_HINT.rx.search(text):
        year_now = now_year or datetime.now(UTC).year
        for m in _DATE.rx.finditer(text):
            if _overlaps(m.start(), m.end(), taken) or _TIMESTAMP_AFTER.rx.match(text, m.end()):
                continue
            year_text = m.group("y1") or m.group("y2") or m.group("y3") or m.group("y4")
            year = int(year_text) if year_text and len(year_text) == 4 else None
            birth = bool(_BIRTH.rx.search(fold(text[max(0, m.start() - 48) : m.start()])))
            if not (birth or (year is not None and 1900 <= year <= year_now - 12)):
                continue
            if examples and _is_example(text, m.start()):
                continue
            add("dob", m.start(), m.end(), "birth_context" if birth else "old_date")
    # Numbers: looked for in a copy where timestamps, AWS ids, prices and the spans found so far are blanked.
    wants_numbers = wanted & {"national_id", "card", "phone"}
    if wants_numbers and _DIGIT_RUN.rx.search(text):
        chars = list(text)
        for start, end in [*taken, *(m.span() for m in _PROTECTED.rx.finditer(text))]:
            chars[start:end] = "\x00" * (end - start)
        numbers = "".join(chars)
        if _DIGIT_RUN.rx.search(numbers):
            _numbers(numbers, text, wanted, language, examples, add, taken)
    found.sort(key=lambda s: s.start)
    if allow:
        forms, raw_allowed = _allowed_forms(allow)
        found = [s for s in found if not _is_allowed(text[s.start : s.end], s.kind, forms, raw_allowed)]
    return found


def _id_ok(rule: _IdRule, text: str, m: re.Match[str]) -> bool:
    if rule.context is not None and not rule.context.rx.search(fold(text[max(0, m.start() - 60) : m.start()])):
        return False
    return rule.check(_compact(m.group()))


def _numbers(
    numbers: str,
    text: str,
    wanted: frozenset[str],
    language: str | None,
    examples: bool,
    add: Callable[[str, int, int, str], None],
    taken: list[tuple[int, int]],
) -> None:
    """National ids, cards and phone numbers in ``numbers`` (``text`` with protected spans blanked)."""
    if "national_id" in wanted:
        for rule in _DIGIT_ID_RULES:
            for m in rule.pattern.rx.finditer(numbers):
                if not _overlaps(m.start(), m.end(), taken) and _id_ok(rule, text, m):
                    add("national_id", m.start(), m.end(), rule.name)
    if "card" in wanted:
        for m in _CARD.rx.finditer(numbers):
            digits = re.sub(r"\D", "", m.group())
            if _overlaps(m.start(), m.end(), taken) or not 13 <= len(digits) <= 19:
                continue
            if _CARD_PREFIX.rx.match(digits) and _luhn(digits):
                add("card", m.start(), m.end(), _card_brand(digits))
    if "phone" in wanted:
        regions = _REGIONS.get(language, _REGIONS[None])
        for m in _PHONE.rx.finditer(numbers):
            start, end = m.span()
            raw = m.group()
            digits = re.sub(r"\D", "", raw)
            if not 7 <= len(digits) <= 15 or _overlaps(start, end, taken):
                continue
            before = fold(text[max(0, start - 40) : start])
            reference = _REFERENCE_BEFORE.rx.search(before) and not _PHONE_WORD.rx.search(before[-24:])
            if reference and not m.group("prefix"):
                continue
            body = raw[raw.index(":") + 1 :] if raw.lower().startswith(("whatsapp:", "tel:")) else raw
            region = _phone_region(body.strip(), regions)
            if region is None:
                continue
            if examples and (_fictional(body) or _is_example(text, start)):
                continue
            add("phone", start, end, region)


def _is_allowed(value: str, kind: str, forms: frozenset[str], raw_allowed: tuple[str, ...]) -> bool:
    if _compact(value) in forms or value.strip().lower() in forms:
        return True
    if kind == "phone" and "tel:" + _e164_tail(value) in forms:
        return True
    return any(value in item for item in raw_allowed)


def _is_example(text: str, start: int) -> bool:
    window = text[max(0, start - 60) : start]
    cut = max(window.rfind("! "), window.rfind("? "), window.rfind("\n"))
    return bool(_EXAMPLE_BEFORE.rx.search(fold(window[cut + 1 :] if cut >= 0 else window)))


def _fictional(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if candidate.lstrip().startswith(("+", "00")):
        digits = digits[2:] if candidate.lstrip().startswith("00") else digits
    elif digits.startswith("0"):
        digits = "33" + digits[1:]  # a French national number
    elif len(digits) == 10:
        digits = "1" + digits  # a North American one
    return bool(_FICTIONAL_PHONE.rx.match(digits))


def _public_ipv4(ip: str) -> bool:
    a, b, *_ = (int(x) for x in ip.split("."))
    private = a in (0, 10, 127) or a >= 224 or (a == 169 and b == 254) or (a == 172 and 16 <= b <= 31)
    return not (private or (a == 192 and b == 168) or (a == 100 and 64 <= b <= 127))


def _ibans(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _IBAN_START.rx.finditer(text):
        country = m.group(1).upper()
        length = _IBAN_LENGTHS.get(country)
        if length is None:
            continue
        chars = [country, m.group(2)]
        count, pos, end = 4, m.end(), m.end()
        while count < length and pos < len(text):
            ch = text[pos]
            if ch.isascii() and ch.isalnum():
                chars.append(ch.upper())
                count += 1
                end = pos + 1
            elif ch not in " -" or text[pos - 1] in " -":
                break
            pos += 1
        if count != length or (end < len(text) and text[end].isascii() and text[end].isalnum()):
            continue
        compact = "".join(chars)
        if compact[4:].isalnum() and _iban_ok(compact):
            yield m.start(), end, country


def mask(
    text: str,
    *,
    language: str | None = None,
    allow: Iterable[str] = (),
    examples: bool = False,
    kinds: Iterable[str] | None = None,
) -> str:
    """``text`` with each piece of personal data replaced by its placeholder (``<email>``, ``<phone>``, …)."""
    spans = detect(text, language=language, allow=allow, examples=examples, kinds=kinds)
    return apply_mask(text, spans)


def apply_mask(text: str, spans: Iterable[PiiSpan]) -> str:
    """Replace the given spans (sorted, non-overlapping) by their placeholders."""
    out: list[str] = []
    last = 0
    for span in spans:
        out.append(text[last : span.start])
        out.append(span.placeholder)
        last = span.end
    out.append(text[last:])
    return "".join(out)
