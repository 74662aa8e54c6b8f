"""One intent classifier per language, chosen by the message's language.

all-MiniLM-L6-v2 is an English model: French or Polish text lands in regions of its space that
mean little, and fitting every language into one head dragged the English calibration down with
them (a single similarity guard for all). So each language of a pack has its own classifier,
fitted on that language's exemplars (``intents.multilingual.json``) with its own cross-validated
thresholds, and a message goes to the classifier of its language:

* the caller passes the language when it knows it (the session's, from :mod:`luma.language`);
* otherwise it is detected here without history (~0.1 ms): short texts default to English.

A language without exemplars uses the English classifier, which accepts almost nothing it was
not taught: such messages go to the agent. Classifiers are built on first use (a prebuilt fit
loads in a few ms) or all at once with :meth:`MultilingualClassifier.warm`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable

from luma.classify.classifier import IntentClassifier, Prediction
from luma.language import detect_language


class MultilingualClassifier:
    """``predict(text, language=...)`` through the classifier of that language (English as fallback)."""

    name = "minilm-softmax-knn"

    def __init__(self, build: Callable[[str], IntentClassifier], languages: Iterable[str]) -> None:
        self._build = build
        self.languages = tuple(dict.fromkeys(["en", *languages]))
        self._fitted: dict[str, IntentClassifier] = {}
        self._lock = threading.Lock()

    def classifier(self, language: str) -> IntentClassifier:
        """The fitted classifier of ``language`` (English when the pack has no exemplars in it)."""
        lang = language if language in self.languages else "en"
        fitted = self._fitted.get(lang)
        if fitted is None:
            with self._lock:
                fitted = self._fitted.get(lang)
                if fitted is None:
                    fitted = self._fitted[lang] = self._build(lang)
        return fitted

    def warm(self, languages: Iterable[str] | None = None) -> MultilingualClassifier:
        """Build (or load) the classifiers of ``languages`` (default: all) now; returns self."""
        for lang in self.languages if languages is None else languages:
            self.classifier(lang)
        return self

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents of the English classifier (every language's are a subset)."""
        return self.classifier("en").intents

    def predict(self, text: str, *, language: str | None = None) -> Prediction:
        """Classify ``text`` with its language's classifier; ``language`` None: detected from the text."""
        lang = language if language is not None else detect_language(text)
        lang = lang if lang in self.languages else "en"
        prediction = self.classifier(lang).predict(text)
        return dataclasses.replace(prediction, language=lang)
