"""``luma.timing``: a turn's stage timings, measured between marks and handed to the context's sink."""

from __future__ import annotations

import threading
import time

from luma import timing


def test_each_stage_is_the_time_since_the_previous_mark_and_the_sink_gets_them() -> None:
    got: list[tuple[str, dict[str, float]]] = []
    timing.set_sink(lambda scope, stages: got.append((scope, stages)))
    try:
        timing.begin()
        time.sleep(0.02)
        timing.mark("read")
        timing.mark("write")
        stages = timing.finish("turn")
    finally:
        timing.set_sink(None)
    assert list(stages) == ["read", "write", "total"]
    assert stages["read"] >= 15 and stages["write"] < stages["read"]
    assert abs(stages["total"] - (stages["read"] + stages["write"])) < 0.01
    assert got == [("turn", stages)]


def test_marks_outside_a_turn_are_ignored_and_a_second_finish_is_empty() -> None:
    timing.mark("stray")
    assert timing.finish("turn") == {}
    timing.begin()
    timing.mark("a")
    assert set(timing.finish("turn")) == {"a", "total"}
    assert timing.finish("turn") == {}


def test_the_sink_belongs_to_the_thread_that_set_it() -> None:
    got: list[str] = []
    timing.set_sink(lambda scope, _stages: got.append(scope))
    try:

        def other() -> None:
            timing.begin()
            timing.mark("x")
            timing.finish("elsewhere")

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        timing.begin()
        timing.finish("here")
    finally:
        timing.set_sink(None)
    assert got == ["here"]
