"""Text analysis close to Lucene's: the standard tokenizer (Unicode word boundaries, UAX #29 rules for
letters, digits and the punctuation that joins them), the keyword and whitespace tokenizers, and the
lowercase/uppercase filters. Offsets are UTF-16 code units, as OpenSearch reports them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .errors import bad_request

MAX_TOKEN_LENGTH = 255

# UAX #29 word-break classes of the punctuation that can sit inside a word.
_MID_LETTER = set(":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a")
_MID_NUM_LET = set(".\u2018\u2019\u2024\ufe52\uff07\uff0e")
_MID_NUM = set(",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")
_SINGLE_QUOTE = "'"


@dataclass(frozen=True)
class Token:
    """One token: its term, UTF-16 offsets into the text and position."""

    term: str
    start: int
    end: int
    position: int
    type: str = "<ALPHANUM>"


def _is_ideographic(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3040 <= code <= 0x309F  # Hiragana: one token per character, like Lucene
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3FFFF
    )


def _is_katakana(ch: str) -> bool:
    return 0x30A0 <= ord(ch) <= 0x30FF or 0x31F0 <= ord(ch) <= 0x31FF


def _kind(ch: str) -> str:
    """Word-break class: L letter, N digit, E mark, X connector, I ideograph, K katakana, O other."""
    if _is_ideographic(ch):
        return "I"
    if _is_katakana(ch):
        return "K"
    category = unicodedata.category(ch)
    if category == "Nd":
        return "N"
    if category[0] == "L":
        return "L"
    if category[0] == "M" or category == "Cf":
        return "E"
    if category == "Pc":
        return "X"
    return "O"


def _utf16_len(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


# The same rules for ASCII text, as one regular expression: letters, digits and underscores join; ".:'"
# joins two letters; ".,;'" joins two digits.
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[.:'](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9_]+)*")
_ASCII_NUMBER = re.compile(r"[0-9.,;']+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


def _ascii_tokenize(text: str, max_token_length: int) -> list[Token]:
    tokens: list[Token] = []
    for match in _ASCII_WORD.finditer(text):
        word = match.group()
        if not _ASCII_ALNUM.search(word):
            continue
        token_type = "<NUM>" if _ASCII_NUMBER.fullmatch(word) else "<ALPHANUM>"
        for piece in range(0, len(word), max_token_length):
            start = match.start() + piece
            end = min(start + max_token_length, match.end())
            tokens.append(Token(text[start:end], start, end, len(tokens), token_type))
    return tokens


def standard_tokenize(text: str, max_token_length: int = MAX_TOKEN_LENGTH) -> list[Token]:
    """Split ``text`` the way Lucene's StandardTokenizer does for Latin, Greek, Cyrillic, Arabic, CJK text."""
    if text.isascii():
        return _ascii_tokenize(text, max_token_length)
    return unicode_tokenize(text, max_token_length)


