"""The provider contract and the resilience wrapper every provider shares."""

from __future__ import annotations

import importlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol

from luma.llm.errors import LlmError, LlmErrorCode, status_error
from luma.llm.resilience import CircuitBreaker, RetryPolicy, parse_retry_after
from luma.llm.types import LlmEvent, LlmRequest

log = logging.getLogger("luma.llm")


class LlmProvider(Protocol):
    """Anything that streams events for a request."""

    name: str

    def stream(self, request: LlmRequest) -> Iterator[LlmEvent]:
        """Events of one call, ending with ``Done``; raises :class:`LlmError`."""
        ...


class BaseProvider(ABC):
    """Retries (before the first event only), one circuit breaker per provider, typed errors.

    Once an event has been yielded the call cannot be replayed transparently, so a failure after
    that is raised to the caller (the agent step retries the whole step).
    """

    name = "base"

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        prices: dict[str, dict[str, float]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.retry = retry
        self.breaker = breaker
        self.prices = prices or {}
        self._sleep = sleep

    @abstractmethod
    def _attempt(self, request: LlmRequest, model: str, max_tokens: int) -> Iterator[LlmEvent]:
        """One attempt; must raise :class:`LlmError` only."""

    def stream(self, request: LlmRequest) -> Iterator[LlmEvent]:
        """Events of one call with the shared retry policy and circuit breaker applied."""
        model = request.model or self.model
        max_tokens = request.max_tokens or self.max_tokens
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise LlmError(
                    LlmErrorCode.LLM_UNAVAILABLE,
                    retryable=True,
                    retry_after=self.breaker.retry_in(),
                    provider=self.name,
                    detail="circuit_open",
                )
            yielded = False
            try:
                for event in self._attempt(request, model, max_tokens):
                    yielded = True
                    yield event
                self.breaker.record_success()
                return
            except GeneratorExit:
                self.breaker.record_success()  # the consumer stopped reading; the provider was answering
                raise
            except LlmError as err:
                if err.retryable:
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # the provider is up; the request or answer is the problem
                attempt += 1
                delay = self.retry.delay(attempt, err.retry_after) if err.retryable and not yielded else None
                log.warning(
                    "llm call failed",
                    extra={**err.log_fields(), "attempt": attempt, "will_retry": delay is not None, "model": model},
                )
                if delay is None:
                    raise
                self._sleep(delay)
            except BaseException:
                self.breaker.release()  # an unexpected error is no verdict on the provider
                raise


class SdkProvider(BaseProvider):
    """A provider backed by an official SDK client, built (and the SDK imported) on first use.

    Both SDKs share one exception hierarchy (``APIStatusError``, ``APITimeoutError``,
    ``APIConnectionError``, ``APIError``), so they share one mapping to :class:`LlmError`.
    """

    sdk_module: ClassVar[str]
    # Whether a bare ``APIError`` (an error object inside a stream) is worth retrying.
    stream_error_retryable: ClassVar[bool] = False

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._api_key = api_key
        self._base_url = base_url
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._client: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self._base_url!r})"

    def client(self) -> Any:
        """The SDK client (SDK retries off: our policy applies), built on first use."""
        if self._client is None:
            import httpx2

            timeout = httpx2.Timeout(self._read_timeout_s, connect=self._connect_timeout_s)
            self._client = self._make_client(timeout)
        return self._client

    @abstractmethod
    def _make_client(self, timeout: Any) -> Any:
        """Import the SDK and build its client with ``max_retries=0`` and ``timeout``."""

    def _sdk(self) -> Any:
        return importlib.import_module(self.sdk_module)

    @staticmethod
    def _error_type(error: dict[str, Any]) -> str:
        """The provider's error type inside an error body."""
        return str(error.get("type", ""))

    def _map_error(self, exc: Exception) -> LlmError:
        """A typed, user-safe error for anything the SDK raised."""
        import httpx2

        sdk = self._sdk()
        if isinstance(exc, sdk.APIStatusError):
            body = exc.body
            inner = body.get("error", body) if isinstance(body, dict) else None
            err_type = self._error_type(inner) if isinstance(inner, dict) else ""
            text = str(getattr(exc, "message", "")).lower()
            return status_error(exc.status_code, err_type, text, parse_retry_after(exc.response.headers), self.name)
        if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
            return LlmError(LlmErrorCode.LLM_TIMEOUT, retryable=True, provider=self.name, detail="timeout")
        if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
            return LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=True, provider=self.name, detail="connection")
        if self.stream_error_retryable and isinstance(exc, sdk.APIError):
            return LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=True, provider=self.name, detail="stream_error")
        if isinstance(exc, ValueError):  # undecodable event data
            return LlmError(LlmErrorCode.LLM_BAD_RESPONSE, retryable=False, provider=self.name, detail="decode")
        return LlmError(LlmErrorCode.LLM_UNAVAILABLE, retryable=False, provider=self.name, detail=type(exc).__name__)
