"""The ``usage`` table through a low-level DynamoDB client, built on first use (thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from luma.config import Settings


class UsageTable:
    """Base of the usage table's writers: settings, a clock, and the client they share."""

    def __init__(
        self, settings: Settings, *, clock: Callable[[], float] = time.time, client: Any | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.table = settings.usage_table
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from luma.aws import client

                    self._client = client(
                        "dynamodb", region=self.settings.region, endpoint_url=self.settings.dynamodb_endpoint_url
                    )
        return self._client
