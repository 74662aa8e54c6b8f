"""``luma eval memory --turns T.jsonl --qa Q.jsonl``: long-term memory recall on LoCoMo-format data.

Each conversation is one user's memory. Both speakers' turns go in as that user's messages (each under
its speaker's name): the questions ask about both people, and the offline path only remembers user
messages, so making one speaker "the assistant" would drop half the evidence by construction rather
than measure retrieval. Turns go through the production write path one message at a time, as the
stream consumer feeds them (the previous turn as context, offline extraction, near-duplicate merging,
PII masking, DynamoDB on a moto server, the OpenSearch adapter on the local OpenSearch-compatible
server), with a session summary at each session's end. Each question of categories 1-4 is then
answered through the production read path (query embedding + hybrid search, then the budgeted
context block).

- recall@k: mean over questions of |evidence turns ∩ provenance of the top k items| / |evidence turns|;
  ``strict`` counts only the turns whose own statement an item holds (not the preceding turn it quotes
  as context), to show what the context windows add;
- tokens_per_query: tokens of the context block the agent would get (budget from the settings);
- full_tokens: tokens of a whole conversation (one message per turn, same estimate);
- search_p50_ms/p95_ms: one query through the read path (embedding + search), wall clock.

Progress goes to stderr; the last line of stdout is the summary line; a PNG and a JSON go to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from luma.memory.model import MemoryKind, SourceMessage
from luma.memory.text import estimate_tokens

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
TENANT = "eval"
MAX_K = 20


@dataclass
class Conversation:
    """One LoCoMo conversation: its turns in order, grouped by session."""

    sample_id: str
    sessions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def turns(self) -> list[dict[str, Any]]:
        return [t for s in sorted(self.sessions) for t in self.sessions[s]]


def load_turns(path: Path, *, captions: bool = False) -> dict[str, Conversation]:
    """Conversations by sample id. ``captions`` appends a shared photo's caption to its turn's text."""
    out: dict[str, Conversation] = {}
    for row in _rows(path, ("sample_id", "dia_id", "session", "date_iso", "speaker", "text")):
        if captions and row.get("blip_caption"):
            row["text"] = f"{row['text']} [shares a photo of {row['blip_caption']}]"
        conv = out.setdefault(row["sample_id"], Conversation(row["sample_id"]))
        conv.sessions.setdefault(int(row["session"]), []).append(row)
    return out


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Questions of categories 1-4 that name their evidence."""
    return [
        row
        for row in _rows(path, ("sample_id", "question", "category"))
        if row["category"] in CATEGORIES and row.get("evidence_ids")
    ]


class EvalDataError(ValueError):
    """A data file is not in the LoCoMo JSON-lines format (the message names the file and line)."""


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise EvalDataError(f"{path}:{number}: not a JSON object") from None
            if not isinstance(row, dict):
                raise EvalDataError(f"{path}:{number}: not a JSON object")
            missing = [key for key in required if key not in row]
            if missing:
                raise EvalDataError(f"{path}:{number}: missing {', '.join(missing)}")
            yield row


