"""The agent entry point: where a turn goes when no fast path answers it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from luma import texts
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import Message, Role, Route, Turn
from luma.errors import ErrorCode, user_message
from luma.ids import new_id
from luma.observability import logger
from luma.pipeline.frames import status_frame
from luma.store.repos import ConversationRepository

if TYPE_CHECKING:
    from luma.agent.limits import AgentLimits

ENABLE_HINT = (
    "Set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL (any OpenAI-compatible server) to enable agent answers."
)


class AgentEntry(Protocol):
    def start(self, turn: Turn, *, reason: str | None = None) -> None: ...


class UnavailableAgent:
    """The behaviour of a deployment with no agent: a persisted, typed ``agent_unavailable`` answer."""

    def __init__(self, settings: Settings, conversations: ConversationRepository, delivery: Delivery) -> None:
        self.settings = settings
        self.conversations = conversations
        self.delivery = delivery

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
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.delivery = delivery
        self.limits = limits
        self._client = client

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

        state = new_run(turn, self.limits(turn.session.assistant, turn.decision.intent))
        try:
            self.client.start_execution(
                stateMachineArn=self.settings.agent_run_state_machine_arn,
                name=state.run.run_id,
                input=state.model_dump_json(),
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            logger.info("agent run already started", extra={"run_id": state.run.run_id})
            return
        logger.info("agent run started", extra={"run_id": state.run.run_id, "reason": reason})
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
