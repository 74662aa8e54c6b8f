"""Hashed character and word n-grams, and a softmax trainer over sparse rows (numpy only).

MiniLM (``luma.classify.embedder``) is an English model: in Polish or Arabic its vector carries little
of what a message means. Character n-grams do not care which language they are in: "suicid", "umrze",
"ignor", "prompt", "انتحا" are shared by the inflections, the typos and the mixed-language messages of
the exemplars. :func:`hashed` turns a message into the indices and values of its n-grams in a
``2**BITS`` hashing space (a stable hash, the same in every process), :func:`fit_sparse` fits a
softmax over such rows (plus dense columns) by full-batch Adam; prediction is a gather and a sum.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from luma.guard.text import normalize

BITS = 18
BUCKETS = 1 << BITS
CHAR_RANGE = (2, 5)  # n-grams of 2 to 5 characters (spaces included: word starts and ends)
_WORD_WEIGHT = 0.6  # word unigrams and bigrams, next to the characters (weight of their L2-normed block)
_MASK = np.uint64((1 << 64) - 1)
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_WORD = re.compile(r"\w+")
_REPEATS = re.compile(r"(\w)\1{2,}")


def _form(text: str) -> str:
    """The normalized text with letters repeated three times or more cut to two ("pleeease" → "pleease")."""
    return _REPEATS.sub(r"\1\1", normalize(text))


def _char_hashes(form: str) -> np.ndarray:
    codes = np.frombuffer((" " + form + " ").encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    h = codes.copy()
    low, high = CHAR_RANGE
    for n in range(2, high + 1):
        if len(codes) < n:
            break
        h = h[:-1] * _PRIME + codes[n - 1 :]
        if n >= low:
            out.append(h + np.uint64(n))
    if not out:
        return np.zeros(0, dtype=np.uint64)
    return np.concatenate(out)


def _bucket(h: np.ndarray) -> np.ndarray:
    h = (h ^ (h >> np.uint64(31))) * _MIX
    h = h ^ (h >> np.uint64(29))
    return (h >> np.uint64(64 - BITS)).astype(np.int64)


def _word_hashes(form: str) -> np.ndarray:
    words = _WORD.findall(form)
    grams = [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]
    return np.array([zlib.crc32(("w:" + g).encode()) for g in grams], dtype=np.uint64)


def _block(indices: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    if indices.size == 0:
        return indices, np.zeros(0, dtype=np.float32)
    unique, counts = np.unique(indices, return_counts=True)
    values = np.log1p(counts.astype(np.float32))
    values *= weight / float(np.sqrt((values * values).sum()))
    return unique, values


@lru_cache(maxsize=512)
def hashed(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The message's n-grams: bucket indices (int64) and values (float32, each block L2-normed)."""
    form = _form(text)
    chars, char_values = _block(_bucket(_char_hashes(form)), 1.0)
    words, word_values = _block(_bucket(_word_hashes(form)), _WORD_WEIGHT)
    return np.concatenate([chars, words]), np.concatenate([char_values, word_values])


@dataclass(frozen=True)
class SparseRows:
    """Rows of hashed features in CSR form: ``indices[indptr[i]:indptr[i+1]]`` are row ``i``'s buckets."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, texts: Sequence[str]) -> SparseRows:
        """The rows of ``texts``."""
        parts = [hashed(t) for t in texts]
        lengths = np.array([len(i) for i, _ in parts], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return cls(
            indptr=indptr,
            indices=np.concatenate([i for i, _ in parts]) if parts else np.zeros(0, np.int64),
            values=np.concatenate([v for _, v in parts]) if parts else np.zeros(0, np.float32),
        )

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: np.ndarray) -> SparseRows:
        """The rows at ``rows`` (a boolean mask or indices)."""
        index = np.flatnonzero(rows) if rows.dtype == bool else rows
        starts, ends = self.indptr[index], self.indptr[index + 1]
        pieces = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
        flat = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        return SparseRows(np.concatenate([[0], np.cumsum(ends - starts)]), self.indices[flat], self.values[flat])

    def row_ids(self) -> np.ndarray:
        """For every stored value, the row it belongs to."""
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """``X @ weights`` for a ``(BUCKETS, k)`` matrix: ``(rows, k)``."""
        contributions = weights[self.indices] * self.values[:, None]
        out = np.zeros((len(self), weights.shape[1]), dtype=np.float32)
        nonempty = np.diff(self.indptr) > 0
        if contributions.shape[0]:
            sums = np.add.reduceat(contributions, self.indptr[:-1][nonempty], axis=0)
            out[nonempty] = sums
        return out

    def t_dot(self, grad: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``X.T @ grad`` for ``grad`` of shape ``(rows, k)``: ``(BUCKETS, k)``."""
        per_value = grad[rows] * self.values[:, None]
        return np.stack(
            [np.bincount(self.indices, weights=per_value[:, c], minlength=BUCKETS) for c in range(grad.shape[1])],
            axis=1,
        ).astype(np.float32)


