"""Intent classifier: a softmax head on MiniLM embeddings, a nearest-exemplar guard, and
thresholds calibrated by cross-validation on the training exemplars themselves.

Scoring of one message ``x`` (unit-norm embedding):

* ``confidence`` — probability of the top intent under a multinomial logistic regression
  trained on the exemplars, with the out-of-scope examples (if any) as one extra class;
* ``margin`` — that probability minus the runner-up intent's;
* ``similarity`` — mean cosine of ``x`` to its ``k`` nearest exemplars of the top intent: how
  close the message is to anything the intent was taught with. Softmax probabilities are
  relative (a message far from every intent can still be "most like" one of them); this guard
  is absolute, and it is what keeps unseen out-of-scope messages off the fast path.

A prediction is accepted when ``confidence >= threshold[intent]``, ``similarity >= sigma``
and the out-of-scope class is not more likely. ``sigma`` and the default threshold ``tau`` come
from k-fold cross-validation over the training set (out-of-fold predictions, out-of-scope
examples included as negatives): the pair that covers the most out-of-fold in-scope examples
while keeping out-of-fold precision >= ``target_precision`` and accepting at most
``max_oos_accept`` of the out-of-scope examples, preferring the strictest pair within
``coverage_slack`` of that coverage. Per-intent thresholds given to :meth:`IntentClassifier.fit`
override ``tau`` for their intents. Thresholds are global by default on purpose: with tens of
exemplars per intent, per-intent cut-offs fitted on out-of-fold scores chase single examples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from luma.classify.cache import EmbeddingCache
from luma.classify.linear import SoftmaxHead, dot, train_softmax

_STATE_VERSION = 1
Reason = Literal["accepted", "below_threshold", "low_similarity", "out_of_scope", "empty"]


class TextEmbedder(Protocol):
    """What the classifier needs from an embedder (the real one or a test fake)."""

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_one(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class ClassifierConfig:
    """Knobs of the scoring and of the calibration (defaults measured on CLINC150)."""

    target_precision: float = 0.995
    max_oos_accept: float = 0.01
    coverage_slack: float = 0.01
    folds: int | None = None  # None: 10 for small sets (<= 2,000 examples), else 5
    knn: int = 3
    l2: float = 1e-4
    scale: float = 5.0
    iters: int = 150
    learning_rate: float = 0.1
    oos_weight: float = 1.0  # the oos class weighs as much as this many median intents
    tau_grid: tuple[float, float, float] = (0.5, 0.99, 0.005)
    sigma_grid: tuple[float, float, float] = (0.3, 0.8, 0.01)
    fallback_tau: float = 0.9
    fallback_sigma: float = 0.5
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The classifier's answer for one message."""

    intent: str | None  # the accepted intent; None = out of scope or unsure (goes to the agent)
    top_intent: str  # the most likely intent, accepted or not
    confidence: float  # probability of top_intent, 0..1
    margin: float  # confidence minus the runner-up intent's probability
    accepted: bool  # confidence >= the intent's threshold, similarity >= sigma, oos not likelier
    latency_ms: float = 0.0
    similarity: float = 0.0  # mean cosine to top_intent's nearest exemplars
    threshold: float = 0.0  # the confidence threshold that applied to top_intent
    # accepted | below_threshold | low_similarity | out_of_scope | empty
    reason: Reason = "accepted"
    language: str | None = None  # whose classifier answered (set by MultilingualClassifier)
    # The message's unit-norm embedding (the guard reuses it: a message is embedded once).
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Calibration:
    """How the default threshold and the similarity guard were chosen."""

    tau: float
    sigma: float
    method: Literal["cross-validation", "fallback"]
    folds: int = 0
    oof_precision: float = math.nan
    oof_coverage: float = math.nan
    oof_oos_accept: float = math.nan
    oof_accuracy: float = math.nan


@dataclass(frozen=True)
class _Fitted:
    labels: tuple[str, ...]  # in-scope intents; the head's class len(labels) is "oos" when present
    head: SoftmaxHead
    bank: np.ndarray  # in-scope exemplar vectors, grouped by intent
    spans: tuple[tuple[int, int], ...]  # rows of each intent in bank
    has_oos: bool


