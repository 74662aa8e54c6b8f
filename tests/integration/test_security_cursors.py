"""Page cursors against DynamoDB (moto in process): a foreign or forged cursor is 422, never a 500."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.config import Settings
from luma.domain.models import Message, Role, Route, RoutingDecision, Session
from luma.http.app import create_app
from luma.ids import new_id
from luma.limits import NoLimits

moto = pytest.importorskip("moto")


@pytest.fixture
def repo() -> Iterator[Any]:
    from luma.store.repos import DynamoConversationRepository
    from luma.store.tables import create_tables

    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        region="us-east-1",
        connections_table=f"c-{suffix}",
        conversations_table=f"v-{suffix}",
        usage_table=f"u-{suffix}",
    )
    with moto.mock_aws():
        create_tables(settings)
        repo = DynamoConversationRepository(settings)
        for user in ("u-alice", "u-bob"):
            for _ in range(3):
                repo.record_inbound(_first_message(user))
        yield repo


def _first_message(user: str) -> Any:
    from luma.store.repos import InboundRecord

    session = Session(tenant_id="demo", session_id=new_id(), user_id=user, assistant="clinic")
    message = Message(
        tenant_id="demo", session_id=session.session_id, message_id=new_id(), role=Role.USER, text="hello"
    )
    decision = RoutingDecision(
        tenant_id="demo",
        session_id=session.session_id,
        message_id=message.message_id,
        intent="greeting",
        confidence=0.9,
        margin=0.2,
        route=Route.FAST_PATH,
        reason="test",
        latency_ms=1.0,
    )
    return InboundRecord(session=session, message=message, decision=decision, new_session=True)


def _get(client: TestClient, user: str, **params: Any) -> Any:
    return client.get("/sessions", params=params, headers={"Authorization": f"Bearer {issue_dev_token(user, 'demo')}"})


def test_a_cursor_replayed_by_another_user_or_forged_is_422(repo: Any) -> None:
    with TestClient(create_app(lambda: repo, limiter=NoLimits), raise_server_exceptions=False) as client:
        first = _get(client, "u-alice", limit=2)
        assert first.status_code == 200 and len(first.json()["items"]) == 2
        cursor = first.json()["next"]
        assert cursor
        assert _get(client, "u-alice", limit=2, cursor=cursor).status_code == 200

        replayed = _get(client, "u-bob", limit=2, cursor=cursor)
        assert replayed.status_code == 422 and replayed.json()["code"] == "VALIDATION_FAILED"

        # The store's own cursor format with a key of another partition (what a forger would write).
        forged_key = {"pk": "T#demo#S#x", "sk": "META", "gsi1pk": "T#demo#U#u-alice", "gsi1sk": "0"}
        forged = base64.urlsafe_b64encode(json.dumps(forged_key).encode()).decode()
        res = _get(client, "u-bob", limit=2, cursor=forged)
        assert res.status_code == 422 and res.json()["code"] == "VALIDATION_FAILED"
