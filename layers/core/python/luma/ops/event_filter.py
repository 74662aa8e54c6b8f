"""Lambda event filtering: the pattern language of an event-source mapping's ``FilterCriteria``.

Lambda uses EventBridge's pattern syntax on the whole stream record (``eventName``, ``dynamodb``, ...).
A pattern is an object whose leaves are arrays of rules; the leaves of one pattern are ANDed, the
rules of one leaf ORed, and the patterns of a mapping ORed. Supported, as Lambda documents them:
exact values (strings, numbers, ``true``/``false``, ``null``, ``""``), ``prefix``, ``suffix``
(both also with ``equals-ignore-case``), ``equals-ignore-case``, ``anything-but`` (a value, a list,
``prefix``, ``suffix`` or ``equals-ignore-case``), ``numeric`` and ``exists``.

Semantics that surprise (each checked against AWS by LocalStack's validated tests, or documented):

- a rule compares *leaf* values only: ``{"exists": false}`` on a key whose value is an object
  matches, because there is no leaf there;
- an array in the record matches when any of its elements does;
- ``numeric`` matches JSON numbers only, so DynamoDB's ``{"N": "42"}`` (a string) never matches it;
- numbers compare by their JSON text: ``300`` and ``300.0`` are different values.

A pattern Lambda would refuse raises :class:`FilterPatternError`, as creating the mapping would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_FILTERS = 10  # Lambda's quota per event-source mapping (5 by default, 10 on request)

Leaf = str | int | float | bool | None
Rule = Callable[[Leaf], bool]


class FilterPatternError(ValueError):
    """A filter pattern Lambda would refuse (``InvalidParameterValueException`` when the mapping is created)."""


_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_value(a: Leaf, b: Leaf) -> bool:
    """Equality as EventBridge sees it: same JSON type and text (``1`` is not ``true``, ``300`` not ``300.0``)."""
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return json.dumps(a) == json.dumps(b)


def _literal(value: object, where: str) -> Leaf:
    if value is None or isinstance(value, str | bool) or _is_number(value):
        return value  # type: ignore[return-value]
    raise FilterPatternError(f"{where}: expected a string, number, boolean or null, got {json.dumps(value)}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise FilterPatternError(f"{where}: expected a string, got {json.dumps(value)}")
    return value


def _affix_rule(kind: str, operand: object, where: str) -> Rule:
    """``prefix`` / ``suffix``, optionally ``{"equals-ignore-case": ...}``."""
    test = str.startswith if kind == "prefix" else str.endswith
    if isinstance(operand, Mapping):
        if set(operand) != {"equals-ignore-case"}:
            raise FilterPatternError(f"{where}: {kind} takes a string or {{'equals-ignore-case': string}}")
        lowered = _text(operand["equals-ignore-case"], where).casefold()
        return lambda v: isinstance(v, str) and test(v.casefold(), lowered)
    text = _text(operand, where)
    return lambda v: isinstance(v, str) and test(v, text)


def _anything_but(operand: object, where: str) -> Rule:
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            raise FilterPatternError(f"{where}: anything-but takes one operator")
        ((kind, inner),) = operand.items()
        if kind in ("prefix", "suffix"):
            positive = _affix_rule(kind, inner, where)
            return lambda v: isinstance(v, str) and not positive(v)
        if kind == "equals-ignore-case":
            words = inner if isinstance(inner, list) else [inner]
            lowered = {_text(w, where).casefold() for w in words}
            return lambda v: isinstance(v, str) and v.casefold() not in lowered
        raise FilterPatternError(f"{where}: anything-but does not support {kind!r}")
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise FilterPatternError(f"{where}: anything-but needs at least one value")
    excluded = [_literal(v, where) for v in values]
    return lambda v: not any(_same_value(v, e) for e in excluded)


def _numeric(operand: object, where: str) -> Rule:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise FilterPatternError(f"{where}: numeric takes [op, number] or [op, number, op, number]")
    conditions: list[tuple[Callable[[float, float], bool], float]] = []
    ops = operand[0::2]
    for op, bound in zip(ops, operand[1::2], strict=True):
        if op not in _COMPARATORS or not _is_number(bound):
            raise FilterPatternError(f"{where}: numeric comparison {json.dumps([op, bound])} is not valid")
        conditions.append((_COMPARATORS[op], float(bound)))
    if len(ops) == 2 and not (ops[0] in (">", ">=") and ops[1] in ("<", "<=")):
        raise FilterPatternError(f"{where}: a numeric range is a lower bound (> or >=) then an upper bound (< or <=)")
    return lambda v: _is_number(v) and all(cmp(float(v), bound) for cmp, bound in conditions)  # type: ignore[arg-type]


def _rule(spec: object, where: str) -> Rule:
    """One element of a leaf's rule array (``exists`` is handled by the caller)."""
    if not isinstance(spec, Mapping):
        if isinstance(spec, list):
            raise FilterPatternError(f"{where}: nested arrays are not allowed in a pattern")
        value = _literal(spec, where)
        return lambda v: _same_value(v, value)
    if len(spec) != 1:
        raise FilterPatternError(f"{where}: each rule object has exactly one operator, got {sorted(spec)}")
    ((kind, operand),) = spec.items()
    if kind in ("prefix", "suffix"):
        return _affix_rule(kind, operand, where)
    if kind == "equals-ignore-case":
        lowered = _text(operand, where).casefold()
        return lambda v: isinstance(v, str) and v.casefold() == lowered
    if kind == "anything-but":
        return _anything_but(operand, where)
    if kind == "numeric":
        return _numeric(operand, where)
    raise FilterPatternError(f"{where}: {kind!r} is not supported by Lambda event filtering")


