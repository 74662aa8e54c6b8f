"""Builders for API-Gateway-shaped Lambda events (WebSocket API and HTTP API payload 2.0).

Shapes follow the samples in ``/work/shared/data/apigw`` (Powertools' test events) and the AWS
docs: WebSocket events carry ``requestContext`` with ``routeKey``/``eventType``/``connectionId``
and, once an authorizer ran, ``authorizer``; HTTP API events are payload format 2.0.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "000000000000"

# Content types HTTP APIs deliver as text; everything else (even form posts) arrives base64.
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


def new_id() -> str:
    """An API-Gateway-like id: 16 url-safe base64 characters ending in ``=``."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def request_time(epoch_ms: int) -> str:
    """API Gateway's ``requestTime`` format: ``11/Nov/2024:11:35:24 +0000``."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


_HEADER_CASE = {
    "sec-websocket-key": "Sec-WebSocket-Key",
    "sec-websocket-version": "Sec-WebSocket-Version",
    "sec-websocket-extensions": "Sec-WebSocket-Extensions",
    "sec-websocket-protocol": "Sec-WebSocket-Protocol",
    "x-amzn-trace-id": "X-Amzn-Trace-Id",
}


def header_case(name: str) -> str:
    """A header name as browsers send it (``Sec-WebSocket-Key``, ``User-Agent``).

    uvicorn lower-cases handshake headers; WebSocket API events carry them as the client sent them.
    """
    lower = name.lower()
    return _HEADER_CASE.get(lower) or "-".join(part.capitalize() for part in lower.split("-"))


def single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """REST-style ``headers``/``multiValueHeaders`` (single value = the last one)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


@dataclass
class WsConnection:
    """What API Gateway knows about one WebSocket connection (the source of every event)."""

    connection_id: str
    domain_name: str
    stage: str
    api_id: str
    source_ip: str
    user_agent: str
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    connected_at: int = field(default_factory=now_ms)
    authorizer: dict[str, Any] | None = None

    def _context(self, route_key: str, event_type: str) -> dict[str, Any]:
        epoch = now_ms()
        request_id = new_id()
        ctx: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(epoch),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": epoch,
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        if self.authorizer is not None:
            ctx["authorizer"] = dict(self.authorizer)
        return ctx

    def _query_params(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        return single_and_multi(self.query)

    def method_arn(self, region: str, route_key: str = "$connect") -> str:
        """The ``methodArn`` an authorizer sees."""
        return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{self.api_id}/{self.stage}/{route_key}"

    def authorizer_event(self, region: str) -> dict[str, Any]:
        """A ``REQUEST`` authorizer event for ``$connect``."""
        headers, multi_headers = single_and_multi(self.headers)
        qs, multi_qs = self._query_params()
        ctx = self._context("$connect", "CONNECT")
        ctx.pop("authorizer", None)
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn(region),
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": qs,
            "multiValueQueryStringParameters": multi_qs,
            "stageVariables": {},
            "requestContext": ctx,
        }

    def connect_event(self) -> dict[str, Any]:
        """The ``$connect`` event (apiGatewayWebSocketApiConnect.json)."""
        headers, multi_headers = single_and_multi(self.headers)
        event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
        if self.query:
            qs, multi_qs = self._query_params()
            event["queryStringParameters"] = qs
            event["multiValueQueryStringParameters"] = multi_qs
        event["requestContext"] = self._context("$connect", "CONNECT")
        event["isBase64Encoded"] = False
        return event

    def message_event(self, route_key: str, body: str, *, is_base64: bool = False) -> dict[str, Any]:
        """A message event (apiGatewayWebSocketApiMessage.json) for ``route_key``."""
        ctx = self._context(route_key, "MESSAGE")
        ctx["messageId"] = new_id()
        return {"requestContext": ctx, "body": body, "isBase64Encoded": is_base64}

    def disconnect_event(self, status_code: int, reason: str) -> dict[str, Any]:
        """The ``$disconnect`` event (apiGatewayWebSocketApiDisconnect.json)."""
        host = {"Host": self.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        headers, multi_headers = single_and_multi(host.items())
        ctx = self._context("$disconnect", "DISCONNECT")
        ctx["disconnectStatusCode"] = status_code
        ctx["disconnectReason"] = reason
        return {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "requestContext": ctx,
            "isBase64Encoded": False,
        }


def is_text_content(content_type: str | None) -> bool:
    """Whether an HTTP API would pass a body of this content type as text (not base64)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES


def http_v2_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    domain_name: str,
    api_id: str,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event (apiGatewayProxyV2Event.json) for the ``$default`` route."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    params: dict[str, str] = {}
    for name, value in query:
        params[name] = f"{params[name]},{value}" if name in params else value
    epoch = now_ms()
    event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if params:
        event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": new_id(),
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(epoch),
        "timeEpoch": epoch,
    }
    is_base64 = False
    if body:
        if is_text_content(joined.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                is_base64 = True
        else:
            is_base64 = True
        if is_base64:
            event["body"] = base64.b64encode(body).decode("ascii")
    event["isBase64Encoded"] = is_base64
    return event


def flatten_authorizer(result: Mapping[str, Any]) -> dict[str, Any]:
    """``requestContext.authorizer`` from an authorizer result: principalId + context."""
    flat: dict[str, Any] = {"principalId": result.get("principalId")}
    flat.update(result.get("context") or {})
    return flat