@dataclass
class _Scores:
    top: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    similarity: np.ndarray
    oos_proba: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _grid(spec: tuple[float, float, float]) -> np.ndarray:
    lo, hi, step = spec
    return np.round(np.arange(lo, hi + step / 2, step), 6)


def _train(
    vectors: Sequence[np.ndarray], oos: np.ndarray | None, labels: tuple[str, ...], config: ClassifierConfig
) -> _Fitted:
    counts = [len(v) for v in vectors]
    bank = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
    y = np.repeat(np.arange(len(vectors)), counts)
    spans, start = [], 0
    for n in counts:
        spans.append((start, start + n))
        start += n
    n_classes = len(vectors)
    x, weight = bank, np.ones(len(vectors) + 1, dtype=np.float32)
    has_oos = oos is not None and len(oos) > 0
    if has_oos:
        assert oos is not None
        x = np.concatenate([bank, oos])
        y = np.concatenate([y, np.full(len(oos), n_classes)])
        weight[n_classes] = config.oos_weight * float(np.median(counts)) / len(oos)
        n_classes += 1
    head = train_softmax(
        x,
        y,
        n_classes,
        class_weight=weight[:n_classes],
        l2=config.l2,
        scale=config.scale,
        iters=config.iters,
        lr=config.learning_rate,
    )
    return _Fitted(labels=labels, head=head, bank=bank, spans=tuple(spans), has_oos=has_oos)


