"""``luma``: the developer command line (local stack, tokens, evaluation, benchmarks)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

DESCRIPTION = """Luma: a serverless conversational-agent platform.

Commands:
  dev         start the local stack: DynamoDB emulator, API Gateway emulator, web chat (127.0.0.1:8787)
  token       print a dev token for a user (for ws://127.0.0.1:8787/ws?token=... or Authorization: Bearer)
  eval        measure quality: `luma eval classify --train T.jsonl --test E.jsonl`
  whatsapp    send a signed WhatsApp message to a running local stack and print the reply
  bench       measure performance against a running local stack: fast-path latency, agent time to
              first token, Twilio webhook ack/reply latency, cold starts
"""


def _repo_on_path() -> None:
    from luma.devtools import repo_root

    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)


def _cmd_dev(args: argparse.Namespace, rest: list[str]) -> int:
    _repo_on_path()
    from local.devstack import main as dev_main

    return int(dev_main(rest) or 0)


def _cmd_token(args: argparse.Namespace, rest: list[str]) -> int:
    from luma.auth import issue_dev_token
    from luma.config import reset_settings
    from luma.devtools import ensure_dev_secret

    os.environ["LUMA_DEV_JWT_SECRET"] = ensure_dev_secret()
    reset_settings()
    print(issue_dev_token(args.user, args.tenant, name=args.name, ttl_s=args.ttl))
    return 0


def _cmd_eval(args: argparse.Namespace, rest: list[str]) -> int:
    if args.what == "classify":
        from luma.classify.evaluate import main as eval_main

        return int(eval_main(rest) or 0)
    raise SystemExit(f"unknown evaluation {args.what!r}")


def _cmd_whatsapp(args: argparse.Namespace, rest: list[str]) -> int:
    _repo_on_path()
    from local.whatsapp import main as whatsapp_main

    return int(whatsapp_main(rest) or 0)


def _cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    _repo_on_path()
    if args.what == "fast-path":
        from bench.fast_path import main as bench_main
    elif args.what == "agent":
        from bench.agent import main as bench_main
    elif args.what == "twilio":
        from bench.twilio import main as bench_main
    elif args.what == "cold-start":
        from bench.cold_start import main as bench_main
    else:
        raise SystemExit(f"unknown benchmark {args.what!r}")
    return int(bench_main(rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luma", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="start the local stack (see `luma dev --help`)", add_help=False)
    dev.set_defaults(func=_cmd_dev)

    token = sub.add_parser("token", help="print a dev token for a user of a tenant")
    token.add_argument("--user", required=True, help="user id, e.g. u-alice")
    token.add_argument("--tenant", required=True, help="tenant id, e.g. demo")
    token.add_argument("--name", help="display name carried in the token")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default 12 h)")
    token.set_defaults(func=_cmd_token)

    ev = sub.add_parser("eval", help="measure quality (classify: intent routing precision/coverage)", add_help=False)
    ev.add_argument("what", choices=["classify"], help="what to evaluate")
    ev.set_defaults(func=_cmd_eval)

    wa = sub.add_parser(
        "whatsapp", help="send a signed WhatsApp message to `luma dev` (see `luma whatsapp --help`)", add_help=False
    )
    wa.set_defaults(func=_cmd_whatsapp)

    bench = sub.add_parser(
        "bench", help="benchmarks (fast-path, agent, twilio, cold-start); print figures and write a PNG", add_help=False
    )
    bench.add_argument("what", choices=["fast-path", "agent", "twilio", "cold-start"], help="which benchmark")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luma`` console script."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "token" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    result: int = args.func(args, rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
