"""The classify stage of a WebSocket turn.

Validate the frame → resolve the session (new, existing, restarted after inactivity) → route
(pending flow step or classifier) → persist inbound message + idempotency record + routing decision +
session update in one transaction → hand the turn to the fast path (async invoke) or the agent.

Rate limits (:mod:`luma.limits`) are checked after frame validation — a malformed frame costs no
token — concurrently with the session read and the classification. A message over a limit is still
persisted (decision ``reason="rate_limited"``, or ``"quota_exceeded"`` when an agent turn is over the
user's daily quota), without an idempotency record so that a retry with the same ``clientMessageId``
after ``retryAfter`` is processed; it is answered with an ``error`` frame and handed to nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma.agent.entry import AgentEntry
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import DeliveryTarget, Message, Principal, Role, Route, Session, SessionStatus, Turn
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.invoke import Invoker
from luma.limits import InlineCheck, Limiter, NoLimits, RateDecision
from luma.observability import emit, logger
from luma.pipeline.frames import SendMessageFrame, error_frame, parse_send_message, status_frame
from luma.pipeline.router import Router
from luma.store.repos import (
    ConversationRepository,
    DuplicateMessageError,
    ExtraUpdateFailedError,
    InboundRecord,
    SessionConflictError,
)


@dataclass(frozen=True)
class WsRequest:
    """One WebSocket frame as the classify function sees it."""

    connection_id: str
    principal: Principal | None
    body: str | None
    endpoint: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class ResolvedSession:
    session: Session
    new: bool
    closed: Session | None = None  # the session that timed out, when restarting


class ClassifyService:
    """Runs the classify stage; every dependency is injected (real adapters by default in the handler)."""

    def __init__(
        self,
        *,
        settings: Settings,
        conversations: ConversationRepository,
        router: Router,
        invoker: Invoker,
        delivery: Delivery,
        agent: AgentEntry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.router = router
        self.invoker = invoker
        self.delivery = delivery
        self.agent = agent
        self.clock = clock
        self.limiter: Limiter = limiter or NoLimits()
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="classify-io")

    def warm_up(self) -> None:
        """Load the model and build the clients during Lambda init rather than on the first message."""
        self.router.predict("hello")
        warm = getattr(self.limiter, "warm_up", None)
        if callable(warm):
            warm()

    def handle(self, request: WsRequest) -> None:
        """Process one frame; errors become ``error`` frames, never exceptions to API Gateway."""
        target = DeliveryTarget(connection_id=request.connection_id, endpoint=request.endpoint)
        frame: SendMessageFrame | None = None
        try:
            if request.principal is None:
                raise LumaError(ErrorCode.AUTH_REQUIRED)
            frame = parse_send_message(request.body, max_chars=self.settings.max_text_chars)
            self._process(request.principal, frame, target, request.source_ip)
        except Exception as exc:
            if isinstance(exc, LumaError):
                err = exc
                logger.info("turn rejected", extra={"code": err.code.value})
            else:  # a fault of ours or of a dependency: the client may retry with the same clientMessageId
                err = LumaError(ErrorCode.INTERNAL)
                logger.exception("turn failed")
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
            self.delivery.send(
                target,
                error_frame(
                    err,
                    client_message_id=frame.client_message_id if frame else None,
                    session_id=frame.session_id if frame else None,
                ),
            )

    def _resolve_session(self, principal: Principal, session_id: str | None, now: datetime) -> ResolvedSession:
        def fresh() -> Session:
            return Session(
                tenant_id=principal.tenant_id,
                session_id=new_id(),
                user_id=principal.user_id,
                assistant=self.settings.assistant,
                created_at=now,
                last_activity_at=now,
            )

        if session_id is None:
            return ResolvedSession(fresh(), new=True)
        session = self.conversations.get_session(principal.tenant_id, session_id)
        # Another user's (or tenant's) session is indistinguishable from a missing one.
        if session is None or session.user_id != principal.user_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        if session.status is SessionStatus.LOCKED:
            raise LumaError(ErrorCode.SESSION_LOCKED)
        if session.status is SessionStatus.CLOSED:
            return ResolvedSession(fresh(), new=True)
        if now - session.last_activity_at > timedelta(seconds=self.settings.session_inactivity_s):
            return ResolvedSession(fresh(), new=True, closed=session)
        session = session.model_copy(update={"last_activity_at": now})
        return ResolvedSession(session, new=False)

    def _inline_check(self, principal: Principal, source_ip: str | None) -> InlineCheck | None:
        inline = getattr(self.limiter, "inline", None)
        if inline is None:
            return None
        try:
            check: InlineCheck | None = inline(principal, source_ip)
        except Exception:  # a bug in the limiter must not block messages: check the usual way
            logger.warning("inline rate limit failed; checking separately", exc_info=True)
            return None
        return check

    def _checked(self, principal: Principal, source_ip: str | None) -> RateDecision:
        try:
            return self.limiter.check(principal, source_ip)
        except Exception:  # the limiter fails open by itself; this is a fault of a fake or a bug
            logger.warning("rate limit check failed; allowing the message", exc_info=True)
            return RateDecision(True)

    def _refusal(self, principal: Principal, rate: RateDecision, route: Route) -> tuple[str, LumaError] | None:
        """Why this message must not be processed, if it must not: a rate limit, or the quota of an agent turn."""
        if not rate.allowed:
            return "rate_limited", rate.error()
        if route is Route.AGENT:
            try:
                self.limiter.check_quota(principal)
            except LumaError as exc:
                if exc.code is not ErrorCode.QUOTA_EXCEEDED:
                    raise
                return "quota_exceeded", exc
        return None

    def _process(
        self, principal: Principal, frame: SendMessageFrame, target: DeliveryTarget, source_ip: str | None = None
    ) -> None:
        now = self.clock()
        # The rate-limit bucket updates ride in the inbound message's own transaction (no extra round
        # trip); a limiter that can't do that is checked on the pool while the classifier runs here.
        inline = self._inline_check(principal, source_ip)
        limited = None if inline is not None else self._pool.submit(self._checked, principal, source_ip)
        pending = (
            self._pool.submit(self._resolve_session, principal, frame.session_id, now) if frame.session_id else None
        )
        classified = self.router.predict(frame.text)
        rate = RateDecision(True) if limited is None else limited.result()
        resolved = pending.result() if pending is not None else self._resolve_session(principal, frame.session_id, now)
        refusal: tuple[str, LumaError] | None = None
        for attempt in range(3):
            session = resolved.session
            message = Message(
                tenant_id=session.tenant_id,
                session_id=session.session_id,
                message_id=new_id(),
                role=Role.USER,
                text=frame.text,
                created_at=now,
                client_message_id=frame.client_message_id,
            )
            decision = self.router.route(session, message, classified)
            refusal = self._refusal(principal, rate, decision.route)
            if refusal is None:
                message = message.model_copy(update={"intent": decision.intent, "route": decision.route})
            else:
                # Stored for audit with what the classifier said, but marked as not processed.
                decision = decision.model_copy(update={"reason": refusal[0]})
                message = message.model_copy(update={"intent": decision.intent, "meta": {"refused": refusal[0]}})
            try:
                self.conversations.record_inbound(
                    InboundRecord(
                        session=session,
                        message=message,
                        decision=decision,
                        new_session=resolved.new,
                        # A refused message is not "processed": a retry with the same id must go through.
                        client_message_id=frame.client_message_id if refusal is None else None,
                        close_session=resolved.closed,
                        extra_updates=inline.updates if inline is not None else [],
                    )
                )
                if inline is not None:
                    self.limiter.confirm(inline)  # type: ignore[attr-defined]
                break
            except DuplicateMessageError as dup:
                self.delivery.send(
                    target,
                    status_frame(
                        "duplicate",
                        dup.record.session_id if dup.record else frame.session_id,
                        clientMessageId=frame.client_message_id,
                        messageId=dup.record.message_id if dup.record else None,
                    ),
                )
                return
            except ExtraUpdateFailedError:
                # The bucket was not in the state guessed: settle it on its own (refusing if empty),
                # then write the message without the bucket updates.
                inline, rate = None, self._checked(principal, source_ip)
            except SessionConflictError:
                # The session was locked/closed between our read and write: resolve it again.
                if attempt == 2:
                    raise LumaError(ErrorCode.INTERNAL) from None
                resolved = self._resolve_session(principal, frame.session_id, now)
        else:
            raise LumaError(ErrorCode.INTERNAL)
        if resolved.new:
            previous = resolved.closed.session_id if resolved.closed else frame.session_id
            self.delivery.send(
                target,
                status_frame(
                    "session_restarted" if previous else "session_started",
                    session.session_id,
                    previousSessionId=previous,
                    clientMessageId=frame.client_message_id,
                ),
            )
        if refusal is not None:
            reason, err = refusal
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
            logger.info(
                "turn refused",
                extra={"code": err.code.value, "reason": reason, "scope": rate.scope, "session_id": session.session_id},
            )
            self.delivery.send(
                target,
                error_frame(err, client_message_id=frame.client_message_id, session_id=session.session_id),
            )
            return
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
            },
        )
        turn = Turn(
            principal=principal,
            session=session,
            message=message,
            decision=decision,
            delivery=target,
            client_message_id=frame.client_message_id,
        )
        if decision.route in (Route.FAST_PATH, Route.FLOW):
            self.invoker.invoke_async(self.settings.fast_path_function, turn.model_dump(mode="json"))
        else:
            self.agent.start(turn, reason=decision.reason)
