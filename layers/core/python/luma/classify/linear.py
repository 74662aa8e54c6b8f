"""A softmax-regression head over sentence embeddings, in numpy (no sklearn, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# OpenBLAS runs a GEMM on its worker threads above 2**18 multiply-adds (a GEMV above 9,216
# matrix elements). For this head's small products the hand-off costs more than the product,
# and on a busy CPU (Lambda, CI, a laptop running tests) the spinning workers make it 10-40x
# slower. ``dot`` keeps such products on the calling thread by cutting them into blocks under
# those limits; products big enough for the threads to pay off go to BLAS whole.
_GEMM_SINGLE = 1 << 18
_GEMV_SINGLE = 9216
_GEMM_BIG = 64 * _GEMM_SINGLE


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a vector or matrix ``a`` and a matrix ``b``, single-threaded when small."""
    n = b.shape[1]
    if a.ndim == 1:
        step = max(1, _GEMV_SINGLE // max(1, a.shape[0]))
        if n <= step:
            return a @ b
        return np.concatenate([a @ b[:, j : j + step] for j in range(0, n, step)])
    m, k = a.shape
    if m * k * n > _GEMM_BIG:
        return a @ b
    step = max(1, _GEMM_SINGLE // max(1, k * n))
    if m <= step:
        return a @ b
    return np.concatenate([a[i : i + step] @ b for i in range(0, m, step)])


@dataclass(frozen=True)
class SoftmaxHead:
    """Multinomial logistic regression: ``softmax(scale * x @ W + b)``."""

    weights: np.ndarray  # (dim, classes)
    bias: np.ndarray  # (classes,)
    scale: float

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for one vector ``(dim,)`` or a matrix ``(n, dim)``."""
        z = self.scale * dot(x, self.weights) + self.bias
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
        return out


def train_softmax(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    class_weight: np.ndarray | None = None,
    l2: float = 1e-4,
    scale: float = 5.0,
    iters: int = 300,
    lr: float = 0.05,
    tol: float = 1e-6,
) -> SoftmaxHead:
    """Fit a softmax head by full-batch Adam on weighted cross-entropy plus ``l2 * |W|² / 2``.

    ``x`` are unit-norm embeddings ``(n, dim)``, ``y`` integer labels in ``[0, n_classes)``.
    Deterministic (zero init, no sampling). Stops early once the loss stops moving.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = x.shape
    w = np.zeros((dim, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    target = np.zeros((n, n_classes), dtype=np.float32)
    target[np.arange(n), y] = 1.0
    sw = np.ones(n, dtype=np.float32) if class_weight is None else class_weight[y].astype(np.float32)
    sw = (sw / sw.sum())[:, None]
    m_w: np.ndarray = np.zeros_like(w)
    v_w: np.ndarray = np.zeros_like(w)
    m_b: np.ndarray = np.zeros_like(b)
    v_b: np.ndarray = np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    previous = np.inf
    for step in range(1, iters + 1):
        z = scale * dot(x, w) + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        if step % 25 == 0:
            loss = float(-(sw[:, 0] * np.log(np.maximum((p * target).sum(axis=1), 1e-12))).sum())
            loss += 0.5 * l2 * float((w * w).sum())
            if previous - loss < tol:
                break
            previous = loss
        g = (p - target) * sw
        g_w = scale * dot(x.T, g) + l2 * w
        g_b = g.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        c1, c2 = 1 - beta1**step, 1 - beta2**step
        w -= lr * (m_w / c1) / (np.sqrt(v_w / c2) + eps)
        b -= lr * (m_b / c1) / (np.sqrt(v_b / c2) + eps)
    return SoftmaxHead(weights=w, bias=b, scale=scale)
