"""``python -m luma.guard build [--dir DIR]``: fit the learned head ahead of time (the Lambda layer ships it).

``python -m luma.guard eval ...`` is ``luma eval guard ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m luma.guard``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["eval"]:
        from luma.guard.evaluate import main as evaluate_main

        return evaluate_main(args[1:])
    parser = argparse.ArgumentParser(prog="python -m luma.guard")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fit the guard's learned head and store it in a directory")
    build.add_argument("--dir", type=Path, help="target directory (default: luma/guard/prebuilt)")
    parsed = parser.parse_args(args)

    from luma.guard.head import LABELS, PREBUILT_DIR
    from luma.guard.head import build as build_head

    started = time.perf_counter()
    head = build_head(parsed.dir or PREBUILT_DIR)
    thresholds = ", ".join(f"{LABELS[c]}: p≥{head.min_prob[c]:.2f}" for c in (1, 2))
    print(
        f"guard head: {len(head.buckets)} n-gram buckets + {head.dense.shape[0]} dense features, fitted in "
        f"{time.perf_counter() - started:.1f} s ({thresholds}), stored in {parsed.dir or PREBUILT_DIR}"
    )
    report = head.report
    print(
        f"cross-validation ({report['exemplars']} exemplars, {report['folds']} folds, at most "
        f"{report['max_cv_fpr']:.0%} of the other classes flagged):"
    )
    for name, figures in [*report["languages"].items(), ("overall", report["overall"])]:
        print(f"  {name:<8} " + " ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
