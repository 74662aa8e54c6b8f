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
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "lambda",
            endpoint_url=self.settings.lambda_endpoint_url,
            region_name=self.settings.region,
            config=Config(
                connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}, tcp_keepalive=True
            ),
        )

    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        self._client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(payload, separators=(",", ":")).encode(),
        )
