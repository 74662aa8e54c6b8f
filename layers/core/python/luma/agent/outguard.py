"""The output guard of an agent run: every whole sentence the model writes, before the person sees it.

Each sentence is scanned (:func:`luma.guard.scan.scan_output`: leakage of the actual system prompt,
crisis content, personal data) and the assistant's output policy decides: personal data masked
(except the pack's allowed strings and its own examples), a leaking sentence dropped, a refusal's
fixed text instead of the sentence — and a crisis ends the model's answer: nothing more of it is
shown, the run answers with the fixed crisis reply instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from luma.observability import logger

if TYPE_CHECKING:
    from luma.guard.policy import GuardPolicy
    from luma.guard.scan import Finding


class OutputGuard:
    """The sentence check of :class:`luma.agent.stream.SentenceGuard` for one step."""

    def __init__(self, *, system_prompt: str, language: str, allow: Iterable[str], policy: GuardPolicy) -> None:
        self.system_prompt = system_prompt
        self.language = language
        self.allow = frozenset(a for a in allow if a)
        self.policy = policy
        self.findings: list[Finding] = []
        self.crisis: tuple[str, ...] | None = None  # the crisis types found: the answer is replaced

    def __call__(self, sentence: str) -> str:
        if self.crisis is not None or not sentence.strip():
            return "" if self.crisis is not None else sentence
        from luma.guard.replies import text
        from luma.guard.scan import scan_output

        try:
            result = scan_output(sentence, system_prompt=self.system_prompt, language=self.language, allow=self.allow)
        except Exception:  # a fault of the guard withholds the sentence rather than showing it unchecked
            logger.exception("output guard failed; sentence withheld")
            return ""
        self.findings.extend(result.findings)
        decision = self.policy.decide(result, stage="output")
        if decision.action == "safety":
            self.crisis = result.crisis_types or ("support",)
            return ""
        if decision.action == "block":
            return ""
        if decision.action == "refuse":
            return text(decision.text_key, self.language) if decision.text_key else ""
        return result.masked
