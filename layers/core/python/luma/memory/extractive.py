"""Memory without a model: the user's salient statements with their context and dates, and extractive
session summaries — each with its provenance (the ids of the messages whose words it holds).
"""

from __future__ import annotations

from collections.abc import Sequence

from luma.memory.dates import anchor_dates, day_label
from luma.memory.model import Candidate, MemoryKind, SourceMessage
from luma.memory.text import (
    content_words,
    is_instruction_echo,
    is_recall_question,
    is_salient,
    sentences,
    tail,
    words,
)

# One memory item holds at most this much of a message (longer messages become several items).
MAX_STATEMENT_CHARS = 600
# The preceding message lends at most this much context (its last sentences).
MAX_CONTEXT_CHARS = 240
# An extractive session summary: at most this many sentences and characters.
SUMMARY_SENTENCES = 5
SUMMARY_CHARS = 600
# What a summary item's text starts with, after its date.
SUMMARY_LABEL = "Conversation summary —"


def _chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces of whole sentences within ``limit`` characters (a long sentence is cut)."""
    out: list[str] = []
    current = ""
    for sentence in sentences(text) or [text]:
        while len(sentence) > limit:
            out += [current] if current else []
            current = ""
            out.append(sentence[:limit])
            sentence = sentence[limit:]
        if current and len(current) + 1 + len(sentence) > limit:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out


def _context(previous: SourceMessage | None, message: SourceMessage) -> str | None:
    """What the preceding message lends: a user's last sentences, or an assistant's question only."""
    if previous is None or previous.session_id != message.session_id:
        return None
    if previous.role == "assistant":
        asked = [s for s in sentences(previous.text) if s.endswith("?") and not is_instruction_echo(s)]
        return tail(" ".join(asked), MAX_CONTEXT_CHARS) if asked else None
    if is_instruction_echo(previous.text) or not (is_salient(previous.text) or "?" in previous.text):
        return None
    return tail(previous.text, MAX_CONTEXT_CHARS)


def statement_candidates(
    messages: Sequence[SourceMessage], *, preceding: SourceMessage | None = None
) -> tuple[list[Candidate], int]:
    """One candidate per salient user message (more for long ones), and how many messages were skipped.

    ``messages`` are one session's new messages, oldest first; ``preceding`` is the message just
    before the first of them (context for it). Assistant messages are never remembered: they only
    lend their question to the user's answer.
    """
    out: list[Candidate] = []
    skipped = 0
    previous = preceding
    for message in messages:
        if (
            message.role != "user"
            or not is_salient(message.text)
            or is_instruction_echo(message.text)
            or is_recall_question(message.text)
        ):
            skipped += message.role == "user"
            previous = message
            continue
        context = _context(previous, message)
        header = f"[{day_label(message.created_at)}] "
        lead = ""
        sources: tuple[str, ...] = (message.message_id,)
        if context and previous is not None:
            lead = f"{previous.who}: {anchor_dates(context, previous.created_at)}\n"
            sources = (previous.message_id, message.message_id)
        body = anchor_dates(message.text.strip(), message.created_at)
        for piece in _chunks(body, MAX_STATEMENT_CHARS):
            out.append(
                Candidate(
                    kind=MemoryKind.STATEMENT,
                    text=f"{header}{lead}{message.who}: {piece}",
                    session_id=message.session_id,
                    source_ids=sources,
                    occurred_at=message.created_at,
                )
            )
        previous = message
    return out, skipped


def _sentence_score(sentence: str) -> float:
    """How much a sentence is worth keeping in a summary: its content, names, numbers, first person."""
    content = content_words(sentence)
    if len(content) < 3:
        return 0.0
    tokens = sentence.split()
    names = sum(1 for t in tokens[1:] if t[:1].isupper())
    numbers = sum(1 for w in content if any(c.isdigit() for c in w))
    first_person = sum(1 for w in words(sentence) if w in ("i", "i'm", "i've", "my", "we", "our", "me"))
    return len(content) + 1.5 * names + 1.5 * numbers + min(first_person, 2)


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def extractive_summary(messages: Sequence[SourceMessage]) -> Candidate | None:
    """A session's summary: its most informative user sentences (diverse, in order), or None if it had none."""
    scored: list[tuple[float, int, str, SourceMessage]] = []
    order = 0
    for message in messages:
        if message.role != "user" or is_instruction_echo(message.text):
            continue
        for sentence in sentences(anchor_dates(message.text, message.created_at)):
            score = _sentence_score(sentence)
            if score > 0:
                scored.append((score, order, sentence, message))
            order += 1
    if not scored:
        return None
    picked: list[tuple[int, str, SourceMessage]] = []
    bags: list[set[str]] = []
    used = 0
    for _score, position, sentence, message in sorted(scored, key=lambda s: (-s[0], s[1])):
        bag = set(content_words(sentence))
        if any(_overlap(bag, other) > 0.5 for other in bags):
            continue  # says what a picked sentence already says
        if used + len(sentence) > SUMMARY_CHARS and picked:
            continue
        picked.append((position, sentence, message))
        bags.append(bag)
        used += len(sentence)
        if len(picked) == SUMMARY_SENTENCES:
            break
    picked.sort(key=lambda p: p[0])
    first = min(m.created_at for _p, _s, m in picked)
    lines = " ".join(f"{m.who}: {s}" for _p, s, m in picked)
    return Candidate(
        kind=MemoryKind.SUMMARY,
        text=f"[{day_label(first)}] {SUMMARY_LABEL} {lines}",
        session_id=picked[0][2].session_id,
        source_ids=tuple(dict.fromkeys(m.message_id for _p, _s, m in picked)),
        occurred_at=first,
    )
