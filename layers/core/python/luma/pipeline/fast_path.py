"""The fast-path stage: run the intent's handler, persist the reply, deliver it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma.agent.entry import AgentEntry
from luma.assistants.base import AssistantPack
from luma.channels.websocket import Delivery
from luma.domain.models import Message, Role, Turn
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, message_frame
from luma.store.repos import ConversationRepository


class FastPathService:
    """Answers a routed turn without an LLM, or hands it to the agent when the handler can't."""

    def __init__(
        self, *, pack: AssistantPack, conversations: ConversationRepository, delivery: Delivery, agent: AgentEntry
    ) -> None:
        self.pack = pack
        self.conversations = conversations
        self.delivery = delivery
        self.agent = agent

    def handle(self, turn: Turn) -> None:
        start = time.perf_counter()
        intent = turn.decision.intent or ""
        handler = self.pack.fast_path(intent)
        if handler is None:
            self.agent.start(turn, reason="no_fast_path")
            return
        try:
            result = handler(turn)
        except Exception:
            logger.exception("fast path failed", extra={"intent": intent})
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: ErrorCode.INTERNAL.value})
            self.delivery.send(
                turn.delivery,
                error_frame(
                    LumaError(ErrorCode.INTERNAL),
                    client_message_id=turn.client_message_id,
                    session_id=turn.session.session_id,
                ),
            )
            return
        if result.handoff:
            logger.info("fast path handed off", extra={"intent": intent, "handoff": result.handoff})
            self.agent.start(turn, reason=result.handoff)
            return
        reply = Message(
            tenant_id=turn.session.tenant_id,
            session_id=turn.session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=result.text,
            reply_to=turn.message.message_id,
            intent=result.intent or intent,
            route=turn.decision.route,
            meta=result.meta,
        )
        self.conversations.save_reply(turn.session, reply, state=result.state, status=result.status)
        delivered = self.delivery.send(turn.delivery, message_frame(reply, turn.decision, turn.client_message_id))
        if not delivered:
            emit(mn.DELIVERY_GONE, 1)
        emit(mn.FAST_PATH_LATENCY_MS, (time.perf_counter() - start) * 1000, MetricUnit.Milliseconds)
        turn_ms = (datetime.now(UTC) - turn.message.created_at).total_seconds() * 1000
        emit(mn.TURN_LATENCY_MS, turn_ms, MetricUnit.Milliseconds, dimensions={mn.DIM_ROUTE: turn.decision.route.value})
        logger.info(
            "fast path answered",
            extra={"intent": reply.intent, "delivered": delivered, "session_id": turn.session.session_id},
        )
