"""Embedding intent classifier: MiniLM (int8 ONNX) vectors, a softmax head, calibrated thresholds.

At cold start the pipeline calls :func:`get_classifier` once (it loads the assistant pack, embeds
the exemplars through the on-disk cache and calibrates), then ``predict(text)`` per message::

    from luma.classify import get_classifier

    prediction = get_classifier("clinic").predict("what time do you open?")
    if prediction.accepted and prediction.intent in fast_path_intents("clinic"): ...  # else agent
"""

from __future__ import annotations

from functools import lru_cache

from luma.classify.cache import EmbeddingCache
from luma.classify.classifier import (
    Calibration,
    ClassifierConfig,
    IntentClassifier,
    Prediction,
    TextEmbedder,
)
from luma.classify.embedder import Embedder, EmbedderUnavailableError, get_embedder
from luma.classify.pack import IntentPack, IntentSpec, fast_path_intents, load_intent_specs, load_intents

__all__ = [
    "Calibration",
    "ClassifierConfig",
    "Embedder",
    "EmbedderUnavailableError",
    "EmbeddingCache",
    "IntentClassifier",
    "IntentPack",
    "IntentSpec",
    "Prediction",
    "TextEmbedder",
    "build_classifier",
    "fast_path_intents",
    "get_classifier",
    "get_embedder",
    "load_intent_specs",
    "load_intents",
]


def build_classifier(
    assistant: str,
    *,
    embedder: TextEmbedder | None = None,
    cache: EmbeddingCache | None = None,
    config: ClassifierConfig | None = None,
) -> IntentClassifier:
    """A classifier fitted on an assistant pack (exemplars, explicit thresholds, oos negatives).

    ``cache`` defaults to the on-disk embedding cache; pass ``embedder`` to use a fake in tests.
    """
    exemplars, thresholds, oos = load_intents(assistant)
    classifier = IntentClassifier(embedder, config=config, cache=cache or EmbeddingCache())
    return classifier.fit(exemplars, thresholds=thresholds, oos_examples=oos)


@lru_cache(maxsize=8)
def get_classifier(assistant: str) -> IntentClassifier:
    """The process-wide fitted classifier of an assistant (built on first use, then reused)."""
    return build_classifier(assistant)
