"""``python -m luma.classify warm <assistant>|--all [--dir DIR]``: prebuild the classifier cache.

A build step can run this into ``luma/classify/prebuilt`` so that a Lambda's first cold start
loads a fitted classifier instead of embedding the exemplars and cross-validating (one per
language the pack has exemplars in).
``python -m luma.classify eval ...`` is ``luma eval classify ...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m luma.classify``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["eval"]:
        from luma.classify.evaluate import main as evaluate_main

        return evaluate_main(args[1:])
    parser = argparse.ArgumentParser(prog="python -m luma.classify")
    sub = parser.add_subparsers(dest="command", required=True)
    warm = sub.add_parser("warm", help="fit an assistant's classifier and store it in a cache directory")
    warm.add_argument("assistant", nargs="?", help="an installed assistant pack")
    warm.add_argument("--all", action="store_true", help="every installed assistant pack")
    warm.add_argument("--dir", help="cache directory (default: the user cache)")
    parsed = parser.parse_args(args)
    if bool(parsed.assistant) == parsed.all:
        parser.error("name one assistant, or --all")

    from luma.assistants.registry import installed
    from luma.classify import EmbeddingCache, build_classifier, pack_languages

    cache = EmbeddingCache(parsed.dir, read_only=())
    for assistant in sorted(installed()) if parsed.all else [parsed.assistant]:
        for language in pack_languages(assistant):
            started = time.perf_counter()
            classifier = build_classifier(assistant, language=language, cache=cache)
            print(
                f"{assistant} [{language}]: {len(classifier.intents)} intents, "
                f"fitted in {time.perf_counter() - started:.2f} s, cached in {cache.directory}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
