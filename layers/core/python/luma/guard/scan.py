"""The guard's two entry points: :func:`scan_input` (a person's message) and :func:`scan_output` (a sentence
the model wrote). Both return a :class:`GuardResult`: findings ``(kind, score, detail)`` whose details never
hold personal data, and the text with personal data masked (what logs and memory may keep).

Kinds: ``injection`` (rules, else the learned head), ``crisis`` (rules, else the head unless the text is a
figure of speech), ``pii`` (one finding per piece of personal data), ``prompt_leak`` (output only: overlap
with the actual system prompt). What to do about a finding is the policy's business (:mod:`luma.guard.policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from luma.guard import crisis, injection, leak, pii

CRISIS_TYPES = ("suicide", "self_harm", "third_party", "medical", "acknowledged", "head")


class GuardInputError(TypeError):
    """A scan was called with something that is not text (or an embedding of the wrong shape)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the guard found: its kind, a score in [0, 1] and a detail free of personal data."""

    kind: str
    score: float
    detail: str


@dataclass(frozen=True)
class GuardResult:
    """Findings, the masked text and the personal-data spans (positions and kinds only)."""

    findings: tuple[Finding, ...] = ()
    masked: str = ""
    pii: tuple[pii.PiiSpan, ...] = field(default_factory=tuple)

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds found."""
        return frozenset(f.kind for f in self.findings)

    def has(self, kind: str) -> bool:
        """True when a finding of ``kind`` is present."""
        return kind in self.kinds

    def first(self, kind: str) -> Finding | None:
        """The first finding of ``kind``."""
        return next((f for f in self.findings if f.kind == kind), None)

    @property
    def crisis_types(self) -> tuple[str, ...]:
        """What the crisis finding is about (``suicide``, ``self_harm``, ``third_party``, ``medical``, …)."""
        found = self.first("crisis")
        if found is None:
            return ()
        return tuple(t for t in found.detail.removeprefix("rule:").split("+") if t in CRISIS_TYPES)


def _check_text(text: object, name: str) -> str:
    if not isinstance(text, str):
        raise GuardInputError(f"{name} must be str, not {type(text).__name__}")
    return text


def _vector(text: str, embedding: np.ndarray | Sequence[float] | None) -> np.ndarray:
    from luma.classify.embedder import DIMENSION, get_embedder

    if embedding is None:
        return get_embedder().embed_one(text)
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.shape != (DIMENSION,):
        raise GuardInputError(f"embedding must have {DIMENSION} values, got {vector.size}")
    return vector


def _pii_findings(spans: Iterable[pii.PiiSpan]) -> list[Finding]:
    return [Finding("pii", 1.0, f"{s.kind}:{s.detail}") for s in spans]


def warm_up(*, use_head: bool = True) -> None:
    """Compile the rules and load the lexicons (and the head and the embedder): for a Lambda's init phase."""
    scan_input("warm up", language="en", use_head=False)
    scan_output("warm up.", system_prompt="warm up", language="en")
    if use_head:
        from luma.classify.embedder import get_embedder
        from luma.guard.head import get_head

        get_head()
        get_embedder().load()


def scan_input(
    text: str,
    *,
    language: str | None,
    embedding: np.ndarray | Sequence[float] | None = None,
    use_head: bool = True,
    pii_kinds: Iterable[str] | None = None,
) -> GuardResult:
    """Scan a person's message: injection, crisis and personal data.

    ``embedding`` is the message's MiniLM vector when the caller already has it (the intent
    classifier computes one); otherwise it is computed here. ``use_head=False`` skips the learned
    head (rules only). ``pii_kinds`` restricts the personal-data kinds (default: all).
    """
    text = _check_text(text, "text")
    findings: list[Finding] = []
    injection_rules = injection.rule_hits(text)
    crisis_rules = crisis.rule_hits(text)
    head_scores: dict[str, tuple[float, bool]] = {}
    if use_head and text.strip() and not (injection_rules and crisis_rules):
        from luma.guard.head import get_head

        head_scores = get_head().scores(text, _vector(text, embedding))
    if injection_rules:
        findings.append(Finding("injection", 1.0, "rule:" + "+".join(injection_rules)))
    elif head_scores.get("injection", (0.0, False))[1]:
        findings.append(Finding("injection", round(head_scores["injection"][0], 4), "head"))
    if crisis_rules:
        findings.append(Finding("crisis", 1.0, "rule:" + "+".join(crisis_rules)))
    elif head_scores.get("crisis", (0.0, False))[1] and not (crisis.is_hyperbole(text) or crisis.contexts(text)):
        findings.append(Finding("crisis", round(head_scores["crisis"][0], 4), "head"))
    spans = tuple(pii.detect(text, language=language, kinds=pii_kinds))
    findings += _pii_findings(spans)
    return GuardResult(tuple(findings), pii.apply_mask(text, spans), spans)


def scan_output(
    sentence: str,
    *,
    system_prompt: str,
    language: str | None,
    allow: Iterable[str] = frozenset(),
) -> GuardResult:
    """Scan one sentence of model output: prompt leakage, personal data, crisis and injection text.

    ``allow`` holds strings the assistant may say verbatim (the tenant's phone number, public facts
    from the prompt): they are neither masked nor counted as leakage. The assistant's own examples
    ("for example: Jane Doe, 14/03/1990", example.com addresses, fictional numbers) are not masked.
    """
    sentence = _check_text(sentence, "sentence")
    system_prompt = _check_text(system_prompt, "system_prompt")
    allowed = tuple(a for a in allow if a)
    findings: list[Finding] = []
    overlap = leak.overlap(sentence, system_prompt, public=allowed)
    if overlap.leak:
        findings.append(
            Finding("prompt_leak", min(1.0, overlap.score / 2), f"run={overlap.run},share={overlap.containment:.2f}")
        )
    crisis_rules = crisis.output_hits(sentence)
    if crisis_rules:
        findings.append(Finding("crisis", 1.0, "rule:" + "+".join(crisis_rules)))
    injection_rules = injection.rule_hits(sentence)
    if injection_rules:
        findings.append(Finding("injection", 1.0, "rule:" + "+".join(injection_rules)))
    spans = tuple(pii.detect(sentence, language=language, allow=allowed, examples=True))
    findings += _pii_findings(spans)
    return GuardResult(tuple(findings), pii.apply_mask(sentence, spans), spans)
