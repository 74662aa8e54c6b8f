"""Process-wide memory services, built on first use from the settings (never at import time)."""

from __future__ import annotations

import threading

from luma.config import Settings, get_settings
from luma.memory.repository import MemoryRepository
from luma.memory.retrieval import MemoryRetriever
from luma.memory.service import Mask, MemoryService
from luma.memory.settings import MemorySettings
from luma.memory.vectors import VectorStore

_lock = threading.Lock()
_services: dict[str, object] = {}


def pii_policy_mask(tenant_id: str, text: str) -> str:
    """Personal data masked before it is remembered (e-mails, phones, cards, IBANs, ids, dates of birth, secrets)."""
    from luma.guard.pii import mask

    return mask(text)


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
