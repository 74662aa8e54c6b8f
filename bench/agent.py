"""``luma bench agent``: agent turns through a running ``luma dev --llm fake``, over a real WebSocket.

Each turn sends a question no fast path answers, so it runs the whole agent path: classify → Step
Functions (moto's interpreter) → ``agent_turn`` → the real Anthropic SDK → the fake LLM server →
sentence guardrail → ``token`` frames → the gateway → this client. The fake model waits a fixed
first-token delay (300 ms by default) and then streams at once, so what is measured is Luma's own
cost: **overhead = first token at the client − first token sent by the provider** (both clocks
are this machine's; the fake records when it wrote its first text event). A turn without its
``message`` frame before the timeout is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from bench.common import histogram_png, http_json, progress, save, summary

QUESTIONS = [
    "what should I bring to my first visit",
    "can you explain how your referral letters work",
    "do you accept international health insurance",
    "can my partner come with me to the consultation",
    "how do I get my vaccination certificate printed",
]


async def _turn(ws: Any, text: str, session_id: str | None, timeout: float) -> dict[str, Any]:
    cid = uuid.uuid4().hex
    frame: dict[str, Any] = {"action": "sendMessage", "text": text, "clientMessageId": cid}
    if session_id:
        frame["sessionId"] = session_id
    out: dict[str, Any] = {"frames": 0, "first_token_at": None, "message": None, "route": None, "session": None}
    await ws.send(json.dumps(frame))
    deadline = time.perf_counter() + timeout
    run_id = None
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return out
        try:
            got = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            return out
        out["session"] = got.get("sessionId") or out["session"]
        if got.get("type") == "status" and got.get("clientMessageId") == cid:
            if got.get("status") == "thinking":
                run_id = got.get("runId")
            out["route"] = got.get("route") or out["route"]
            if got.get("status") == "agent_unavailable":
                out["message"] = got
                return out
        elif got.get("type") == "token" and (got.get("replyTo") == cid or got.get("runId") == run_id):
            out["frames"] += 1
            if out["first_token_at"] is None:
                out["first_token_at"] = time.time()
        elif got.get("type") in ("message", "error") and (
            got.get("replyTo") == cid or got.get("clientMessageId") == cid
        ):
            out["message"] = got
            out["route"] = got.get("route") or out["route"]
            return out


async def run(base: str, llm_url: str, turns: int, timeout: float) -> dict[str, Any]:
    import websockets

    users = http_json(f"{base}/dev/demo-users")
    user = users[0]
    token = http_json(f"{base}/dev/token", {"userId": user["userId"], "tenantId": user["tenantId"]})["token"]
    results: dict[str, Any] = {"overheads": [], "frames": [], "lost": 0, "not_agent": 0, "unmatched": 0}
    pending: list[tuple[str, float]] = []  # (marker, client first-token time)
    async with websockets.connect(base.replace("http", "ws", 1) + f"/ws?token={token}", max_size=2**20) as ws:
        session_id = None
        for i in range(turns):
            text = f"{QUESTIONS[i % len(QUESTIONS)]} (bench {uuid.uuid4().hex[:8]})?"
            res = await _turn(ws, text, session_id, timeout)
            session_id = res["session"] or session_id
            message = res["message"]
            if message is None:
                results["lost"] += 1
            elif message.get("route") != "agent" or message.get("type") != "message":
                results["not_agent"] += 1
            elif res["first_token_at"] is not None:
                pending.append((text, res["first_token_at"]))
                results["frames"].append(res["frames"])
            progress(i + 1, turns, "turns")
    sent = http_json(f"{llm_url}/_fake/first-tokens")["firstTokens"]
    for text, client_at in pending:
        matches = [t["at"] for t in sent if t["marker"].endswith(text)]
        if not matches:
            results["unmatched"] += 1
            continue
        results["overheads"].append((client_at - max(matches)) * 1000)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="luma bench agent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=100, help="measured agent turns (default 100)")
    parser.add_argument("--port", type=int, default=8787, help="port of a running `luma dev --llm fake` (default 8787)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--first-token-ms", type=int, default=300, help="the fake model's first-token delay")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a turn counts as lost")
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    try:
        info = http_json(f"{base}/dev/info")
    except (OSError, urllib.error.HTTPError):
        print(
            f"no local stack answers on {base}: start it with `luma dev --llm fake --port {args.port}`", file=sys.stderr
        )
        return 2
    llm_url = info.get("fakeLlmUrl")
    if not llm_url:
        print("the local stack runs no fake LLM: start it with `luma dev --llm fake`", file=sys.stderr)
        return 2
    previous = http_json(f"{llm_url}/_fake/config", {"firstTokenDelayMs": args.first_token_ms, "chunkDelayMs": 0})
    print(
        f"agent benchmark: {args.turns} turns, fake model first token {args.first_token_ms} ms, {base}", file=sys.stderr
    )
    try:
        res = asyncio.run(run(base, llm_url, args.turns, args.timeout))
    finally:
        http_json(f"{llm_url}/_fake/config", previous)
    over = res["overheads"]
    s = summary(over) if over else {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    frames = sum(res["frames"]) / len(res["frames"]) if res["frames"] else 0.0
    if res["not_agent"] or res["unmatched"]:
        print(f"not answered by the agent: {res['not_agent']}; no provider timestamp: {res['unmatched']}")
    figures = {
        "turns": args.turns,
        "first_token_delay_ms": args.first_token_ms,
        **{f"overhead_{k}": round(v, 2) for k, v in s.items()},
        "token_frames_per_turn": round(frames, 2),
        "lost": res["lost"],
        "not_agent": res["not_agent"],
    }
    save("agent", figures)
    png = histogram_png(
        "agent",
        over,
        f"Agent time-to-first-token overhead ({len(over)} turns)",
        "ms (first token at the client − first token sent by the provider)",
        {"p50": s["p50"], "p95": s["p95"], "p95 target 40": 40},
    )
    if png:
        print(f"histogram: {png}")
    print(
        f"agent turns={args.turns} ttft_overhead_p50_ms={s['p50']:.1f} ttft_overhead_p95_ms={s['p95']:.1f} "
        f"tokens_per_turn={frames:.1f} lost={res['lost']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
