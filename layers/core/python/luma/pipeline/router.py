"""The confidence router: a pending flow step, else the classifier, decides fast path or agent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from luma.assistants.contract import AssistantPack
from luma.domain.models import Message, Route, RoutingDecision, Session
from luma.observability import logger


class PredictionLike(Protocol):
    @property
    def intent(self) -> str | None: ...
    @property
    def top_intent(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def margin(self) -> float: ...
    @property
    def accepted(self) -> bool: ...


class IntentModel(Protocol):
    def predict(self, text: str) -> PredictionLike: ...


@dataclass(frozen=True)
class Classified:
    """A classifier result (None when the classifier failed) and how long it took."""

    prediction: PredictionLike | None
    latency_ms: float


class Router:
    """Decides a route for each inbound message and records why."""

    def __init__(self, pack: AssistantPack, classifier: IntentModel, *, classifier_name: str | None = None) -> None:
        self.pack = pack
        self.classifier = classifier
        self.classifier_name = classifier_name or getattr(classifier, "name", type(classifier).__name__)

    def predict(self, text: str) -> Classified:
        """Classify ``text`` (CPU only, no I/O: safe to run while the session is being read)."""
        start = time.perf_counter()
        try:
            pred: PredictionLike | None = self.classifier.predict(text)
        except Exception:  # a classifier fault must not lose the message: the agent decides
            logger.exception("classifier failed")
            pred = None
        return Classified(pred, _ms(start))

    def route(self, session: Session, message: Message, classified: Classified | None = None) -> RoutingDecision:
        """The decision for ``message``: a pending flow step claims it first, else the classifier."""
        start = time.perf_counter()
        base = {"tenant_id": session.tenant_id, "session_id": session.session_id, "message_id": message.message_id}
        flow = self.pack.pre_route(session, message)
        if flow is not None:
            return RoutingDecision(
                **base,
                intent=flow.intent,
                confidence=1.0,
                margin=1.0,
                route=flow.route,
                reason=flow.reason,
                latency_ms=_ms(start),
                classifier="flow",
            )
        classified = classified or self.predict(message.text)
        pred = classified.prediction
        common = {"latency_ms": classified.latency_ms, "classifier": self.classifier_name}
        if pred is None:
            return RoutingDecision(
                **base, intent=None, confidence=0.0, margin=0.0, route=Route.AGENT, reason="classifier_error", **common
            )
        if pred.accepted and pred.intent:
            intent: str | None = pred.intent
            has_fast_path = self.pack.fast_path(pred.intent) is not None
            route = Route.FAST_PATH if has_fast_path else Route.AGENT
            reason = "confident" if has_fast_path else "no_fast_path"
        else:
            intent, route, reason = None, Route.AGENT, f"below_threshold:{pred.top_intent}"
        return RoutingDecision(
            **base,
            intent=intent,
            confidence=float(pred.confidence),
            margin=float(pred.margin),
            route=route,
            reason=reason,
            **common,
        )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


@lru_cache(maxsize=16)
def get_router(assistant: str) -> Router:
    """An assistant's router, fitted once per process (Lambda cold start).

    One classifier per language (chosen by the detected language); the language model and every
    language's fit are loaded here, at init, rather than on a user's first message in that language.
    """
    from luma.assistants.registry import get_pack
    from luma.classify import get_multilingual_classifier
    from luma.language import load_model

    load_model()
    classifier = get_multilingual_classifier(assistant)
    classifier.warm()
    return Router(get_pack(assistant), classifier)
