"""Offline evaluation of the intent classifier (``luma eval classify``).

Test rows are JSON lines ``{"text": ..., "intent": ...}``; intent ``oos`` marks out-of-scope
messages; an optional ``"lang"`` adds a per-language table. Every message is classified on its
own, as in production, and timed. Metrics:

* precision — correct among accepted (fast-pathed) messages, in-scope and oos alike;
* coverage — share of in-scope messages accepted;
* oos_false_accept — share of oos messages accepted;
* accuracy — top-1 intent on in-scope messages, accepted or not;
* p50_ms — median latency of one ``predict`` (embedding included).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from luma.classify.cache import EmbeddingCache
from luma.classify.classifier import ClassifierConfig, IntentClassifier, Prediction
from luma.classify.embedder import Embedder, get_embedder
from luma.classify.multilingual import MultilingualClassifier
from luma.classify.pack import load_intents, pack_languages

OOS = "oos"


@dataclass
class IntentStats:
    """Per-intent counts: ``support`` test rows, ``accepted`` of them, accepted ``predicted`` as it."""

    support: int = 0
    accepted: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        """Correct among accepted predictions of this intent."""
        return self.correct / self.predicted if self.predicted else math.nan

    @property
    def coverage(self) -> float:
        """Accepted among this intent's test rows."""
        return self.accepted / self.support if self.support else math.nan


