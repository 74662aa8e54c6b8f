"""``luma bench fast-path``: whole fast-path turns through real WebSocket clients and a running stack.

Each client signs in as a demo patient, verifies its identity once (warm-up), then sends fast-path
messages (hours, location, greeting, goodbye, list appointments) one at a time; a turn's latency is
the time from sending the frame to receiving its ``message`` frame. A turn with no reply within the
timeout is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any

from bench.common import histogram_png, http_json, progress, save, summary

UTTERANCES = [
    ("what are your opening hours?", "clinic_hours"),
    ("where is the clinic located?", "clinic_location"),
    ("hello there", "greeting"),
    ("show me my appointments", "list_appointments"),
    ("thanks, bye!", "goodbye"),
    ("are you open on saturday?", "clinic_hours"),
    ("what's the address of the clinic", "clinic_location"),
    ("list my upcoming appointments please", "list_appointments"),
]


async def _turn(ws: Any, text: str, session_id: str | None, timeout: float) -> tuple[float | None, dict[str, Any]]:
    cid = uuid.uuid4().hex
    frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        frame["sessionId"] = session_id
    start = time.perf_counter()
    await ws.send(json.dumps(frame))
    deadline = start + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None, {}
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            return None, {}
        got = json.loads(raw)
        if got.get("replyTo") == cid or (got.get("clientMessageId") == cid and got["type"] == "error"):
            return (time.perf_counter() - start) * 1000, got
        if got.get("clientMessageId") == cid and got.get("status") in ("agent_unavailable", "duplicate"):
            return (time.perf_counter() - start) * 1000, got


async def _client(
    base: str, user: dict[str, Any], turns: int, timeout: float, results: dict[str, Any], counter: list[int], total: int
) -> None:
    import websockets

    token = http_json(f"{base}/dev/token", {"userId": user["userId"], "tenantId": user["tenantId"]})["token"]
    ws_url = base.replace("http", "ws", 1) + f"/ws?token={token}&assistant={user['assistant']}"
    name, dob = user["identityHint"].rsplit(", ", 1)
    async with websockets.connect(ws_url, max_size=2**20) as ws:
        # warm-up: start a session and verify identity (not measured)
        _, first = await _turn(ws, "hello", None, 30)
        session_id = first.get("sessionId")
        await _turn(ws, "show me my appointments", session_id, 30)
        await _turn(ws, f"{name}, {dob}", session_id, 30)
        for i in range(turns):
            text, intent = UTTERANCES[i % len(UTTERANCES)]
            ms, frame = await _turn(ws, text, session_id, timeout)
            if ms is None:
                results["lost"] += 1
            elif frame.get("type") != "message" or frame.get("route") != "fast_path":
                results["not_fast_path"].append({"text": text, "frame": frame.get("status") or frame.get("code")})
            else:
                results["latencies"].append(ms)
                results["by_intent"].setdefault(intent, []).append(ms)
            counter[0] += 1
            progress(counter[0], total, "turns")


async def run(base: str, turns: int, clients: int, timeout: float) -> dict[str, Any]:
    users = [u for u in http_json(f"{base}/dev/demo-users") if u.get("assistant") == "clinic"]
    results: dict[str, Any] = {"latencies": [], "lost": 0, "not_fast_path": [], "by_intent": {}}
    per_client = [turns // clients + (1 if i < turns % clients else 0) for i in range(clients)]
    counter = [0]
    http_json(f"{base}/dev/stats", method="DELETE")  # the stage timings of this run's turns only
    await asyncio.gather(
        *(_client(base, users[i % len(users)], n, timeout, results, counter, turns) for i, n in enumerate(per_client))
    )
    results["stages"] = http_json(f"{base}/dev/stats").get("stages", {})
    return results


def _print_stages(stages: dict[str, Any]) -> None:
    """Where a turn's milliseconds went: each stage's median and p95, per function (``luma.timing``)."""
    for scope in ("classify", "fast_path"):
        figures = stages.get(scope)
        if not figures:
            continue
        print(f"{scope} stages ({figures['turns']} turns){'':<4}{'p50 ms':>10}{'p95 ms':>10}")
        for stage, p50 in figures["p50Ms"].items():
            print(f"  {stage:<30}{p50:>10.2f}{figures['p95Ms'][stage]:>10.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="luma bench fast-path", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=500, help="measured turns (default 500)")
    parser.add_argument("--port", type=int, default=8787, help="port of a running `luma dev` (default 8787)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--clients", type=int, default=1, help="concurrent WebSocket clients (default 1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a turn counts as lost")
    parser.add_argument(
        "--floor-rounds", type=int, default=200, help="rounds of the floor measured after the turns (0: skip)"
    )
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    try:
        http_json(f"{base}/api/health")
    except OSError:
        print(
            f"no local stack answers on {base}: start it with `make dev` (or `luma dev --port {args.port}`)",
            file=sys.stderr,
        )
        return 2
    print(f"fast-path benchmark: {args.turns} turns, {args.clients} client(s), {base}", file=sys.stderr)
    res = asyncio.run(run(base, args.turns, args.clients, args.timeout))
    lat = res["latencies"]
    s = summary(lat)
    print(f"{'intent':<20}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}")
    for intent, values in sorted(res["by_intent"].items()):
        si = summary(values)
        print(f"{intent:<20}{len(values):>6}{si['p50']:>10.1f}{si['p95']:>10.1f}")
    _print_stages(res["stages"])
    if res["not_fast_path"]:
        print(f"answered but not by the fast path: {len(res['not_fast_path'])} (e.g. {res['not_fast_path'][0]})")
    figures = {
        "turns": args.turns,
        "clients": args.clients,
        **{k: round(v, 2) for k, v in s.items()},
        "lost": res["lost"],
        "not_fast_path": len(res["not_fast_path"]),
        "stages": res["stages"],
    }
    floor_text = ""
    if args.floor_rounds:
        from bench.floor import measure_floor

        print("measuring the floor on the same DynamoDB emulator…", file=sys.stderr)
        floor = measure_floor(http_json(f"{base}/dev/info")["dynamodbEndpoint"], args.floor_rounds)
        ratio = s["p50"] / floor["floor_p50_ms"] if floor["floor_p50_ms"] else 0.0
        figures.update(floor, floor_ratio=round(ratio, 2))
        print(
            f"floor: ws {floor['ws_p50_ms']} ms + three DynamoDB calls {floor['ddb3_p50_ms']} ms = "
            f"{floor['floor_p50_ms']} ms p50; the turn's p50 is {ratio:.2f}× the floor"
        )
        floor_text = f" floor_p50_ms={floor['floor_p50_ms']:.1f} floor_ratio={ratio:.2f}"
    save("fast_path", figures)
    png = histogram_png(
        "fast_path",
        lat,
        f"Fast-path turn latency ({len(lat)} turns, {args.clients} client(s))",
        "ms (send → message frame)",
        {"p50": s["p50"], "p95": s["p95"], "p50 target 25": 25, "p95 target 50": 50},
    )
    if png:
        print(f"histogram: {png}")
    print(
        f"fast_path turns={len(lat) + res['lost']} p50_ms={s['p50']:.1f} p95_ms={s['p95']:.1f} "
        f"p99_ms={s['p99']:.1f} lost={res['lost']}{floor_text}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
