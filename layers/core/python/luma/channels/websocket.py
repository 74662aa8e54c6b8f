"""WebSocket delivery through API Gateway's management API (``post_to_connection``)."""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

from luma.config import Settings, get_settings
from luma.domain.models import DeliveryTarget
from luma.observability import logger


class Delivery(Protocol):
    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        """Send one frame; False when the connection is gone (never raises for that)."""
        ...


class WebSocketDelivery:
    """``apigatewaymanagementapi`` clients, one per endpoint, built lazily and reused."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> Any:
        client = self._clients.get(endpoint)
        if client is None:
            with self._lock:
                client = self._clients.get(endpoint)
                if client is None:
                    from luma.aws import client as make_client

                    client = make_client("apigatewaymanagementapi", region=self.settings.region, endpoint_url=endpoint)
                    self._clients[endpoint] = client
        return client

    def send(self, target: DeliveryTarget, frame: dict[str, Any]) -> bool:
        endpoint = self.settings.ws_management_endpoint or target.endpoint
        if not endpoint:
            raise ValueError("no WebSocket management endpoint: set LUMA_WS_MANAGEMENT_ENDPOINT")
        client = self._client(endpoint)
        data = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            client.post_to_connection(ConnectionId=target.connection_id, Data=data)
        except client.exceptions.GoneException:
            logger.info("connection gone", extra={"connection_id": target.connection_id, "frame": frame.get("type")})
            return False
        return True
