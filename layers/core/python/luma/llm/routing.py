"""Model routing: which provider and model an agent run uses, per assistant and intent.

Packs declare a tier per intent (``AssistantPack.models = {"*": "fast", "<intent>": "strong"}``);
``LUMA_LLM_TIERS`` maps each tier to a model per provider; ``LUMA_LLM_ROUTES`` overrides both per
assistant and intent (``{"<assistant>": {"<intent>": {"provider", "model", "tier"}}}``, ``"*"`` for
any assistant or intent). Levels, the later winning (like ``LUMA_AGENT_LIMITS``): the deployment's
default model, the pack's ``"*"``, the pack's intent, then the routes of ``"*"`` and of the
assistant, each ``"*"`` before the intent.

The route is chosen when a run starts (no I/O, no provider keys read: the classify function may not
hold them), so ``provider`` is a preference: a run whose provider is not configured uses the one
that is, with the tier's model for it (``alternates``) or that provider's default model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from luma.config import Settings

ProviderName = Literal["anthropic", "openai"]
PROVIDERS: tuple[ProviderName, ...] = ("anthropic", "openai")


class ModelRoute(BaseModel):
    """The provider and model chosen for a run, and why (``source``: default, pack, route)."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    model: str
    tier: str | None = None
    source: Literal["default", "pack", "route"] = "default"
    # The same tier's model on the other providers (used when ``provider`` is not configured).
    alternates: dict[str, str] = Field(default_factory=dict)

    def model_for(self, provider: str) -> str | None:
        """The model to ask ``provider`` for: ours on our provider, the tier's on another, else None."""
        return self.model if provider == self.provider else self.alternates.get(provider)

    def meta(self) -> dict[str, str | None]:
        """What the reply's meta records."""
        return {"provider": self.provider, "model": self.model, "tier": self.tier, "source": self.source}


def preferred_provider(settings: Settings) -> ProviderName:
    """The deployment's provider: ``LUMA_LLM_PROVIDER``, else Anthropic unless only OpenAI is configured."""
    if settings.llm_provider != "auto":
        return settings.llm_provider
    only_openai = settings.anthropic_api_key is None and bool(settings.openai_api_key or settings.openai_base_url)
    return "openai" if only_openai else "anthropic"


def default_model(settings: Settings, provider: str) -> str:
    return settings.llm_model_openai if provider == "openai" else settings.llm_model_anthropic


def resolve_route(
    settings: Settings, assistant: str, intent: str | None, pack_models: Mapping[str, str] | None = None
) -> ModelRoute:
    """The route of a run of ``assistant`` for ``intent`` (None: the assistant's default)."""
    preferred = preferred_provider(settings)
    route = ModelRoute(provider=preferred, model=default_model(settings, preferred))
    keys = ["*"] if intent is None else ["*", intent]
    for key in keys:
        tier = (pack_models or {}).get(key)
        if tier:
            route = _apply(settings, route, {"tier": tier}, "pack")
    for scope in ("*", assistant):
        entries = settings.llm_routes.get(scope) or {}
        for key in keys:
            entry = entries.get(key)
            if entry:
                route = _apply(settings, route, entry, "route")
    return route


def _apply(
    settings: Settings, current: ModelRoute, entry: Mapping[str, str], source: Literal["pack", "route"]
) -> ModelRoute:
    """``current`` changed by one level's entry (provider, model and/or tier)."""
    provider = entry.get("provider") or current.provider
    if entry.get("model"):
        return ModelRoute(provider=provider, model=entry["model"], tier=entry.get("tier"), source=source)
    tier = entry.get("tier") or current.tier
    models = settings.llm_tiers.get(tier or "", {})
    if tier and not models:
        from luma.observability import logger

        logger.warning("unknown model tier; keeping the current route", extra={"tier": tier})
        tier, models = current.tier, settings.llm_tiers.get(current.tier or "", {})
    if provider not in models and not entry.get("provider") and models:
        provider = next((p for p in PROVIDERS if p in models), provider)  # a tier for another provider only
    model = models.get(provider) or (
        current.model if provider == current.provider else default_model(settings, provider)
    )
    alternates = {p: m for p, m in models.items() if p != provider and p in PROVIDERS}
    return ModelRoute(provider=provider, model=model, tier=tier, source=source, alternates=alternates)
