"""Embedding intent classifier: MiniLM (int8 ONNX) vectors, a softmax head, calibrated thresholds.

At cold start the pipeline calls :func:`get_classifier` once (it loads the assistant pack, embeds
the exemplars through the on-disk cache and calibrates), then ``predict(text)`` per message::

    from luma.classify import get_classifier

    prediction = get_classifier("shop").predict("what time do you open?")
    if prediction.accepted and prediction.intent in fast_path_intents("shop"): ...  # else agent

Packs with exemplars in other languages (``intents.multilingual.json``) have one classifier per
language; :func:`get_multilingual_classifier` picks it by the message's language::

    get_multilingual_classifier("shop").predict("à quelle heure ouvrez-vous ?", language="fr")
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
from luma.classify.multilingual import MultilingualClassifier
from luma.classify.pack import (
    IntentPack,
    IntentSpec,
    fast_path_intents,
    load_intent_specs,
    load_intents,
    pack_languages,
)

__all__ = [
    "Calibration",
    "ClassifierConfig",
    "Embedder",
    "EmbedderUnavailableError",
    "EmbeddingCache",
    "IntentClassifier",
    "IntentPack",
    "IntentSpec",
    "MultilingualClassifier",
    "Prediction",
    "TextEmbedder",
    "build_classifier",
    "build_multilingual_classifier",
    "fast_path_intents",
    "get_classifier",
    "get_embedder",
    "get_multilingual_classifier",
    "load_intent_specs",
    "load_intents",
    "pack_languages",
]


def build_classifier(
    assistant: str,
    *,
    language: str = "en",
    embedder: TextEmbedder | None = None,
    cache: EmbeddingCache | None = None,
    config: ClassifierConfig | None = None,
) -> IntentClassifier:
    """A classifier fitted on an assistant pack's exemplars in one language (explicit thresholds, oos negatives).

    ``cache`` defaults to the on-disk embedding cache; pass ``embedder`` to use a fake in tests.
    """
    exemplars, thresholds, oos = load_intents(assistant, language=language)
    classifier = IntentClassifier(embedder, config=config, cache=cache or EmbeddingCache())
    return classifier.fit(exemplars, thresholds=thresholds, oos_examples=oos)


def build_multilingual_classifier(
    assistant: str,
    *,
    embedder: TextEmbedder | None = None,
    cache: EmbeddingCache | None = None,
    config: ClassifierConfig | None = None,
) -> MultilingualClassifier:
    """One classifier per language of the pack, each built on first use (see :meth:`MultilingualClassifier.warm`)."""
    shared = cache or EmbeddingCache()

    def build(language: str) -> IntentClassifier:
        return build_classifier(assistant, language=language, embedder=embedder, cache=shared, config=config)

    return MultilingualClassifier(build, pack_languages(assistant))


@lru_cache(maxsize=32)
def get_classifier(assistant: str, language: str = "en") -> IntentClassifier:
    """The process-wide fitted classifier of an assistant in one language (built on first use, then reused)."""
    return build_classifier(assistant, language=language)


@lru_cache(maxsize=8)
def get_multilingual_classifier(assistant: str) -> MultilingualClassifier:
    """The process-wide per-language classifiers of an assistant (shares :func:`get_classifier`'s fits)."""
    return MultilingualClassifier(lambda language: get_classifier(assistant, language), pack_languages(assistant))
