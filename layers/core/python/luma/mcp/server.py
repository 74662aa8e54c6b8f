"""An assistant's tools over MCP (the official ``mcp`` SDK): Streamable HTTP (stateless) and stdio.

``/api/mcp/<assistant>`` serves the pack's tools under their own names, behind the same bearer
tokens as the rest of the API (401 without one). Each call runs through :class:`ToolGateway` with
the caller's identity and the checks of an agent run: the caller's rate limit, the pack's identity
rule, a locked session refusing every tool, the per-session tool budget, the tool's timeout, the
result's masking and size cap, and an audit record (a message item of the caller's MCP session,
plus the ``ToolCalls`` metric). Each caller has one MCP session per assistant, where the tools'
session state (an identity verified, for instance) lives.

A tool that needs the user's approval is offered with ``destructiveHint``: MCP clients ask their
user before calling such a tool, and that confirmation is the approval (the server cannot show the
user a card of its own here).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp_types as types
from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma.agent.limits import AgentLimits, resolve_limits
from luma.agent.tools import ToolContext, ToolRegistry, execute_tool
from luma.assistants.contract import AssistantPack
from luma.domain.models import Message, Principal, Role, Session, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.limits import Limiter, NoLimits
from luma.observability import emit, logger

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

    from luma.agent.store import AgentStore
    from luma.store.repos import DynamoConversationRepository

caller: contextvars.ContextVar[Principal] = contextvars.ContextVar("luma_mcp_caller")
caller_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("luma_mcp_caller_ip", default=None)


def mcp_session_id(principal: Principal, assistant: str) -> str:
    """The caller's MCP session with an assistant: stable, and unguessable from the outside."""
    digest = hashlib.sha256(f"{principal.tenant_id}|{principal.user_id}|{assistant}".encode()).hexdigest()
    return "MCP" + digest[:29].upper()


@dataclass
class ToolGateway:
    """Runs one pack's tools for MCP callers with the agent's checks."""

    pack: AssistantPack
    conversations: DynamoConversationRepository
    store: AgentStore
    limiter: Limiter
    env_limits: dict[str, Any]

    def __post_init__(self) -> None:
        self.registry: ToolRegistry = self.pack.tools()
        self.limits: AgentLimits = resolve_limits(None, pack=dict(self.pack.limits), env=self.env_limits)

    def list_tools(self) -> list[types.Tool]:
        """The pack's tools as MCP tools (names, descriptions and JSON schemas unchanged)."""
        out = []
        for name in self.registry.names():
            tool = self.registry.get(name)
            assert tool is not None
            spec = tool.spec()
            out.append(
                types.Tool(
                    name=spec.name,
                    description=spec.description,
                    inputSchema=spec.input_schema,
                    annotations=types.ToolAnnotations(
                        readOnlyHint=tool.read_only, destructiveHint=tool.requires_approval or not tool.read_only
                    ),
                )
            )
        return out

    def session(self, principal: Principal) -> Session:
        """The caller's MCP session with this assistant (created on the first call)."""
        session_id = mcp_session_id(principal, self.pack.name)
        found = self.conversations.get_session(principal.tenant_id, session_id)
        if found is not None:
            if found.user_id != principal.user_id:
                raise LumaError(ErrorCode.SESSION_NOT_FOUND)
            return found
        fresh = Session(
            tenant_id=principal.tenant_id,
            session_id=session_id,
            user_id=principal.user_id,
            assistant=self.pack.name,
            channel="http",
        )
        self.conversations.create_session(fresh)
        return self.conversations.get_session(principal.tenant_id, session_id) or fresh

    def call(
        self, principal: Principal, name: str, arguments: dict[str, Any], source_ip: str | None = None
    ) -> types.CallToolResult:
        """One tool call for ``principal``; every refusal is an error result, never an exception."""
        try:
            decision = self.limiter.check(principal, source_ip)
            if not decision.allowed:
                raise decision.error()
            session = self.session(principal)
            if session.tool_calls >= self.limits.max_tools_per_session:
                return _error("TOOL_LIMIT", "This session has used all its tool calls.")
        except LumaError as err:
            return _error(err.code.value, err.message)
        tool = self.registry.get(name)
        ctx = ToolContext(principal, session, new_id(), approved=bool(tool and tool.requires_approval))
        result = execute_tool(
            self.registry,
            new_id(),
            name,
            arguments,
            ctx,
            timeout_s=tool.timeout_s if tool and tool.timeout_s else self.limits.tool_timeout_s,
            max_result_chars=self.limits.tool_result_chars,
            keep_keys=self.pack.keep_keys,
            identity=self.pack.identity(),
        )
        if result.state_updates:
            updates = dict(result.state_updates)
            self.store.update_session(session, lambda fresh: self.pack.apply_state(fresh, updates))
        code = (result.error or {}).get("code")
        if session.status is SessionStatus.ACTIVE and code not in ("UNKNOWN_TOOL", "INVALID_ARGUMENTS"):
            self.store.count_tool_call(session)
        self._audit(session, name, result.ok, code)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.content())],
            structuredContent={"ok": result.ok, "data": result.data}
            if result.ok
            else {"ok": False, **(result.error or {})},
            isError=not result.ok,
        )

    def _audit(self, session: Session, name: str, ok: bool, code: str | None) -> None:
        emit(
            mn.TOOL_CALLS, 1, MetricUnit.Count, dimensions={mn.DIM_TOOL: name, mn.DIM_OUTCOME: "ok" if ok else "error"}
        )
        logger.info("mcp tool call", extra={"tool": name, "ok": ok, "code": code, "session_id": session.session_id})
        record = Message(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.SYSTEM,
            text=f"tool {name}",
            meta={"source": "mcp", "tool": name, "ok": ok, **({"code": code} if code else {})},
        )
        self.conversations.save_reply(session, record)


