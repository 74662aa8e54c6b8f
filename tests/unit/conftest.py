"""Unit tests see no provider keys or Twilio account, even while the session's local stack is up.

The local stack (started by earlier integration or browser tests in the same run) puts its fake
model's key and its fake Twilio account into this process's environment for its in-process
handlers; unit tests build their own settings and must not inherit those.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

STACK_VARIABLES = ("ANTHROPIC_", "OPENAI_", "LUMA_TWILIO_", "LUMA_LLM_PROVIDER", "LUMA_AGENT_")


@pytest.fixture(autouse=True)
def _no_stack_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from luma import wiring
    from luma.config import reset_settings
    from luma.llm import reset_providers

    touched = [k for k in os.environ if k.startswith(STACK_VARIABLES)]
    for key in touched:
        monkeypatch.delenv(key)
    if touched:
        reset_settings()
        wiring.reset()
        reset_providers()
    yield
    if touched:
        monkeypatch.undo()
        reset_settings()
        wiring.reset()
        reset_providers()
