"""Prompt leakage: how much of a sentence of model output is copied from the actual system prompt.

Judged by overlap, not by a phrase list: the longest run of words the sentence shares with the
prompt, and the share of the sentence's word 4-grams (shingles) found in the prompt. A run counts
only if it reads like instructions (it carries function words: "the", "you", "if", "de", …) —
facts the prompt holds so that the assistant repeats them (opening hours, addresses, a phone
number) are lists of names and numbers and do not. Text the assistant may say verbatim can also be
passed as ``public``; it is cut out of the prompt before comparing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from luma.guard.pii import fold

RUN_WORDS = 8  # a shared run this long (instruction-like) is a leak
CONTAINMENT = 0.6  # or this share of the sentence's shingles, in a sentence of at least MIN_WORDS words
MIN_WORDS = 6
SHINGLE = 4
_MIN_FUNCTION_WORDS = 2
_GAP = 1 << 20  # position offset between prompt segments, so that no run crosses a cut

_WORD = re.compile(r"\w+")
_FUNCTION_WORDS_TEXT = """
    a an the to of and or if for in on at by with from as is are be not no never always must should do don
    you your yours we our it its this that these those when then than any all only who what which
    le la les un une des de du et ou si pour dans sur avec ne pas tu vous ton votre est sont
    el los las una unos y o para en con no tu usted su es son
    o os as um uma e ou para em com nao voce seu sua
    der die das ein eine und oder wenn fur mit nicht du sie dein ihr ist sind
    il lo gli uno e o se per in con non tu lei tuo suo sono
    si sau daca pentru cu nu tu esti este sunt
    i lub jesli dla w z nie ty jest sa
    في من على الى إلى عن لا ان أن اذا إذا انت أنت هو هي
"""
_FUNCTION_WORDS = frozenset(fold(w) for w in _FUNCTION_WORDS_TEXT.split())


@dataclass(frozen=True)
class Overlap:
    """How a sentence overlaps the prompt (counts only: never the prompt's text)."""

    run: int  # words in the longest instruction-like run shared with the prompt
    containment: float  # share of the sentence's shingles found in the prompt
    words: int  # words in the sentence

    @property
    def score(self) -> float:
        """1.0 or more is a leak: ``run / RUN_WORDS``, or containment over its threshold."""
        by_run = self.run / RUN_WORDS
        by_share = self.containment / CONTAINMENT if self.words >= MIN_WORDS else 0.0
        return max(by_run, by_share)

    @property
    def leak(self) -> bool:
        """True when the sentence repeats the prompt."""
        return self.score >= 1.0


@dataclass(frozen=True)
class _PromptIndex:
    tokens: tuple[tuple[int, str], ...]  # (position, token)
    positions: dict[str, tuple[int, ...]]
    shingles: frozenset[tuple[str, ...]]


def _tokens(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@lru_cache(maxsize=32)
def _index(system_prompt: str, public: tuple[str, ...]) -> _PromptIndex:
    segments = [system_prompt]
    for item in sorted(public, key=len, reverse=True):
        if item:
            segments = [part for seg in segments for part in seg.split(item)]
    tokens: list[tuple[int, str]] = []
    shingles: set[tuple[str, ...]] = set()
    for n, segment in enumerate(segments):
        words = _tokens(segment)
        tokens += [(n * _GAP + i, w) for i, w in enumerate(words)]
        shingles.update(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))
    positions: dict[str, list[int]] = {}
    for pos, word in tokens:
        positions.setdefault(word, []).append(pos)
    return _PromptIndex(tuple(tokens), {w: tuple(p) for w, p in positions.items()}, frozenset(shingles))


def overlap(sentence: str, system_prompt: str, *, public: Iterable[str] = ()) -> Overlap:
    """The overlap of ``sentence`` with ``system_prompt`` (``public`` text cut out of the prompt)."""
    words = _tokens(sentence)
    if not words or not system_prompt:
        return Overlap(0, 0.0, len(words))
    index = _index(system_prompt, tuple(sorted(set(public))))
    best = 0
    runs: dict[int, int] = {}  # prompt position -> length of the shared run ending there
    starts: dict[int, int] = {}  # prompt position -> sentence index where that run starts
    for i, word in enumerate(words):
        current: dict[int, int] = {}
        current_starts: dict[int, int] = {}
        for pos in index.positions.get(word, ()):
            length = runs.get(pos - 1, 0) + 1
            current[pos] = length
            current_starts[pos] = starts.get(pos - 1, i) if length > 1 else i
            if length > best and _instruction_like(words[current_starts[pos] : i + 1]):
                best = length
        runs, starts = current, current_starts
    grams = [g for i in range(len(words) - SHINGLE + 1) if _wordy(g := tuple(words[i : i + SHINGLE]))]
    share = sum(g in index.shingles for g in grams) / len(grams) if len(grams) >= 3 else 0.0
    return Overlap(best, share, len(words))


def _instruction_like(run: list[str]) -> bool:
    function_words = sum(w in _FUNCTION_WORDS for w in run)
    digits = sum(w.isdigit() for w in run)
    return function_words >= _MIN_FUNCTION_WORDS and digits * 2 < len(run)


def _wordy(gram: tuple[str, ...]) -> bool:
    return _instruction_like(list(gram))


def leak_score(sentence: str, system_prompt: str, *, public: Iterable[str] = ()) -> float:
    """:attr:`Overlap.score` of the sentence against the prompt (≥ 1.0 is a leak)."""
    return overlap(sentence, system_prompt, public=public).score
