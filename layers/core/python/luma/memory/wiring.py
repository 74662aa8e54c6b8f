"""Process-wide memory services, built on first use from the settings (never at import time)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from luma.config import Settings, get_settings
from luma.memory.repository import MemoryRepository
from luma.memory.retrieval import MemoryRetriever
from luma.memory.service import Mask, MemoryService
from luma.memory.settings import MemorySettings
from luma.memory.vectors import VectorStore

if TYPE_CHECKING:
    from luma.guard.policy import PiiPolicy

_lock = threading.Lock()
_services: dict[str, object] = {}


def policy_mask(resolve: Callable[[str], PiiPolicy | None]) -> Mask:
    """A mask that follows each tenant's PII policy (``resolve(tenant_id)``; None: the default policy).

    The policy's ``kinds`` are masked unless its ``mask_memory`` is off.
    """

    def mask(tenant_id: str, text: str) -> str:
        from luma.guard.pii import mask as pii_mask
        from luma.guard.policy import PiiPolicy

        policy = resolve(tenant_id) or PiiPolicy()
        return pii_mask(text, kinds=policy.kinds) if policy.mask_memory else text

    return mask


pii_policy_mask: Mask = policy_mask(lambda _tenant: None)


def _vector_store(settings: Settings) -> VectorStore:
    from luma.memory.vectors import OpenSearchVectorStore

    return OpenSearchVectorStore(settings)


def get_memory_service(settings: Settings | None = None, *, mask: Mask = pii_policy_mask) -> MemoryService:
    """The write path: repository, vector store, embedder, the configured model (or none), PII masking."""
    with _lock:
        service = _services.get("service")
        if isinstance(service, MemoryService):
            return service
        from luma.classify.embedder import get_embedder
        from luma.llm import get_provider

        settings = settings or get_settings()
        mem = MemorySettings.from_settings(settings)
        service = MemoryService(
            repo=MemoryRepository(settings, retention_days=mem.memory_retention_days),
            store=_vector_store(settings),
            embed=get_embedder().embed,
            llm=get_provider(settings) if settings.agent_configured else None,
            mask=mask,
            settings=mem,
        )
        _services["service"] = service
        return service


def get_memory_retriever(settings: Settings | None = None) -> MemoryRetriever:
    """The read path: vector store, embedder, the "last time" pointer."""
    with _lock:
        retriever = _services.get("retriever")
        if isinstance(retriever, MemoryRetriever):
            return retriever
        from luma.classify.embedder import get_embedder

        settings = settings or get_settings()
        mem = MemorySettings.from_settings(settings)
        retriever = MemoryRetriever(
            repo=MemoryRepository(settings, retention_days=mem.memory_retention_days),
            store=_vector_store(settings),
            embed_one=get_embedder().embed_one,
            settings=mem,
        )
        _services["retriever"] = retriever
        return retriever


def reset() -> None:
    """Forget the built services (tests, settings changes)."""
    with _lock:
        _services.clear()