def unicode_tokenize(text: str, max_token_length: int = MAX_TOKEN_LENGTH) -> list[Token]:
    """The standard tokenizer's rules for any text, one character class at a time."""
    spans: list[tuple[int, int, str]] = []  # (start, end) in code points, token type
    i, n = 0, len(text)
    kinds = [_kind(ch) for ch in text]
    while i < n:
        kind = kinds[i]
        if kind == "I":
            spans.append((i, i + 1, "<IDEOGRAPHIC>" if ord(text[i]) >= 0x3400 else "<HIRAGANA>"))
            i += 1
            continue
        if kind not in "LNXK":
            i += 1
            continue
        start = i
        last = kind  # class of the last letter/digit/katakana seen (marks do not change it)
        i += 1
        while i < n:
            k = kinds[i]
            if k == "E":
                i += 1
                continue
            if (k == "K" and last in "KX") or (k in "LN" and last in "LNX") or (k == "X" and last in "LNKX"):
                last = k
                i += 1
                continue
            if i + 1 < n:
                nxt = kinds[i + 1]
                ch = text[i]
                letters = (
                    last == "L" and nxt == "L" and (ch in _MID_LETTER or ch in _MID_NUM_LET or ch == _SINGLE_QUOTE)
                )
                digits = last == "N" and nxt == "N" and (ch in _MID_NUM or ch in _MID_NUM_LET or ch == _SINGLE_QUOTE)
                if letters or digits:
                    i += 2
                    continue
            break
        word = text[start:i]
        if any(kinds[j] in "LNK" for j in range(start, i)):
            types = {kinds[j] for j in range(start, i)} - {"O"}
            token_type = "<NUM>" if types <= {"N", "E"} else "<KATAKANA>" if types <= {"K", "E"} else "<ALPHANUM>"
            for piece in range(0, len(word), max_token_length):
                spans.append((start + piece, min(start + piece + max_token_length, i), token_type))
    # Code-point spans to UTF-16 offsets.
    tokens: list[Token] = []
    offset, cursor = 0, 0
    for position, (start, end, token_type) in enumerate(spans):
        offset += _utf16_len(text[cursor:start])
        length = _utf16_len(text[start:end])
        tokens.append(Token(text[start:end], offset, offset + length, position, token_type))
        offset += length
        cursor = end
    return tokens


def keyword_tokenize(text: str) -> list[Token]:
    """The whole text as one token."""
    return [Token(text, 0, _utf16_len(text), 0, "word")] if text else []


def whitespace_tokenize(text: str) -> list[Token]:
    """Split on whitespace."""
    tokens: list[Token] = []
    i, n, offset = 0, len(text), 0
    while i < n:
        if text[i].isspace():
            offset += _utf16_len(text[i])
            i += 1
            continue
        start, start_offset = i, offset
        while i < n and not text[i].isspace():
            offset += _utf16_len(text[i])
            i += 1
        tokens.append(Token(text[start:i], start_offset, offset, len(tokens), "word"))
    return tokens


def lowercase(term: str) -> str:
    """Java's ``Character.toLowerCase`` per code point (one character in, one out)."""
    if term.isascii():
        return term.lower()
    out = []
    for ch in term:
        low = ch.lower()
        out.append(low if len(low) == 1 else low[0])
    return "".join(out)


def uppercase(term: str) -> str:
    """Java's ``Character.toUpperCase`` per code point."""
    out = []
    for ch in term:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


TOKENIZERS: dict[str, Callable[[str], list[Token]]] = {
    "standard": standard_tokenize,
    "keyword": keyword_tokenize,
    "whitespace": whitespace_tokenize,
}
FILTERS: dict[str, Callable[[str], str]] = {"lowercase": lowercase, "uppercase": uppercase}
# Built-in analyzers: tokenizer and filters.
ANALYZERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "standard": ("standard", ("lowercase",)),
    "default": ("standard", ("lowercase",)),
    "keyword": ("keyword", ()),
    "whitespace": ("whitespace", ()),
}


def analyze(text: str, analyzer: str = "standard") -> list[Token]:
    """Tokens of ``text`` through a built-in analyzer."""
    try:
        tokenizer, filters = ANALYZERS[analyzer]
    except KeyError:
        raise bad_request(f"failed to find global analyzer [{analyzer}]") from None
    return run_chain(text, tokenizer, filters)


def run_chain(text: str, tokenizer: str, filters: tuple[str, ...] | list[str]) -> list[Token]:
    """Tokens of ``text`` through a tokenizer and token filters."""
    try:
        tokens = TOKENIZERS[tokenizer](text)
    except KeyError:
        raise bad_request(f"failed to find global tokenizer under [{tokenizer}]") from None
    for name in filters:
        try:
            apply = FILTERS[name]
        except KeyError:
            raise bad_request(f"failed to find global token_filter under [{name}]") from None
        tokens = [Token(apply(t.term), t.start, t.end, t.position, t.type) for t in tokens]
    return tokens


def terms(text: str, analyzer: str = "standard") -> list[str]:
    """Just the terms."""
    return [t.term for t in analyze(text, analyzer)]
