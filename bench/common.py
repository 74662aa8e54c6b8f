"""Shared helpers for benchmarks: percentiles, a result table, a PNG beside the figures."""

from __future__ import annotations

import base64
import json
import statistics
import sys
import urllib.request
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def http_json(
    url: str, body: dict[str, Any] | None = None, *, auth: tuple[str, str] | None = None, method: str | None = None
) -> Any:
    """GET (or POST ``body`` as JSON, or ``method``) and decode the JSON answer; ``auth`` is HTTP basic."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


def progress(done: int, total: int, label: str) -> None:
    """A one-line progress counter on stderr."""
    if sys.stderr.isatty() or done == total or done % max(1, total // 10) == 0:
        end = "\n" if done == total else "\r" if sys.stderr.isatty() else "\n"
        print(f"  {label}: {done}/{total}", end=end, file=sys.stderr, flush=True)


def save(name: str, figures: dict[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return path


def _pyplot() -> Any | None:
    """matplotlib's pyplot on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    OUT.mkdir(parents=True, exist_ok=True)
    return plt


def histogram_png(
    name: str, values: list[float], title: str, xlabel: str, marks: dict[str, float] | None = None
) -> Path | None:
    """Write a histogram PNG under bench/out; None when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.hist(values, bins=60, color="#3b7dd8", alpha=0.85)
    for label, x in (marks or {}).items():
        ax.axvline(x, linestyle="--", linewidth=1.2, color="#c0392b" if "target" in label else "#333")
        ax.text(x, ax.get_ylim()[1] * 0.92, f" {label}", rotation=90, va="top", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def bar_png(
    name: str, labels: list[str], values: list[float], title: str, ylabel: str, targets: list[float] | None = None
) -> Path | None:
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    bars = ax.bar(labels, values, color="#3b7dd8")
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    if targets:
        for i, t in enumerate(targets):
            ax.hlines(t, i - 0.4, i + 0.4, colors="#c0392b", linestyles="--", linewidth=1.2)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
