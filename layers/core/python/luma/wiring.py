"""Default adapters for the Lambda handlers, built once per process on first use (cold start)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from luma.config import get_settings
from luma.store.repos import DynamoConnectionRepository, DynamoConversationRepository

if TYPE_CHECKING:
    from luma.agent.entry import UnavailableAgent
    from luma.channels.websocket import WebSocketDelivery
    from luma.limits import DynamoLimiter
    from luma.pipeline.classify import ClassifyService
    from luma.pipeline.fast_path import FastPathService


@lru_cache(maxsize=1)
def connections() -> DynamoConnectionRepository:
    return DynamoConnectionRepository(get_settings())


@lru_cache(maxsize=1)
def conversations() -> DynamoConversationRepository:
    return DynamoConversationRepository(get_settings())


@lru_cache(maxsize=1)
def delivery() -> WebSocketDelivery:
    from luma.channels.websocket import WebSocketDelivery

    return WebSocketDelivery(get_settings())


@lru_cache(maxsize=1)
def agent() -> UnavailableAgent:
    from luma.agent.entry import UnavailableAgent

    return UnavailableAgent(get_settings(), conversations(), delivery())


@lru_cache(maxsize=1)
def classify_service() -> ClassifyService:
    from luma.invoke import LambdaInvoker
    from luma.pipeline.classify import ClassifyService
    from luma.pipeline.router import get_router

    settings = get_settings()
    return ClassifyService(
        settings=settings,
        conversations=conversations(),
        router=get_router(),
        invoker=LambdaInvoker(settings),
        delivery=delivery(),
        agent=agent(),
        limiter=limiter(),
    )


@lru_cache(maxsize=1)
def limiter() -> DynamoLimiter:
    """Rate limits and quotas in the usage table (the agent charges its tokens through this one too)."""
    from luma.limits import DynamoLimiter

    return DynamoLimiter(get_settings())


@lru_cache(maxsize=1)
def fast_path_service() -> FastPathService:
    from luma.assistants.base import load_pack
    from luma.pipeline.fast_path import FastPathService

    return FastPathService(
        pack=load_pack(get_settings().assistant), conversations=conversations(), delivery=delivery(), agent=agent()
    )


def reset() -> None:
    """Forget every cached adapter (tests and the local stack re-bind settings)."""
    for fn in (connections, conversations, delivery, agent, classify_service, limiter, fast_path_service):
        fn.cache_clear()
