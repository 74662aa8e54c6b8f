"""Credits of model usage, and the estimate an agent run reserves before it starts.

Credits are micro-dollars at ``Settings.llm_prices`` (USD per million tokens, longest model-prefix
match). A model with no price is charged at :data:`UNPRICED` (the table's ``"*"`` entry when it has
one), so an unknown model never runs for free.
"""

from __future__ import annotations

import json
import math
import threading
from typing import TYPE_CHECKING

from luma.llm.types import Usage
from luma.usage.plans import CREDITS_PER_USD

if TYPE_CHECKING:
    from luma.agent.limits import AgentLimits
    from luma.assistants.contract import AssistantPack
    from luma.domain.models import Session

# USD per million tokens for a model the price table does not know.
UNPRICED = {"input": 3.0, "output": 15.0, "cache_read": 0.30, "cache_write": 3.75}
# A message of the history, in tokens, when its text is not at hand (the estimate reads nothing).
HISTORY_TOKENS_PER_MESSAGE = 60
CONTEXT_BLOCK_TOKENS = 300  # the session's facts, summary and memories after the cached prefix


def cost_usd(usage: Usage, model: str, prices: dict[str, dict[str, float]]) -> float:
    """What ``usage`` of ``model`` costs (never None: unpriced models use :data:`UNPRICED`)."""
    found = usage.cost_usd(model, prices)
    if found is not None:
        return found
    return usage.cost_usd("*", {"*": prices.get("*", UNPRICED)}) or 0.0


def credits_of(usage: Usage, model: str, prices: dict[str, dict[str, float]]) -> int:
    """Credits of ``usage`` (rounded up: a call that cost anything costs at least one credit)."""
    return math.ceil(round(cost_usd(usage, model, prices) * CREDITS_PER_USD, 6))


_prompt_tokens: dict[str, int] = {}
_prompt_lock = threading.Lock()


def _prompt_of(pack: AssistantPack, session: Session) -> int:
    """Tokens of the pack's instructions and tool specs (the same for every run: counted once per process)."""
    from luma.agent.context import estimate_tokens

    found = _prompt_tokens.get(pack.name)
    if found is None:
        with _prompt_lock:
            specs = [s.model_dump() for s in pack.tools().specs()]
            found = estimate_tokens(pack.system_prompt(session)) + estimate_tokens(json.dumps(specs))
            _prompt_tokens[pack.name] = found
    return found


def estimate_usage(pack: AssistantPack, session: Session, text: str, limits: AgentLimits, *, steps: int) -> Usage:
    """The usage a run is expected to have: ``steps`` calls with the context, one full answer out.

    The context is the pack's prompt and tools, the session's facts, and the history within the run's
    budget (estimated from the number of messages: nothing is read).
    """
    from luma.agent.context import estimate_tokens

    history = min(limits.context_tokens, estimate_tokens(text) + HISTORY_TOKENS_PER_MESSAGE * session.message_count)
    per_step = _prompt_of(pack, session) + CONTEXT_BLOCK_TOKENS + history
    return Usage(
        input_tokens=per_step * max(1, min(steps, limits.max_iterations)), output_tokens=limits.max_output_tokens
    )
