"""Fallback from a primary provider to a secondary one."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from luma.llm.base import LlmProvider
from luma.llm.errors import LlmError
from luma.llm.types import LlmEvent, LlmRequest

log = logging.getLogger("luma.llm")


class FallbackProvider:
    """Streams from ``primary``; when it fails retryably (after its own retries, or its breaker is
    open) before yielding anything, streams the same request from ``secondary`` with the
    secondary's own model (``request.model`` is meant for the primary and is dropped).
    Non-retryable errors (context too long, bad response) are raised as they are.
    """

    def __init__(self, primary: LlmProvider, secondary: LlmProvider) -> None:
        self.primary = primary
        self.secondary = secondary
        self.name = f"{primary.name}+{secondary.name}"

    def __repr__(self) -> str:
        return f"FallbackProvider({self.primary!r}, {self.secondary!r})"

    def stream(self, request: LlmRequest) -> Iterator[LlmEvent]:
        """Events from the primary, or from the secondary when the primary is down."""
        yielded = False
        try:
            for event in self.primary.stream(request):
                yielded = True
                yield event
            return
        except LlmError as err:
            if yielded or not err.retryable:
                raise
            log.warning("llm fallback", extra={**err.log_fields(), "fallback": self.secondary.name})
        yield from self.secondary.stream(request.model_copy(update={"model": None}))
