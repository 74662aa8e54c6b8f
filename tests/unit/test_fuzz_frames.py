"""Hypothesis on WebSocket frames through the real ``classify`` handler (API-Gateway-shaped events).

The handler module is loaded as Lambda loads it, with the classify service built over fakes behind
its ports (in-memory store, keyword classifier, recording delivery and invoker). Whatever the frame
— any text, any JSON, wrong types, deep nesting, binary frames, frames on ``$default`` — the handler
answers ``{"statusCode": 200}`` and every frame it sends is typed; an ``error`` frame carries a
documented code and a user-safe message, and never ``INTERNAL`` (a fault). A frame that is accepted
is persisted before it is handed on (the recording invoker checks it).

``make test`` runs a bounded number of examples; for a longer run:
``LUMA_FUZZ_EXAMPLES=2000 .venv/bin/pytest -q -p no:cacheprovider tests/unit/test_fuzz_frames.py``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from luma import wiring
from luma.errors import ErrorCode

from tests.unit.test_classify_service import make_env
from tests.unit.test_handlers import Ctx, event, load

EXAMPLES = int(os.environ.get("LUMA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# What a client may be told about a frame it sent (docs/protocol.md); INTERNAL is a fault, never a verdict.
TYPED_CODES = {c.value for c in ErrorCode} - {ErrorCode.INTERNAL.value}
FRAME_TYPES = {"message", "token", "status", "error", "heartbeat", "approval_request"}

ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
texts = st.text(max_size=80) | st.text(min_size=45, max_size=120) | st.sampled_from(["", " ", "\u0000", "hello"])
fields = {
    "text": texts | json_values,
    "clientMessageId": ids | json_values,
    "sessionId": ids | st.sampled_from(["", "../x", "s" * 65]) | json_values,
    "choice": st.text(max_size=20) | json_values,
    "extra": json_values,
}
actions = st.sampled_from(["sendMessage", "approve", "", "SENDMESSAGE", "$default"]) | json_values
frames = st.fixed_dictionaries({}, optional={"action": actions, **fields})
# sendMessage frames, about half of them valid: text and id mostly well-formed, a session id seldom.
send_frames = st.fixed_dictionaries(
    {
        "action": st.just("sendMessage"),
        "text": st.text(min_size=1, max_size=40).filter(str.strip) | fields["text"],
        "clientMessageId": ids | ids | fields["clientMessageId"],
    },
    optional={"sessionId": fields["sessionId"], "choice": fields["choice"], "extra": fields["extra"]},
)
bodies = (
    frames.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.sampled_from(['{"action": "sendMessage", "text": "hi", "clientMessageId": "a"', "{}", "null", "NaN"])
)


@pytest.fixture(scope="module")
def handler() -> Iterator[tuple[ModuleType, dict[str, Any]]]:
    """The real handler module, its service a fresh fakes-backed one per example (``holder["env"]``)."""
    holder: dict[str, Any] = {"env": make_env()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wiring, "classify_service", lambda: holder["env"]["service"])
        yield load("classify"), holder


def _invoke(handler: tuple[ModuleType, dict[str, Any]], body: str, *, route: str, b64: bool = False) -> list[Any]:
    module, holder = handler
    holder["env"] = make_env()
    ev = copy.deepcopy(event("ws_message"))
    ev["requestContext"]["routeKey"] = route
    ev["body"], ev["isBase64Encoded"] = body, b64
    result = module.handler(ev, Ctx())
    assert result == {"statusCode": 200}
    return [frame for _, frame in holder["env"]["delivery"].frames]


def _assert_typed(sent: list[Any]) -> None:
    for frame in sent:
        assert isinstance(frame, dict) and frame.get("type") in FRAME_TYPES, frame
        if frame["type"] == "error":
            assert frame["code"] in TYPED_CODES, frame
            assert isinstance(frame.get("message"), str) and frame["message"], frame
            assert "Traceback" not in frame["message"]


@FUZZ
@given(body=bodies, route=st.sampled_from(["sendMessage", "$default"]))
def test_no_frame_makes_classify_fail(handler: tuple[ModuleType, dict[str, Any]], body: str, route: str) -> None:
    _assert_typed(_invoke(handler, body, route=route))


@FUZZ
@given(data=st.binary(max_size=300))
def test_binary_frames_are_refused_with_a_typed_error(handler: tuple[ModuleType, dict[str, Any]], data: bytes) -> None:
    sent = _invoke(handler, base64.b64encode(data).decode("ascii"), route="$default", b64=True)
    _assert_typed(sent)
    assert [f["type"] for f in sent] == ["error"]


@FUZZ
@given(frame=send_frames)
def test_a_frame_is_either_refused_with_a_typed_error_or_stored_and_handed_on(
    handler: tuple[ModuleType, dict[str, Any]], frame: dict[str, Any]
) -> None:
    sent = _invoke(handler, json.dumps(frame), route="sendMessage")
    _assert_typed(sent)
    env = handler[1]["env"]
    errors = [f for f in sent if f["type"] == "error"]
    handed_on = len(env["invoker"].calls) + len(env["agent"].turns)
    assert (len(errors), handed_on) in ((1, 0), (0, 1)), (sent, handed_on)
    hypothesis.event(errors[0]["code"] if errors else "handed on")


@pytest.mark.parametrize("depth", [2_000, 16_000])
def test_deeply_nested_json_is_malformed_not_a_fault(handler: tuple[ModuleType, dict[str, Any]], depth: int) -> None:
    sent = _invoke(handler, "[" * depth + "]" * depth, route="$default")
    _assert_typed(sent)
    assert [f["code"] for f in sent] == ["MALFORMED_JSON"]
