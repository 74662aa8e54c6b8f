"""The tool layer: a registry of typed tools and one execution path with checks around every call.

A tool is a function taking a :class:`ToolContext` and a pydantic arguments model; its JSON schema
(what the model sees) comes from that model. Every call goes through :func:`execute_tool`:

1. arguments validated (malformed → ``INVALID_ARGUMENTS`` result the model can correct);
2. pre-checks: a locked or blocked session runs no tool; the pack's identity rule holds for tools
   flagged ``requires_identity``; approval given for tools that need one (``requires_approval``);
3. the call itself under the tool's timeout (→ ``TOOL_TIMEOUT``), exceptions → ``TOOL_ERROR``;
4. post-checks: personal data masked in what goes back to the model (except what the tool marks
   as the caller's own) and in the logs; the result truncated to the configured size.

Every result has the same shape: ``{"ok": true, "data": {...}}`` or
``{"ok": false, "error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from luma.assistants.contract import IdentityRule

from luma.domain.models import Principal, Session, SessionStatus
from luma.llm.types import ToolSpec
from luma.observability import logger, mask_pii

A = TypeVar("A", bound=BaseModel)


class ToolError(Exception):
    """A tool's expected failure, told to the model with a code (e.g. ``NOT_FOUND``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class ToolContext:
    """What a tool may use: who is asking, their session (fresh from the store), run metadata."""

    principal: Principal
    session: Session
    run_id: str
    approved: bool = False
    # For a tool that needed approval: "approved", "declined", or "timed_out" (no answer in time).
    approval_outcome: str | None = None
    # Session-state changes a tool made (persisted by the caller after the call).
    state_updates: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        """The session state with this call's updates applied."""
        return {**self.session.state, **self.state_updates}


