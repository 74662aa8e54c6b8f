"""``luma mcp``: one assistant's tools over MCP on stdio, as a user of a running local stack.

An MCP client (an IDE, a desktop assistant) starts it as a subprocess::

    luma mcp --assistant <name> --user <user id> --tenant <tenant>

It reads where the local stack's DynamoDB emulator is from ``GET /dev/info`` of a running
``luma dev`` (``--port``), then serves the tools with the user's identity and the same checks as
``/api/mcp/<assistant>``. Nothing is written to stdout but MCP messages; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    from luma.assistants.registry import installed

    parser = argparse.ArgumentParser(
        prog="luma mcp",
        description="Serve an assistant's tools over MCP on stdio as one user of a running luma dev.",
    )
    parser.add_argument("--assistant", required=True, choices=sorted(installed()), help="an installed assistant")
    parser.add_argument("--user", required=True, help="the user the tools act for, e.g. u-alice")
    parser.add_argument("--tenant", required=True, help="the user's tenant, e.g. demo")
    parser.add_argument("--port", type=int, default=8787, help="port of the running luma dev (default 8787)")
    args = parser.parse_args(argv)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/dev/info", timeout=5) as resp:
            info = json.load(resp)
    except (OSError, urllib.error.URLError, ValueError):
        print(f"no local stack answers on port {args.port}: start it with `make dev` first", file=sys.stderr)
        return 2
    os.environ.update(
        {
            "LUMA_DYNAMODB_ENDPOINT_URL": info["dynamodbEndpoint"],
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    import anyio

    from luma.assistants.registry import PackError, available
    from luma.config import reset_settings
    from luma.domain.models import Principal
    from luma.mcp.server import gateway_for, serve_stdio

    reset_settings()
    if args.assistant not in available():
        print(f"no assistant {args.assistant!r} here (assistants: {', '.join(available())})", file=sys.stderr)
        return 2
    try:
        gateway = gateway_for(args.assistant)
    except PackError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    principal = Principal(tenant_id=args.tenant, user_id=args.user)
    anyio.run(serve_stdio, gateway, principal)
    return 0
