"""Search pipelines with phase-results processors for ``hybrid`` queries, computed as the neural-search
plugin does: ``normalization-processor`` (``min_max`` or ``l2`` normalization per sub-query, then an
arithmetic, geometric or harmonic weighted mean) and ``score-ranker-processor`` (reciprocal rank fusion).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

MIN_MAX_FLOOR = 0.001  # min_max never normalizes to 0: the lowest score becomes 0.001
DEFAULT_RANK_CONSTANT = 60
WEIGHT_SUM_DELTA = 0.01

NORMALIZATIONS = ("min_max", "l2")
COMBINATIONS = ("arithmetic_mean", "geometric_mean", "harmonic_mean")


@dataclass(frozen=True)
class Processor:
    """A parsed phase-results processor."""

    kind: str  # "normalization" or "rrf"
    normalization: str = "min_max"
    combination: str = "arithmetic_mean"
    weights: tuple[float, ...] = ()
    rank_constant: int = DEFAULT_RANK_CONSTANT


def parse_pipeline(body: Any) -> Processor | None:
    """Validate a pipeline definition; its phase-results processor (None when it has none)."""
    if not isinstance(body, dict):
        raise bad_request("search pipeline definition must be an object", "parse_exception")
    unknown = set(body) - {
        "description",
        "version",
        "request_processors",
        "response_processors",
        "phase_results_processors",
    }
    if unknown:
        raise bad_request(f"pipeline has unknown keys {sorted(unknown)}", "parse_exception")
    for key in ("request_processors", "response_processors"):
        for entry in body.get(key) or []:
            name = next(iter(entry), "?") if isinstance(entry, dict) else "?"
            raise bad_request(f"search processor [{name}] is not supported by this server")
    found: Processor | None = None
    for entry in body.get("phase_results_processors") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise bad_request("each processor must be an object with one key", "parse_exception")
        name, config = next(iter(entry.items()))
        if found is not None:
            raise bad_request("only one phase results processor per pipeline is supported by this server")
        if name == "normalization-processor":
            found = _parse_normalization(config or {})
        elif name == "score-ranker-processor":
            found = _parse_score_ranker(config or {})
        else:
            raise bad_request(f"Invalid processor type [{name}]")
    return found


def _parse_normalization(config: dict[str, Any]) -> Processor:
    normalization = config.get("normalization") or {}
    combination = config.get("combination") or {}
    technique = normalization.get("technique", "min_max")
    if technique not in NORMALIZATIONS:
        raise bad_request(f"provided normalization technique [{technique}] is not supported")
    if normalization.get("parameters"):
        raise bad_request("normalization parameters (lower_bounds, upper_bounds) are not supported by this server")
    combine = combination.get("technique", "arithmetic_mean")
    if combine not in COMBINATIONS:
        raise bad_request(f"provided combination technique [{combine}] is not supported")
    params = combination.get("parameters") or {}
    unknown = set(params) - {"weights"}
    if unknown:
        raise bad_request(
            "provided parameter for combination technique is not supported. supported parameters are [weights]"
        )
    return Processor("normalization", technique, combine, _weights(params.get("weights")))


def _parse_score_ranker(config: dict[str, Any]) -> Processor:
    combination = config.get("combination")
    if not isinstance(combination, dict):
        raise bad_request("score-ranker-processor requires [combination]")
    if combination.get("technique", "rrf") != "rrf":
        raise bad_request(f"provided combination technique [{combination.get('technique')}] is not supported")
    rank_constant = combination.get("rank_constant", DEFAULT_RANK_CONSTANT)
    if isinstance(rank_constant, bool) or not isinstance(rank_constant, int) or not 1 <= rank_constant <= 10_000:
        raise bad_request("rank_constant must be an integer between 1 and 10000")
    params = combination.get("parameters") or {}
    return Processor("rrf", rank_constant=rank_constant, weights=_weights(params.get("weights")))


def _weights(raw: Any) -> tuple[float, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in raw):
        raise bad_request("parameter [weights] must be a collection of numbers")
    weights = tuple(float(w) for w in raw)
    if any(not 0.0 <= w <= 1.0 for w in weights):
        raise bad_request(f"all weights must be in range [0.0 ... 1.0], submitted weights: {list(weights)}")
    if weights and abs(sum(weights) - 1.0) > WEIGHT_SUM_DELTA:
        raise bad_request(f"sum of weights for combination must be equal to 1.0, submitted weights: {list(weights)}")
    return weights


# The math ---------------------------------------------------------------------------------------


def normalize_min_max(scores: list[float]) -> list[float]:
    """``(s - min) / (max - min)``; a lone score (max == min) is 1.0; 0 becomes 0.001."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    out = []
    for score in scores:
        if high == low:
            out.append(1.0)
            continue
        value = (score - low) / (high - low)
        out.append(MIN_MAX_FLOOR if value == 0.0 else value)
    return out


