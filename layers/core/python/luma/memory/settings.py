"""Memory settings: defaults here, overridden by ``luma.config.Settings`` fields of the same names."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal


@dataclass(frozen=True)
class MemorySettings:
    """Every knob of long-term memory (``LUMA_MEMORY_*`` once the settings model carries them)."""

    # Tokens of remembered context an agent step gets (the "last time" summary included).
    memory_context_tokens: int = 1500
    # Memories placed in the context at most (ranked; fewer when the budget is reached).
    memory_top_k: int = 10
    # Hits asked of the vector store per query (re-ranked and cut to memory_top_k).
    memory_candidates: int = 30
    # Two memories at least this similar (cosine of their embeddings) are one: provenance is merged.
    memory_dedup_threshold: float = 0.95
    # Existing memories shown to the model per new fact (mem0-style update decisions).
    memory_similar_k: int = 5
    # Days a memory item lives (DynamoDB TTL); erasure removes them at once.
    memory_retention_days: int = 365
    # "auto": the model when one is configured, else the offline extractive path.
    memory_extraction: Literal["auto", "llm", "extractive"] = "auto"
    # Output tokens of one extraction or summary call.
    memory_llm_max_tokens: int = 1000

    @classmethod
    def from_settings(cls, settings: Any) -> MemorySettings:
        """These settings with every field ``settings`` defines of the same name."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)})
