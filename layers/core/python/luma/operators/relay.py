"""The dispatcher's takeover seam: a user's message in a taken-over session goes to the operators."""

from __future__ import annotations

from collections.abc import Callable

from luma.domain.models import Turn
from luma.observability import logger
from luma.operators.service import OperatorService
from luma.pipeline.dispatch import TakeoverRelay


class OperatorRelay(TakeoverRelay):
    """Relays the turn to the operator holding the session (the service is built on first use)."""

    def __init__(self, service: Callable[[], OperatorService] | None = None) -> None:
        if service is None:
            from luma.operators import wiring

            service = wiring.service
        self._service = service

    def relay(self, turn: Turn) -> None:
        """Hand the user's message (already persisted) to the operators; a failure is logged, never raised."""
        try:
            self._service().relay(turn)
        except Exception:
            logger.exception("relay to operators failed", extra={"session_id": turn.session.session_id})