def normalize_l2(scores: list[float]) -> list[float]:
    """``s / sqrt(sum(s²))`` over the sub-query's results."""
    norm = math.sqrt(sum(s * s for s in scores))
    return [0.0 if norm == 0 else s / norm for s in scores]


def rrf_scores(count: int, rank_constant: int) -> list[float]:
    """``1 / (rank_constant + rank)`` for ranks 1..count."""
    return [1.0 / (rank_constant + rank) for rank in range(1, count + 1)]


def _weight(weights: tuple[float, ...], index: int) -> float:
    return weights[index] if index < len(weights) else 1.0


def combine(technique: str, scores: list[float], weights: tuple[float, ...]) -> float:
    """Combine one document's per-sub-query scores (0.0 where a sub-query did not return it)."""
    if weights and len(weights) != len(scores):
        raise bad_request(
            f"number of weights [{len(weights)}] must match number of sub-queries [{len(scores)}] in hybrid query"
        )
    if technique == "arithmetic_mean":
        total = sum(_weight(weights, i) for i, s in enumerate(scores) if s >= 0)
        value = sum(s * _weight(weights, i) for i, s in enumerate(scores) if s >= 0)
        return 0.0 if total == 0 else value / total
    if technique == "geometric_mean":
        total = sum(_weight(weights, i) for i, s in enumerate(scores) if s > 0)
        log_sum = sum(_weight(weights, i) * math.log(s) for i, s in enumerate(scores) if s > 0)
        return 0.0 if total == 0 else math.exp(log_sum / total)
    if technique == "harmonic_mean":
        total = sum(_weight(weights, i) for i, s in enumerate(scores) if s > 0)
        harmonics = sum(_weight(weights, i) / s for i, s in enumerate(scores) if s > 0)
        return total / harmonics if harmonics > 0 else 0.0
    if technique == "rrf":
        return sum(s * _weight(weights, i) for i, s in enumerate(scores) if s >= 0)
    raise bad_request(f"provided combination technique [{technique}] is not supported")


def fuse(processor: Processor, per_query: list[list[tuple[int, float]]]) -> dict[int, float]:
    """Combined scores of every document returned by any sub-query.

    ``per_query`` holds each sub-query's results (document, raw score), best first.
    """
    normalized: list[dict[int, float]] = []
    for results in per_query:
        docs = [doc for doc, _ in results]
        raw = [score for _, score in results]
        if processor.kind == "rrf":
            values = rrf_scores(len(raw), processor.rank_constant)
        elif processor.normalization == "l2":
            values = normalize_l2(raw)
        else:
            values = normalize_min_max(raw)
        normalized.append(dict(zip(docs, values, strict=True)))
    technique = "rrf" if processor.kind == "rrf" else processor.combination
    out: dict[int, float] = {}
    for doc in {d for part in normalized for d in part}:
        out[doc] = combine(technique, [part.get(doc, 0.0) for part in normalized], processor.weights)
    return out


def stored_copy(body: dict[str, Any]) -> dict[str, Any]:
    """The definition as GET returns it."""
    return copy.deepcopy(body)
