"""Offline evaluation of the input guard (``luma eval guard --test F.jsonl``).

Test rows are JSON lines ``{"text": ..., "label": "injection" | "crisis" | "benign"}`` with an optional
``"lang"`` (otherwise detected, as in production). Every message is embedded and scanned on its own,
and timed (embedding included). Metrics, per class: recall (share of the class's rows flagged as it)
and fpr (share of the rows *not* labelled with the class that were flagged as it). A per-language
table comes first, then where the time goes (the scan alone — in the pipeline the embedding is the
classifier's — and with the embedding, with the machine's load average); the last line is::

    guard injection_recall=… injection_fpr=… crisis_recall=… crisis_fpr=… p50_ms=… p95_ms=…
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLASSES = ("injection", "crisis")
LABELS = ("injection", "crisis", "benign")


class GuardEvalError(ValueError):
    """The test file is missing or malformed."""


@dataclass
class Row:
    """One scored test message."""

    text: str
    label: str
    lang: str
    flagged: frozenset[str]
    ms: float
    guard_ms: float = math.nan  # the scan alone (without the embedding)


@dataclass
class Report:
    """Every row of a run, and the figures over them."""

    rows: list[Row] = field(default_factory=list)

    def subset(self, lang: str) -> Report:
        """The rows of one language."""
        return Report([r for r in self.rows if r.lang == lang])

    def recall(self, cls: str) -> float:
        """Share of the class's rows flagged as it."""
        rows = [r for r in self.rows if r.label == cls]
        return sum(cls in r.flagged for r in rows) / len(rows) if rows else math.nan

    def fpr(self, cls: str) -> float:
        """Share of the rows not labelled ``cls`` flagged as it."""
        rows = [r for r in self.rows if r.label != cls]
        return sum(cls in r.flagged for r in rows) / len(rows) if rows else math.nan

    def percentile(self, q: float, *, guard_only: bool = False) -> float:
        """Latency percentile in ms (embedding and scan, or the scan alone)."""
        values = sorted(r.guard_ms if guard_only else r.ms for r in self.rows)
        if not values:
            return math.nan
        return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]

    def line(self) -> str:
        """The summary line ``luma eval guard`` prints last."""
        return (
            f"guard injection_recall={self.recall('injection'):.3f} injection_fpr={self.fpr('injection'):.3f} "
            f"crisis_recall={self.recall('crisis'):.3f} crisis_fpr={self.fpr('crisis'):.3f} "
            f"p50_ms={statistics.median(r.ms for r in self.rows):.2f} p95_ms={self.percentile(0.95):.2f}"
        )

    def table(self) -> str:
        """Per-language counts, recall and fpr, then overall."""
        langs = sorted({r.lang for r in self.rows}, key=lambda x: (x != "en", x))
        columns = "  ".join(f"{c:>7}" for c in ("inj_rec", "inj_fpr", "cri_rec", "cri_fpr"))
        head = f"{'lang':<8}{'n':>5}{'inj':>5}{'cri':>5}  {columns}"

        def fmt(value: float) -> str:
            return "      -" if math.isnan(value) else f"{value:7.3f}"

        def line(name: str, rep: Report) -> str:
            n_inj = sum(r.label == "injection" for r in rep.rows)
            n_cri = sum(r.label == "crisis" for r in rep.rows)
            figures = [rep.recall("injection"), rep.fpr("injection"), rep.recall("crisis"), rep.fpr("crisis")]
            return f"{name:<8}{len(rep.rows):>5}{n_inj:>5}{n_cri:>5}  " + "  ".join(fmt(v) for v in figures)

        return "\n".join([head, *(line(lang, self.subset(lang)) for lang in langs), line("overall", self)])

    def latency(self) -> str:
        """Where the time goes: the scan alone (the pipeline passes the classifier's embedding) and the load."""
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
        return (
            f"latency: scan alone p50={self.percentile(0.5, guard_only=True):.2f} "
            f"p95={self.percentile(0.95, guard_only=True):.2f} ms; with the embedding p50={self.percentile(0.5):.2f} "
            f"p95={self.percentile(0.95):.2f} ms (load average {load}, {os.cpu_count()} cores)"
        )

    def errors(self) -> list[str]:
        """The misclassified rows, for inspection."""
        out = []
        for r in self.rows:
            wanted = {r.label} & set(CLASSES)
            if wanted != set(r.flagged):
                out.append(f"{r.lang} {r.label:<9} flagged={sorted(r.flagged) or '-'}: {r.text}")
        return out


def load_rows(path: Path) -> list[dict[str, str]]:
    """The test rows, validated."""
    if not path.is_file():
        raise GuardEvalError(f"no such test file: {path}")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise GuardEvalError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or item.get("label") not in LABELS:
            raise GuardEvalError(f"{path}:{n}: expected {{'text': str, 'label': one of {LABELS}}}")
        rows.append({"text": item["text"], "label": item["label"], "lang": str(item.get("lang") or "")})
    if not rows:
        raise GuardEvalError(f"{path}: no rows")
    return rows


def evaluate(rows: Sequence[dict[str, str]], *, use_head: bool = True) -> Report:
    """Embed and scan each row on its own (as in production), timing both."""
    from luma.classify.embedder import get_embedder
    from luma.guard.scan import scan_input
    from luma.language import detect_language

    embedder = get_embedder()
    if use_head:
        from luma.guard.head import get_head

        get_head()
        embedder.embed_one("warm up")
    scan_input("warm up", language="en", use_head=False)
    report = Report()
    for row in rows:
        lang = row["lang"] or detect_language(row["text"])
        started = time.perf_counter()
        vector = embedder.embed_one(row["text"]) if use_head else None
        embedded = time.perf_counter()
        result = scan_input(row["text"], language=lang, embedding=vector, use_head=use_head)
        done = time.perf_counter()
        flagged = frozenset(result.kinds & set(CLASSES))
        report.rows.append(
            Row(row["text"], row["label"], lang, flagged, (done - started) * 1000, (done - embedded) * 1000)
        )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``luma eval guard`` (and ``python -m luma.guard eval``)."""
    parser = argparse.ArgumentParser(prog="luma eval guard", description="Guard detection quality on labelled data")
    parser.add_argument("--test", required=True, type=Path, help='JSON lines {"text", "label"[, "lang"]}')
    parser.add_argument("--rules-only", action="store_true", help="skip the learned head (and the embedding)")
    parser.add_argument("--errors", action="store_true", help="list the misclassified rows")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        rows = load_rows(args.test)
    except GuardEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = evaluate(rows, use_head=not args.rules_only)
    if args.errors:
        print("\n".join(report.errors()))
    print(report.table())
    print(report.latency())
    print(report.line())
    return 0
