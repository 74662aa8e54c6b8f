"""Stage timings of a turn: where its milliseconds go, measured, per invocation.

A pipeline stage calls :func:`begin` when a turn starts, :func:`mark` after each of its stages and
:func:`finish` at the end; each stage's time is the wall time since the previous mark (work that runs
in parallel shows up where the turn waits for it). The timings are logged at DEBUG, and handed to the
context's sink when one is set: the local runtime collects them for ``GET /dev/stats`` and ``luma
bench fast-path`` prints their medians.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from itertools import pairwise

from luma.observability import logger

Sink = Callable[[str, dict[str, float]], None]

_marks: ContextVar[list[tuple[str, float]] | None] = ContextVar("luma_stage_marks", default=None)
_sink: ContextVar[Sink | None] = ContextVar("luma_stage_sink", default=None)


def set_sink(sink: Sink | None) -> None:
    """Where this context's finished timings go (``sink(scope, {stage: ms})``; a local runtime sets it on
    each of its handler threads); None: only the DEBUG log line."""
    _sink.set(sink)


def begin() -> None:
    """A turn starts in this context."""
    _marks.set([("", time.perf_counter())])


def mark(stage: str) -> None:
    """``stage`` just ended (nothing happens outside :func:`begin` … :func:`finish`)."""
    marks = _marks.get()
    if marks is not None:
        marks.append((stage, time.perf_counter()))


def finish(scope: str) -> dict[str, float]:
    """The turn ended: each stage's milliseconds and their ``total``; an empty dict when none began."""
    marks = _marks.get()
    _marks.set(None)
    if not marks:
        return {}
    stages: dict[str, float] = {}
    for (_, before), (stage, at) in pairwise(marks):
        stages[stage] = stages.get(stage, 0.0) + (at - before) * 1000
    stages["total"] = (marks[-1][1] - marks[0][1]) * 1000
    logger.debug("stage timings", extra={"scope": scope, "stages_ms": {k: round(v, 2) for k, v in stages.items()}})
    sink = _sink.get()
    if sink is not None:
        sink(scope, stages)
    return stages
