"""Rate-limit buckets riding in the inbound transaction: no extra round trip, refusals still exact."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from luma.config import Settings
from luma.domain.models import Principal
from luma.limits import DynamoLimiter
from luma.pipeline.classify import ClassifyService, WsRequest
from luma.pipeline.router import Router
from luma.store.repos import DynamoConversationRepository

from tests.fakes import (
    KeywordClassifier,
    RecordingAgent,
    RecordingDelivery,
    RecordingInvoker,
    clinic_pack,
)


class CountingClient:
    """Wraps the limiter's DynamoDB client and counts the calls it makes on its own."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr) and name in {"update_item", "transact_write_items", "get_item"}:

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


@pytest.fixture
def service(ddb_settings: Settings) -> dict[str, Any]:
    tenant = f"rl{uuid.uuid4().hex[:10]}"
    settings = ddb_settings.model_copy(update={"rate_limits": {tenant: {"user_per_minute": 2, "ip_per_minute": 100}}})
    limiter = DynamoLimiter(settings)
    counting = CountingClient(limiter.client)
    limiter._client = counting
    repo = DynamoConversationRepository(settings)
    delivery, invoker = RecordingDelivery(), RecordingInvoker()
    router = Router(clinic_pack(settings), KeywordClassifier({"hours": "clinic_hours"}))
    svc = ClassifyService(
        settings=settings,
        conversations=repo,
        routers=lambda _name: router,
        invoker=invoker,
        delivery=delivery,
        agent=RecordingAgent(),
        limiter=limiter,
    )
    return {
        "svc": svc,
        "tenant": tenant,
        "calls": counting.calls,
        "delivery": delivery,
        "invoker": invoker,
        "repo": repo,
    }


def test_buckets_ride_in_the_inbound_transaction_and_still_refuse(service: dict[str, Any]) -> None:
    principal = Principal(tenant_id=service["tenant"], user_id="u1")

    def send(cid: str, session_id: str | None = None) -> None:
        body = {"action": "sendMessage", "text": "opening hours?", "clientMessageId": cid}
        if session_id:
            body["sessionId"] = session_id
        service["svc"].handle(
            WsRequest(connection_id="c", principal=principal, body=json.dumps(body), source_ip="198.51.100.7")
        )

    send("m1")
    sid = service["delivery"].of_type("status")[0]["sessionId"]
    send("m2", sid)
    assert service["calls"] == []  # two allowed turns: no limiter round trip of its own
    assert len(service["invoker"].calls) == 2
    send("m3", sid)  # over 2/minute: the inline guess fails, settled by the limiter, refused
    err = service["delivery"].of_type("error")[-1]
    assert err["code"] == "RATE_LIMITED" and err["details"]["retryAfter"] >= 1 and err["clientMessageId"] == "m3"
    assert len(service["invoker"].calls) == 2 and service["calls"]  # nothing routed; the limiter settled it
    stored = service["repo"].list_messages(service["tenant"], sid).items
    assert [m.client_message_id for m in stored] == ["m1", "m2", "m3"]
    assert stored[-1].meta == {"refused": "rate_limited"}
