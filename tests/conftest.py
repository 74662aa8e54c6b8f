"""Shared fixtures: a loopback-only network guard and the real local stack (session-scoped)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never reach real LLM providers or AWS: the keys are removed and AWS credentials are fake.
for _var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("LUMA_DEV_JWT_SECRET", secrets.token_urlsafe(32))

pytest_plugins = ["tests.opensearch_api.fixtures"]

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", "") or host.startswith("127."):
            return
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            pass
        raise OSError(f"network access outside loopback is blocked in tests: {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    _loopback_only(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    _loopback_only(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Any]:
    """The real local stack: moto server subprocess, gateway on a free port, seeded demo data."""
    from luma import wiring
    from luma.config import reset_settings

    from local.devstack import LocalStack

    # The agent answers through the real Anthropic SDK against the fake model (tests script it),
    # with no first-token delay so the suite stays fast.
    # Memory is extracted offline here: the scripted model's queue belongs to the tests' agent turns.
    with LocalStack(port=0, seed=True, llm="fake", extra_env={"LUMA_MEMORY_EXTRACTION": "extractive"}) as stack:
        stack.fake_llm.responder.first_token_delay_ms = 0
        stack.fake_llm.responder.chunk_delay_ms = 0
        reset_settings()
        wiring.reset()
        yield stack
    reset_settings()
    wiring.reset()
