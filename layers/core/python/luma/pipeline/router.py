"""The confidence router: a pending flow step, else the classifier, decides fast path or agent."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Protocol

from luma.assistants.base import AssistantPack, load_pack
from luma.config import get_settings
from luma.domain.models import Message, Route, RoutingDecision, Session


class PredictionLike(Protocol):
    intent: str | None
    top_intent: str
    confidence: float
    margin: float
    accepted: bool


class IntentModel(Protocol):
    def predict(self, text: str) -> PredictionLike: ...


class Router:
    """Decides a route for each inbound message and records why."""

    def __init__(self, pack: AssistantPack, classifier: IntentModel, *, classifier_name: str = "minilm") -> None:
        self.pack = pack
        self.classifier = classifier
        self.classifier_name = classifier_name

    def route(self, session: Session, message: Message) -> RoutingDecision:
        start = time.perf_counter()
        base = {"tenant_id": session.tenant_id, "session_id": session.session_id, "message_id": message.message_id}
        flow = self.pack.pre_route(session, message.text)
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
        try:
            pred = self.classifier.predict(message.text)
        except Exception:
            return RoutingDecision(
                **base,
                intent=None,
                confidence=0.0,
                margin=0.0,
                route=Route.AGENT,
                reason="classifier_error",
                latency_ms=_ms(start),
                classifier=self.classifier_name,
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
            latency_ms=_ms(start),
            classifier=self.classifier_name,
        )


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


@lru_cache(maxsize=1)
def get_router() -> Router:
    """The assistant's router, fitted once per process (Lambda cold start)."""
    from luma.classify import get_classifier

    assistant = get_settings().assistant
    return Router(load_pack(assistant), get_classifier(assistant))
