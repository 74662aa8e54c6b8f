"""``luma bench cold-start``: each function's cold init in a fresh interpreter.

For every ``functions/<name>/handler.py``: a new Python process imports the handler (imports,
config validation, model load at init) and runs a first invocation with a sample event against
a local stack started for the run (moto server + gateway emulator). Lambda-like environment:
tracing and metrics on. Reports the median of ``--runs`` cold starts per function.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.common import bar_png, save

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
TARGETS_MS = {
    "ws_authorizer": 500,
    "ws_connect": 500,
    "ws_disconnect": 500,
    "fast_path": 500,
    "classify": 900,
    "http_api": 900,
    "agent_turn": 1500,
}

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import importlib.util
path, event_path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("cold_handler", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
t1 = time.perf_counter()
class Ctx:
    function_name = sys.argv[3]; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:" + sys.argv[3]
    aws_request_id = "cold-start"; log_group_name = "/aws/lambda/x"; log_stream_name = "x"
    def get_remaining_time_in_millis(self): return 30000
event = json.load(open(event_path))
try:
    mod.handler(event, Ctx())
    error = None
except Exception as exc:  # an authorizer refusal still measures the cold start
    error = type(exc).__name__
t2 = time.perf_counter()
sys.__stdout__.write("\nCOLD " + json.dumps({"init_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000,
                                           "error": error}) + "\n")
"""


def _events(tmp: Path, token: str) -> dict[str, Path]:
    auth = json.loads((EVENTS / "ws_authorizer.json").read_text())
    auth["queryStringParameters"]["token"] = token
    turn = {
        "principal": {"tenant_id": "demo", "user_id": "u-alice"},
        "session": {
            "tenant_id": "demo",
            "session_id": "01COLDSTART0000000000000000",
            "user_id": "u-alice",
            "assistant": "clinic",
        },
        "message": {
            "tenant_id": "demo",
            "session_id": "01COLDSTART0000000000000000",
            "message_id": "01COLDSTART0000000000000001",
            "role": "user",
            "text": "hello",
        },
        "decision": {
            "tenant_id": "demo",
            "session_id": "01COLDSTART0000000000000000",
            "message_id": "01COLDSTART0000000000000001",
            "intent": "greeting",
            "confidence": 0.9,
            "margin": 0.4,
            "route": "fast_path",
            "reason": "confident",
            "latency_ms": 4.0,
        },
        "delivery": {"connection_id": "gone-connection="},
    }
    msg = json.loads((EVENTS / "ws_message.json").read_text())
    msg["body"] = json.dumps(
        {"action": "sendMessage", "text": "what are your opening hours?", "clientMessageId": uuid.uuid4().hex}
    )
    agent_turn = json.loads(json.dumps(turn))
    agent_turn["decision"].update(intent=None, confidence=0.2, route="agent", reason="low_confidence")
    agent_turn["message"]["text"] = "what should I bring to my first visit?"
    run = {
        "turn": agent_turn,
        "run": {
            "run_id": "01COLDSTART0000000000000001",
            "reply_id": "01COLDSTART0000000000000002",
            "max_iterations": 6,
        },
    }
    files = {"ws_authorizer": auth, "fast_path": turn, "classify": msg, "agent_turn": run}
    out = {}
    for name, data in files.items():
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(data))
        out[name] = path
    for name, fname in (
        ("ws_connect", "ws_connect.json"),
        ("ws_disconnect", "ws_disconnect.json"),
        ("http_api", "http_health.json"),
    ):
        out[name] = EVENTS / fname
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="luma bench cold-start", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold starts per function (median reported)")
    parser.add_argument("--only", nargs="*", help="function names to measure (default: all)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from luma.auth import issue_dev_token

    from local.devstack import LocalStack

    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py"))
    if args.only:
        functions = [f for f in functions if f in args.only]
    print(
        f"cold-start benchmark: {len(functions)} functions x {args.runs} runs (starting a local stack)", file=sys.stderr
    )
    # A Lambda layer ships compiled bytecode; compile ours once so no run pays for compiling sources.
    import compileall

    for folder in (ROOT / "layers" / "core" / "python", ROOT / "functions"):
        compileall.compile_dir(str(folder), quiet=1)
    rows: list[dict[str, Any]] = []
    # agent_turn answers through the real Anthropic SDK against the fake model, with no first-token delay.
    with LocalStack(port=0, seed=True, llm="fake") as stack:
        fake_url = os.environ.get("ANTHROPIC_BASE_URL")
        if fake_url:
            req = urllib.request.Request(
                f"{fake_url}/_fake/config",
                data=json.dumps({"firstTokenDelayMs": 0, "chunkDelayMs": 0}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=5).close()
        tmp = ROOT / "bench" / "out" / "cold_events"
        tmp.mkdir(parents=True, exist_ok=True)
        events = _events(tmp, issue_dev_token("u-alice", "demo"))
        for name in functions:
            if name not in events:
                print(f"  {name}: no sample event, skipped", file=sys.stderr)
                continue
            inits, firsts, walls = [], [], []
            error = None
            for _ in range(args.runs):
                # An empty cache dir per run, like /tmp on a fresh Lambda: only the prebuilt fit is there.
                cache_dir = tmp / f"cache-{uuid.uuid4().hex}"
                env = dict(
                    {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                    LUMA_CLASSIFIER_CACHE_DIR=str(cache_dir),
                    AWS_LAMBDA_FUNCTION_NAME=name,
                    POWERTOOLS_TRACE_DISABLED="false",
                    POWERTOOLS_METRICS_DISABLED="false",
                    LAMBDA_TASK_ROOT=str(ROOT / "functions" / name),
                    _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
                )
                start = time.perf_counter()
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        _PROBE,
                        str(ROOT / "functions" / name / "handler.py"),
                        str(events[name]),
                        name,
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=120,
                    check=False,
                )
                walls.append((time.perf_counter() - start) * 1000)
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("COLD ")), None)
                if line is None:
                    raise SystemExit(f"{name} failed to start:\n{proc.stderr[-2000:]}")
                data = json.loads(line[5:])
                inits.append(data["init_ms"])
                firsts.append(data["first_ms"])
                error = data["error"]
            row = {
                "function": name,
                "init_ms": statistics.median(inits),
                "first_ms": statistics.median(firsts),
                "wall_ms": statistics.median(walls),
                "error": error,
            }
            row["cold_ms"] = row["init_ms"] + row["first_ms"]
            rows.append(row)
            print(f"  {name}: cold {row['cold_ms']:.0f} ms", file=sys.stderr)
        del stack
    print(f"{'function':<16}{'init ms':>10}{'first ms':>10}{'cold ms':>10}{'process ms':>12}{'target':>8}  met")
    for r in rows:
        target = TARGETS_MS.get(r["function"])
        met = "yes" if target and r["cold_ms"] <= target else ("no" if target else "-")
        print(
            f"{r['function']:<16}{r['init_ms']:>10.0f}{r['first_ms']:>10.0f}{r['cold_ms']:>10.0f}"
            f"{r['wall_ms']:>12.0f}{target or 0:>8}  {met}"
        )
    save("cold_start", {"runs": args.runs, "functions": rows})
    png = bar_png(
        "cold_start",
        [r["function"] for r in rows],
        [r["cold_ms"] for r in rows],
        f"Cold start (init + first invocation), median of {args.runs}",
        "ms",
        [TARGETS_MS.get(r["function"], 0) for r in rows],
    )
    if png:
        print(f"chart: {png}")
    print("cold_start " + " ".join(f"{r['function']}={r['cold_ms']:.0f}ms" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
