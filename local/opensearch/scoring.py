"""Scoring formulas as OpenSearch computes them: Lucene's BM25 (with its one-byte length norms) and the
k-NN plugin's distance functions and distance-to-score conversions per space type and engine.
"""

from __future__ import annotations

import math

import numpy as np

K1 = 1.2
B = 0.75


def float32(value: float) -> float:
    """``value`` rounded to a Java ``float`` and written the way Java prints it (shortest round trip)."""
    return float(str(np.float32(value)))


# Lucene's SmallFloat: document lengths are stored in one byte, exact below 24 and lossy above.


def _long_to_int4(i: int) -> int:
    bits = i.bit_length()
    if bits < 4:
        return i
    shift = bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)


def int_to_byte4(length: int) -> int:
    """Lucene's ``SmallFloat.intToByte4``: the encoded norm of a field length."""
    if length < _NUM_FREE_VALUES:
        return length
    return _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)


def byte4_to_int(encoded: int) -> int:
    """Lucene's ``SmallFloat.byte4ToInt``: the field length a norm stands for."""
    if encoded < _NUM_FREE_VALUES:
        return encoded
    return _NUM_FREE_VALUES + _int4_to_long(encoded - _NUM_FREE_VALUES)


def bm25_idf(doc_freq: int, doc_count: int) -> float:
    """``log(1 + (N - n + 0.5) / (n + 0.5))`` as a float, N = documents with the field."""
    return float(np.float32(math.log(1 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5))))


_LENGTH_TABLE = np.array([byte4_to_int(i) for i in range(256)], dtype=np.float32)


def norm_cache(avgdl: float) -> np.ndarray:
    """Lucene's per-query table: ``1 / (k1·(1 - b + b·dl/avgdl))`` for each of the 256 norm bytes."""
    avg = np.float32(avgdl)
    return (np.float32(1.0) / (np.float32(K1) * ((np.float32(1 - B)) + np.float32(B) * _LENGTH_TABLE / avg))).astype(
        np.float32
    )


def bm25_scores(freqs: np.ndarray, norms: np.ndarray, avgdl: float, idf: float, boost: float = 1.0) -> np.ndarray:
    """BM25 of one term for many documents, in float32 as Lucene computes it:
    ``weight - weight / (1 + freq·normInverse)`` with ``weight = boost·idf``."""
    weight = np.float32(boost) * np.float32(idf)
    inverse = norm_cache(avgdl)[norms]
    return (weight - weight / (np.float32(1.0) + freqs.astype(np.float32) * inverse)).astype(np.float32)


def bm25_term(freq: float, length: int, avgdl: float, idf: float, boost: float = 1.0) -> float:
    """One term's BM25 score: ``boost·idf·freq / (freq + k1·(1 - b + b·dl/avgdl))``, dl from the norm byte."""
    scores = bm25_scores(np.array([freq]), np.array([int_to_byte4(length)]), avgdl, idf, boost)
    return float(scores[0])


# k-NN spaces. Distances are what the engines compute; scores are what OpenSearch returns.


def distances(space_type: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Raw distance of every row of ``vectors`` to ``query`` (smaller is closer)."""
    if space_type == "l2":
        diff = vectors - query
        return np.einsum("ij,ij->i", diff, diff)  # squared Euclidean, as faiss and Lucene use
    if space_type == "cosinesimil":
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
        return 1.0 - (vectors @ query) / np.where(norms == 0, 1.0, norms)
    if space_type == "innerproduct":
        return -(vectors @ query)
    if space_type == "l1":
        return np.abs(vectors - query).sum(axis=1)
    if space_type == "linf":
        return np.abs(vectors - query).max(axis=1)
    raise ValueError(f"unknown space type {space_type}")


def scores_from_distances(space_type: str, dist: np.ndarray) -> np.ndarray:
    """OpenSearch's score for each distance (higher is closer)."""
    if space_type in ("l2", "l1", "linf"):
        return 1.0 / (1.0 + dist)
    if space_type == "cosinesimil":
        return (2.0 - dist) / 2.0
    if space_type == "innerproduct":
        # d = -dot: 1/(1+d) when d >= 0, else -d + 1 (the same for faiss and lucene).
        return np.where(dist >= 0, 1.0 / (1.0 + np.maximum(dist, 0)), 1.0 - dist)
    raise ValueError(f"unknown space type {space_type}")


def distance_from_score(space_type: str, score: float) -> float:
    """The inverse of :func:`scores_from_distances` (radial search translates ``min_score``)."""
    if space_type in ("l2", "l1", "linf"):
        return 1.0 / score - 1.0
    if space_type == "cosinesimil":
        return 2.0 - 2.0 * score
    if space_type == "innerproduct":
        return 1.0 / score - 1.0 if score <= 1.0 else 1.0 - score
    raise ValueError(f"unknown space type {space_type}")
