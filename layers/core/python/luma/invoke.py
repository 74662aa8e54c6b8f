"""Asynchronous Lambda invocation (the fast path is invoked with InvocationType=Event)."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Protocol

from luma.config import Settings, get_settings


class Invoker(Protocol):
    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None: ...


class LambdaInvoker:
    """boto3 ``lambda.invoke``; the local gateway serves the same API on loopback."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @cached_property
    def _client(self) -> Any:
        from luma.aws import client

        return client("lambda", region=self.settings.region, endpoint_url=self.settings.lambda_endpoint_url)

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        self._client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