@dataclass(frozen=True)
class Tool(Generic[A]):
    """A tool the model may call."""

    name: str
    description: str
    args: type[A]
    fn: Callable[[ToolContext, A], dict[str, Any]]
    read_only: bool = True
    timeout_s: float | None = None  # None: the run's ``tool_timeout_s``
    requires_approval: bool = False
    requires_identity: bool = False
    # How to describe a pending call to the user when asking for approval.
    approval_prompt: Callable[[ToolContext, A], str] | None = None

    def spec(self) -> ToolSpec:
        """The name, description and JSON schema the model sees."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(name=self.name, description=self.description, input_schema=schema)


class ToolRegistry:
    """The tools of one assistant, by name."""

    def __init__(self, tools: list[Tool[Any]] | None = None) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool[Any]) -> None:
        """Add a tool (names are unique)."""
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool[Any] | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def specs(self) -> list[ToolSpec]:
        """Every tool's spec, in registration order (stable, so the provider's prompt cache hits)."""
        return [t.spec() for t in self._tools.values()]

    def names(self) -> list[str]:
        """Registered tool names."""
        return list(self._tools)


class ToolResult(BaseModel):
    """The consistent result of a tool call."""

    tool_use_id: str
    name: str
    ok: bool
    data: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    read_only: bool = True
    duration_ms: float = 0.0
    state_updates: dict[str, Any] = {}

    def content(self) -> str:
        """What the model receives (JSON text)."""
        body: dict[str, Any] = {"ok": self.ok}
        if self.ok:
            body["data"] = self.data or {}
        else:
            body["error"] = self.error or {}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def failure(cls, tool_use_id: str, name: str, code: str, message: str, **kw: Any) -> ToolResult:
        """An error result."""
        return cls(tool_use_id=tool_use_id, name=name, ok=False, error={"code": code, "message": message}, **kw)


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tool")
NOT_VERIFIED = "The user's identity is not verified."


def _mask(value: Any, keep: frozenset[str]) -> Any:
    """Mask personal data in strings, except values under keys the tool declares safe to return."""
    if isinstance(value, dict):
        return {k: (v if k in keep else _mask(v, keep)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, keep) for v in value]
    if isinstance(value, str):
        return mask_pii(value)
    return value


def _truncate(result: ToolResult, limit: int) -> ToolResult:
    if len(result.content()) <= limit:
        return result
    return ToolResult.failure(
        result.tool_use_id,
        result.name,
        "RESULT_TOO_LARGE",
        f"The result was larger than {limit} characters; ask for less (a narrower date range, one item).",
        read_only=result.read_only,
        duration_ms=result.duration_ms,
    )


def execute_tool(
    registry: ToolRegistry,
    call_id: str,
    name: str,
    arguments: dict[str, Any],
    ctx: ToolContext,
    *,
    timeout_s: float,
    max_result_chars: int = 4000,
    keep_keys: frozenset[str] = frozenset(),
    identity: IdentityRule | None = None,
) -> ToolResult:
    """Run one tool call through validation, pre-checks, the timeout and post-checks; never raises.

    ``keep_keys``: result keys shown unmasked (the caller's own data); ``identity``: the pack's rule
    for tools flagged ``requires_identity`` (None: the signed-in user is enough).
    """
    started = time.perf_counter()
    tool = registry.get(name)
    if tool is None:
        return ToolResult.failure(call_id, name, "UNKNOWN_TOOL", f"No tool named {name!r}. Tools: {registry.names()}")
    ms = lambda: round((time.perf_counter() - started) * 1000, 1)  # noqa: E731
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return ToolResult.failure(call_id, name, "INVALID_ARGUMENTS", problems[:500], read_only=tool.read_only)
    if ctx.session.status is not SessionStatus.ACTIVE:
        return ToolResult.failure(
            call_id,
            name,
            "SESSION_LOCKED",
            "This conversation is locked: no tool may run. Tell the user how to get help instead.",
            read_only=tool.read_only,
        )
    if tool.requires_identity and identity is not None and not identity.verified(ctx.state):
        return ToolResult.failure(
            call_id, name, "IDENTITY_NOT_VERIFIED", identity.instructions or NOT_VERIFIED, read_only=tool.read_only
        )
    if tool.requires_approval and not ctx.approved:
        if ctx.approval_outcome == "timed_out":
            return ToolResult.failure(
                call_id,
                name,
                "APPROVAL_TIMED_OUT",
                "The user did not answer the approval request in time, so nothing was done. Tell them it timed "
                "out (not that they declined) and that they can ask again.",
                read_only=tool.read_only,
            )
        return ToolResult.failure(
            call_id, name, "APPROVAL_DECLINED", "The user declined this action.", read_only=tool.read_only
        )
    limit = tool.timeout_s or timeout_s
    future = _pool.submit(tool.fn, ctx, args)
    try:
        data = future.result(timeout=limit)
    except FutureTimeout:
        future.cancel()
        logger.warning("tool timed out", extra={"tool": name, "timeout_s": limit})
        return ToolResult.failure(
            call_id, name, "TOOL_TIMEOUT", f"The tool took longer than {limit:g} s.", read_only=tool.read_only
        )
    except ToolError as exc:
        result = ToolResult.failure(
            call_id,
            name,
            exc.code,
            exc.message,
            read_only=tool.read_only,
            duration_ms=ms(),
            state_updates=dict(ctx.state_updates),
        )
        logger.info("tool refused", extra={"tool": name, "code": exc.code})
        return result
    except Exception as exc:
        logger.exception("tool failed", extra={"tool": name})
        return ToolResult.failure(
            call_id,
            name,
            "TOOL_ERROR",
            f"The tool failed ({type(exc).__name__}). Tell the user it didn't work; don't retry the same call.",
            read_only=tool.read_only,
            duration_ms=ms(),
        )
    result = ToolResult(
        tool_use_id=call_id,
        name=name,
        ok=True,
        data=_mask(data, keep_keys),
        read_only=tool.read_only,
        duration_ms=ms(),
        state_updates=dict(ctx.state_updates),
    )
    logger.info("tool done", extra={"tool": name, "ok": True, "ms": result.duration_ms})
    return _truncate(result, max_result_chars)