def _session_start(turn: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(turn["date_iso"]).replace(tzinfo=UTC)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _backends() -> Iterator[tuple[Any, str]]:
    """A moto server with the tables and a local OpenSearch-compatible server, as the tests start them."""
    from luma.devtools import repo_root

    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    from local.devstack import MotoServer
    from local.opensearch import start_opensearch

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(var, value)
    moto = MotoServer()
    moto.start()
    search = start_opensearch()
    saved = {k: os.environ.get(k) for k in ("LUMA_DYNAMODB_ENDPOINT_URL",)}
    try:
        os.environ["LUMA_DYNAMODB_ENDPOINT_URL"] = moto.endpoint
        from luma.config import get_settings, reset_settings
        from luma.store.tables import create_tables

        reset_settings()
        settings = get_settings()
        create_tables(settings)
        yield settings, search.url
    finally:
        search.stop()
        moto.stop()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        from luma.config import get_settings, reset_settings
        from luma.store.models import bind_models

        reset_settings()
        bind_models(get_settings())  # the rest of the process talks to its own tables again


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest every conversation, ask every question; the figures."""
    from luma.classify.embedder import get_embedder
    from luma.guard.pii import mask as pii_mask
    from luma.ids import new_id
    from luma.memory.repository import MemoryRepository
    from luma.memory.retrieval import MemoryRetriever
    from luma.memory.service import MemoryService
    from luma.memory.settings import MemorySettings
    from luma.memory.vectors import open_vector_store

    conversations = load_turns(Path(args.turns), captions=args.captions)
    questions = load_questions(Path(args.qa))
    if args.conversations:
        keep = sorted(conversations)[: args.conversations]
        conversations = {k: conversations[k] for k in keep}
    questions = [q for q in questions if q["sample_id"] in conversations]
    embedder = get_embedder().load()
    mem_settings = MemorySettings(memory_extraction="extractive", memory_context_tokens=args.budget)

    with _backends() as (settings, search_url):
        store = open_vector_store(search_url, index=f"luma-memory-eval-{new_id().lower()}")
        store.ensure_ready()
        repo = MemoryRepository(settings, retention_days=mem_settings.memory_retention_days)
        service = MemoryService(
            repo=repo,
            store=store,
            embed=embedder.embed,
            mask=lambda _tenant, text: pii_mask(text),
            settings=mem_settings,
        )
        retriever = MemoryRetriever(repo=repo, store=store, embed_one=embedder.embed_one, settings=mem_settings)

        dia_of: dict[str, dict[str, str]] = {}
        full_tokens: list[int] = []
        items_written = 0
        started = time.perf_counter()
        for n, conv in enumerate(conversations.values(), 1):
            user = f"locomo-{conv.sample_id}"
            ids: dict[str, str] = {}
            previous: SourceMessage | None = None
            for session, turns in sorted(conv.sessions.items()):
                session_id = f"{conv.sample_id}-s{session}"
                start = _session_start(turns[0])
                messages: list[SourceMessage] = []
                for i, turn in enumerate(turns):
                    message = SourceMessage(
                        message_id=new_id(),
                        session_id=session_id,
                        role="user",
                        text=turn["text"],
                        created_at=start + timedelta(seconds=i),
                        speaker=turn["speaker"],
                    )
                    ids[message.message_id] = turn["dia_id"]
                    result = service.ingest(TENANT, user, [message], preceding=previous)
                    items_written += len(result.added)
                    previous = message
                    messages.append(message)
                summary = service.summarize_session(TENANT, user, session_id, messages)
                items_written += summary is not None
            dia_of[user] = ids
            full_tokens.append(sum(estimate_tokens(f"{t['speaker']}: {t['text']}") for t in conv.turns))
            _progress(
                f"[memory eval] ingested {conv.sample_id} ({n}/{len(conversations)}): {len(conv.turns)} turns, "
                f"{items_written} items so far, {time.perf_counter() - started:.0f} s"
            )
        store.refresh()

        recalls: dict[int, list[float]] = {k: [] for k in range(1, MAX_K + 1)}
        strict: dict[int, list[float]] = {k: [] for k in range(1, MAX_K + 1)}
        by_category: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        latencies: list[float] = []
        context_tokens: list[int] = []
        for qn, question in enumerate(questions, 1):
            user = f"locomo-{question['sample_id']}"
            evidence = set(question["evidence_ids"])
            begin = time.perf_counter()
            hits = retriever.search(TENANT, user, question["question"], k=MAX_K)
            latencies.append((time.perf_counter() - begin) * 1000)
            context = retriever.context(TENANT, user, question["question"], hits=hits[: mem_settings.memory_top_k])
            context_tokens.append(context.tokens)
            ids = dia_of[user]
            covered: set[str] = set()
            covered_strict: set[str] = set()
            for k in range(1, MAX_K + 1):
                if k <= len(hits):
                    hit = hits[k - 1]
                    sources = [ids[s] for s in hit.source_ids if s in ids]
                    covered.update(sources)
                    own = sources if hit.kind == MemoryKind.SUMMARY.value else sources[-1:]
                    covered_strict.update(own)
                recalls[k].append(len(evidence & covered) / len(evidence))
                strict[k].append(len(evidence & covered_strict) / len(evidence))
                by_category[question["category"]][k].append(len(evidence & covered) / len(evidence))
            if qn % 100 == 0:
                _progress(f"[memory eval] {qn}/{len(questions)} questions")

    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else float("nan")

    return {
        "conversations": len(conversations),
        "questions": len(questions),
        "items": items_written,
        "recall": {k: mean(v) for k, v in recalls.items()},
        "strict_recall": {k: mean(v) for k, v in strict.items()},
        "by_category": {
            CATEGORIES[c]: {"questions": len(v[1]), **{f"recall@{k}": mean(v[k]) for k in (1, 5, 10, 20)}}
            for c, v in sorted(by_category.items())
        },
        "by_category_curve": {CATEGORIES[c]: [mean(v[k]) for k in range(1, MAX_K + 1)] for c, v in by_category.items()},
        "tokens_per_query": mean([float(t) for t in context_tokens]),
        "full_tokens": mean([float(t) for t in full_tokens]),
        "search_p50_ms": _percentile(latencies, 0.50),
        "search_p95_ms": _percentile(latencies, 0.95),
        "budget_tokens": args.budget,
        "captions": args.captions,
    }


def plot(figures: dict[str, Any], path: Path) -> None:
    """recall@k for k = 1..20 (all questions, strict, per category) and recall@5/@10 per category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(range(1, MAX_K + 1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    left.plot(ks, [figures["recall"][k] for k in ks], label="all (categories 1-4)", linewidth=2.5, color="black")
    left.plot(ks, [figures["strict_recall"][k] for k in ks], label="all, strict provenance", linestyle="--")
    for name, curve in sorted(figures["by_category_curve"].items()):
        left.plot(ks, curve, label=name, alpha=0.8)
    left.axhline(0.75, color="grey", linestyle=":", linewidth=1)
    left.set(xlabel="k (memory items retrieved)", ylabel="recall@k", ylim=(0, 1), title="Evidence recall@k")
    left.legend(fontsize=8, loc="lower right")
    names = list(figures["by_category"])
    xs = range(len(names))
    right.bar([x - 0.2 for x in xs], [figures["by_category"][n]["recall@5"] for n in names], width=0.4, label="@5")
    right.bar([x + 0.2 for x in xs], [figures["by_category"][n]["recall@10"] for n in names], width=0.4, label="@10")
    right.set_xticks(list(xs), [f"{n}\n({figures['by_category'][n]['questions']})" for n in names])
    right.set(ylabel="recall", ylim=(0, 1), title="Per category (questions)")
    right.legend()
    fig.suptitle(
        f"luma eval memory: {figures['questions']} questions, {figures['conversations']} conversations; "
        f"context {figures['tokens_per_query']:.0f} of {figures['full_tokens']:.0f} tokens; "
        f"search p95 {figures['search_p95_ms']:.1f} ms",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luma eval memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", required=True, help="LoCoMo turns (JSON lines)")
    parser.add_argument("--qa", required=True, help="LoCoMo questions (JSON lines)")
    parser.add_argument("--out", default=None, help="folder of the plot and JSON (default: bench/out in the checkout)")
    parser.add_argument("--budget", type=int, default=1500, help="tokens of the context block")
    parser.add_argument("--conversations", type=int, default=0, help="only the first N conversations (0 = all)")
    parser.add_argument(
        "--captions", action="store_true", help="append shared photos' captions to their turns (off: text only)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; prints per-category figures and, last, the summary line."""
    args = build_parser().parse_args(argv)
    for name in (args.turns, args.qa):
        if not Path(name).is_file():
            raise SystemExit(f"luma eval memory: no such file: {name}")
    try:
        figures = run(args)
    except EvalDataError as exc:
        raise SystemExit(f"luma eval memory: {exc}") from None
    from luma.devtools import repo_root

    out = Path(args.out) if args.out else repo_root() / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory_eval.json").write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    plot(figures, out / "memory_eval.png")
    for name, row in figures["by_category"].items():
        print(
            f"  {name:<12} questions={row['questions']:<4} recall@5={row['recall@5']:.3f} "
            f"recall@10={row['recall@10']:.3f}"
        )
    print(
        f"  strict provenance: recall@5={figures['strict_recall'][5]:.3f} "
        f"recall@10={figures['strict_recall'][10]:.3f}; items={figures['items']}; plot: {out / 'memory_eval.png'}"
    )
    print(
        f"memory recall@5={figures['recall'][5]:.4f} recall@10={figures['recall'][10]:.4f} "
        f"tokens_per_query={figures['tokens_per_query']:.0f} full_tokens={figures['full_tokens']:.0f} "
        f"search_p50_ms={figures['search_p50_ms']:.1f} search_p95_ms={figures['search_p95_ms']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
