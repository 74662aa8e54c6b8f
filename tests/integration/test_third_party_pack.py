"""A pack that lives outside Luma, installed as its own distribution, serves turns with no core edit.

``tests/packs/luma_echo_pack`` is a separate project (its own ``pyproject.toml`` registering
``echo`` under the ``luma.assistants`` entry point). The test builds and installs it with pip into
a directory of its own, puts that directory on the path, and talks to it over the real WebSocket
of the running local stack: ``$connect?assistant=echo`` → classify with the pack's own intents →
its fast path → the reply, and a menu choice routed by the pack's flow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from luma.auth import issue_dev_token
from websockets.sync.client import connect

PACK = Path(__file__).resolve().parents[1] / "packs" / "luma_echo_pack"


def _forget_packs() -> None:
    from luma import wiring
    from luma.assistants import registry
    from luma.classify import get_classifier, get_multilingual_classifier
    from luma.pipeline.router import get_router

    for cache in (get_router, get_classifier, get_multilingual_classifier):
        cache.cache_clear()
    registry.reset()
    wiring.reset()


@pytest.fixture(scope="module")
def echo_installed(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(PACK),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "luma_echo_pack" / "intents.json").is_file()
    sys.path.insert(0, str(target))
    _forget_packs()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("luma_echo_pack")]:
            del sys.modules[name]
        _forget_packs()


def _turn(ws: Any, frame: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    ws.send(json.dumps(frame))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        if got.get("replyTo") == frame["clientMessageId"] or got["type"] == "error":
            return got
    raise AssertionError("no reply")


def test_the_core_does_not_know_the_pack() -> None:
    core = Path(__file__).resolve().parents[2] / "layers" / "core" / "python" / "luma"
    assert not any("echo" in p.read_text(encoding="utf-8").lower() for p in core.rglob("registry.py"))


def test_an_installed_third_party_pack_answers_over_the_websocket(echo_installed: Path, local_stack: Any) -> None:
    from luma.assistants.registry import available

    assert "echo" in available()
    token = issue_dev_token("u-echo", "demo")
    with connect(f"{local_stack.ws_url}?token={token}&assistant=echo", open_timeout=10) as ws:
        hello = _turn(ws, {"action": "sendMessage", "text": "hello there", "clientMessageId": "e1"})
        assert hello["type"] == "message" and hello["assistant"] == "echo" and hello["route"] == "fast_path"
        assert hello["text"].startswith("Hello! I'm Echo") and hello["choices"][0]["id"] == "menu:time"
        session = hello["sessionId"]
        said = _turn(
            ws,
            {"action": "sendMessage", "text": "repeat after me: purple", "clientMessageId": "e2", "sessionId": session},
        )
        assert said["intent"] == "echo_back" and said["text"] == "You said: purple"
        chosen = _turn(
            ws,
            {
                "action": "sendMessage",
                "text": "What time is it?",
                "choice": "menu:time",
                "clientMessageId": "e3",
                "sessionId": session,
            },
        )
        assert chosen["intent"] == "time_now" and chosen["route"] == "flow" and "UTC" in chosen["text"]


def test_a_tenant_cannot_pick_an_assistant_that_is_not_installed(local_stack: Any) -> None:
    from websockets.exceptions import InvalidStatus

    token = issue_dev_token("u-alice", "demo")
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{local_stack.ws_url}?token={token}&assistant=nonexistent", open_timeout=10)
    assert refused.value.response.status_code in (401, 403)
