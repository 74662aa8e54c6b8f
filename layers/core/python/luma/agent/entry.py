"""The agent entry point: where a turn goes when no fast path answers it.

A run starts with its route (provider and model, :mod:`luma.llm.routing`) and its credits: the cost
of the run is estimated (the context it will send and a full answer, at its model's price) and
reserved from the user's balance (:mod:`luma.usage.ledger`) before the state machine starts. No
credits, or a ledger that can't answer, and the run does not start: the refusal is persisted as the
reply and sent as an ``error`` frame (``QUOTA_EXCEEDED`` naming when the credits renew, or
``AGENT_UNAVAILABLE``). Every agent run passes here (a fast path handing a turn over too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from luma import metrics_names as mn
from luma import texts
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import Message, Role, Route, Turn
from luma.errors import ErrorCode, LumaError, user_message
from luma.ids import new_id
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, status_frame
from luma.store.repos import ConversationRepository
from luma.usage import Credits, TurnMetrics, TurnRecord, metrics_beside

if TYPE_CHECKING:
    from luma.agent.limits import AgentLimits
    from luma.agent.run import RunState
    from luma.assistants.contract import AssistantPack
    from luma.usage.ledger import Reservation

ENABLE_HINT = (
    "Set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL (any OpenAI-compatible server) to enable agent answers."
)


class AgentEntry(Protocol):
    def start(self, turn: Turn, *, reason: str | None = None) -> None: ...


class UnavailableAgent:
    """The behaviour of a deployment with no agent: a persisted, typed ``agent_unavailable`` answer."""

    def __init__(
        self,
        settings: Settings,
        conversations: ConversationRepository,
        delivery: Delivery,
        *,
        metrics: TurnMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.delivery = delivery
        self.metrics = metrics or metrics_beside(conversations)

    def start(self, turn: Turn, *, reason: str | None = None) -> None:
        unavailable = texts.text("agent.unavailable", turn.session.language, assistant=turn.session.assistant)
        reply = Message(
            tenant_id=turn.session.tenant_id,
            session_id=turn.session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=unavailable,
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=Route.AGENT,
            meta={"status": "agent_unavailable", "handoff": reason},
        )
        self.conversations.save_reply(turn.session, reply)
        self.delivery.send(
            turn.delivery,
            status_frame(
                "agent_unavailable",
                turn.session.session_id,
                code=ErrorCode.AGENT_UNAVAILABLE.value,
                clientMessageId=turn.client_message_id,
                messageId=reply.message_id,
                message=unavailable,
                hint=ENABLE_HINT,
                detail=user_message(ErrorCode.AGENT_UNAVAILABLE, turn.session.language, turn.session.assistant),
                intent=turn.decision.intent,
                confidence=round(turn.decision.confidence, 4),
                route=Route.AGENT.value,
            ),
        )
        code = ErrorCode.AGENT_UNAVAILABLE.value
        self.metrics.record(TurnRecord(turn.session.tenant_id, None, turn.decision.intent, False, _since(turn), code))


class StepFunctionsAgent:
    """Starts the ``agent_run`` state machine for a turn (one execution per inbound message).

    The execution name is the inbound message id, so a retried classify (Lambda async retries)
    cannot start a second run for the same message: Step Functions refuses the duplicate name.
    """

    def __init__(
        self,
        settings: Settings,
        conversations: ConversationRepository,
        delivery: Delivery,
        *,
        limits: Callable[[str, str | None], AgentLimits],
        client: Any = None,
        credits: Credits | None = None,
        packs: Callable[[str], AssistantPack] | None = None,
        metrics: TurnMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.delivery = delivery
        self.limits = limits
        self._client = client
        if credits is None:
            from luma.usage.ledger import CreditLedger

            credits = CreditLedger(settings)
        self.credits = credits
        if packs is None:
            from luma.assistants.registry import get_pack

            packs = get_pack
        self.packs = packs
        self.metrics = metrics or metrics_beside(conversations)

    @property
    def client(self) -> Any:
        if self._client is None:
            from luma.aws import client as make_client

            self._client = make_client(
                "stepfunctions", region=self.settings.region, endpoint_url=self.settings.stepfunctions_endpoint_url
            )
        return self._client

    def start(self, turn: Turn, *, reason: str | None = None) -> None:
        from luma.agent.run import new_run
        from luma.llm.routing import resolve_route

        assistant, intent = turn.session.assistant, turn.decision.intent
        pack = self.packs(assistant)
        limits = self.limits(assistant, intent)
        state = new_run(turn, limits, route=resolve_route(self.settings, assistant, intent, pack.models))
        try:
            state.run.reservation = self._reserve(state, pack)
        except LumaError as err:
            self._refuse(turn, err)
            return
        try:
            self.client.start_execution(
                stateMachineArn=self.settings.agent_run_state_machine_arn,
                name=state.run.run_id,
                input=state.model_dump_json(),
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            logger.info("agent run already started", extra={"run_id": state.run.run_id})
            return
        except Exception:
            self._give_back(state)
            raise
        logger.info(
            "agent run started",
            extra={"run_id": state.run.run_id, "reason": reason, "model": state.run.model, "credits": _held(state)},
        )
        self.delivery.send(
            turn.delivery,
            status_frame(
                "thinking",
                turn.session.session_id,
                runId=state.run.run_id,
                clientMessageId=turn.client_message_id,
                intent=turn.decision.intent,
                confidence=round(turn.decision.confidence, 4),
                route=Route.AGENT.value,
            ),
        )

    def _reserve(self, state: RunState, pack: AssistantPack) -> Reservation:
        """Hold the run's estimated cost; ``QUOTA_EXCEEDED`` without credits, ``AGENT_UNAVAILABLE`` when the
        ledger can't answer (agent runs fail closed)."""
        from luma.usage.ledger import unavailable_error
        from luma.usage.pricing import credits_of, estimate_usage

        turn, run = state.turn, state.run
        try:
            plan = self.credits.plan(turn.principal.tenant_id)
            credits = 0
            if not plan.unlimited:
                usage = estimate_usage(pack, turn.session, turn.message.text, run.limits, steps=plan.estimate_steps)
                credits = credits_of(usage, run.model, self.settings.llm_prices)
            return self.credits.reserve(turn.principal, run.run_id, credits)
        except LumaError:
            raise
        except Exception:
            logger.warning("credit ledger unavailable; the agent run is refused", exc_info=True)
            raise unavailable_error() from None

    def _give_back(self, state: RunState) -> None:
        """The run could not start: settle its reservation at nothing (best effort; else it expires)."""
        try:
            self.credits.settle(state.turn.principal, state.run.run_id, state.run.reservation, credits=0, tokens=0)
        except Exception:
            logger.warning("credit reservation not given back; it will expire", exc_info=True)

    def _refuse(self, turn: Turn, err: LumaError) -> None:
        """Persist the refusal as the reply (marked refused: later runs leave it out), then send it."""
        session = turn.session
        reason = "quota_exceeded" if err.code is ErrorCode.QUOTA_EXCEEDED else "limiter_unavailable"
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
        logger.info("agent run refused", extra={"code": err.code.value, "session_id": session.session_id})
        reply = Message(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=err.user_text(session.language, session.assistant),
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=Route.AGENT,
            meta={"error": err.code.value, "refused": reason, **err.details},
        )
        self.conversations.save_reply(session, reply)
        self.delivery.send(
            turn.delivery,
            error_frame(
                err,
                client_message_id=turn.client_message_id,
                session_id=session.session_id,
                language=session.language,
                assistant=session.assistant,
            ),
        )
        code = err.code.value
        self.metrics.record(TurnRecord(session.tenant_id, None, turn.decision.intent, False, _since(turn), code))


def _held(state: RunState) -> int:
    reservation = state.run.reservation
    return reservation.credits if reservation is not None else 0


def _since(turn: Turn) -> float:
    """Milliseconds since the turn's message arrived."""
    return (datetime.now(UTC) - turn.message.created_at).total_seconds() * 1000