def _score(model: _Fitted, x: np.ndarray, knn: int) -> _Scores:
    """Vectorised scoring of many vectors (calibration); :meth:`IntentClassifier.predict` inlines it."""
    proba = model.head.proba(x)
    n = len(model.labels)
    inscope = proba[:, :n]
    top = inscope.argmax(axis=1)
    conf = inscope[np.arange(len(x)), top]
    runner_up = np.partition(inscope, n - 2, axis=1)[:, n - 2] if n > 1 else np.zeros(len(x))
    sim = np.empty(len(x), dtype=np.float32)
    for c, (lo, hi) in enumerate(model.spans):
        rows = np.flatnonzero(top == c)
        if len(rows) == 0:
            continue
        s = dot(x[rows], model.bank[lo:hi].T)
        k = min(knn, hi - lo)
        sim[rows] = np.partition(s, s.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
    oos = proba[:, n] if model.has_oos else np.zeros(len(x))
    return _Scores(top=top, confidence=conf, margin=conf - runner_up, similarity=sim, oos_proba=oos)


def _stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        fold[rng.permutation(idx)] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def _choose(scores: _Scores, truth: np.ndarray, config: ClassifierConfig) -> tuple[float, float, float, float, float]:
    """Pick (tau, sigma) on out-of-fold scores; returns tau, sigma, precision, coverage, oos accept."""
    inscope = truth >= 0
    correct = (scores.top == truth) & inscope
    n_in, n_oos = int(inscope.sum()), int((~inscope).sum())
    allowed_oos = math.floor(config.max_oos_accept * n_oos + 1e-9)
    taus = _grid(config.tau_grid)
    conf = np.where(scores.oos_proba >= scores.confidence, -1.0, scores.confidence)
    rows: list[tuple[float, float, float, float, float]] = []  # coverage, sigma, tau, precision, oos
    for sigma in _grid(config.sigma_grid):
        keep = scores.similarity >= sigma
        order = np.argsort(-conf[keep], kind="stable")
        c_sorted = conf[keep][order]
        cum_ok = np.concatenate([[0], np.cumsum(correct[keep][order])])
        cum_in = np.concatenate([[0], np.cumsum(inscope[keep][order])])
        # accepted(tau) = how many sorted confidences are >= tau
        accepted = np.searchsorted(-c_sorted, -taus, side="right")
        for tau, a in zip(taus, accepted, strict=True):
            if a == 0:
                continue
            ok, n_acc_in = int(cum_ok[a]), int(cum_in[a])
            oos_acc = int(a) - n_acc_in
            precision = ok / int(a)
            if precision >= config.target_precision and oos_acc <= allowed_oos:
                rows.append((n_acc_in / max(n_in, 1), float(sigma), float(tau), precision, oos_acc / max(n_oos, 1)))
    if not rows:
        return math.nan, math.nan, math.nan, 0.0, 0.0
    best = max(r[0] for r in rows)
    coverage, sigma, tau, precision, oos_rate = max(
        (r for r in rows if r[0] >= best - config.coverage_slack), key=lambda r: (r[1], r[2])
    )
    return tau, sigma, precision, coverage, oos_rate


def _out_of_fold(
    per_intent: list[np.ndarray], oos: np.ndarray | None, config: ClassifierConfig
) -> tuple[_Scores, np.ndarray, int] | None:
    """Out-of-fold scores of every training example (stratified k-fold); None if too little data.

    Returns the scores, the true labels (intent index, -1 for out-of-scope) and k.
    """
    counts = np.array([len(v) for v in per_intent])
    n_oos = 0 if oos is None else len(oos)
    k = config.folds or (10 if int(counts.sum()) + n_oos <= 2000 else 5)
    k = min(k, int(counts.max()))
    if k < 2 or counts.sum() < 10:
        return None
    x = np.concatenate([*per_intent, *([] if oos is None else [oos])])
    y = np.concatenate([np.repeat(np.arange(len(per_intent)), counts), np.full(n_oos, -1)])
    fold = _stratified_folds(y, k, config.seed)
    top = np.zeros(len(y), dtype=np.int64)
    conf, margin, sim, oos_p = (np.zeros(len(y)) for _ in range(4))
    for f in range(k):
        train, test = fold != f, fold == f
        parts = [x[train & (y == c)] for c in range(len(per_intent))]
        index = np.array([c for c, part in enumerate(parts) if len(part)])  # intents left in this fold
        neg = x[train & (y < 0)]
        model = _train([parts[c] for c in index], neg if len(neg) else None, tuple(str(c) for c in index), config)
        s = _score(model, x[test], config.knn)
        rows = np.flatnonzero(test)
        top[rows] = index[s.top]
        conf[rows], margin[rows], sim[rows], oos_p[rows] = s.confidence, s.margin, s.similarity, s.oos_proba
    # An intent with a single exemplar cannot be held out fairly: leave its row out.
    valid = (y < 0) | (counts[np.maximum(y, 0)] >= 2)
    scores = _Scores(
        top=top[valid], confidence=conf[valid], margin=margin[valid], similarity=sim[valid], oos_proba=oos_p[valid]
    )
    return scores, y[valid], k


class IntentClassifier:
    """Embedding intent classifier with calibrated, per-intent acceptance thresholds."""

    name = "minilm-softmax-knn"

    def __init__(
        self,
        embedder: TextEmbedder | None = None,
        *,
        config: ClassifierConfig | None = None,
        cache: EmbeddingCache | None = None,
    ) -> None:
        self._embedder = embedder
        self.config = config or ClassifierConfig()
        self.cache = cache
        self._model: _Fitted | None = None
        self._tau = np.zeros(0)
        self._sigma = 1.0
        self.calibration: Calibration | None = None
        self.fit_seconds = 0.0
        self.embed_seconds = 0.0
        self.from_cache = False

    @property
    def embedder(self) -> TextEmbedder:
        """The embedder in use (the process-wide MiniLM one unless another was given)."""
        if self._embedder is None:
            from luma.classify.embedder import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents the classifier was fitted on."""
        return self._require().labels

    @property
    def thresholds(self) -> dict[str, float]:
        """The confidence threshold of each intent (explicit or calibrated)."""
        model = self._require()
        return {label: float(t) for label, t in zip(model.labels, self._tau, strict=True)}

    @property
    def similarity_floor(self) -> float:
        """The calibrated minimum nearest-exemplar similarity (``sigma``)."""
        self._require()
        return self._sigma

    def _require(self) -> _Fitted:
        if self._model is None:
            raise RuntimeError("IntentClassifier.fit() has not been called")
        return self._model

    def _embed_many(self, texts: list[str]) -> np.ndarray:
        if self.cache is not None and hasattr(self.embedder, "fingerprint"):
            return self.cache.embed(self.embedder, texts)  # type: ignore[arg-type]
        return np.asarray(self.embedder.embed(texts), dtype=np.float32)

    def fit(
        self,
        examples: Mapping[str, Sequence[str]],
        *,
        thresholds: Mapping[str, float] | None = None,
        oos_examples: Sequence[str] | None = None,
    ) -> IntentClassifier:
        """Embed the exemplars, train the head and calibrate (all cached when a cache is set).

        ``examples`` maps each intent to its exemplar utterances; ``thresholds`` fixes the
        confidence threshold of some intents (others get the calibrated one); ``oos_examples``
        are out-of-scope messages, used as a negative class and to calibrate. Returns self.
        """
        started = time.perf_counter()
        labels = tuple(examples)
        oos_texts = list(oos_examples or [])
        key = self._state_key(examples, thresholds, oos_texts)
        if key is not None and self.cache is not None:
            state = self.cache.load_arrays(f"fit-{key}")
            if state is not None and self._restore(state):
                self.fit_seconds = time.perf_counter() - started
                self.embed_seconds = 0.0
                self.from_cache = True
                return self
        texts = [t for label in labels for t in examples[label]]
        vectors = self._embed_many(texts + oos_texts)
        self.embed_seconds = time.perf_counter() - started
        by_intent, at = [], 0
        for label in labels:
            n = len(examples[label])
            by_intent.append(vectors[at : at + n])
            at += n
        self.fit_vectors(dict(zip(labels, by_intent, strict=True)), thresholds=thresholds, oos_vectors=vectors[at:])
        if key is not None and self.cache is not None:
            self.cache.save_arrays(f"fit-{key}", self._export())
        self.fit_seconds = time.perf_counter() - started
        self.from_cache = False
        return self

    def _state_key(
        self, examples: Mapping[str, Sequence[str]], thresholds: Mapping[str, float] | None, oos: list[str]
    ) -> str | None:
        fingerprint = getattr(self.embedder, "fingerprint", None) if self.cache is not None else None
        if not isinstance(fingerprint, str):
            return None
        payload = {
            "state": _STATE_VERSION,
            "model": fingerprint,
            "config": dataclasses.asdict(self.config),
            "examples": {label: list(texts) for label, texts in examples.items()},
            "thresholds": dict(sorted((thresholds or {}).items())),
            "oos": oos,
        }
        return hashlib.sha256(json.dumps(payload).encode("utf-8")).hexdigest()[:32]

    def _export(self) -> dict[str, np.ndarray]:
        model = self._require()
        assert self.calibration is not None
        return {
            "labels": np.array(model.labels),
            "weights": model.head.weights,
            "bias": model.head.bias,
            "scale": np.array(model.head.scale),
            "bank": model.bank,
            "spans": np.array(model.spans, dtype=np.int64).reshape(-1, 2),
            "has_oos": np.array(model.has_oos),
            "tau": self._tau,
            "sigma": np.array(self._sigma),
            "calibration": np.array(json.dumps(dataclasses.asdict(self.calibration))),
        }

    def _restore(self, state: Mapping[str, np.ndarray]) -> bool:
        try:
            labels = tuple(str(label) for label in state["labels"])
            head = SoftmaxHead(
                weights=state["weights"].astype(np.float32),
                bias=state["bias"].astype(np.float32),
                scale=float(state["scale"]),
            )
            spans = tuple((int(lo), int(hi)) for lo, hi in state["spans"])
            model = _Fitted(labels, head, state["bank"].astype(np.float32), spans, bool(state["has_oos"]))
            calibration = Calibration(**json.loads(str(state["calibration"])))
            tau, sigma = state["tau"].astype(np.float64), float(state["sigma"])
        except (KeyError, ValueError, TypeError):
            return False
        if len(tau) != len(labels) or len(spans) != len(labels):
            return False
        self._model, self._tau, self._sigma, self.calibration = model, tau, sigma, calibration
        return True

    def fit_vectors(
        self,
        vectors: Mapping[str, np.ndarray],
        *,
        thresholds: Mapping[str, float] | None = None,
        oos_vectors: np.ndarray | None = None,
    ) -> IntentClassifier:
        """:meth:`fit` on precomputed unit-norm embeddings (one ``(n, dim)`` array per intent)."""
        labels = tuple(vectors)
        if not labels:
            raise ValueError("at least one intent is needed")
        empty = [label for label in labels if len(vectors[label]) == 0]
        if empty:
            raise ValueError(f"intents without exemplars: {empty}")
        unknown = sorted(set(thresholds or {}) - set(labels))
        if unknown:
            raise ValueError(f"thresholds for unknown intents: {unknown}")
        for label, value in (thresholds or {}).items():
            if not 0.0 < value <= 1.0:
                raise ValueError(f"threshold of {label!r} must be in (0, 1], got {value}")
        per_intent = [np.asarray(vectors[label], dtype=np.float32) for label in labels]
        oos = None if oos_vectors is None or len(oos_vectors) == 0 else np.asarray(oos_vectors, np.float32)
        self.calibration = self._calibrate(per_intent, oos)
        self._model = _train(per_intent, oos, labels, self.config)
        self._sigma = self.calibration.sigma
        fixed = dict(thresholds or {})
        self._tau = np.array([fixed.get(label, self.calibration.tau) for label in labels], dtype=np.float64)
        return self

    def _calibrate(self, per_intent: list[np.ndarray], oos: np.ndarray | None) -> Calibration:
        cfg = self.config
        oof = _out_of_fold(per_intent, oos, cfg)
        if oof is None:
            return Calibration(tau=cfg.fallback_tau, sigma=cfg.fallback_sigma, method="fallback")
        scores, truth, k = oof
        tau, sigma, precision, coverage, oos_rate = _choose(scores, truth, cfg)
        inscope = truth >= 0
        accuracy = float((scores.top[inscope] == truth[inscope]).mean()) if inscope.any() else math.nan
        if math.isnan(tau):  # nothing meets the target: accept (almost) nothing
            tau, sigma = float(_grid(cfg.tau_grid)[-1]), float(_grid(cfg.sigma_grid)[-1])
        return Calibration(
            tau=tau,
            sigma=sigma,
            method="cross-validation",
            folds=k,
            oof_precision=precision,
            oof_coverage=coverage,
            oof_oos_accept=oos_rate,
            oof_accuracy=accuracy,
        )

    def predict(self, text: str) -> Prediction:
        """Classify one message (embedding included in ``latency_ms``)."""
        started = time.perf_counter()
        model = self._require()
        if not text.strip():
            return Prediction(
                intent=None,
                top_intent=model.labels[0],
                confidence=0.0,
                margin=0.0,
                similarity=0.0,
                threshold=float(self._tau[0]),
                accepted=False,
                reason="empty",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        vector = np.asarray(self.embedder.embed_one(text), dtype=np.float32)
        return dataclasses.replace(self.predict_vector(vector, started=started), vector=vector)

    def predict_vector(self, vector: np.ndarray, *, started: float | None = None) -> Prediction:
        """Classify one precomputed unit-norm embedding; ``started`` is a ``perf_counter`` origin."""
        t0 = time.perf_counter() if started is None else started
        model = self._require()
        proba = model.head.proba(vector)
        n = len(model.labels)
        inscope = proba[:n]
        top = int(inscope.argmax())
        conf = float(inscope[top])
        runner_up = float(np.partition(inscope, n - 2)[n - 2]) if n > 1 else 0.0
        lo, hi = model.spans[top]
        sims = dot(vector, model.bank[lo:hi].T)
        k = min(self.config.knn, hi - lo)
        similarity = float(np.partition(sims, len(sims) - k)[-k:].mean())
        oos_p = float(proba[n]) if model.has_oos else 0.0
        threshold = float(self._tau[top])
        reason: Reason
        if oos_p >= conf:
            reason = "out_of_scope"
        elif similarity < self._sigma:
            reason = "low_similarity"
        elif conf < threshold:
            reason = "below_threshold"
        else:
            reason = "accepted"
        accepted = reason == "accepted"
        return Prediction(
            intent=model.labels[top] if accepted else None,
            top_intent=model.labels[top],
            confidence=conf,
            margin=conf - runner_up,
            similarity=similarity,
            threshold=threshold,
            accepted=accepted,
            reason=reason,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )
