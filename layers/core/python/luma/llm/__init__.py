"""LLM layer: provider-neutral types, providers (Anthropic, OpenAI/compatible), resilience.

Importing this package never imports a provider SDK; a provider imports its SDK on first call.
Provider keys come from the settings (local stack, tests) or, in AWS, from the Secrets Manager secret
``LUMA_LLM_SECRET_ARN`` (:func:`provider_keys`): never from a Lambda's environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from luma.llm.base import BaseProvider, LlmProvider
from luma.llm.errors import LlmError, LlmErrorCode
from luma.llm.fallback import FallbackProvider
from luma.llm.resilience import CircuitBreaker, RetryPolicy
from luma.llm.types import (
    ChatMessage,
    ContentBlock,
    Done,
    LlmEvent,
    LlmRequest,
    StopReason,
    TextBlock,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)

if TYPE_CHECKING:
    from luma.config import Settings

__all__ = [
    "BaseProvider",
    "ChatMessage",
    "CircuitBreaker",
    "ContentBlock",
    "Done",
    "FallbackProvider",
    "LlmError",
    "LlmErrorCode",
    "LlmEvent",
    "LlmProvider",
    "LlmRequest",
    "ProviderKeys",
    "RetryPolicy",
    "StopReason",
    "TextBlock",
    "TextDelta",
    "ToolCall",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "Usage",
    "build_provider",
    "get_provider",
    "provider_keys",
    "reset_providers",
]

_lock = threading.Lock()


@dataclass
class _Built:
    """The providers built for one settings object: by name, and composed per first choice."""

    settings_id: int
    named: dict[str, LlmProvider]
    composed: dict[str | None, LlmProvider | None]


_built: list[_Built] = []


def _common(settings: Settings) -> dict[str, object]:
    return {
        "max_tokens": settings.llm_max_tokens,
        "retry": RetryPolicy(
            max_retries=settings.llm_max_retries,
            backoff_base_s=settings.llm_backoff_base_s,
            backoff_max_s=settings.llm_backoff_max_s,
            retry_after_max_s=settings.llm_retry_after_max_s,
        ),
        "breaker": CircuitBreaker(settings.llm_breaker_threshold, settings.llm_breaker_cooldown_s),
        "prices": settings.llm_prices,
        "connect_timeout_s": settings.llm_connect_timeout_s,
        "read_timeout_s": settings.llm_read_timeout_s,
    }


@dataclass(frozen=True)
class ProviderKeys:
    """The provider credentials in effect: any one of them switches the agent on."""

    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.anthropic_api_key or self.openai_api_key or self.openai_base_url)


def provider_keys(settings: Settings) -> ProviderKeys:
    """Keys set in the settings first, each missing one from the LLM secret when ``llm_secret_arn`` is set
    (JSON ``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``; empty values mean unset).
    An unreadable secret is logged (its error type only) and leaves the settings' keys alone."""
    secret: dict[str, object] = {}
    if settings.llm_secret_arn:
        from luma.secrets import SecretUnavailableError, read_json_secret

        try:
            secret = read_json_secret(settings.llm_secret_arn, region=settings.region)
        except SecretUnavailableError as exc:
            from luma.observability import logger

            logger.error("llm secret unreadable", extra={"error": str(exc)})

    def value(name: str) -> str | None:
        found = secret.get(name)
        return found if isinstance(found, str) and found else None

    anthropic = value("ANTHROPIC_API_KEY")
    openai = value("OPENAI_API_KEY")
    return ProviderKeys(
        anthropic_api_key=settings.anthropic_api_key or (SecretStr(anthropic) if anthropic else None),
        openai_api_key=settings.openai_api_key or (SecretStr(openai) if openai else None),
        openai_base_url=settings.openai_base_url or value("OPENAI_BASE_URL"),
    )


def _anthropic(settings: Settings, keys: ProviderKeys) -> LlmProvider | None:
    if keys.anthropic_api_key is None:
        return None
    from luma.llm.anthropic_provider import AnthropicProvider

    return AnthropicProvider(
        api_key=keys.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        model=settings.llm_model_anthropic,
        **_common(settings),  # type: ignore[arg-type]
    )


def _openai(settings: Settings, keys: ProviderKeys) -> LlmProvider | None:
    if keys.openai_api_key is None and not keys.openai_base_url:
        return None
    from luma.llm.openai_provider import OpenAIProvider

    key = keys.openai_api_key.get_secret_value() if keys.openai_api_key else None
    return OpenAIProvider(
        api_key=key,
        base_url=keys.openai_base_url,
        model=settings.llm_model_openai,
        **_common(settings),
    )


def _named(settings: Settings, keys: ProviderKeys) -> dict[str, LlmProvider]:
    """Every configured provider by name (``anthropic``, ``openai``), in the deployment's order of preference."""
    order = [("openai", _openai), ("anthropic", _anthropic)]
    if settings.llm_provider != "openai":
        order.reverse()
    built = {name: make(settings, keys) for name, make in order}
    return {name: p for name, p in built.items() if p is not None}


def _compose(settings: Settings, named: dict[str, LlmProvider], first: str | None = None) -> LlmProvider | None:
    """``first`` (else the preferred configured provider), with the other as its fallback when allowed."""
    if first is None and settings.llm_provider != "auto":
        first = settings.llm_provider
    names = list(named)
    if first is not None:
        if first not in named:
            return None
        names = [first, *(n for n in names if n != first)]
    if not names:
        return None
    chosen = named[names[0]]
    if len(names) > 1 and settings.llm_fallback:
        return FallbackProvider(chosen, named[names[1]])
    return chosen


def build_provider(settings: Settings) -> LlmProvider | None:
    """A new provider from settings (with a fallback when two are configured), or None if none is."""
    return _compose(settings, _named(settings, provider_keys(settings)))


def get_provider(settings: Settings, name: str | None = None) -> LlmProvider | None:
    """The process-wide provider for these settings (breakers live as long as the process), or None.

    ``name`` (``anthropic``/``openai``, a run's route) asks for that provider first, with the other as
    its fallback; None when it is not configured. Both share the provider instances (and breakers).
    """
    with _lock:
        if not _built or _built[0].settings_id != id(settings):
            _built[:] = [_Built(id(settings), _named(settings, provider_keys(settings)), {})]
        built = _built[0]
        if name not in built.composed:
            built.composed[name] = _compose(settings, built.named, name)
        return built.composed[name]


def reset_providers() -> None:
    """Forget cached providers (tests, settings changes)."""
    with _lock:
        _built.clear()