@dataclass(frozen=True)
class _Leaf:
    """The rules of one path: any of them may match (``exists`` looks at presence, the others at values)."""

    path: tuple[str, ...]
    rules: tuple[Rule, ...]
    exists: bool | None  # an ``exists`` rule among them, if any

    def matches(self, values: list[Leaf]) -> bool:
        if self.exists is not None and bool(values) == self.exists:
            return True
        return any(rule(v) for rule in self.rules for v in values)


def _leaf_values(record: Mapping[str, Any], path: Sequence[str]) -> list[Leaf]:
    """The leaf values at ``path``; arrays on the way contribute each element."""
    nodes: list[Any] = [record]
    for key in path:
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, Mapping) and key in node:
                found.extend(_flatten(node[key]))
        nodes = found
    return [n for n in nodes if not isinstance(n, Mapping)]


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [item for element in value for item in _flatten(element)]
    return [value]


@dataclass(frozen=True)
class Pattern:
    """One filter pattern: every leaf must match."""

    leaves: tuple[_Leaf, ...]
    source: str  # the pattern as JSON, for messages

    @classmethod
    def compile(cls, pattern: Mapping[str, Any] | str) -> Pattern:
        """Parse and check a pattern (an object or its JSON text)."""
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except ValueError as exc:
                raise FilterPatternError(f"filter pattern is not valid JSON: {exc}") from None
        if not isinstance(pattern, Mapping) or not pattern:
            raise FilterPatternError("a filter pattern is a non-empty JSON object")
        leaves: list[_Leaf] = []
        cls._walk(pattern, (), leaves)
        return cls(tuple(leaves), json.dumps(pattern, sort_keys=True))

    @classmethod
    def _walk(cls, node: Mapping[str, Any], path: tuple[str, ...], out: list[_Leaf]) -> None:
        for key, value in node.items():
            here = (*path, str(key))
            where = ".".join(here)
            if isinstance(value, Mapping):
                if not value:
                    raise FilterPatternError(f"{where}: an empty object matches nothing")
                cls._walk(value, here, out)
            elif isinstance(value, list):
                if not value:
                    raise FilterPatternError(f"{where}: empty arrays are not allowed")
                out.append(cls._leaf(here, value, where))
            else:
                raise FilterPatternError(f"{where}: expected an array of rules or an object, got {json.dumps(value)}")

    @staticmethod
    def _leaf(path: tuple[str, ...], specs: list[Any], where: str) -> _Leaf:
        exists: bool | None = None
        rules: list[Rule] = []
        for spec in specs:
            if isinstance(spec, Mapping) and "exists" in spec:
                if set(spec) != {"exists"} or not isinstance(spec["exists"], bool):
                    raise FilterPatternError(f"{where}: exists takes true or false")
                exists = spec["exists"]
            else:
                rules.append(_rule(spec, where))
        return _Leaf(path, tuple(rules), exists)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (a Lambda-shaped stream record) satisfies every leaf of this pattern."""
        return all(leaf.matches(_leaf_values(record, leaf.path)) for leaf in self.leaves)


@dataclass(frozen=True)
class EventFilter:
    """An event-source mapping's filters: a record is delivered when any pattern matches (or there are none)."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def compile(cls, filters: Iterable[Mapping[str, Any] | str]) -> EventFilter:
        """Compile every pattern; :class:`FilterPatternError` names the first bad one."""
        patterns = tuple(Pattern.compile(f) for f in filters)
        if len(patterns) > MAX_FILTERS:
            raise FilterPatternError(f"{len(patterns)} filters: an event-source mapping takes at most {MAX_FILTERS}")
        return cls(patterns)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether Lambda would deliver ``record``; a record no pattern matches is dropped, never retried."""
        return not self.patterns or any(p.matches(record) for p in self.patterns)
