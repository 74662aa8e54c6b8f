"""Signed page cursors (issue 12, finding 12): tamper-evident, bound to their owner, 422 when bad."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from luma.auth import issue_dev_token
from luma.config import Settings
from luma.domain.models import Session
from luma.errors import ErrorCode, LumaError
from luma.http import cursors
from luma.http.app import create_app
from luma.store.repos import Page

from tests.fakes import MemorySessionStore

SETTINGS = Settings(signing_secret="k" * 40)
SCOPE = "sessions:demo:u-alice"


def test_a_sealed_cursor_opens_only_in_its_scope() -> None:
    inner = base64.urlsafe_b64encode(b'{"pk": "T#demo#S#1"}').decode()
    sealed = cursors.seal(inner, scope=SCOPE, settings=SETTINGS)
    assert sealed and inner not in sealed
    assert cursors.unseal(sealed, scope=SCOPE, settings=SETTINGS) == inner
    assert cursors.seal(None, scope=SCOPE, settings=SETTINGS) is None
    assert cursors.unseal(None, scope=SCOPE, settings=SETTINGS) is None
    payload, mac = sealed.split(".")
    forged_payload = base64.urlsafe_b64encode(b'{"pk": "T#demo#S#2"}').decode().rstrip("=")
    bad = [
        sealed.replace(payload, forged_payload),  # tampered content
        f"{payload}.{mac[:-2]}AA",  # tampered MAC
        payload,  # no MAC at all
        "not a cursor!",
        "%%%.%%%",
        inner,  # the store's own, unsigned cursor
    ]
    for cursor in bad:
        with pytest.raises(LumaError) as caught:
            cursors.unseal(cursor, scope=SCOPE, settings=SETTINGS)
        assert caught.value.code is ErrorCode.VALIDATION_FAILED and caught.value.http_status == 422
    for scope in ("sessions:demo:u-bob", "sessions:other:u-alice", "messages:demo:u-alice"):
        with pytest.raises(LumaError):
            cursors.unseal(sealed, scope=scope, settings=SETTINGS)
    other_key = Settings(signing_secret="z" * 40)
    with pytest.raises(LumaError):
        cursors.unseal(sealed, scope=SCOPE, settings=other_key)


class PagingStore(MemorySessionStore):
    """Pages one session at a time with the store's own (unsigned) cursor; records what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[str | None] = []

    def list_sessions(
        self, tenant_id: str, user_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[Session]:
        self.received.append(cursor)
        mine = sorted(
            (s for (t, _), s in self.sessions.items() if t == tenant_id and s.user_id == user_id),
            key=lambda s: s.session_id,
        )
        start = json.loads(base64.urlsafe_b64decode(cursor))["i"] if cursor else 0
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        nxt = base64.urlsafe_b64encode(json.dumps({"i": start + limit}).encode()).decode() if more else None
        return Page(items=page, next=nxt)


def _seed(store: PagingStore, user: str, n: int) -> None:
    for i in range(n):
        s = Session(tenant_id="demo", session_id=f"{user}-s{i}", user_id=user, assistant="clinic")
        store.sessions[("demo", s.session_id)] = s


def _auth(user: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {issue_dev_token(user, 'demo')}"}


def test_the_sessions_cursor_pages_for_its_owner_and_is_422_for_anyone_else() -> None:
    store = PagingStore()
    _seed(store, "u-alice", 3)
    _seed(store, "u-bob", 3)
    with TestClient(create_app(lambda: store), raise_server_exceptions=False) as client:
        first = client.get("/sessions?limit=2", headers=_auth("u-alice")).json()
        assert [s["sessionId"] for s in first["items"]] == ["u-alice-s0", "u-alice-s1"]
        cursor = first["next"]
        assert cursor and "." in cursor
        second = client.get("/sessions", params={"cursor": cursor, "limit": 2}, headers=_auth("u-alice"))
        assert second.status_code == 200 and [s["sessionId"] for s in second.json()["items"]] == ["u-alice-s2"]
        assert second.json()["next"] is None
        store.received.clear()

        replayed = client.get("/sessions", params={"cursor": cursor}, headers=_auth("u-bob"))
        assert replayed.status_code == 422 and replayed.json()["code"] == "VALIDATION_FAILED"
        unsigned = base64.urlsafe_b64encode(json.dumps({"i": 1}).encode()).decode()
        for bad in (unsigned, cursor[:-3] + "AAA", "garbage"):
            res = client.get("/sessions", params={"cursor": bad}, headers=_auth("u-alice"))
            assert res.status_code == 422 and res.json()["code"] == "VALIDATION_FAILED", bad
        assert store.received == [], "a bad cursor never reaches the store"
