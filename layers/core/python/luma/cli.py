"""``luma``: the developer command line (local stack, tokens, evaluation, benchmarks, operations).

Every command is one entry of :data:`COMMANDS`; a command with kinds (``eval``, ``bench``) lists
them with ``--help`` and hands the rest of the line to the chosen kind's own ``main(argv)``, which
has its own ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    """A command: a one-line summary, and where its ``main(argv)`` lives (per kind, for eval/bench)."""

    summary: str
    target: str = ""  # "module:function"
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (target, summary)
    repo: bool = False  # needs the checkout on sys.path (local/, bench/)


COMMANDS: dict[str, Command] = {
    "dev": Command(
        "start the local stack: DynamoDB and Step Functions emulators, gateway, web chat",
        "local.devstack:main",
        repo=True,
    ),
    "token": Command("print a dev token for a user (for ws://127.0.0.1:8787/ws?token=... or Authorization: Bearer)"),
    "eval": Command(
        "measure quality on labelled data",
        kinds={
            "classify": ("luma.classify.evaluate:main", "intent routing: precision, coverage, out-of-scope accepts"),
            "guard": ("luma.guard.evaluate:main", "input guard: injection and crisis recall and false positives"),
            "memory": (
                "luma.memory.evaluate:main",
                "long-term memory: recall@k of evidence, context tokens, search time",
            ),
        },
    ),
    "bench": Command(
        "measure performance against a running local stack; figures printed, JSON and a PNG written",
        kinds={
            "fast-path": ("bench.fast_path:main", "whole fast-path turns over real WebSockets"),
            "agent": ("bench.agent:main", "agent turns: time-to-first-token overhead"),
            "twilio": ("bench.twilio:main", "signed WhatsApp webhooks: ack and reply latency, lost, duplicated"),
            "load": ("bench.load:main", "many concurrent conversations (WebSocket and WhatsApp), optional faults"),
            "cold-start": ("bench.cold_start:main", "each function's cold init in a fresh interpreter"),
        },
        repo=True,
    ),
    "whatsapp": Command(
        "send a signed WhatsApp message to a running local stack and print the reply", "local.whatsapp:main", repo=True
    ),
    "mcp": Command("serve an assistant's tools over MCP on stdio, for a local MCP client", "luma.mcp.cli:main"),
    "memory": Command("long-term memory operations: rebuild a user's or tenant's search index", "luma.memory.cli:main"),
    "forget": Command(
        "erase everything of one user (messages, memory, media, reports, links)", "luma.erasure.cli:main"
    ),
    "dlq": Command("dead-letter queues of the functions: list, redrive", "luma.ops.dlq:main"),
}


def _repo_on_path() -> None:
    from luma.devtools import repo_root

    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)


def _run(target: str, argv: list[str], *, repo: bool) -> int:
    if repo:
        _repo_on_path()
    module, _, name = target.partition(":")
    main = getattr(importlib.import_module(module), name)
    return int(main(argv) or 0)


def _cmd_token(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="luma token", description="Print a dev token (local stack only).")
    parser.add_argument("--user", required=True, help="user id, e.g. u-alice")
    parser.add_argument("--tenant", required=True, help="tenant id, e.g. demo")
    parser.add_argument("--name", help="display name carried in the token")
    parser.add_argument("--role", choices=["user", "operator"], default="user", help="operator: staff of the tenant")
    parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default 12 h)")
    args = parser.parse_args(argv)

    from luma.auth import issue_dev_token
    from luma.config import reset_settings
    from luma.devtools import ensure_dev_secret

    os.environ["LUMA_DEV_JWT_SECRET"] = ensure_dev_secret()
    reset_settings()
    print(issue_dev_token(args.user, args.tenant, name=args.name, ttl_s=args.ttl, role=args.role))
    return 0


def _with_kinds(name: str, command: Command, argv: list[str]) -> int:
    lines = [f"  {kind:<12}{summary}" for kind, (_, summary) in command.kinds.items()]
    parser = argparse.ArgumentParser(
        prog=f"luma {name}",
        description=f"{command.summary[0].upper()}{command.summary[1:]}.\n\nKinds:\n"
        + "\n".join(lines)
        + f"\n\nluma {name} KIND --help shows a kind's own options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=list(command.kinds), metavar="KIND", help="one of: " + ", ".join(command.kinds))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args, rest = parser.parse_known_args(argv[:1])
    target, _ = command.kinds[args.kind]
    return _run(target, [*rest, *argv[1:]], repo=command.repo)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (``luma --help``)."""
    width = max(len(n) for n in COMMANDS) + 2
    listing = "\n".join(f"  {name:<{width}}{cmd.summary}" for name, cmd in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="luma",
        usage="luma COMMAND [ARGS...]",
        description=f"Luma: a serverless conversational-agent platform.\n\nCommands:\n{listing}\n\n"
        "luma COMMAND --help shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``luma`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    name, rest = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        parser.error(f"unknown command {name!r} (commands: {', '.join(COMMANDS)})")
    if name == "token":
        return _cmd_token(rest)
    if command.kinds:
        return _with_kinds(name, command, rest)
    return _run(command.target, rest, repo=command.repo)


if __name__ == "__main__":
    sys.exit(main())