@dataclass
class EvalResult:
    """Everything measured on a test set."""

    truths: list[str] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    langs: list[str | None] = field(default_factory=list)
    per_intent: dict[str, IntentStats] = field(default_factory=dict)

    def subset(self, lang: str) -> EvalResult:
        """The rows of one language (per-intent counts left empty)."""
        rows = [i for i, x in enumerate(self.langs) if x == lang]
        return EvalResult(
            truths=[self.truths[i] for i in rows],
            predictions=[self.predictions[i] for i in rows],
            texts=[self.texts[i] for i in rows],
            langs=[lang] * len(rows),
        )

    def language_table(self) -> str:
        """Precision, coverage, oos false accepts, accuracy and p50 per language, then overall."""
        langs = sorted({x for x in self.langs if x is not None}, key=lambda x: (x != "en", x))
        if not langs:
            return ""
        head = (
            f"{'lang':<7}  {'n':>4}  {'oos':>4}  {'precision':>9}  {'coverage':>8}  {'oos_fa':>6}  "
            f"{'accuracy':>8}  {'p50_ms':>6}"
        )

        def line(name: str, r: EvalResult) -> str:
            n_oos = sum(t == OOS for t in r.truths)
            cells = [r.precision, r.coverage, r.oos_false_accept, r.accuracy]
            p, c, o, a = ("-" if math.isnan(v) else f"{v:.3f}" for v in cells)
            return f"{name:<7}  {len(r.truths):>4}  {n_oos:>4}  {p:>9}  {c:>8}  {o:>6}  {a:>8}  {r.p50_ms:>6.2f}"

        return "\n".join([head, *(line(x, self.subset(x)) for x in langs), line("overall", self)])

    def _mask(self, inscope: bool) -> list[int]:
        return [i for i, t in enumerate(self.truths) if (t != OOS) == inscope]

    @property
    def precision(self) -> float:
        """Correct among accepted messages (accepted oos messages are wrong)."""
        accepted = [i for i, p in enumerate(self.predictions) if p.accepted]
        if not accepted:
            return math.nan
        return sum(self.predictions[i].intent == self.truths[i] for i in accepted) / len(accepted)

    @property
    def coverage(self) -> float:
        """Share of in-scope messages accepted."""
        rows = self._mask(True)
        return sum(self.predictions[i].accepted for i in rows) / len(rows) if rows else math.nan

    @property
    def oos_false_accept(self) -> float:
        """Share of out-of-scope messages accepted."""
        rows = self._mask(False)
        return sum(self.predictions[i].accepted for i in rows) / len(rows) if rows else math.nan

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy on in-scope messages, regardless of acceptance."""
        rows = self._mask(True)
        return sum(self.predictions[i].top_intent == self.truths[i] for i in rows) / len(rows) if rows else math.nan

    @property
    def p50_ms(self) -> float:
        """Median latency of one predict call."""
        return statistics.median(p.latency_ms for p in self.predictions) if self.predictions else math.nan

    @property
    def p95_ms(self) -> float:
        """95th percentile latency of one predict call."""
        if not self.predictions:
            return math.nan
        return float(np.percentile([p.latency_ms for p in self.predictions], 95))

    def summary_line(self) -> str:
        """The one-line summary ``luma eval classify`` ends with."""
        return (
            f"classify precision={self.precision:.4f} coverage={self.coverage:.4f} "
            f"oos_false_accept={self.oos_false_accept:.4f} accuracy={self.accuracy:.4f} p50_ms={self.p50_ms:.2f}"
        )

    def table(self) -> str:
        """Per-intent precision and coverage, as fixed-width text."""
        width = max([len(n) for n in self.per_intent] + [6])
        lines = [f"{'intent':<{width}}  {'n':>5}  {'accepted':>8}  {'coverage':>8}  {'predicted':>9}  {'precision':>9}"]
        for name in sorted(self.per_intent, key=lambda n: (n == OOS, n)):
            s = self.per_intent[name]
            cov = "-" if math.isnan(s.coverage) else f"{s.coverage:.3f}"
            prec = "-" if math.isnan(s.precision) else f"{s.precision:.3f}"
            lines.append(f"{name:<{width}}  {s.support:>5}  {s.accepted:>8}  {cov:>8}  {s.predicted:>9}  {prec:>9}")
        return "\n".join(lines)


def read_jsonl(path: str | Path) -> list[dict[str, str]]:
    """Rows ``{"text", "intent"}`` (and ``"lang"`` when given) of a JSON-lines file (blank lines skipped)."""
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("text"), str) or not isinstance(row.get("intent"), str):
                raise ValueError(f"{path}:{n}: expected {{'text': str, 'intent': str}}")
            item = {"text": row["text"], "intent": row["intent"]}
            if isinstance(row.get("lang"), str):
                item["lang"] = row["lang"]
            rows.append(item)
    return rows


def evaluate(
    classifier: IntentClassifier | MultilingualClassifier,
    test_rows: Iterable[Mapping[str, str]],
    *,
    progress: Callable[[int, int], None] | None = None,
    row_language: bool = False,
) -> EvalResult:
    """Classify every test row one message at a time (as in production) and tally the metrics.

    A :class:`MultilingualClassifier` detects each message's language (as production does with no
    session history) unless ``row_language`` says to use the row's ``lang``.
    """
    rows = list(test_rows)
    result = EvalResult()
    for i, row in enumerate(rows):
        if isinstance(classifier, MultilingualClassifier):
            language = row.get("lang") if row_language else None
            prediction = classifier.predict(row["text"], language=language)
        else:
            prediction = classifier.predict(row["text"])
        truth = row["intent"]
        result.texts.append(row["text"])
        result.truths.append(truth)
        result.langs.append(row.get("lang"))
        result.predictions.append(prediction)
        stats = result.per_intent.setdefault(truth, IntentStats())
        stats.support += 1
        stats.accepted += prediction.accepted
        if prediction.accepted and prediction.intent is not None:
            predicted = result.per_intent.setdefault(prediction.intent, IntentStats())
            predicted.predicted += 1
            predicted.correct += prediction.intent == truth
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(rows)):
            progress(i + 1, len(rows))
    return result


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fit_from_rows(
    classifier: IntentClassifier, rows: Sequence[Mapping[str, str]], cache: EmbeddingCache | None
) -> None:
    examples: dict[str, list[str]] = {}
    oos: list[str] = []
    for row in rows:
        (oos if row["intent"] == OOS else examples.setdefault(row["intent"], [])).append(row["text"])
    texts = [t for ts in examples.values() for t in ts] + oos
    # Bulk embedding may use every core; per-message predictions keep the configured threads.
    bulk = Embedder(threads=max(1, os.cpu_count() or 1))
    started, chunk, parts = time.perf_counter(), 1024, []
    for at in range(0, len(texts), chunk):
        batch = texts[at : at + chunk]
        parts.append(cache.embed(bulk, batch) if cache is not None else bulk.embed(batch))
        if len(texts) > chunk:
            done, elapsed = min(at + chunk, len(texts)), time.perf_counter() - started
            _log(f"embedded {done}/{len(texts)} training texts ({elapsed:.0f} s)")
    vectors = np.concatenate(parts) if parts else np.zeros((0, bulk.dimension), np.float32)
    by_intent, at = {}, 0
    for intent, ts in examples.items():
        by_intent[intent] = vectors[at : at + len(ts)]
        at += len(ts)
    classifier.fit_vectors(by_intent, oos_vectors=vectors[at:])


def _plot(result: EvalResult, classifier: IntentClassifier, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _log("matplotlib is not installed: no plot written")
        return
    truths = np.array(result.truths)
    conf = np.array([p.confidence for p in result.predictions])
    top = np.array([p.top_intent for p in result.predictions])
    eligible = np.array([p.reason in ("accepted", "below_threshold") for p in result.predictions])
    inscope = truths != OOS
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    taus = np.linspace(0.0, 0.999, 400)
    precision, coverage = [], []
    for tau in taus:
        accepted = eligible & (conf >= tau)
        precision.append((accepted & (top == truths)).sum() / max(1, accepted.sum()))
        coverage.append((accepted & inscope).sum() / max(1, inscope.sum()))
    ax1.plot(coverage, precision, label="global threshold sweep (similarity guard on)")
    ax1.scatter([result.coverage], [result.precision], color="red", zorder=3, label="calibrated operating point")
    ax1.set_xlabel("coverage (in-scope accepted)")
    ax1.set_ylabel("precision (accepted correct)")
    ax1.set_ylim(max(0.8, min(precision) - 0.01), 1.002)
    ax1.grid(alpha=0.3)
    ax1.legend(loc="lower left", fontsize=8)
    bins = np.linspace(0, 1, 41)
    ax2.hist(conf[inscope & (top == truths)], bins=bins, alpha=0.6, label="in-scope, top-1 right")
    ax2.hist(conf[inscope & (top != truths)], bins=bins, alpha=0.6, label="in-scope, top-1 wrong")
    ax2.hist(conf[~inscope], bins=bins, alpha=0.6, label="out of scope")
    calibration = classifier.calibration
    if calibration is not None:
        ax2.axvline(calibration.tau, color="black", linestyle="--", label=f"tau={calibration.tau:.3f}")
    ax2.set_xlabel("confidence of the top intent")
    ax2.set_yscale("log")
    ax2.legend(fontsize=8)
    fig.suptitle(result.summary_line(), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    _log(f"plot written to {path}")


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``luma eval classify``."""
    parser = argparse.ArgumentParser(prog="luma eval classify", description="Evaluate the intent classifier.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--train", help="JSON lines {text, intent} to fit on (intent 'oos' = negatives)")
    source.add_argument("--assistant", help="fit on an installed assistant pack's intents (its name)")
    parser.add_argument("--test", required=True, help="JSON lines {text, intent[, lang]} to evaluate on")
    parser.add_argument(
        "--languages",
        help="with --assistant: only these languages' classifiers (comma-separated; others fall back to en)",
    )
    parser.add_argument(
        "--row-language",
        action="store_true",
        help="with --assistant: pick each message's classifier by the row's lang instead of detecting it",
    )
    parser.add_argument("--plot", help="write a PNG (precision-coverage curve, confidence histogram)")
    parser.add_argument("--target-precision", type=float, help="out-of-fold precision the calibration aims at")
    parser.add_argument("--cache-dir", help="embedding cache directory (default ~/.cache/luma/classify)")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="list up to N wrong accepts and misses")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``luma eval classify``: fit, evaluate, print a per-intent table and the summary line last."""
    args = build_parser().parse_args(argv)
    config = ClassifierConfig()
    if args.target_precision is not None:
        config = replace(config, target_precision=args.target_precision)
    cache = None if args.no_cache else EmbeddingCache(args.cache_dir)
    test_rows = read_jsonl(args.test)

    started = time.perf_counter()
    get_embedder().load()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    model: IntentClassifier | MultilingualClassifier
    if args.assistant:
        languages = args.languages.split(",") if args.languages else pack_languages(args.assistant)

        def build(language: str) -> IntentClassifier:
            exemplars, thresholds, oos = load_intents(args.assistant, language=language)
            return IntentClassifier(config=config, cache=cache).fit(exemplars, thresholds=thresholds, oos_examples=oos)

        model = MultilingualClassifier(build, languages).warm()
        fitted = {lang: model.classifier(lang) for lang in model.languages}
        cached = all(c.from_cache for c in fitted.values())
        source = f"assistant {args.assistant} [{','.join(model.languages)}]"
        source += " (fitted states from cache)" if cached else ""
    else:
        classifier = IntentClassifier(config=config, cache=cache)
        train_rows = read_jsonl(args.train)
        _log(f"fitting on {len(train_rows)} rows from {args.train}")
        _fit_from_rows(classifier, train_rows, cache)
        source = args.train
        model, fitted = classifier, {"": classifier}
    fit_s = time.perf_counter() - started

    model.predict("warm-up")  # first-run allocations stay out of the latency figures
    _log(f"classifying {len(test_rows)} messages one at a time")
    result = evaluate(
        model, test_rows, progress=lambda n, total: _log(f"classified {n}/{total}"), row_language=args.row_language
    )

    print(f"fit: {source}; {len(model.intents)} intents; model load {load_s:.2f} s; fit {fit_s:.2f} s")
    for lang, clf in fitted.items():
        calibration = clf.calibration
        assert calibration is not None
        print(
            f"calibration{f' [{lang}]' if lang else ''}: {calibration.method} folds={calibration.folds} "
            f"tau={calibration.tau:.3f} sigma={calibration.sigma:.2f} oof_precision={calibration.oof_precision:.4f} "
            f"oof_coverage={calibration.oof_coverage:.3f} oof_oos_accept={calibration.oof_oos_accept:.3f}"
        )
        explicit = {k: v for k, v in clf.thresholds.items() if abs(v - calibration.tau) > 1e-9}
        if explicit:
            print("explicit thresholds: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(explicit.items())))
    print(result.table())
    if args.errors:
        shown = 0
        for text, truth, p in zip(result.texts, result.truths, result.predictions, strict=True):
            wrong_accept = p.accepted and p.intent != truth
            miss = truth != OOS and not p.accepted
            if (wrong_accept or miss) and shown < args.errors:
                kind = "WRONG" if wrong_accept else "miss "
                print(
                    f"{kind} {truth:>22} -> {p.top_intent:<22} conf={p.confidence:.3f} "
                    f"sim={p.similarity:.2f} {p.reason:<15} {p.language or '':<2} {text}"
                )
                shown += 1
    by_language = result.language_table()
    if by_language:
        print(by_language)
    print(f"latency p95_ms={result.p95_ms:.2f}")
    if args.plot:
        _plot(result, next(iter(fitted.values())), args.plot)
    print(result.summary_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