def _error(code: str, message: str) -> types.CallToolResult:
    body = json.dumps({"ok": False, "error": {"code": code, "message": message}}, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=body)],
        structuredContent={"ok": False, "code": code, "message": message},
        isError=True,
    )


def build_server(gateway: ToolGateway) -> Server[Any]:
    """An MCP server of the gateway's tools; the caller is read from :data:`caller`."""
    import anyio.to_thread
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=gateway.list_tools())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        principal, source_ip = caller.get(), caller_ip.get()
        arguments = dict(params.arguments or {})
        return await anyio.to_thread.run_sync(gateway.call, principal, params.name, arguments, source_ip)

    return Server(
        f"luma-{gateway.pack.name}",
        title=gateway.pack.display_name or gateway.pack.name,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


Verifier = Callable[[str | None], Principal]
Gateways = Callable[[str], ToolGateway]


class McpHttpApp:
    """ASGI app for ``/mcp/<assistant>``: bearer auth, then one stateless Streamable HTTP exchange."""

    def __init__(self, gateways: Gateways, verify: Verifier, *, allowed: Callable[[str, str], bool]) -> None:
        self.gateways = gateways
        self.verify = verify
        self.allowed = allowed  # (tenant, assistant) -> may this tenant use it
        self._servers: dict[str, Server[Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from starlette.responses import JSONResponse

        if scope["type"] != "http":
            return
        from luma.config import get_settings
        from luma.secrets import origin_verified, viewer_ip

        assistant = scope.get("path_params", {}).get("assistant", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        settings = get_settings()
        client = scope.get("client")
        source_ip = viewer_ip(headers, settings) or (client[0] if client else None)
        try:
            if not origin_verified(headers, settings):  # went around CloudFront and its WAF
                raise LumaError(ErrorCode.FORBIDDEN)
            principal = self.verify(token)
            if not self.allowed(principal.tenant_id, assistant):
                raise LumaError(ErrorCode.ASSISTANT_NOT_AVAILABLE, assistant=assistant[:32])
        except LumaError as err:
            response = JSONResponse(
                err.to_dict(),
                status_code=err.http_status,
                headers={"WWW-Authenticate": "Bearer"} if err.http_status == 401 else None,
            )
            await response(scope, receive, send)
            return
        server = self._servers.get(assistant)
        if server is None:
            server = self._servers[assistant] = build_server(self.gateways(assistant))
        manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True)
        token_ref, ip_ref = caller.set(principal), caller_ip.set(source_ip)
        try:
            async with manager.run():
                await manager.handle_request(scope, receive, send)
        finally:
            caller.reset(token_ref)
            caller_ip.reset(ip_ref)


async def serve_stdio(gateway: ToolGateway, principal: Principal) -> None:
    """Serve the gateway's tools over stdio for one local caller (``luma mcp``)."""
    from mcp.server.stdio import stdio_server

    server = build_server(gateway)
    caller.set(principal)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def gateway_for(assistant: str) -> ToolGateway:
    """The gateway of an installed assistant, with the deployment's adapters."""
    from luma import wiring
    from luma.agent.store import DynamoAgentStore
    from luma.assistants.registry import get_pack
    from luma.config import get_settings

    settings = get_settings()
    return ToolGateway(
        pack=get_pack(assistant),
        conversations=wiring.conversations(),
        store=DynamoAgentStore(settings),
        limiter=wiring.limiter() if settings.env != "test" else NoLimits(),
        env_limits=settings.agent_limits,
    )


def mount_mcp(app: Any) -> None:
    """Serve every assistant's tools at ``/mcp/<assistant>`` of the HTTP API (built on first use)."""
    from starlette.routing import Route

    from luma.assistants.registry import allowed_for
    from luma.auth import verify_token

    gateways: dict[str, ToolGateway] = {}

    def gateway(assistant: str) -> ToolGateway:
        if assistant not in gateways:
            gateways[assistant] = gateway_for(assistant)
        return gateways[assistant]

    def allowed(tenant: str, assistant: str) -> bool:
        return assistant in allowed_for(tenant)

    endpoint = McpHttpApp(gateway, verify_token, allowed=allowed)
    app.router.routes.append(Route("/mcp/{assistant}", endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
