"""Hypothesis on WebSocket frames through the real local gateway: a real socket, the real handlers.

Each example signs in as a user of its own (so no answer of an earlier example can reach it), sends one
frame — any text, any JSON, wrong field types, binary data, sometimes over API Gateway's 32 KB limit —
and reads until the frame is answered. Every frame the server sends is typed (none of API Gateway's
own ``Internal server error`` frames: the integration never failed), an ``error`` frame carries a
documented code and never ``INTERNAL``, a valid message gets its reply, and a frame over the limit
closes the connection with 1009, as documented in docs/protocol.md.

``make test`` runs a bounded number of examples; for a longer run:
``LUMA_FUZZ_WS_EXAMPLES=500 .venv/bin/pytest -q -p no:cacheprovider tests/integration/test_fuzz_ws.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from luma.auth import issue_dev_token
from luma.errors import ErrorCode
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

EXAMPLES = int(os.environ.get("LUMA_FUZZ_WS_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TYPED_CODES = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}
FRAME_TYPES = {"message", "token", "status", "error", "heartbeat", "approval_request"}
LIMIT = 32 * 1024
SETTLING_STATUSES = ("agent_unavailable", "duplicate", "approval_recorded")
_users = itertools.count(1)

ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
frames = st.fixed_dictionaries(
    {"action": st.sampled_from(["sendMessage", "sendMessage", "approve", "nope"]) | json_values},
    optional={
        "text": st.sampled_from(["what are your opening hours?", "hello", ""]) | st.text(max_size=60) | json_values,
        "clientMessageId": ids | json_values,
        "sessionId": ids | json_values,
        "approvalId": ids | json_values,
        "approved": st.booleans() | json_values,
    },
)
payloads = (
    frames.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=120)
    | st.binary(max_size=120)
    | st.integers(LIMIT - 64, LIMIT + 4096).map(lambda n: json.dumps({"action": "sendMessage", "text": "x" * n}))
)


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> Iterator[Any]:
    yield local_stack
    local_stack.runtime.wait_idle(20)  # runs the examples started are over before the next module


def _answers(frame: dict[str, Any], sent: Any) -> bool:
    """Whether ``frame`` settles what was sent (its reply, its error, or a refusal of the frame itself)."""
    cid = sent.get("clientMessageId") if isinstance(sent, dict) else None
    if not isinstance(cid, str):
        return frame.get("type") in ("error", "status") and frame.get("status") != "session_started"
    if frame.get("type") == "message":
        return frame.get("replyTo") == cid
    if frame.get("type") == "error":
        return frame.get("clientMessageId") in (cid, None)
    return frame.get("type") == "status" and frame.get("status") in SETTLING_STATUSES


@FUZZ
@given(payload=payloads)
def test_no_frame_makes_the_gateway_or_a_handler_fail(stack: Any, payload: str | bytes) -> None:
    token = issue_dev_token(f"u-fuzz-{next(_users)}", "demo")
    size = len(payload if isinstance(payload, bytes) else payload.encode())
    try:
        sent = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        sent = None
    received: list[dict[str, Any]] = []
    with connect(f"{stack.ws_url}?token={token}", open_timeout=10, max_size=2**20) as ws:
        ws.send(payload)
        if size > LIMIT:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            return
        deadline = time.monotonic() + 60  # a first example may meet cold starts on a busy machine
        while True:
            try:
                frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                raise AssertionError(f"no answer to {payload!r:.200}; received {received}") from None
            received.append(frame)
            assert frame.get("type") in FRAME_TYPES, frame  # API Gateway's own error frame has no type
            if frame["type"] == "error":
                assert frame.get("code") in TYPED_CODES, frame
                assert isinstance(frame.get("message"), str) and frame["message"], frame
            if _answers(frame, sent):
                return
