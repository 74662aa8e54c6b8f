"""The agent run: the logic behind each state of ``statemachines/agent_run.asl.json``.

The state machine carries a :class:`RunState` from state to state:

- ``AgentStep`` → :meth:`AgentService.step`: context (recent messages within the budget, the run's
  tool calls and results so far), one streamed LLM call with the tools, text streamed through the
  sentence guardrail; the step ends with ``step.stop`` = ``tool_use`` (calls in ``step.tool_calls``)
  or ``end_turn`` (the reply persisted, then delivered as one ``message`` frame).
- ``ExecuteTools`` (a Map over ``step.tool_calls``) → :meth:`request_approval` for calls that need
  the user's approval (``.waitForTaskToken``), then :meth:`run_tool` per call.
- ``HandleFailure`` → :meth:`handle_failure` (Catch of any step error): fallback provider, answer
  now, escalation or a user-safe apology.
- ``Finalize`` → :meth:`finalize`: the run's credits settled, metrics, log.

A run uses the provider and model of its route (chosen when it starts, :mod:`luma.llm.routing`);
its cost and credits follow the model each step actually used.

LLM errors leave the step as exceptions named after their pattern (``LlmRateLimited``...), so the
ASL's Retry and Catch do the retrying, not a loop here.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field

from luma import metrics_names as mn
from luma import texts
from luma.agent import failures
from luma.agent.approvals import APPROVAL_KEY, ApprovalService
from luma.agent.context import recent_history, summary_block
from luma.agent.limits import AgentLimits
from luma.agent.outguard import OutputGuard
from luma.agent.store import AgentStore
from luma.agent.stream import SentenceGuard, TokenStreamer
from luma.agent.tools import ToolContext, ToolRegistry, ToolResult, execute_tool
from luma.assistants.contract import AssistantPack
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import Message, Role, Route, Session, Turn
from luma.ids import new_id
from luma.limits import Limiter, NoLimits
from luma.llm import (
    ChatMessage,
    Done,
    FallbackProvider,
    LlmError,
    LlmProvider,
    LlmRequest,
    TextBlock,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    get_provider,
)
from luma.llm.routing import ModelRoute
from luma.observability import emit, logger
from luma.operators.escalations import EscalationRepository
from luma.pipeline.frames import message_frame, status_frame
from luma.pipeline.guard import guard_policy
from luma.store.repos import ConnectionRepository
from luma.usage import TurnMetrics, TurnRecord, credits_of, metrics_beside
from luma.usage.ledger import Reservation
from luma.usage.pricing import credits_of as credits_for

FINAL_NOTE = (
    "You have used all the tool calls available for this message. Do not call tools: answer the user now "
    "with what you know, and say what you could not do."
)


class PendingCall(BaseModel):
    """A tool call of the last step, as the Map state iterates over it."""

    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    requires_approval: bool = False
    read_only: bool = True
    timeout_s: float = 10.0


class StepOutcome(BaseModel):
    stop: Literal["tool_use", "end_turn"]
    tool_calls: list[PendingCall] = Field(default_factory=list)


class RunInfo(BaseModel):
    """Counters and choices of one run (the state machine's ``$.run``)."""

    run_id: str
    reply_id: str
    intent: str | None = None
    iteration: int = 0
    max_iterations: int
    final: bool = False  # the next step answers without tools
    provider: Literal["primary", "fallback"] = "primary"
    recoveries_left: int = 1
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str = ""  # the model of the last step (the route's until one ran)
    route: ModelRoute | None = None
    reservation: Reservation | None = None  # credits held when the run started
    credits: int = 0  # credits of the steps so far, each at its own model's price
    generation_ms: float = 0.0  # time spent streaming from the model
    answered_at: float | None = None  # when the final message went out (epoch seconds)
    tool_calls: int = 0
    readonly_streak: int = 0
    call_counts: dict[str, int] = Field(default_factory=dict)
    tools_used: list[str] = Field(default_factory=list)
    streamed: list[str] = Field(default_factory=list)  # text already shown to the user, per step
    token_seq: int = 0  # the last token frame's sequence number
    started_at: float = Field(default_factory=time.time)
    outcome: str | None = None
    failure: str | None = None
    limits: AgentLimits = Field(default_factory=AgentLimits)


class RunState(BaseModel):
    """The whole state the state machine passes between states."""

    turn: Turn
    run: RunInfo
    transcript: list[ChatMessage] = Field(default_factory=list)
    step: StepOutcome | None = None
    tool_results: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    recovery: str | None = None
    # Long-term memory retrieved for this run (once, at its first step) and the memories it used.
    memory: str = ""
    memory_ids: list[str] = Field(default_factory=list)


def _approval_outcome(approval: dict[str, Any]) -> Literal["approved", "declined", "timed_out"]:
    """What came back from the approval wait: the person's answer, or a timeout/failure of the wait."""
    if approval.get("approved") is True:
        return "approved"
    return "timed_out" if approval.get("reason") in ("timed_out", "wait_failed") else "declined"


# A stored reply with one of these statuses is a run's final answer, already sent.
_FINAL_STATUSES = frozenset({"answered", "safety"})

# Refusals before the tool ran: they don't count against the session's tool calls.
_NOT_RUN = frozenset(
    {
        "UNKNOWN_TOOL",
        "INVALID_ARGUMENTS",
        "SESSION_LOCKED",
        "IDENTITY_NOT_VERIFIED",
        "APPROVAL_DECLINED",
        "APPROVAL_TIMED_OUT",
    }
)


def _call_key(name: str, args: dict[str, Any]) -> str:
    return hashlib.sha256(f"{name}|{json.dumps(args, sort_keys=True)}".encode()).hexdigest()[:16]


def token_frame(turn: Turn, run_id: str, text: str, seq: int) -> dict[str, Any]:
    """A piece of streamed answer text (whole checked sentences)."""
    return {
        "type": "token",
        "sessionId": turn.session.session_id,
        "runId": run_id,
        "replyTo": turn.client_message_id,
        "seq": seq,
        "text": text,
    }


class AgentService:
    """The agent's steps; every dependency injected (the handlers use :mod:`luma.wiring`'s)."""

    def __init__(
        self,
        *,
        settings: Settings,
        conversations: Any,
        store: AgentStore,
        delivery: Delivery,
        provider: Callable[[], LlmProvider | None],
        packs: Callable[[str], AssistantPack],
        limiter: Limiter | None = None,
        task_tokens: Any = None,
        escalations: EscalationRepository | None = None,
        connections: ConnectionRepository | None = None,
        providers: Callable[[str], LlmProvider | None] | None = None,
        metrics: TurnMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.store = store
        self.delivery = delivery
        self.provider = provider
        self.packs = packs  # the assistant pack of a session, by name
        self.limiter: Limiter = limiter or NoLimits()
        self.task_tokens = task_tokens  # a Step Functions client (send_task_success/failure)
        self._escalations = escalations
        self.connections = connections  # the user's newest connection gets the rest of a run
        self.approvals = ApprovalService(conversations, store, task_tokens)
        # A route's provider by name (the configured ones; None when it is not configured).
        self.providers = providers or (lambda name: get_provider(settings, name))
        self.metrics = metrics or metrics_beside(conversations)
        self._registries: dict[str, ToolRegistry] = {}
        self._lock = threading.Lock()

    def tools(self, assistant: str) -> ToolRegistry:
        """The tools of an assistant (built once per process)."""
        registry = self._registries.get(assistant)
        if registry is None:
            with self._lock:
                registry = self._registries.get(assistant)
                if registry is None:
                    registry = self._registries[assistant] = self.packs(assistant).tools()
        return registry

    def _label(self, turn: Turn, tool: str) -> str:
        """What the client shows while ``tool`` runs, in the session's language."""
        assistant, language = turn.session.assistant, turn.session.language
        key = f"tool.{tool}" if texts.has(f"tool.{tool}", assistant=assistant) else "tool.working"
        return texts.text(key, language, assistant=assistant)

    def _session(self, turn: Turn) -> Session:
        """The session as stored now (tools change its state during a run); the turn's copy if it is gone."""
        stored: Session | None = self.conversations.get_session(turn.session.tenant_id, turn.session.session_id)
        return stored or turn.session

    @staticmethod
    def _map_item(payload: dict[str, Any]) -> tuple[PendingCall, Turn, RunInfo]:
        """One item of the ExecuteTools Map: the call, the turn and the run."""
        return (
            PendingCall.model_validate(payload["call"]),
            Turn.model_validate(payload["turn"]),
            RunInfo.model_validate(payload["run"]),
        )

    def warm_up(self) -> None:
        """Import the provider SDK and build its client at init (cold start / SnapStart), not mid-turn."""
        provider = self.provider()
        providers = [provider.primary, provider.secondary] if isinstance(provider, FallbackProvider) else [provider]
        for p in providers:
            client = getattr(p, "client", None)
            if callable(client):
                client()

    # -- AgentStep -----------------------------------------------------------------------------
    def _provider(self, run: RunInfo) -> tuple[LlmProvider, str | None]:
        """The provider of the run's route (its fallback after a failure) and the model to ask it for."""
        provider = self.provider()
        if provider is None:
            raise failures.LlmUnavailable("no LLM provider configured")
        route = run.route
        if route is not None:
            routed = self.providers(route.provider)
            provider = routed if routed is not None else provider
        if run.provider == "fallback" and isinstance(provider, FallbackProvider):
            provider = provider.secondary
        first = provider.primary if isinstance(provider, FallbackProvider) else provider
        return provider, route.model_for(first.name) if route is not None else None

    def _request(self, state: RunState, session: Session) -> LlmRequest:
        limits = state.run.limits
        history = self.store.recent_messages(session.tenant_id, session.session_id, limit=40)
        # This run's own texts are in its transcript already.
        history = [m for m in history if m.meta.get("runId") != state.run.run_id]
        messages = recent_history(history, limits.context_tokens)
        if not messages or messages[-1].role != "user":  # the inbound message is persisted; be safe anyway
            messages.append(ChatMessage.user(state.turn.message.text))
        messages += state.transcript
        final = state.run.final or state.run.iteration >= state.run.max_iterations - 1
        pack = self.packs(session.assistant)
        parts = [pack.session_context(session), summary_block(session.state.get("summary")), state.memory]
        if final:
            state.run.final = True  # tool calls of this step, if the model makes any anyway, are not run
            parts.append(FINAL_NOTE)
        return LlmRequest(
            system=pack.system_prompt(session),
            context="\n\n".join(part for part in parts if part),
            messages=messages,
            tools=[] if final else self.tools(session.assistant).specs(),
            max_tokens=limits.max_output_tokens,
        )

    def step(self, state: RunState) -> RunState:
        """One LLM call; raises a named :class:`failures.AgentStepError` on a provider failure."""
        self.fold_results(state)
        state.error, state.recovery = None, None
        run = state.run
        state.turn = turn = self._follow(state.turn)
        session = self._session(turn)
        if run.iteration == 0 and not state.memory_ids:
            self._remember(state, session)
        request = self._request(state, session)
        # A later step's text follows what the client already shows: keep a space between them.
        continuing = bool(run.streamed) and not run.streamed[-1][-1:].isspace()
        shown: list[str] = []

        def send(text: str) -> bool:
            nonlocal continuing
            if continuing:
                text, continuing = " " + text.lstrip(), False
            run.token_seq += 1  # numbered across the run's steps: the client orders and dedupes by seq
            shown.append(text)
            self._progress(state, session, "".join(shown))
            return self.delivery.send(turn.delivery, token_frame(turn, run.run_id, text, run.token_seq))

        pack = self.packs(session.assistant)
        checker = OutputGuard(
            # The instructions only: the user's own memories and summary may be quoted back to them.
            system_prompt=f"{request.system}\n\n{pack.session_context(session)}",
            language=session.language,
            allow=pack.allowed_output(),
            policy=guard_policy(pack, session.tenant_id, self.settings),
        )
        guard = SentenceGuard(checker)
        streamer = TokenStreamer(send, guard)
        calls: list[ToolCall] = []
        done: Done | None = None
        started = time.perf_counter()
        first_token_ms: float | None = None
        provider, model = self._provider(run)
        if model:
            request.model = model
        try:
            for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1000
                    streamer.feed(event.text)
                elif isinstance(event, ToolCall):
                    calls.append(event)
                    streamer.tick()
                elif isinstance(event, Done):
                    done = event
        except LlmError as err:
            if streamer.frames:
                # The client has part of an answer that will be streamed again: tell it to drop it.
                self.delivery.send(
                    turn.delivery, status_frame("stream_reset", turn.session.session_id, runId=run.run_id)
                )
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
            raise failures.step_error(err) from err
        text = streamer.finish()
        run.iteration += 1
        run.generation_ms += (time.perf_counter() - started) * 1000
        if done is not None:
            run.usage = run.usage + done.usage
            run.cost_usd = round(run.cost_usd + (done.cost_usd or 0.0), 8)
            run.model = done.model or model or run.model
            run.credits += credits_for(done.usage, run.model, self.settings.llm_prices)
        if first_token_ms is not None and run.iteration == 1:
            emit(mn.LLM_TTFT_MS, first_token_ms, MetricUnit.Milliseconds)
        if text:
            run.streamed.append(text)
        if guard.flagged:
            logger.info("output guardrail changed sentences", extra={"flagged": guard.flagged, "run_id": run.run_id})
        if checker.crisis is not None:
            return self._crisis(state, session, checker.crisis, shown=bool(streamer.frames))
        if calls and done is not None and done.stop_reason == "tool_use" and not (run.final):
            return self._tool_step(state, session, text, calls)
        return self._answer(state, session)

    def _crisis(self, state: RunState, session: Session, types: tuple[str, ...], *, shown: bool) -> RunState:
        """The model wrote crisis content: the answer is the fixed crisis reply, with an urgent escalation."""
        from luma.guard.replies import crisis_reply

        turn, run = state.turn, state.run
        if shown:  # what the client has of this answer is replaced
            self.delivery.send(turn.delivery, status_frame("stream_reset", turn.session.session_id, runId=run.run_id))
        reply = crisis_reply(types, session.language, overrides=self.settings.crisis_resources.get(session.tenant_id))
        escalation_id = None
        if self._escalations is None:
            self._escalations = EscalationRepository(self.settings)
        try:
            escalation_id = self._escalations.open(session, "guard: crisis in the model's answer", urgency="urgent")
        except Exception:
            logger.exception("crisis escalation failed")
        run.streamed, run.outcome = [reply], "safety"
        emit("GuardEvents", 1, dimensions={"kind": "crisis", "action": "safety"})
        self._save_and_deliver(
            state,
            session,
            reply,
            status="safety",
            escalationId=escalation_id.escalation_id if escalation_id else None,
        )
        state.step = StepOutcome(stop="end_turn")
        state.transcript = []
        return state

    def _tool_step(self, state: RunState, session: Session, text: str, calls: list[ToolCall]) -> RunState:
        run, limits = state.run, state.run.limits
        content: list[Any] = [TextBlock(text=text)] if text else []
        content += [ToolUseBlock(id=c.id, name=c.name, input=c.input) for c in calls]
        state.transcript.append(ChatMessage(role="assistant", content=content))
        budget = max(
            0,
            min(
                limits.max_tools_per_step,
                limits.max_tools_per_turn - run.tool_calls,
                limits.max_tools_per_session - session.tool_calls,
            ),
        )
        pending: list[PendingCall] = []
        skipped: list[ToolResultBlock] = []
        for i, call in enumerate(calls):
            key = _call_key(call.name, call.input)
            run.call_counts[key] = run.call_counts.get(key, 0) + 1
            if run.call_counts[key] > limits.max_repeated_call:
                raise failures.LoopDetected(f"{call.name} called {run.call_counts[key]} times with the same arguments")
            tool = self.tools(state.turn.session.assistant).get(call.name)
            if i >= budget:
                skipped.append(
                    ToolResultBlock(
                        tool_use_id=call.id,
                        content='{"ok":false,"error":{"code":"TOOL_LIMIT","message":"Tool call limit reached."}}',
                        is_error=True,
                    )
                )
                continue
            pending.append(
                PendingCall(
                    id=call.id,
                    name=call.name,
                    input=call.input,
                    requires_approval=bool(tool and tool.requires_approval),
                    read_only=bool(tool.read_only) if tool else True,
                    timeout_s=(tool.timeout_s if tool and tool.timeout_s else limits.tool_timeout_s),
                )
            )
        run.tool_calls += len(pending)
        if skipped and not pending:
            state.transcript.append(ChatMessage(role="user", content=list(skipped)))
            run.final = True
            state.step = StepOutcome(stop="tool_use", tool_calls=[])
            return state
        state.tool_results = None
        state.step = StepOutcome(stop="tool_use", tool_calls=pending)
        state.error = None
        if skipped:
            state.transcript.append(ChatMessage(role="user", content=list(skipped)))
        for p in pending:
            self.delivery.send(
                state.turn.delivery,
                status_frame(
                    "tool",
                    state.turn.session.session_id,
                    runId=run.run_id,
                    tool=p.name,
                    label=self._label(state.turn, p.name),
                ),
            )
        return state

    def fold_results(self, state: RunState) -> RunState:
        """Put the Map's tool results into the transcript (start of the next AgentStep)."""
        if not state.tool_results:
            return state
        results = [ToolResult.model_validate(r) for r in state.tool_results]
        blocks = [ToolResultBlock(tool_use_id=r.tool_use_id, content=r.content(), is_error=not r.ok) for r in results]
        # A skipped-calls message may already hold some results of this step: merge into one user message.
        if state.transcript and state.transcript[-1].role == "user":
            state.transcript[-1] = ChatMessage(role="user", content=[*state.transcript[-1].content, *blocks])
        else:
            state.transcript.append(ChatMessage(role="user", content=list(blocks)))
        run = state.run
        for r in results:
            run.tools_used.append(r.name)
            run.readonly_streak = run.readonly_streak + 1 if r.read_only else 0
        if run.readonly_streak >= run.limits.max_readonly_streak:
            run.final = True  # anti-paralysis: enough looking, answer now
        state.tool_results = None
        return state

    def _follow(self, turn: Turn) -> Turn:
        """The turn addressed to the user's newest connection: a page reloaded mid-run gets the rest of it."""
        target = turn.delivery
        if target.channel != "websocket" or self.connections is None:
            return turn
        try:
            latest = self.connections.latest(turn.principal.tenant_id, turn.principal.user_id)
        except Exception:
            logger.warning("connection lookup failed; keeping the run's connection", exc_info=True)
            return turn
        if latest is None or latest.connection_id == target.connection_id:
            return turn
        moved = target.model_copy(update={"connection_id": latest.connection_id})
        return turn.model_copy(update={"delivery": moved})

    def _progress(self, state: RunState, session: Session, step_text: str) -> None:
        """Persist the text shown so far (the reply, ``status: running``): a reloaded page shows it."""
        run, turn = state.run, state.turn
        text = " ".join(t.strip() for t in [*run.streamed, step_text] if t.strip())
        reply = Message(
            tenant_id=turn.session.tenant_id,
            session_id=turn.session.session_id,
            message_id=run.reply_id,
            role=Role.ASSISTANT,
            text=text,
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=Route.AGENT,
            meta={"status": "running", "runId": run.run_id, "seq": run.token_seq},
        )
        try:
            self.conversations.save_reply(session, reply)
        except Exception:  # progress is a convenience for reloads: never fail the answer for it
            logger.warning("run progress not saved", exc_info=True)

    def _remember(self, state: RunState, session: Session) -> None:
        """What the user's long-term memory holds for this message, within the context budget."""
        if not self.settings.opensearch_url:
            return
        from luma.memory.consumers import memory_context_for_turn
        from luma.memory.retrieval import query_text

        turn = state.turn
        recent = self.store.recent_messages(session.tenant_id, session.session_id, limit=4)
        previous = next((m.text for m in reversed(recent) if m.role is Role.ASSISTANT), None)
        found = memory_context_for_turn(
            turn.principal.tenant_id,
            turn.principal.user_id,
            session.session_id,
            query_text(turn.message.text, previous),
        )
        state.memory, state.memory_ids = found.text, list(found.used)

    @staticmethod
    def _reply_text(run: RunInfo) -> str:
        return " ".join(t.strip() for t in run.streamed if t.strip())

    def _answer(self, state: RunState, session: Session) -> RunState:
        """Persist the whole answer, then deliver it as one ``message`` frame."""
        turn, run = state.turn, state.run
        text = self._reply_text(run) or texts.text("agent.apology", session.language, assistant=session.assistant)
        run.outcome = run.outcome or "answered"
        self._save_and_deliver(state, session, text, status="answered")
        state.step = StepOutcome(stop="end_turn")
        state.transcript = []
        logger.info(
            "agent answered",
            extra={
                "run_id": run.run_id,
                "iterations": run.iteration,
                "tools": run.tools_used,
                "session_id": turn.session.session_id,
            },
        )
        return state

    def _save_and_deliver(self, state: RunState, session: Session, text: str, *, status: str, **meta: Any) -> None:
        turn, run = state.turn, state.run
        reply = Message(
            tenant_id=turn.session.tenant_id,
            session_id=turn.session.session_id,
            message_id=run.reply_id,  # fixed per run: a retried step overwrites, never duplicates
            role=Role.ASSISTANT,
            text=text,
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=Route.AGENT,
            meta={
                "status": status,
                "runId": run.run_id,
                "usage": run.usage.model_dump(),
                "costUsd": run.cost_usd,
                "credits": run.credits,
                "model": run.model,
                **({"route": run.route.meta()} if run.route is not None else {}),
                "iterations": run.iteration,
                "tools": run.tools_used,
                **({"memories": state.memory_ids} if state.memory_ids else {}),
                **meta,
            },
        )
        self.conversations.save_reply(session, reply)
        frame = {
            **message_frame(
                reply, turn.decision, turn.client_message_id, assistant=session.assistant, language=session.language
            ),
            "runId": run.run_id,
            "usage": _frame_usage(run),
        }
        run.answered_at = time.time()
        if not self.delivery.send(turn.delivery, frame):
            emit(mn.DELIVERY_GONE, 1)

    # -- ExecuteTools --------------------------------------------------------------------------
    def request_approval(self, payload: dict[str, Any]) -> None:
        """Store the task token and ask the user (``approval_request`` frame); the run waits."""
        token = payload["token"]
        call, turn, run = self._map_item(payload)
        session = self._session(turn)
        tool = self.tools(session.assistant).get(call.name)
        prompt = f"Allow {call.name}?"
        if tool is not None and tool.approval_prompt is not None:
            try:
                args = tool.args.model_validate(call.input)
                prompt = tool.approval_prompt(ToolContext(turn.principal, session, run.run_id), args)
            except Exception:  # malformed arguments: the tool call itself will report them
                logger.info("approval prompt fell back", extra={"tool": call.name})
        approval_id = new_id()
        self.approvals.request(
            turn,
            session,
            approval_id=approval_id,
            run_id=run.run_id,
            tool=call.name,
            prompt=prompt,
            token=token,
            ttl_s=run.limits.approval_timeout_s,
        )
        self.delivery.send(
            self._follow(turn).delivery,
            {
                "type": "approval_request",
                "sessionId": turn.session.session_id,
                "runId": run.run_id,
                "approvalId": approval_id,
                "tool": call.name,
                "prompt": prompt,
                "expiresInS": run.limits.approval_timeout_s,
                "language": session.language,
            },
        )

    def answer_approval(self, principal: Any, approval_id: str, approved: bool) -> dict[str, Any]:
        """The user's answer: resume the waiting run (see :meth:`ApprovalService.answer`)."""
        return self.approvals.answer(principal, approval_id, approved)

    def run_tool(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Execute one call (after its approval, if it needed one); heartbeats while it runs."""
        call, turn, run = self._map_item(payload)
        turn = self._follow(turn)
        approval = payload.get("approval") or {}
        session = self._session(turn)
        pack = self.packs(session.assistant)
        outcome = _approval_outcome(approval) if call.requires_approval else None
        if outcome is not None and outcome != "approved" and approval.get("approval_id") is None:
            # No answer came back (the wait timed out or failed): the card says so, never "declined".
            pending = session.state.get(APPROVAL_KEY)
            if pending:
                self.approvals.settle(session.tenant_id, session.session_id, str(pending), outcome)
        ctx = ToolContext(turn.principal, session, run.run_id, approved=outcome == "approved", approval_outcome=outcome)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(run.limits.heartbeat_s):
                frame = {
                    "type": "heartbeat",
                    "sessionId": turn.session.session_id,
                    "runId": run.run_id,
                    "tool": call.name,
                }
                self.delivery.send(turn.delivery, frame)

        beater = threading.Thread(target=beat, name="heartbeat", daemon=True)
        beater.start()
        try:
            result = execute_tool(
                self.tools(session.assistant),
                call.id,
                call.name,
                call.input,
                ctx,
                timeout_s=call.timeout_s,
                max_result_chars=run.limits.tool_result_chars,
                keep_keys=pack.keep_keys,
                identity=pack.identity(),
            )
        finally:
            stop.set()
        if result.state_updates:
            self.store.update_session(session, lambda fresh: pack.apply_state(fresh, result.state_updates))
        if result.error is None or result.error.get("code") not in _NOT_RUN:
            self.store.count_tool_call(session)
        emit(mn.TOOL_CALLS, 1, dimensions={mn.DIM_TOOL: call.name, mn.DIM_OUTCOME: "ok" if result.ok else "error"})
        out = result.model_dump(mode="json")
        out["state_updates"] = {}  # persisted above; the state machine doesn't need to carry them
        return out

    # -- HandleFailure / Finalize --------------------------------------------------------------
    def handle_failure(self, state: RunState) -> RunState:
        """Pick a recovery for the caught error; apologise or escalate when nothing else will do."""
        run = state.run
        if self._answered_before_failing(state):
            return state
        kind = failures.classify_failure(state.error)
        has_fallback = isinstance(self.provider(), FallbackProvider) and run.provider == "primary"
        recovery = failures.choose_recovery(kind, has_fallback=has_fallback, recoveries_left=run.recoveries_left)
        run.failure = kind.value
        logger.warning(
            "agent run failed",
            extra={
                "run_id": run.run_id,
                "kind": kind.value,
                "recovery": recovery.value,
                "error": (state.error or {}).get("Error"),
            },
        )
        emit(mn.AGENT_FAILURES, 1, dimensions={mn.DIM_KIND: kind.value})
        state.recovery = recovery.value
        if recovery is failures.Recovery.FALLBACK:
            run.provider, run.recoveries_left = "fallback", run.recoveries_left - 1
            return state
        if recovery is failures.Recovery.ANSWER_NOW:
            run.final, run.recoveries_left = True, run.recoveries_left - 1
            return state  # the next AgentStep folds in any tool results the failed one had
        turn = state.turn
        session = self._session(turn)
        if recovery is failures.Recovery.ESCALATE:
            escalation_id = self._escalate(state, kind)
            run.outcome = "escalated"
            self._save_and_deliver(
                state,
                session,
                texts.text("agent.escalated", session.language, assistant=session.assistant),
                status="escalated",
                escalationId=escalation_id,
                failure=kind.value,
            )
        else:
            run.outcome = "apologized"
            apology = texts.text("agent.apology", session.language, assistant=session.assistant)
            self._save_and_deliver(state, session, apology, status="failed", failure=kind.value)
        state.step = StepOutcome(stop="end_turn")
        state.transcript = []
        return state

    def _answered_before_failing(self, state: RunState) -> bool:
        """The failed step had stored and sent its final answer (the function failed after it): the run ends
        answered, with no apology after the answer."""
        run, turn = state.run, state.turn
        try:
            stored = self.conversations.get_message(turn.session.tenant_id, turn.session.session_id, run.reply_id)
        except Exception:
            logger.warning("could not read the run's reply; handling the failure", exc_info=True)
            return False
        if stored is None or stored.meta.get("status") not in _FINAL_STATUSES:
            return False
        logger.info("agent step failed after answering", extra={"run_id": run.run_id})
        run.outcome = run.outcome or "answered"
        run.answered_at = run.answered_at or stored.created_at.timestamp()
        state.recovery = None
        state.step = StepOutcome(stop="end_turn")
        state.transcript = []
        return True

    def _escalate(self, state: RunState, kind: failures.FailureKind) -> str | None:
        """Open an escalation for a failed run (the core's record, whatever the pack's tools are)."""
        if self._escalations is None:
            self._escalations = EscalationRepository(self.settings)
        try:
            escalation = self._escalations.open(state.turn.session, f"agent run failed: {kind.value}")
        except Exception:
            logger.exception("escalation failed")
            return None
        return escalation.escalation_id

    def finalize(self, state: RunState) -> dict[str, Any]:
        """Settle the run's credits, count the turn, emit the run's metrics; returns a small summary (the
        execution output)."""
        run, turn = state.run, state.turn
        usage = run.usage
        tokens = usage.input_tokens + usage.output_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        try:
            credits_of(self.limiter).settle(
                turn.principal, run.run_id, run.reservation, credits=run.credits, tokens=tokens
            )
        except Exception:  # the reservation expires and gives its credits back; this run's cost is not counted
            logger.warning("credits not settled", exc_info=True, extra={"run_id": run.run_id})
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: "CREDITS_NOT_SETTLED"})
        emit(
            mn.LLM_INPUT_TOKENS,
            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
            MetricUnit.Count,
        )
        emit(mn.LLM_OUTPUT_TOKENS, usage.output_tokens, MetricUnit.Count)
        emit(mn.LLM_COST_USD, run.cost_usd, MetricUnit.NoUnit)
        emit(mn.AGENT_ITERATIONS, run.iteration, MetricUnit.Count)
        duration_ms = (time.time() - run.started_at) * 1000
        emit(mn.TURN_LATENCY_MS, duration_ms, MetricUnit.Milliseconds, dimensions={mn.DIM_ROUTE: Route.AGENT.value})
        answered = run.outcome == "answered"
        response_ms = ((run.answered_at or time.time()) - turn.message.created_at.timestamp()) * 1000
        self.metrics.record(
            TurnRecord(
                turn.session.tenant_id,
                Route.AGENT.value,
                turn.decision.intent,
                ok=answered,
                response_ms=response_ms,
                code=None if answered else f"AGENT_{(run.failure or run.outcome or 'failed').upper()}",
                input_tokens=tokens - usage.output_tokens,
                output_tokens=usage.output_tokens,
                generation_ms=run.generation_ms,
                credits=run.credits,
                model=run.model or None,
            )
        )
        summary = {
            "runId": run.run_id,
            "outcome": run.outcome or "unknown",
            "failure": run.failure,
            "iterations": run.iteration,
            "tools": run.tools_used,
            "usage": usage.model_dump(),
            "costUsd": run.cost_usd,
            "credits": run.credits,
            "model": run.model,
            "route": run.route.meta() if run.route is not None else None,
            "durationMs": round(duration_ms, 1),
        }
        logger.info("agent run finished", extra=summary)
        return summary


def _frame_usage(run: RunInfo) -> dict[str, Any]:
    """The usage the final ``message`` frame carries."""
    u = run.usage
    return {
        "inputTokens": u.input_tokens + u.cache_read_tokens + u.cache_write_tokens,
        "outputTokens": u.output_tokens,
        "costUsd": run.cost_usd,
        "credits": run.credits,
        "model": run.model or None,
    }


def new_run(turn: Turn, limits: AgentLimits, *, route: ModelRoute | None = None) -> RunState:
    """The initial state of a run for an inbound turn (the run id is the inbound message id)."""
    return RunState(
        turn=turn,
        run=RunInfo(
            run_id=turn.message.message_id,
            reply_id=new_id(),
            intent=turn.decision.intent,
            max_iterations=limits.max_iterations,
            recoveries_left=limits.recoveries,
            limits=limits,
            started_at=datetime.now(UTC).timestamp(),
            route=route,
            model=route.model if route is not None else "",
        ),
    )
