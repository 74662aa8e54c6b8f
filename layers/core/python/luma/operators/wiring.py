"""The operators' default adapters, built once per settings object (the handlers' cold start)."""

from __future__ import annotations

import threading

from luma import wiring
from luma.config import Settings, get_settings
from luma.operators.service import OperatorService
from luma.operators.settings import OperatorSettings
from luma.operators.store import DynamoOperatorStore

_lock = threading.Lock()
_built: tuple[Settings, DynamoOperatorStore, OperatorService] | None = None


def _build() -> tuple[DynamoOperatorStore, OperatorService]:
    global _built
    settings = get_settings()
    with _lock:
        if _built is None or _built[0] is not settings:
            options = OperatorSettings.from_settings(settings)
            store = DynamoOperatorStore(settings, operator_settings=options)
            service = OperatorService(
                store=store,
                conversations=wiring.conversations(),
                connections=wiring.connections(),
                delivery=wiring.delivery(),
                options=options,
                max_text_chars=settings.max_text_chars,
            )
            _built = (settings, store, service)
        return _built[1], _built[2]


def store() -> DynamoOperatorStore:
    """Operator connections, inbox, takeovers and audit in DynamoDB."""
    return _build()[0]


def service() -> OperatorService:
    """The operators' use cases with the process's adapters."""
    return _build()[1]


def reset() -> None:
    """Forget the adapters (tests re-bind settings)."""
    global _built
    with _lock:
        _built = None
