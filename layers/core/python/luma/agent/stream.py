"""Streaming an answer to the client through the sentence-buffered output guardrail.

The model's text deltas go into a :class:`SentenceGuard`, which releases text only in whole,
checked sentences (a very long sentence is released at a word boundary); :class:`TokenStreamer`
sends the released text as ``token`` frames, coalesced to at most one frame every ~60 ms, and
**flushes the tail** (the last, unterminated sentence) when the stream ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from luma.observability import mask_pii

# A sentence ends with . ! ? … (or Arabic/CJK marks) followed by whitespace, or with a newline.
_END = re.compile(r"(?<=[.!?…؟。])[\"'”’)\]]*\s+|\n+")
_ABBREV = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|Sr|Jr|No|vs|etc|e\.g|i\.e|approx|Av|Ave)\.|\b[A-Z]\.)$")
_LEAK = re.compile(r"(?i)\b(system prompt|my instructions|ignore (all )?previous instructions)\b")


def default_check(allowed: frozenset[str] = frozenset()) -> Callable[[str], str]:
    """The output check: mask personal data the model should not repeat (except ``allowed`` strings)."""

    def check(sentence: str) -> str:
        if _LEAK.search(sentence):
            return ""
        kept: dict[str, str] = {}
        for i, text in enumerate(sorted(allowed, key=len, reverse=True)):
            if text and text in sentence:
                token = f"\x00{i}\x00"
                kept[token] = text
                sentence = sentence.replace(text, token)
        sentence = mask_pii(sentence)
        for token, text in kept.items():
            sentence = sentence.replace(token, text)
        return sentence

    return check


class SentenceGuard:
    """Buffers text to sentence boundaries; every released sentence has passed ``check``."""

    def __init__(self, check: Callable[[str], str] | None = None, *, max_sentence_chars: int = 280) -> None:
        self.check = check or default_check()
        self.max_sentence_chars = max_sentence_chars
        self._buffer = ""
        self.flagged = 0  # sentences the check changed

    def _release(self, sentence: str) -> str:
        checked = self.check(sentence)
        if checked != sentence:
            self.flagged += 1
        return checked

    def feed(self, text: str) -> str:
        """Add a delta; return the text released by it (whole checked sentences, maybe empty)."""
        self._buffer += text
        out: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.start()]
            if match.group(0).strip() == "" and _ABBREV.search(candidate):
                continue  # "Dr. Patel": not a sentence end
            if match.end() == len(self._buffer) and "\n" not in match.group(0):
                break  # trailing space: the next delta may still belong to this sentence's end
            out.append(self._release(self._buffer[start : match.end()]))
            start = match.end()
        self._buffer = self._buffer[start:]
        if len(self._buffer) > self.max_sentence_chars:
            cut = self._buffer.rfind(" ", 0, self.max_sentence_chars)
            cut = cut + 1 if cut > 0 else self.max_sentence_chars
            out.append(self._release(self._buffer[:cut]))
            self._buffer = self._buffer[cut:]
        return "".join(out)

    def flush(self) -> str:
        """Release the tail (the stream ended mid-sentence or without a final space)."""
        tail, self._buffer = self._buffer, ""
        return self._release(tail) if tail else ""


class TokenStreamer:
    """Sends guarded text as frames through ``send(text) -> bool`` (False: the client is gone)."""

    def __init__(
        self,
        send: Callable[[str], bool],
        guard: SentenceGuard | None = None,
        *,
        min_interval_s: float = 0.06,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send = send
        self.guard = guard or SentenceGuard()
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.released: list[str] = []  # everything released, sent or not (the persisted reply)
        self.frames = 0
        self.gone = False
        self._pending = ""
        self._last: float | None = None

    def _send(self) -> None:
        if not self._pending:
            return
        text, self._pending = self._pending, ""
        if self.gone:
            return
        self._last = self.clock()
        self.frames += 1
        if not self.send(text):
            self.gone = True  # keep consuming the model: the reply is persisted and caught up later

    def feed(self, delta: str) -> None:
        """A text delta from the model."""
        released = self.guard.feed(delta)
        if released:
            self.released.append(released)
            self._pending += released
        self.tick()

    def tick(self) -> None:
        """Send pending text if the interval has passed (call on every model event)."""
        if self._pending and (self._last is None or self.clock() - self._last >= self.min_interval_s):
            self._send()

    def finish(self) -> str:
        """Flush the tail and anything pending; return the full released text."""
        tail = self.guard.flush()
        if tail:
            self.released.append(tail)
            self._pending += tail
        self._send()
        return "".join(self.released)
