"""The learned detector: a softmax head (benign / injection / crisis) over MiniLM embeddings and concepts.

Features: the message's MiniLM vector (384 values; all-MiniLM-L6-v2 is an English model, so it
carries little in the other languages), one 0/1 value per multilingual concept
(:mod:`luma.guard.lexicon`: death, means, harm, instructions, reveal, freedom, authority, …, which
carry the same meaning in all nine languages), and the crisis-lookalike contexts of
:mod:`luma.guard.crisis` (fiction, accident, hypothetical, resolved, routine, hyperbole). The rules'
own hits are not features: the rules were written on these exemplars and would hide what the head
must learn for messages they miss.

Trained on ``luma/guard/data/*.jsonl`` at build time (``python -m luma.guard build``) and stored in
``luma/guard/prebuilt/``; a cold start loads the weights (one small ``.npz``). The probability a
class needs is chosen by cross-validation on the exemplars: the most recall with at most
:data:`MAX_CV_FPR` of the other exemplars flagged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

LABELS = ("benign", "injection", "crisis")
DATA_DIR = Path(__file__).resolve().parent / "data"
PREBUILT_DIR = Path(__file__).resolve().parent / "prebuilt"
VERSION = 2
MAX_CV_FPR = 0.01
_FOLDS = 5
_L2 = 3e-3
_SCALE = 5.0
_ITERS = 800
_CONCEPT_WEIGHT = 0.35
CONTEXTS = ("fiction", "accident", "hypothetical", "resolved", "routine")
_CONTEXT_WEIGHT = 0.5

log = logging.getLogger(__name__)


class GuardDataError(ValueError):
    """A training exemplar file is malformed."""


@dataclass(frozen=True)
class Exemplar:
    """One training line: text, label (benign, injection or crisis) and language."""

    text: str
    label: str
    lang: str


def load_exemplars(directory: Path = DATA_DIR) -> list[Exemplar]:
    """Every exemplar in ``directory/*.jsonl`` (sorted by file name, lines in order)."""
    rows: list[Exemplar] = []
    for path in sorted(directory.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                row = Exemplar(str(item["text"]), str(item["label"]), str(item.get("lang", "")))
            except (ValueError, KeyError, TypeError) as exc:
                raise GuardDataError(f"{path.name}:{n}: expected {{'text', 'label', 'lang'}}: {exc}") from None
            if row.label not in LABELS:
                raise GuardDataError(f"{path.name}:{n}: label {row.label!r} is not one of {LABELS}")
            rows.append(row)
    if not rows:
        raise GuardDataError(f"no exemplars in {directory}")
    return rows


def data_key(directory: Path = DATA_DIR) -> str:
    """What a fit depends on: the exemplar files, the model id, the concepts and this module's settings."""
    from luma.classify.embedder import DIMENSION, MODEL_ID
    from luma.guard.lexicon import CONCEPTS

    settings = f"{VERSION}:{MODEL_ID}:{DIMENSION}:{_L2}:{_SCALE}:{MAX_CV_FPR}:{_CONCEPT_WEIGHT}:{_CONTEXT_WEIGHT}"
    digest = hashlib.sha256(settings.encode())
    digest.update(json.dumps(CONCEPTS, sort_keys=True).encode())
    for path in sorted(directory.glob("*.jsonl")):
        digest.update(path.name.encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()[:32]


def featurize(texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
    """The head's input for each text: its unit vector, its concepts and its contexts."""
    from luma.guard.crisis import contexts, is_hyperbole
    from luma.guard.lexicon import features

    names = CONTEXTS
    rows = []
    for text, vector in zip(texts, np.atleast_2d(vectors), strict=True):
        found = contexts(text)
        context = np.array([n in found for n in names] + [is_hyperbole(text)], dtype=np.float32)
        rows.append(np.concatenate([vector, _CONCEPT_WEIGHT * features(text), _CONTEXT_WEIGHT * context]))
    return np.stack(rows).astype(np.float32)


@dataclass(frozen=True)
class GuardHead:
    """Fitted weights and the probability each class needs."""

    weights: np.ndarray  # (features, 3)
    bias: np.ndarray  # (3,)
    scale: float
    min_prob: np.ndarray  # (3,) per class (benign unused)
    key: str

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities ``(3,)`` for one feature row."""
        from luma.classify.linear import dot

        z = self.scale * dot(features, self.weights) + self.bias
        e = np.exp(z - z.max())
        out: np.ndarray = e / e.sum()
        return out

    def scores(self, text: str, vector: np.ndarray) -> dict[str, tuple[float, bool]]:
        """For injection and crisis: (probability, flagged by the head)."""
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        probs = self.probabilities(featurize([text], vector)[0])
        return {LABELS[c]: (float(probs[c]), bool(probs[c] >= self.min_prob[c])) for c in (1, 2)}

    def arrays(self) -> dict[str, np.ndarray]:
        """What :func:`save` writes."""
        return {
            "weights": self.weights.astype(np.float32),
            "bias": self.bias.astype(np.float32),
            "scale": np.array(self.scale, dtype=np.float32),
            "min_prob": self.min_prob.astype(np.float32),
            "key": np.array(self.key),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GuardHead:
        """The inverse of :meth:`arrays`."""
        return cls(
            weights=arrays["weights"].astype(np.float32),
            bias=arrays["bias"].astype(np.float32),
            scale=float(arrays["scale"]),
            min_prob=arrays["min_prob"].astype(np.float32),
            key=str(arrays["key"]),
        )


def _fit_softmax(x: np.ndarray, y: np.ndarray) -> Any:
    from luma.classify.linear import train_softmax

    weight = len(y) / (len(LABELS) * np.maximum(np.bincount(y, minlength=len(LABELS)), 1))
    return train_softmax(x, y, len(LABELS), class_weight=weight, l2=_L2, scale=_SCALE, iters=_ITERS)


def calibrate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-class probability thresholds from out-of-fold predictions (at most ``MAX_CV_FPR`` flagged)."""
    folds = np.arange(len(y)) % _FOLDS
    probs = np.zeros((len(y), len(LABELS)), dtype=np.float32)
    for f in range(_FOLDS):
        train, test = folds != f, folds == f
        probs[test] = _fit_softmax(x[train], y[train]).proba(x[test])
    min_prob = np.ones(len(LABELS), dtype=np.float32)
    for c in (1, 2):
        negatives = np.sort(probs[y != c, c])[::-1]
        allowed = int(MAX_CV_FPR * len(negatives))
        min_prob[c] = min(0.99, max(0.5, float(negatives[allowed]) + 1e-4))
    return min_prob


def fit(rows: Sequence[Exemplar], vectors: np.ndarray, *, key: str = "") -> GuardHead:
    """Fit the head on exemplars and their unit vectors, thresholds from cross-validation."""
    y = np.array([LABELS.index(r.label) for r in rows], dtype=np.int64)
    x = featurize([r.text for r in rows], vectors)
    min_prob = calibrate(x, y)
    head = _fit_softmax(x, y)
    return GuardHead(weights=head.weights, bias=head.bias, scale=float(head.scale), min_prob=min_prob, key=key)


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
    """The head fitted for ``key`` in ``directory``, or None (missing or unreadable)."""
    path = _file(directory, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        head = GuardHead.from_arrays(arrays)
    except (OSError, KeyError, ValueError, EOFError):
        return None
    return head if head.key == key and head.weights.shape[0] == feature_count() else None


def feature_count() -> int:
    """How many features the head takes (embedding, concepts, contexts and hyperbole)."""
    from luma.classify.embedder import DIMENSION
    from luma.guard.lexicon import CONCEPTS

    return DIMENSION + len(CONCEPTS) + len(CONTEXTS) + 1


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
    """The process-wide head: prebuilt, else the user cache, else fitted now (and cached)."""
    key = data_key()
    for directory in (PREBUILT_DIR, _cache_dir()):
        head = load(directory, key)
        if head is not None:
            return head
    started = time.perf_counter()
    head = build(_cache_dir())
    log.warning("guard head fitted at run time (no prebuilt file) in %.1f s", time.perf_counter() - started)
    return head
