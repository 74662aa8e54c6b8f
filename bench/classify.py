"""Intent classifier benchmark: calibration targets vs. precision/coverage on a held-out set.

    .venv/bin/python bench/classify.py --train T.jsonl --test E.jsonl [--plot out.png]

Embeds both files once (through the classifier cache), computes the out-of-fold scores once,
then shows what each target precision of the calibration gives on the test set, plus the
plain nearest-centroid baseline at the same calibration. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np
from luma.classify import EmbeddingCache
from luma.classify.classifier import ClassifierConfig, _choose, _out_of_fold, _score, _train
from luma.classify.embedder import Embedder
from luma.classify.evaluate import OOS, read_jsonl

TARGETS = (0.98, 0.99, 0.995, 0.997, 0.999)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--plot", help="write the test-set precision-coverage curve here (PNG)")
    args = parser.parse_args(argv)

    train, test = read_jsonl(args.train), read_jsonl(args.test)
    embedder, cache = Embedder(threads=os.cpu_count() or 1), EmbeddingCache()
    started = time.perf_counter()
    x_train = cache.embed(embedder, [r["text"] for r in train])
    x_test = cache.embed(embedder, [r["text"] for r in test])
    print(f"embedded {len(train) + len(test)} texts in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    labels = tuple(dict.fromkeys(r["intent"] for r in train if r["intent"] != OOS))
    y_train = np.array([r["intent"] for r in train])
    per_intent = [x_train[y_train == label] for label in labels]
    oos = x_train[y_train == OOS]
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index.get(r["intent"], -1) for r in test])

    config = ClassifierConfig()
    started = time.perf_counter()
    oof = _out_of_fold(per_intent, oos if len(oos) else None, config)
    assert oof is not None, "too little training data"
    model = _train(per_intent, oos if len(oos) else None, labels, config)
    scores = _score(model, x_test, config.knn)
    print(f"cross-validated and fitted in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    inscope, right = truth >= 0, scores.top == truth
    print(f"test top-1 accuracy (in-scope) {right[inscope].mean():.4f}")
    print(f"{'target':>7} {'tau':>6} {'sigma':>6} {'oof_P':>7} {'oof_C':>6} | {'P':>7} {'C':>6} {'oos_FA':>7}")
    points = []
    for target in TARGETS:
        cfg = dataclasses.replace(config, target_precision=target)
        tau, sigma, oof_p, oof_c, _ = _choose(oof[0], oof[1], cfg)
        accepted = (scores.confidence >= tau) & (scores.similarity >= sigma) & (scores.oos_proba < scores.confidence)
        precision = (accepted & right).sum() / max(1, accepted.sum())
        coverage = (accepted & inscope).sum() / max(1, inscope.sum())
        false_accept = (accepted & ~inscope).sum() / max(1, (~inscope).sum())
        points.append((coverage, precision, target))
        print(
            f"{target:>7.3f} {tau:>6.3f} {sigma:>6.2f} {oof_p:>7.4f} {oof_c:>6.3f} | "
            f"{precision:>7.4f} {coverage:>6.3f} {false_accept:>7.3f}"
        )

    # Baseline: nearest centroid (cosine), one global threshold swept over the test set.
    centroids = np.stack([v.mean(axis=0) for v in per_intent])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    sims = x_test @ centroids.T
    c_top, c_conf = sims.argmax(axis=1), sims.max(axis=1)
    order = np.argsort(-c_conf)
    c_prec = np.cumsum((c_top == truth)[order]) / np.arange(1, len(order) + 1)
    c_cov = np.cumsum(inscope[order]) / max(1, inscope.sum())
    ok = np.flatnonzero(c_prec >= 0.99)
    best = float(c_cov[ok.max()]) if len(ok) else 0.0
    print(f"nearest-centroid baseline: best coverage at precision >= 0.99 (oracle threshold) = {best:.3f}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        eligible = (scores.similarity >= 0.0) & (scores.oos_proba < scores.confidence)
        order = np.argsort(-np.where(eligible, scores.confidence, -1))
        prec = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
        cov = np.cumsum(inscope[order]) / max(1, inscope.sum())
        fig, ax = plt.subplots(figsize=(6, 4.2))
        ax.plot(cov, prec, label="softmax head, confidence sweep")
        ax.plot(c_cov, c_prec, label="nearest centroid, cosine sweep")
        for coverage, precision, target in points:
            ax.scatter([coverage], [precision], zorder=3)
            ax.annotate(f"{target}", (coverage, precision), fontsize=7)
        ax.set_xlabel("coverage")
        ax.set_ylabel("precision")
        ax.set_ylim(0.9, 1.002)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
