"""The learned detector: one softmax (benign / injection / crisis) over character n-grams, MiniLM and concepts.

Features of a message:

* its character 2–5-grams and word 1–2-grams, hashed (:mod:`luma.guard.ngram`). They carry most of the
  signal in the eight languages MiniLM does not know, and survive typos, missing accents and mixed
  languages;
* its MiniLM vector (384 values; all-MiniLM-L6-v2 is an English model, the classifier computes it anyway);
* one 0/1 value per multilingual concept (:mod:`luma.guard.lexicon`: death, means, harm, instructions,
  reveal, freedom, authority, …) and the crisis-lookalike contexts of :mod:`luma.guard.crisis` (fiction,
  accident, hypothetical, resolved, routine, study, minor ailment, laughter, hyperbole).

The rules' own hits are not features (they were written on these exemplars and would hide what the model
must learn for the messages they miss); :func:`luma.guard.scan.scan_input` adds them on top.

Trained on ``luma/guard/data/*.jsonl`` at build time (``python -m luma.guard build``) and stored in
``luma/guard/prebuilt/`` as one ``.npz`` (the n-gram weights of the buckets the exemplars use, the dense
weights, the thresholds): a cold start reads it in milliseconds, a prediction is a gather and a dot.

Thresholds come from cross-validation of the exemplars, never from held-out data: five folds grouped so
that a scenario's versions in the nine languages (the exemplar files list them at the same relative
position) are held out together; per class, the lowest probability that flags at most
:data:`MAX_CV_FPR` of the out-of-fold exemplars of the other classes (crisis after the same vetoes as
:func:`~luma.guard.scan.scan_input`: hyperbole and crisis-lookalike contexts).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from luma.guard import ngram

LABELS = ("benign", "injection", "crisis")
DATA_DIR = Path(__file__).resolve().parent / "data"
PREBUILT_DIR = Path(__file__).resolve().parent / "prebuilt"
VERSION = 3
MAX_CV_FPR = 0.02
FOLDS = 5
_L2_SPARSE = 1e-4
_L2_DENSE = 1e-3
_ITERS = 200
_LR = 0.1
_CONCEPT_WEIGHT = 0.35
_CONTEXT_WEIGHT = 0.5
_MIN_THRESHOLD = 0.3
_PRUNE = 0.01  # n-gram buckets whose weights all stay below this are dropped (probabilities move < 0.005)
CONTEXTS = ("fiction", "accident", "hypothetical", "resolved", "routine", "study", "minor", "laughter")
# What a fit depends on besides the data: these modules' sources (features, rules' contexts, n-gram hashing).
_SOURCES = ("head.py", "ngram.py", "lexicon.py", "text.py", "crisis.py")

log = logging.getLogger(__name__)


class GuardDataError(ValueError):
    """A training exemplar file is malformed."""


@dataclass(frozen=True)
class Exemplar:
    """One training line: text, label (benign, injection or crisis), language, and its cross-validation group."""

    text: str
    label: str
    lang: str
    group: int = -1  # the fold it is held out in (-1: by position)


def load_exemplars(directory: Path = DATA_DIR) -> list[Exemplar]:
    """Every exemplar in ``directory/*.jsonl`` (sorted by file name, lines in order).

    A line's group is its relative position within its run of same-language, same-label lines of its file,
    cut into :data:`FOLDS` parts: the files list a scenario's versions in several languages at about the same
    relative position, so they land in the same fold and cross-validation measures new scenarios.
    """
    rows: list[Exemplar] = []
    for path in sorted(directory.glob("*.jsonl")):
        items: list[tuple[str, str, str]] = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                row = (str(item["text"]), str(item["label"]), str(item.get("lang", "")))
            except (ValueError, KeyError, TypeError) as exc:
                raise GuardDataError(f"{path.name}:{n}: expected {{'text', 'label', 'lang'}}: {exc}") from None
            if row[1] not in LABELS:
                raise GuardDataError(f"{path.name}:{n}: label {row[1]!r} is not one of {LABELS}")
            items.append(row)
        start = 0
        for end in range(1, len(items) + 1):
            if end == len(items) or items[end][1:] != items[start][1:]:
                size = end - start
                rows += [Exemplar(*items[i], group=FOLDS * (i - start) // size) for i in range(start, end)]
                start = end
    if not rows:
        raise GuardDataError(f"no exemplars in {directory}")
    return rows


def data_key(directory: Path = DATA_DIR) -> str:
    """What a fit depends on: the exemplar files, the model id, the settings and the feature modules' sources."""
    from luma.classify.embedder import DIMENSION, MODEL_ID

    settings = (
        f"{VERSION}:{MODEL_ID}:{DIMENSION}:{ngram.BITS}:{_L2_SPARSE}:{_L2_DENSE}:{_ITERS}:{_LR}:{MAX_CV_FPR}:"
        f"{FOLDS}:{_CONCEPT_WEIGHT}:{_CONTEXT_WEIGHT}:{CONTEXTS}:{_PRUNE}"
    )
    digest = hashlib.sha256(settings.encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        digest.update(name.encode() + b"\x00" + (here / name).read_bytes())
    for path in sorted(directory.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()[:32]


def crisis_vetoed(text: str) -> bool:
    """A figure of speech or a crisis-lookalike context: the model's crisis finding is dropped (as in scan)."""
    from luma.guard.crisis import contexts, is_hyperbole

    return is_hyperbole(text) or bool(contexts(text))


def dense_features(texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """Per text: its unit vector, its concepts and its contexts (with hyperbole)."""
    from luma.guard.crisis import contexts, is_hyperbole
    from luma.guard.lexicon import features

    rows = []
    for text, vector in zip(texts, np.atleast_2d(vectors), strict=True):
        found = contexts(text)
        context = np.array([n in found for n in CONTEXTS] + [is_hyperbole(text)], dtype=np.float32)
        rows.append(np.concatenate([vector, _CONCEPT_WEIGHT * features(text), _CONTEXT_WEIGHT * context]))
    return np.stack(rows).astype(np.float32)


# The previous name of dense_features (the head's input besides the n-grams).
featurize = dense_features


def feature_count() -> int:
    """How many dense features the head takes (embedding, concepts, contexts and hyperbole)."""
    from luma.classify.embedder import DIMENSION
    from luma.guard.lexicon import CONCEPTS

    return DIMENSION + len(CONCEPTS) + len(CONTEXTS) + 1


@dataclass(frozen=True)
class GuardHead:
    """Fitted weights, the probability each class needs, and the cross-validation figures of the fit."""

    buckets: np.ndarray  # (used,) sorted n-gram buckets
    sparse: np.ndarray  # (used, 3) their weights
    dense: np.ndarray  # (dense features, 3)
    bias: np.ndarray  # (3,)
    min_prob: np.ndarray  # (3,) per class (benign unused)
    key: str
    report: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def weights(self) -> np.ndarray:
        """The dense weights (embedding, concepts, contexts)."""
        return self.dense

    def logits(self, texts: Sequence[str], dense: np.ndarray) -> np.ndarray:
        """Unnormalized scores ``(len(texts), 3)``."""
        rows = ngram.SparseRows.of(texts)
        return self._sparse_logits(rows) + dense @ self.dense + self.bias

    def _sparse_logits(self, rows: ngram.SparseRows) -> np.ndarray:
        out = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
        if not len(self.buckets) or not len(rows.indices):
            return out
        at = np.minimum(np.searchsorted(self.buckets, rows.indices), len(self.buckets) - 1)
        known = self.buckets[at] == rows.indices
        values = np.where(known, rows.values, 0.0).astype(np.float32)
        contributions = self.sparse[at] * values[:, None]
        nonempty = np.diff(rows.indptr) > 0
        out[nonempty] = np.add.reduceat(contributions, rows.indptr[:-1][nonempty], axis=0)
        return out

    def probabilities(self, text: str, vector: np.ndarray) -> np.ndarray:
        """Class probabilities ``(3,)`` of one message."""
        dense = dense_features([text], np.asarray(vector, dtype=np.float32).reshape(1, -1))
        z = self.logits([text], dense)[0]
        e = np.exp(z - z.max())
        out: np.ndarray = e / e.sum()
        return out

    def scores(self, text: str, vector: np.ndarray) -> dict[str, tuple[float, bool]]:
        """For injection and crisis: (probability, flagged by the head); crisis is never flagged when vetoed."""
        probs = self.probabilities(text, vector)
        out = {LABELS[c]: (float(probs[c]), bool(probs[c] >= self.min_prob[c])) for c in (1, 2)}
        if out["crisis"][1] and crisis_vetoed(text):
            out["crisis"] = (out["crisis"][0], False)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """What :func:`save` writes."""
        return {
            "buckets": self.buckets.astype(np.int32),
            "sparse": self.sparse.astype(np.float16),
            "dense": self.dense.astype(np.float32),
            "bias": self.bias.astype(np.float32),
            "min_prob": self.min_prob.astype(np.float32),
            "key": np.array(self.key),
            "report": np.array(json.dumps(self.report)),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GuardHead:
        """The inverse of :meth:`arrays`."""
        return cls(
            buckets=arrays["buckets"].astype(np.int64),
            sparse=arrays["sparse"].astype(np.float32),
            dense=arrays["dense"].astype(np.float32),
            bias=arrays["bias"].astype(np.float32),
            min_prob=arrays["min_prob"].astype(np.float32),
            key=str(arrays["key"]),
            report=json.loads(str(arrays["report"])) if "report" in arrays else {},
        )


def _class_weights(y: np.ndarray) -> np.ndarray:
    weight = len(y) / (len(LABELS) * np.maximum(np.bincount(y, minlength=len(LABELS)), 1))
    out: np.ndarray = weight[y]
    return out


def _fit_model(rows: ngram.SparseRows, dense: np.ndarray, y: np.ndarray) -> ngram.SparseSoftmax:
    return ngram.fit_sparse(
        rows,
        dense,
        y,
        len(LABELS),
        sample_weight=_class_weights(y),
        l2_sparse=_L2_SPARSE,
        l2_dense=_L2_DENSE,
        iters=_ITERS,
        lr=_LR,
    )


def _groups(rows: Sequence[Exemplar]) -> np.ndarray:
    return np.array([r.group if r.group >= 0 else i % FOLDS for i, r in enumerate(rows)], dtype=np.int64)


def out_of_fold(rows: Sequence[Exemplar], vectors: np.ndarray) -> np.ndarray:
    """Each exemplar's class probabilities from a model fitted without its fold, ``(len(rows), 3)``."""
    texts = [r.text for r in rows]
    y = np.array([LABELS.index(r.label) for r in rows], dtype=np.int64)
    sparse = ngram.SparseRows.of(texts)
    dense = dense_features(texts, vectors)
    groups = _groups(rows)
    probs = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    for fold in range(FOLDS):
        test = groups == fold
        if test.all() or not test.any():
            continue
        model = _fit_model(sparse.take(~test), dense[~test], y[~test])
        probs[test] = model.proba(sparse.take(test), dense[test])
    return probs


def calibrate(rows: Sequence[Exemplar], probs: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-class thresholds from out-of-fold probabilities, and the cross-validation figures at them."""
    y = np.array([LABELS.index(r.label) for r in rows], dtype=np.int64)
    vetoed = np.array([crisis_vetoed(r.text) for r in rows])
    min_prob = np.ones(len(LABELS), dtype=np.float32)
    flagged = np.zeros((len(rows), len(LABELS)), dtype=bool)
    for c in (1, 2):
        score = np.where(vetoed, 0.0, probs[:, c]) if LABELS[c] == "crisis" else probs[:, c]
        negatives = np.sort(score[y != c])[::-1]
        allowed = int(MAX_CV_FPR * len(negatives))
        threshold = float(negatives[allowed]) + 1e-4 if allowed < len(negatives) else _MIN_THRESHOLD
        min_prob[c] = min(0.99, max(_MIN_THRESHOLD, threshold))
        flagged[:, c] = score >= min_prob[c]
    langs = np.array([r.lang for r in rows])

    def figures(mask: np.ndarray) -> dict[str, float]:
        out = {}
        for c in (1, 2):
            pos, neg = mask & (y == c), mask & (y != c)
            out[f"{LABELS[c]}_recall"] = round(float(flagged[pos, c].mean()), 3) if pos.any() else float("nan")
            out[f"{LABELS[c]}_fpr"] = round(float(flagged[neg, c].mean()), 3) if neg.any() else float("nan")
        return out

    report = {
        "exemplars": len(rows),
        "folds": FOLDS,
        "max_cv_fpr": MAX_CV_FPR,
        "overall": figures(np.ones(len(rows), dtype=bool)),
        "languages": {lang: figures(langs == lang) for lang in sorted(set(langs))},
    }
    return min_prob, report


def fit(rows: Sequence[Exemplar], vectors: np.ndarray, *, key: str = "") -> GuardHead:
    """Fit the head on exemplars and their unit vectors, thresholds from cross-validation."""
    vectors = np.asarray(vectors, dtype=np.float32)
    min_prob, report = calibrate(rows, out_of_fold(rows, vectors))
    texts = [r.text for r in rows]
    y = np.array([LABELS.index(r.label) for r in rows], dtype=np.int64)
    model = _fit_model(ngram.SparseRows.of(texts), dense_features(texts, vectors), y)
    used = np.flatnonzero(np.abs(model.sparse).max(axis=1) > _PRUNE)
    return GuardHead(
        buckets=used.astype(np.int64),
        sparse=model.sparse[used],
        dense=model.dense,
        bias=model.bias,
        min_prob=min_prob,
        key=key,
        report=report,
    )


def _file(directory: Path, key: str) -> Path:
    return directory / f"guard-{key}.npz"


def save(head: GuardHead, directory: Path) -> Path:
    """Write ``head`` atomically into ``directory``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = _file(directory, head.key)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".npz.tmp", delete=False) as fh:
        np.savez(fh, **head.arrays())  # type: ignore[arg-type]
        tmp = Path(fh.name)
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def load(directory: Path, key: str) -> GuardHead | None:
    """The head fitted for ``key`` in ``directory``, or None (missing, unreadable or of another shape)."""
    path = _file(directory, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        head = GuardHead.from_arrays(arrays)
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if head.key != key or head.dense.shape[0] != feature_count() or head.sparse.shape != (len(head.buckets), 3):
        return None
    return head


def _cache_dir() -> Path:
    from luma.classify.cache import default_cache_dir

    return default_cache_dir().parent / "guard"


def build(directory: Path | None = None, *, data: Path = DATA_DIR) -> GuardHead:
    """Embed the exemplars (vectors cached in the user cache) and fit; save the head into ``directory``."""
    from luma.classify.cache import EmbeddingCache
    from luma.classify.embedder import get_embedder

    rows = load_exemplars(data)
    vectors = EmbeddingCache(_cache_dir(), read_only=()).embed(get_embedder(), [r.text for r in rows])
    head = fit(rows, vectors, key=data_key(data))
    save(head, directory or _cache_dir())
    return head


@lru_cache(maxsize=1)
def get_head() -> GuardHead:
    """The process-wide head: prebuilt, else the user cache, else fitted now (minutes; and cached)."""
    key = data_key()
    for directory in (PREBUILT_DIR, _cache_dir()):
        head = load(directory, key)
        if head is not None:
            return head
    started = time.perf_counter()
    log.warning("guard head: no prebuilt file for %s, fitting it now (run `python -m luma.guard build`)", key)
    head = build(_cache_dir())
    log.warning("guard head fitted at run time in %.1f s", time.perf_counter() - started)
    return head
