"""The fast-path stage: run the intent's handler, persist the reply, deliver it.

The handler is the session's assistant pack's. A typed refusal of the handler (``IDENTITY_LOCKED``...)
is persisted as the reply before its ``error`` frame goes out; a menu the handler offers is kept in
the session state (``_menu``: the option ids) so a numbered answer on SMS finds its option.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma import timing
from luma.agent.entry import AgentEntry
from luma.assistants.contract import MENU_KEY, AssistantPack, FastPathResult
from luma.channels.websocket import Delivery
from luma.domain.models import Message, Role, SessionStatus, Turn
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, message_frame
from luma.store.repos import AlreadyAnsweredError, ConversationRepository
from luma.usage import TurnMetrics, TurnRecord, metrics_beside


class FastPathService:
    """Answers a routed turn without an LLM, or hands it to the agent when the handler can't."""

    def __init__(
        self,
        *,
        packs: Callable[[str], AssistantPack],
        conversations: ConversationRepository,
        delivery: Delivery,
        agent: AgentEntry,
        metrics: TurnMetrics | None = None,
    ) -> None:
        self.packs = packs
        self.conversations = conversations
        self.delivery = delivery
        self.agent = agent
        self.metrics = metrics or metrics_beside(conversations)

    def handle(self, turn: Turn) -> None:
        start = time.perf_counter()
        timing.begin()
        intent = turn.decision.intent or ""
        handler = self.packs(turn.session.assistant).fast_path(intent)
        if handler is None:
            self.agent.start(turn, reason="no_fast_path")
            return
        try:
            result = handler(turn)
            timing.mark("handler")
        except LumaError as err:
            self._refuse(turn, err)
            return
        except Exception:
            logger.exception("fast path failed", extra={"intent": intent})
            self._refuse(turn, LumaError(ErrorCode.INTERNAL))
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
            meta={**result.meta, **_choices_meta(result)},
        )
        state = _with_menu(turn, result)
        answer = self._save_answer(turn, reply, state=state, status=result.status)
        timing.mark("save")
        if answer is None:
            return
        frame = message_frame(
            answer,
            turn.decision,
            turn.client_message_id,
            assistant=turn.session.assistant,
            language=turn.session.language,
            choices=result.choices,
        )
        delivered = self.delivery.send(turn.delivery, frame)
        timing.mark("send")
        if not delivered:
            emit(mn.DELIVERY_GONE, 1)
        self._delivered(turn)
        timing.mark("mark_delivered")
        emit(mn.FAST_PATH_LATENCY_MS, (time.perf_counter() - start) * 1000, MetricUnit.Milliseconds)
        turn_ms = (datetime.now(UTC) - turn.message.created_at).total_seconds() * 1000
        emit(mn.TURN_LATENCY_MS, turn_ms, MetricUnit.Milliseconds, dimensions={mn.DIM_ROUTE: turn.decision.route.value})
        logger.info(
            "fast path answered",
            extra={"intent": reply.intent, "delivered": delivered, "session_id": turn.session.session_id},
        )
        # After the reply is out: counting the turn never delays it.
        route = turn.decision.route.value
        self.metrics.record(TurnRecord(turn.session.tenant_id, route, reply.intent, ok=True, response_ms=turn_ms))
        timing.mark("metrics")
        timing.finish("fast_path")

    def _refuse(self, turn: Turn, err: LumaError) -> None:
        """Persist the refusal as the reply, then send its ``error`` frame."""
        session = turn.session
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
        text = err.user_text(session.language, session.assistant)
        reply = Message(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=new_id(),
            role=Role.ASSISTANT,
            text=text,
            reply_to=turn.message.message_id,
            intent=turn.decision.intent,
            route=turn.decision.route,
            meta={"error": err.code.value, **err.details},
        )
        if self._save_answer(turn, reply) is None:
            return
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
        self._delivered(turn)
        ms = (datetime.now(UTC) - turn.message.created_at).total_seconds() * 1000
        record = TurnRecord(
            session.tenant_id,
            turn.decision.route.value,
            turn.decision.intent,
            ok=False,
            response_ms=ms,
            code=err.code.value,
        )
        self.metrics.record(record)

    def _save_answer(
        self,
        turn: Turn,
        reply: Message,
        *,
        state: dict[str, object] | None = None,
        status: SessionStatus | None = None,
    ) -> Message | None:
        """Save ``reply`` as the one answer to the turn's message; the answer to deliver.

        A retried run (the function failed after answering) finds the first run's answer: None when it
        went out (recorded on WhatsApp/SMS), else that stored answer, sent again with its own id.
        """
        try:
            self.conversations.save_reply(turn.session, reply, state=state, status=status, answers=True)
        except AlreadyAnsweredError as earlier:
            logger.info("fast path answered before", extra={"delivered": earlier.delivered})
            if earlier.delivered:
                return None
            session = turn.session
            return self.conversations.get_message(session.tenant_id, session.session_id, earlier.reply_id) or reply
        return reply

    def _delivered(self, turn: Turn) -> None:
        """Record that the answer went out, where a second copy would reach the person: on WhatsApp/SMS.
        A WebSocket client shows a message once per ``messageId``, so there a retry resends the stored
        answer and the turn saves a write."""
        if turn.delivery.channel == "websocket":
            return
        session = turn.session
        self.conversations.mark_delivered(session.tenant_id, session.session_id, turn.message.message_id)


def _choices_meta(result: FastPathResult) -> dict[str, object]:
    return {"choices": [{"id": c.id, "label": c.label} for c in result.choices]} if result.choices else {}


def _with_menu(turn: Turn, result: FastPathResult) -> dict[str, object] | None:
    """The session state to write: the handler's, with the menu it offered (or without the last one)."""
    state = result.state
    had_menu = MENU_KEY in turn.session.state
    if not result.choices and not had_menu:
        return state
    new = dict(state if state is not None else turn.session.state)
    if result.choices:
        new[MENU_KEY] = [c.id for c in result.choices]
    else:
        new.pop(MENU_KEY, None)
    return new
