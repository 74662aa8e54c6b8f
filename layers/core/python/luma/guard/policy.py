"""What to do about guard findings: a per-assistant policy, layered defaults ← pack ← tenant.

For each finding kind, per stage (``input``: a person's message; ``output``: a sentence the model
wrote), an action:

* ``pass`` — go on, with the finding recorded as a flag (audit, metric);
* ``refuse`` — answer with a fixed text (``text_key`` in ``texts.json``) instead of routing the message;
  on output, the sentence is replaced by that text (or dropped when there is none);
* ``block`` — input: no answer, a ``BLOCKED`` error, the message stored; output: the sentence is dropped;
* ``safety`` — the fixed crisis reply (:func:`luma.guard.replies.crisis_reply`) and an escalation.

A finding can count as a violation; :class:`BlockingPolicy` says how many violations within a window
block the user, and for how long. Personal data is masked before logs and memory writes whatever the
action (:class:`PiiPolicy`); its action decides whether the message is answered at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from luma.guard.pii import KINDS as PII_KINDS
from luma.guard.scan import GuardResult

Action = Literal["pass", "refuse", "block", "safety"]
Stage = Literal["input", "output"]
_PRECEDENCE: dict[str, int] = {"pass": 0, "refuse": 1, "block": 2, "safety": 3}


class GuardPolicyError(ValueError):
    """A policy override is malformed (unknown key, unknown action, wrong type)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KindPolicy(_Frozen):
    """The action for one finding kind at one stage."""

    action: Action = "pass"
    text_key: str | None = None  # the fixed text for refuse (texts.json)
    violation: bool = False  # counts towards blocking the user
    escalate: Literal["urgent", "normal"] | None = None
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)  # weaker findings are ignored


class PiiPolicy(_Frozen):
    """Personal data: which kinds are looked for, and where they are masked."""

    kinds: frozenset[str] = frozenset(PII_KINDS)
    mask_logs: bool = True
    mask_memory: bool = True
    mask_model: bool = False  # mask what the model sees of the person's message
    refuse_kinds: frozenset[str] = frozenset()  # input holding these gets the pii policy's action

    @field_validator("kinds", "refuse_kinds")
    @classmethod
    def _known(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = value - frozenset(PII_KINDS)
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; known: {', '.join(PII_KINDS)}")
        return value


class BlockingPolicy(_Frozen):
    """Repeated violations block the user: ``violations`` within ``window_s`` → blocked for ``block_s``."""

    violations: int = Field(default=3, ge=1)
    window_s: int = Field(default=3600, ge=1)
    block_s: int = Field(default=900, ge=1)

    def retry_after(self, violation_times: Iterable[float], now: float) -> int | None:
        """Seconds the user stays blocked after the violations at ``violation_times`` (epoch s), or None.

        The caller stores the times of a user's violations (the current one included); the block runs
        from the latest violation, so a repeat offender within the window is blocked again at once.
        """
        recent = sorted(t for t in violation_times if now - self.window_s < t <= now)
        if len(recent) < self.violations:
            return None
        ends = recent[-1] + self.block_s
        return max(1, math.ceil(ends - now)) if ends > now else None


def _input_defaults() -> dict[str, KindPolicy]:
    return {
        "crisis": KindPolicy(action="safety", escalate="urgent"),
        "injection": KindPolicy(action="refuse", text_key="refusal.injection", violation=True),
        "pii": KindPolicy(action="pass"),
    }


def _output_defaults() -> dict[str, KindPolicy]:
    return {
        "crisis": KindPolicy(action="safety", escalate="urgent"),
        "prompt_leak": KindPolicy(action="block"),
        "injection": KindPolicy(action="pass"),
        "pii": KindPolicy(action="pass"),
    }


class Decision(_Frozen):
    """The outcome for one scan: the action, the kind that decided it, and what passed with a flag."""

    action: Action = "pass"
    kind: str | None = None
    text_key: str | None = None
    violation: bool = False
    escalate: Literal["urgent", "normal"] | None = None
    flags: tuple[str, ...] = ()


class GuardPolicy(_Frozen):
    """One assistant's guard policy (see the module docstring)."""

    input: dict[str, KindPolicy] = Field(default_factory=_input_defaults)
    output: dict[str, KindPolicy] = Field(default_factory=_output_defaults)
    pii: PiiPolicy = PiiPolicy()
    blocking: BlockingPolicy = BlockingPolicy()

    @field_validator("input", "output")
    @classmethod
    def _known_kinds(cls, value: dict[str, KindPolicy]) -> dict[str, KindPolicy]:
        unknown = set(value) - {"crisis", "injection", "pii", "prompt_leak"}
        if unknown:
            raise ValueError(f"unknown finding kinds {sorted(unknown)}")
        return value

    @classmethod
    def layered(cls, *overrides: Mapping[str, Any] | None) -> GuardPolicy:
        """Defaults, then each override in turn (a pack's, then a tenant's), merged key by key."""
        merged: dict[str, Any] = cls().model_dump()
        for layer in overrides:
            if layer is None:
                continue
            if not isinstance(layer, Mapping):
                raise GuardPolicyError(f"a guard policy override must be a JSON object, not {type(layer).__name__}")
            merged = _merge(merged, dict(layer))
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise GuardPolicyError(f"invalid guard policy: {problems}") from None

    def decide(self, result: GuardResult, *, stage: Stage) -> Decision:
        """The action for a scan's findings: the strongest action wins (safety > block > refuse > pass)."""
        table = self.input if stage == "input" else self.output
        chosen: tuple[str, KindPolicy] | None = None
        flags: list[str] = []
        for finding in result.findings:
            rule = table.get(finding.kind)
            if rule is None or finding.score < rule.min_score:
                continue
            if finding.kind == "pii" and stage == "input" and rule.action != "pass":
                kind = finding.detail.split(":", 1)[0]
                if kind not in self.pii.refuse_kinds:
                    rule = KindPolicy(action="pass")
            if rule.action == "pass":
                if finding.kind not in flags:
                    flags.append(finding.kind)
                continue
            if chosen is None or _PRECEDENCE[rule.action] > _PRECEDENCE[chosen[1].action]:
                chosen = (finding.kind, rule)
        if chosen is None:
            return Decision(flags=tuple(flags))
        kind, rule = chosen
        violation = any(
            (r := table.get(f.kind)) is not None and r.violation and f.score >= r.min_score for f in result.findings
        )
        return Decision(
            action=rule.action,
            kind=kind,
            text_key=rule.text_key,
            violation=violation,
            escalate=rule.escalate,
            flags=tuple(f for f in flags if f != kind),
        )


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], dict(value))
        else:
            out[key] = value
    return out
