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
        f"guard head: {head.weights.shape[0]} features, fitted in {time.perf_counter() - started:.1f} s "
        f"({thresholds}), stored in {parsed.dir or PREBUILT_DIR}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
