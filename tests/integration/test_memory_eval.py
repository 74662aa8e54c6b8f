"""``luma eval memory`` end to end on a tiny conversation of our own (moto server, local OpenSearch server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from luma.memory.evaluate import EvalDataError, load_questions, load_turns, main

DATA = Path(__file__).resolve().parents[1] / "data"
TURNS, QA = DATA / "memory_turns.jsonl", DATA / "memory_qa.jsonl"
LAST_LINE = re.compile(
    r"^memory recall@5=(?P<r5>[\d.]+) recall@10=(?P<r10>[\d.]+) tokens_per_query=(?P<tok>\d+) "
    r"full_tokens=(?P<full>\d+) search_p50_ms=(?P<p50>[\d.]+) search_p95_ms=(?P<p95>[\d.]+)$"
)


def test_the_data_files_load_with_clear_errors(tmp_path: Path) -> None:
    conversations = load_turns(TURNS)
    assert list(conversations) == ["tiny-1"] and sorted(conversations["tiny-1"].sessions) == [1, 2]
    assert len(conversations["tiny-1"].turns) == 15
    questions = load_questions(QA)
    assert len(questions) == 5  # category 5 and a question without evidence are left out
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"sample_id": "x"}\n', encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"broken.jsonl:1: missing dia_id"):
        load_turns(broken)
    broken.write_text("not json\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"broken.jsonl:1: not a JSON object"):
        load_questions(broken)


def test_eval_prints_its_line_and_writes_the_plot(tmp_path: Path) -> None:
    # Its own process: the eval starts its own emulator and points the process's settings at it, which
    # must not touch the session's local stack (whose handlers run in this process).
    argv = ["eval", "memory", "--turns", str(TURNS), "--qa", str(QA), "--out", str(tmp_path), "--budget", "600"]
    done = subprocess.run(
        [sys.executable, "-m", "luma.cli", *argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    match = LAST_LINE.match(last)
    assert match, last
    assert float(match["r5"]) == 1.0  # every question's evidence is among its first five memories
    assert 0 < int(match["tok"]) <= 600 and int(match["full"]) > 0
    assert "[memory eval] ingested tiny-1" in done.stderr
    figures = json.loads((tmp_path / "memory_eval.json").read_text(encoding="utf-8"))
    assert figures["questions"] == 5 and figures["by_category"]["multi-hop"]["questions"] == 1
    assert (tmp_path / "memory_eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such file"):
        main(["--turns", str(tmp_path / "none.jsonl"), "--qa", str(QA)])
