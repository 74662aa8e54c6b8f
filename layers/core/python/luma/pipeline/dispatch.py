"""The dispatcher: tell the client what happened to its message, then hand the turn on.

A recorded message gets, in order: a ``session_started``/``session_restarted`` status when a session
began, an ``error`` when it was refused (rate limit, quota, unsupported attachment), else its turn
goes to the fast path (asynchronous invoke of the ``fast_path`` function) or to the agent. A session
an operator has taken over gets no bot reply: the message is relayed to the operators instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma.agent.entry import AgentEntry
from luma.config import Settings
from luma.domain.models import DeliveryTarget, Route, SessionStatus, Turn
from luma.errors import ErrorCode, LumaError
from luma.invoke import Invoker
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, status_frame
from luma.pipeline.intake import Inbound
from luma.usage import TurnMetrics, TurnRecord
from luma.usage.metrics import NoTurnMetrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from luma.agent.approvals import ApprovalService
    from luma.channels.websocket import Delivery
    from luma.operators.escalations import EscalationRepository
    from luma.pipeline.recorder import Recorded
    from luma.store.repos import ConversationRepository


def _escalations() -> EscalationRepository:
    from luma.operators.escalations import EscalationRepository

    return EscalationRepository()


APPROVAL_INTENT = "approval_answer"  # a message that answers an approval request


class TakeoverRelay:
    """Where the messages of a taken-over session go (the operators' side)."""

    def relay(self, turn: Turn) -> None:
        """Hand the user's message to the operator who holds the session."""
        logger.info("message in a taken-over session", extra={"session_id": turn.session.session_id})


class Dispatcher:
    """Status and error frames for a recorded message, then the fast path or the agent."""

    def __init__(
        self,
        settings: Settings,
        *,
        invoker: Invoker,
        delivery: Delivery,
        agent: AgentEntry,
        relay: TakeoverRelay | None = None,
        approvals: Callable[[], ApprovalService] | None = None,
        metrics: TurnMetrics | None = None,
        conversations: ConversationRepository | None = None,
        escalations: Callable[[], EscalationRepository] | None = None,
    ) -> None:
        self.settings = settings
        self.invoker = invoker
        self.delivery = delivery
        self.agent = agent
        self.relay = relay or TakeoverRelay()
        self.approvals = approvals
        self.metrics: TurnMetrics = metrics or NoTurnMetrics()
        self.conversations = conversations  # where the guard's fixed answers are persisted
        self.escalations = escalations or _escalations

    def announce(self, recorded: Recorded, inbound: Inbound, target: DeliveryTarget) -> None:
        """``session_started`` / ``session_restarted`` when the message began a session."""
        resolved = recorded.resolved
        if not resolved.new:
            return
        previous = resolved.closed.session_id if resolved.closed else resolved.previous_id
        self.delivery.send(
            target,
            status_frame(
                "session_restarted" if previous else "session_started",
                recorded.session.session_id,
                previousSessionId=previous,
                clientMessageId=inbound.client_message_id,
                assistant=recorded.session.assistant,
            ),
        )

    def refuse(self, recorded: Recorded, inbound: Inbound, target: DeliveryTarget, *, scope: str | None) -> None:
        """Tell the client its (stored) message was not processed, and why."""
        assert recorded.refusal is not None
        reason, err = recorded.refusal
        session = recorded.session
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
        logger.info(
            "turn refused",
            extra={"code": err.code.value, "reason": reason, "scope": scope, "session_id": session.session_id},
        )
        self.delivery.send(
            target,
            error_frame(
                err,
                client_message_id=inbound.client_message_id,
                session_id=session.session_id,
                language=session.language,
                assistant=session.assistant,
            ),
        )
        ms = (datetime.now(UTC) - recorded.message.created_at).total_seconds() * 1000
        intent = recorded.decision.intent
        self.metrics.record(TurnRecord(session.tenant_id, None, intent, ok=False, response_ms=ms, code=err.code.value))

    def dispatch(self, turn: Turn) -> None:
        """Route the turn: the relay of a taken-over session, the fast path, or the agent."""
        decision, session = turn.decision, turn.session
        emit(mn.CLASSIFY_LATENCY_MS, decision.latency_ms, MetricUnit.Milliseconds)
        emit(mn.TURNS, 1, dimensions={mn.DIM_ROUTE: decision.route.value})
        logger.info(
            "turn routed",
            extra={
                "route": decision.route.value,
                "intent": decision.intent,
                "confidence": decision.confidence,
                "reason": decision.reason,
                "session_id": session.session_id,
                "assistant": session.assistant,
                "channel": session.channel,
                "language": session.language,
            },
        )
        if decision.route is Route.SAFETY:
            return  # the guard answered it (a crisis reply, a refusal, a block)
        if decision.intent == APPROVAL_INTENT:
            self._answer_approval(turn)
        elif session.status is SessionStatus.TAKEN_OVER:
            self.relay.relay(turn)
        elif decision.route in (Route.FAST_PATH, Route.FLOW):
            self.invoker.invoke_async(self.settings.fast_path_function, turn.model_dump(mode="json"))
        else:
            self.agent.start(turn, reason=decision.reason)

    def _answer_approval(self, turn: Turn) -> None:
        """A button press or a yes/no that answers a pending approval: resume the waiting run."""
        _, approval_id, answer = turn.decision.reason.split(":")
        session = turn.session
        try:
            if self.approvals is None:
                raise LumaError(ErrorCode.APPROVAL_EXPIRED)
            result = self.approvals().answer(turn.principal, approval_id, answer == "yes")
        except LumaError as err:
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
            return
        self.delivery.send(
            turn.delivery,
            status_frame(
                "approval_recorded",
                session.session_id,
                approvalId=approval_id,
                approved=answer == "yes",
                runId=result["runId"],
                clientMessageId=turn.client_message_id,
                label=result.get("label") if answer == "yes" else None,
            ),
        )

    def safety_reply(self, turn: Turn, text: str, *, escalate: str | None = None) -> None:
        """The guard's fixed answer (a crisis reply, a refusal): persisted, then delivered; an escalation if asked."""
        from luma.domain.models import Message, Role
        from luma.ids import new_id
        from luma.pipeline.frames import message_frame

        session = turn.session
        escalation_id = None
        if escalate:
            try:
                escalation_id = (
                    self.escalations()
                    .open(
                        session,
                        f"guard: {turn.decision.intent}",
                        urgency="urgent" if escalate == "urgent" else "normal",
                    )
                    .escalation_id
                )
            except Exception:
                logger.exception("escalation of a guard event failed")
        reply = Message(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=text,
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=Route.SAFETY,
            meta={
                "guard": turn.message.meta.get("guard", {}),
                **({"escalationId": escalation_id} if escalation_id else {}),
            },
        )
        if self.conversations is not None:
            self.conversations.save_reply(session, reply)
        self.delivery.send(
            turn.delivery,
            message_frame(
                reply, turn.decision, turn.client_message_id, assistant=session.assistant, language=session.language
            ),
        )

    def block(self, turn: Turn, err: LumaError) -> None:
        """``BLOCKED``: the message is stored, nothing is answered but the error."""
        session = turn.session
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
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
