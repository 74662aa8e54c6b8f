"""Parsing of streamed tool-call arguments."""

from __future__ import annotations

import json
from typing import Any

from luma.llm.errors import LlmError, LlmErrorCode


def parse_tool_input(raw: str, provider: str) -> dict[str, Any]:
    """The reassembled argument JSON as a dict; malformed or non-object JSON is ``LLM_BAD_RESPONSE``."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise LlmError(LlmErrorCode.LLM_BAD_RESPONSE, retryable=False, provider=provider, detail="tool_args_json")
    return value