@dataclass(frozen=True)
class SparseSoftmax:
    """``softmax(X_sparse @ W_sparse + X_dense @ W_dense + b)``."""

    sparse: np.ndarray  # (BUCKETS, classes)
    dense: np.ndarray  # (dense features, classes)
    bias: np.ndarray  # (classes,)

    def logits(self, rows: SparseRows, dense: np.ndarray | None) -> np.ndarray:
        """Unnormalized scores ``(rows, classes)``."""
        z = rows.dot(self.sparse) + self.bias
        if dense is not None and self.dense.shape[0]:
            z = z + dense @ self.dense
        return z

    def proba(self, rows: SparseRows, dense: np.ndarray | None) -> np.ndarray:
        """Class probabilities ``(rows, classes)``."""
        return _softmax(self.logits(rows, dense))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def fit_sparse(
    rows: SparseRows,
    dense: np.ndarray | None,
    y: np.ndarray,
    n_classes: int,
    *,
    sample_weight: np.ndarray | None = None,
    l2_sparse: float = 1e-4,
    l2_dense: float = 1e-3,
    iters: int = 200,
    lr: float = 0.1,
) -> SparseSoftmax:
    """Weighted cross-entropy plus L2, by full-batch Adam from zero (deterministic).

    The work happens over the buckets the rows use (a compact copy of the columns), so a step costs a
    gather and one ``bincount`` over the stored values, whatever the size of the hashing space.
    """
    n = len(rows)
    d = 0 if dense is None else dense.shape[1]
    used, compact = np.unique(rows.indices, return_inverse=True)
    u = len(used)
    ws = np.zeros((u, n_classes), dtype=np.float32)
    wd = np.zeros((d, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    target = np.zeros((n, n_classes), dtype=np.float32)
    target[np.arange(n), y] = 1.0
    sw = np.ones(n, dtype=np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    sw = (sw / sw.sum())[:, None]
    row_ids = rows.row_ids()
    flat = (compact[:, None] * n_classes + np.arange(n_classes)).ravel()
    values = rows.values[:, None]
    nonempty = np.diff(rows.indptr) > 0
    starts = rows.indptr[:-1][nonempty]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in (ws, wd, b)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    z = np.zeros((n, n_classes), dtype=np.float32)
    for step in range(1, iters + 1):
        z[:] = b
        if len(starts):
            z[nonempty] += np.add.reduceat(ws[compact] * values, starts, axis=0)
        if d:
            z += dense @ wd  # type: ignore[operator]
        g = (_softmax(z) - target) * sw
        g_sparse = np.bincount(flat, weights=(g[row_ids] * values).ravel(), minlength=u * n_classes)
        grads = [
            g_sparse.reshape(u, n_classes).astype(np.float32) + l2_sparse * ws,
            (dense.T @ g if d else wd) + l2_dense * wd,  # type: ignore[union-attr]
            g.sum(axis=0),
        ]
        c1, c2 = 1 - beta1**step, 1 - beta2**step
        for param, grad, (m, v) in zip((ws, wd, b), grads, moments, strict=True):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
    full = np.zeros((BUCKETS, n_classes), dtype=np.float32)
    full[used] = ws
    return SparseSoftmax(full, wd, b)
