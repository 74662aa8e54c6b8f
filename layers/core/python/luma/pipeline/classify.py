"""The classify stage of a turn, for WebSocket frames and WhatsApp/SMS messages alike.

Validate the input → resolve the session (new, existing, restarted after inactivity) → detect the
language → route (pending flow step or classifier) → persist inbound message + idempotency record +
routing decision + session update in one transaction → hand the turn to the fast path (async invoke)
or the agent. Replies go out through ``Delivery`` on the turn's target, whatever its channel.

**WebSocket** (:meth:`ClassifyService.handle`): the authorizer's principal, the frame's
``clientMessageId`` (idempotency) and optional ``sessionId``.

**WhatsApp/SMS** (:meth:`ClassifyService.handle_channel`, a :class:`ChannelMessage` the Twilio
webhook hands over asynchronously): the sender's number is looked up in the phone links (one
GetItem, in parallel with the address's current-session pointer); an unknown number gets a polite
answer or a pseudonymous user, per tenant. Twilio's ``MessageSid`` is the idempotency key; the
session is the address's current one (a pointer item moved in the inbound transaction when a new
session starts). Voice notes are transcribed (or answered with a clear message), images stored and
referenced (:mod:`luma.channels.media`). Faults other than typed errors propagate, so Lambda's async
retries (idempotent on ``MessageSid``) and then the DLQ take the message.

Rate limits (:mod:`luma.limits`) are checked after validation — a malformed frame costs no token —
concurrently with the session read and the classification. A message over a limit is still
persisted (decision ``reason="rate_limited"``, or ``"quota_exceeded"`` when an agent turn is over the
user's daily quota) and answered with an ``error`` frame (a polite text on WhatsApp/SMS). On the
WebSocket it gets no idempotency record, so a retry with the same ``clientMessageId`` after
``retryAfter`` is processed; a Twilio retry of the same ``MessageSid`` is only a transport retry, so
there it does get one (the person is not told twice).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from luma import metrics_names as mn
from luma.agent.entry import AgentEntry
from luma.channels.addresses import normalize_phone, pseudonymous_user_id, unknown_sender_policy
from luma.channels.websocket import Delivery
from luma.config import Settings
from luma.domain.models import (
    Channel,
    ChannelMessage,
    DeliveryTarget,
    Message,
    PhoneLink,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.invoke import Invoker
from luma.limits import InlineCheck, Limiter, NoLimits, RateDecision
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, parse_send_message, status_frame
from luma.pipeline.router import Classified, Router
from luma.store.repos import (
    ChannelPointer,
    ChannelSession,
    ConversationRepository,
    DuplicateMessageError,
    ExtraUpdateFailedError,
    InboundRecord,
    PhoneRepository,
    SessionConflictError,
)

if TYPE_CHECKING:
    from luma.channels.media import MediaProcessor


@dataclass(frozen=True)
class WsRequest:
    """One WebSocket frame as the classify function sees it."""

    connection_id: str
    principal: Principal | None
    body: str | None
    endpoint: str | None = None
    source_ip: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One inbound message as the pipeline processes it, whatever its channel."""

    text: str
    client_message_id: str
    channel: Channel = "websocket"
    # WebSocket: the frame's sessionId (must be the caller's). WhatsApp/SMS: None, see ``phone``.
    session_id: str | None = None
    # WhatsApp/SMS: the sender's E.164 number, key of its current-session pointer.
    phone: str | None = None
    source_ip: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # A refusal decided before routing (an unsupported voice note): stored, answered, not processed.
    refusal: tuple[str, LumaError] | None = None

    @property
    def via_twilio(self) -> bool:
        return self.phone is not None


@dataclass(frozen=True)
class ResolvedSession:
    session: Session
    new: bool
    closed: Session | None = None  # the session that timed out, when restarting
    previous_id: str | None = None  # the session this one replaces (restarted, closed, gone)
    previous_language: str | None = None


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
        phones: PhoneRepository | None = None,
        media: MediaProcessor | None = None,
        detect_language: Callable[..., str] | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.router = router
        self.invoker = invoker
        self.delivery = delivery
        self.agent = agent
        self.clock = clock
        self.limiter: Limiter = limiter or NoLimits()
        self.phones = phones
        self.media = media
        if detect_language is None:
            from luma.language import detect_language as detect

            detect_language = detect
        self.detect_language = detect_language
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="classify-io")

    def warm_up(self) -> None:
        """Load the models and build the clients during Lambda init rather than on the first message."""
        self.router.predict("hello")
        self._language("hello", None)
        warm = getattr(self.limiter, "warm_up", None)
        if callable(warm):
            warm()

    # -- WebSocket -------------------------------------------------------------------------------
    def handle(self, request: WsRequest) -> None:
        """Process one frame; errors become ``error`` frames, never exceptions to API Gateway."""
        target = DeliveryTarget(connection_id=request.connection_id, endpoint=request.endpoint)
        inbound: Inbound | None = None
        try:
            if request.principal is None:
                raise LumaError(ErrorCode.AUTH_REQUIRED)
            frame = parse_send_message(request.body, max_chars=self.settings.max_text_chars)
            inbound = Inbound(
                text=frame.text,
                client_message_id=frame.client_message_id,
                session_id=frame.session_id,
                source_ip=request.source_ip,
            )
            self._process(request.principal, inbound, target)
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
                    client_message_id=inbound.client_message_id if inbound else None,
                    session_id=inbound.session_id if inbound else None,
                ),
            )

    # -- WhatsApp / SMS --------------------------------------------------------------------------
    def handle_channel(self, message: ChannelMessage) -> None:
        """Process one WhatsApp/SMS message; typed errors are answered as text, faults propagate (retry)."""
        target = DeliveryTarget(channel=message.channel, to_address=message.sender, from_address=message.recipient)
        try:
            phone = normalize_phone(message.sender)
            if phone is None:
                raise LumaError(ErrorCode.VALIDATION_FAILED, "The sender is not a phone number.", fields=["From"])
            if len(message.text) > self.settings.max_text_chars:
                raise LumaError(ErrorCode.TEXT_TOO_LONG, maxChars=self.settings.max_text_chars)
            tenant = message.tenant_id
            pointer = self._pool.submit(self.conversations.get_channel_session, tenant, phone, message.channel)
            link = self.phones.get(tenant, phone) if self.phones is not None else None
            principal = self._channel_principal(message, phone, link)
            if principal is None:
                return
            if message.media and self.conversations.find_idempotent(tenant, principal.user_id, message.external_id):
                logger.info("twilio retry of a processed message", extra={"channel": message.channel})
                return  # a Twilio retry: don't fetch or transcribe the media again
            inbound = self._channel_inbound(message, principal, phone)
            self._process(principal, inbound, target, pointer=pointer)
        except LumaError as err:
            logger.info("channel turn rejected", extra={"code": err.code.value, "channel": message.channel})
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
            self.delivery.send(target, error_frame(err, client_message_id=message.external_id))

    def _channel_principal(self, message: ChannelMessage, phone: str, link: PhoneLink | None) -> Principal | None:
        """The sender as a user of the tenant; None when an unknown sender was answered (or ignored)."""
        tenant = message.tenant_id
        if link is not None:
            return Principal(tenant_id=tenant, user_id=link.user_id, display_name=link.display_name)
        anonymous = pseudonymous_user_id(tenant, phone)
        if unknown_sender_policy(self.settings, tenant) == "anonymous":
            return Principal(tenant_id=tenant, user_id=anonymous)
        # "reply": one polite answer per message, nothing stored; the bucket keeps loops and floods out.
        rate = self._checked(Principal(tenant_id=tenant, user_id=anonymous), None)
        if not rate.allowed:
            logger.info("unknown sender over the rate limit: not answered", extra={"channel": message.channel})
            return None
        if not self.conversations.claim_idempotency(tenant, anonymous, message.external_id):
            return None  # a Twilio retry of a message already answered
        logger.info("unknown sender answered", extra={"channel": message.channel})
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: ErrorCode.SENDER_NOT_LINKED.value})
        self.delivery.send(
            DeliveryTarget(channel=message.channel, to_address=message.sender, from_address=message.recipient),
            error_frame(LumaError(ErrorCode.SENDER_NOT_LINKED), client_message_id=message.external_id),
        )
        return None

    def _channel_inbound(self, message: ChannelMessage, principal: Principal, phone: str) -> Inbound:
        """Text plus attachments: voice notes transcribed (or refused), images stored and referenced."""
        from luma.channels.media import MEDIA_ONLY_UNSUPPORTED, VOICE_NOTE_UNSUPPORTED

        text = message.text.strip()
        refs: list[dict[str, Any]] = []
        refusal: tuple[str, LumaError] | None = None
        stored_image = False
        media = self.media
        for index, item in enumerate(message.media):
            kind = item.content_type.split("/", 1)[0].strip().lower()
            if kind == "image" and media is not None and media.can_store:
                data = media.fetch(item.url)
                refs.append(
                    media.store(
                        principal.tenant_id, message.external_id, index, data, item.content_type, at=message.received_at
                    )
                )
                stored_image = True
            elif kind == "audio":
                if media is None or not media.can_transcribe:
                    refs.append({"type": item.content_type, "transcribed": False})
                    refusal = refusal or (
                        "voice_note_unsupported",
                        LumaError(ErrorCode.MEDIA_UNSUPPORTED, VOICE_NOTE_UNSUPPORTED),
                    )
                    continue
                try:
                    transcript = media.transcribe(media.fetch(item.url), item.content_type)
                except LumaError as err:
                    refs.append({"type": item.content_type, "transcribed": False})
                    refusal = refusal or ("voice_note_unclear", err)
                    continue
                refs.append({"type": item.content_type, "transcribed": True, "chars": len(transcript)})
                text = f"{text}\n{transcript}".strip()
            else:
                refs.append({"type": item.content_type, "ignored": True})
        text = text[: self.settings.max_text_chars]
        if not text and not stored_image and refusal is None:
            refusal = ("media_unsupported", LumaError(ErrorCode.MEDIA_UNSUPPORTED, MEDIA_ONLY_UNSUPPORTED))
        meta: dict[str, Any] = {"channel": message.channel}
        if refs:
            meta["media"] = refs
        return Inbound(
            text=text,
            client_message_id=message.external_id,
            channel=message.channel,
            phone=phone,
            meta=meta,
            refusal=refusal,
        )

    # -- sessions --------------------------------------------------------------------------------
    def _fresh(self, principal: Principal, channel: Channel, now: datetime) -> Session:
        return Session(
            tenant_id=principal.tenant_id,
            session_id=new_id(),
            user_id=principal.user_id,
            assistant=self.settings.assistant,
            channel=channel,
            created_at=now,
            last_activity_at=now,
        )

    def _resolve_session(self, principal: Principal, session_id: str | None, now: datetime) -> ResolvedSession:
        """WebSocket: the frame's session, which must be the caller's."""
        if session_id is None:
            return ResolvedSession(self._fresh(principal, "websocket", now), new=True)
        session = self.conversations.get_session(principal.tenant_id, session_id)
        # Another user's (or tenant's) session is indistinguishable from a missing one.
        if session is None or session.user_id != principal.user_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        if session.status is SessionStatus.LOCKED:
            raise LumaError(ErrorCode.SESSION_LOCKED)
        fresh = self._fresh(principal, "websocket", now)
        if session.status is SessionStatus.CLOSED:
            return ResolvedSession(fresh, new=True, previous_id=session_id, previous_language=session.language)
        if now - session.last_activity_at > timedelta(seconds=self.settings.session_inactivity_s):
            return ResolvedSession(
                fresh, new=True, closed=session, previous_id=session_id, previous_language=session.language
            )
        return ResolvedSession(session.model_copy(update={"last_activity_at": now}), new=False)

    def _resolve_channel_session(
        self, principal: Principal, inbound: Inbound, now: datetime, pointer: ChannelSession | None
    ) -> ResolvedSession:
        """WhatsApp/SMS: the address's current session, unless it is gone, closed or idle too long.

        Unlike the WebSocket, a person cannot leave a locked session by starting another one: a locked
        session refuses messages until the inactivity delay has passed, then a new one starts.
        """
        fresh = self._fresh(principal, inbound.channel, now)
        current = pointer.session_id if pointer is not None else None
        if current is None or pointer is None or pointer.user_id != principal.user_id:
            return ResolvedSession(fresh, new=True, previous_id=current)
        session = self.conversations.get_session(principal.tenant_id, current)
        if session is None or session.user_id != principal.user_id:
            return ResolvedSession(fresh, new=True, previous_id=current)
        lang = session.language
        if now - session.last_activity_at > timedelta(seconds=self.settings.session_inactivity_s):
            closed = session if session.status is SessionStatus.ACTIVE else None
            return ResolvedSession(fresh, new=True, closed=closed, previous_id=current, previous_language=lang)
        if session.status is SessionStatus.LOCKED:
            raise LumaError(ErrorCode.SESSION_LOCKED)
        if session.status is SessionStatus.CLOSED:
            return ResolvedSession(fresh, new=True, previous_id=current, previous_language=lang)
        return ResolvedSession(session.model_copy(update={"last_activity_at": now}), new=False)

    def _resolve(
        self, principal: Principal, inbound: Inbound, now: datetime, pointer: Future[ChannelSession | None] | None
    ) -> ResolvedSession:
        if not inbound.via_twilio:
            return self._resolve_session(principal, inbound.session_id, now)
        assert inbound.phone is not None
        current = (
            pointer.result()
            if pointer is not None
            else self.conversations.get_channel_session(principal.tenant_id, inbound.phone, inbound.channel)
        )
        return self._resolve_channel_session(principal, inbound, now, current)

    def _language(self, text: str, previous: str | None) -> str:
        """The message's language (one of luma.language.SUPPORTED); a detector fault keeps the previous one."""
        if not text:
            return previous or "en"
        try:
            return self.detect_language(text, previous=previous)
        except Exception:
            logger.warning("language detection failed; keeping the previous language", exc_info=True)
            return previous or "en"

    # -- limits ----------------------------------------------------------------------------------
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

    def _refusal(
        self, principal: Principal, rate: RateDecision, route: Route, inbound: Inbound
    ) -> tuple[str, LumaError] | None:
        """Why this message must not be processed, if it must not: a rate limit, an unsupported attachment,
        or the quota of an agent turn."""
        if not rate.allowed:
            return "rate_limited", rate.error()
        if inbound.refusal is not None:
            return inbound.refusal
        if route is Route.AGENT:
            try:
                self.limiter.check_quota(principal)
            except LumaError as exc:
                if exc.code is not ErrorCode.QUOTA_EXCEEDED:
                    raise
                return "quota_exceeded", exc
        return None

    # -- the turn --------------------------------------------------------------------------------
    def _decide(self, session: Session, message: Message, classified: Classified | None) -> RoutingDecision:
        if message.text:
            return self.router.route(session, message, classified)
        # An attachment without text (an image): nothing to classify, the agent looks at it.
        return RoutingDecision(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=message.message_id,
            intent=None,
            confidence=0.0,
            margin=0.0,
            route=Route.AGENT,
            reason="media_only",
            latency_ms=0.0,
            classifier="none",
        )

    def _process(
        self,
        principal: Principal,
        inbound: Inbound,
        target: DeliveryTarget,
        *,
        pointer: Future[ChannelSession | None] | None = None,
    ) -> None:
        now = self.clock()
        # The rate-limit bucket updates ride in the inbound message's own transaction (no extra round
        # trip); a limiter that can't do that is checked on the pool while the classifier runs here.
        inline = self._inline_check(principal, inbound.source_ip)
        limited = None if inline is not None else self._pool.submit(self._checked, principal, inbound.source_ip)
        needs_io = inbound.session_id is not None or inbound.via_twilio
        pending = self._pool.submit(self._resolve, principal, inbound, now, pointer) if needs_io else None
        classified = self.router.predict(inbound.text) if inbound.text else None
        rate = RateDecision(True) if limited is None else limited.result()
        resolved = pending.result() if pending is not None else self._resolve(principal, inbound, now, None)
        refusal: tuple[str, LumaError] | None = None
        for attempt in range(3):
            previous_language = resolved.session.language if not resolved.new else resolved.previous_language
            language = self._language(inbound.text, previous_language)
            session = resolved.session.model_copy(update={"language": language})
            message = Message(
                tenant_id=session.tenant_id,
                session_id=session.session_id,
                message_id=new_id(),
                role=Role.USER,
                text=inbound.text,
                created_at=now,
                client_message_id=inbound.client_message_id,
                meta=dict(inbound.meta),
            )
            decision = self._decide(session, message, classified)
            refusal = self._refusal(principal, rate, decision.route, inbound)
            if refusal is None:
                message = message.model_copy(update={"intent": decision.intent, "route": decision.route})
            else:
                # Stored for audit with what the classifier said, but marked as not processed.
                decision = decision.model_copy(update={"reason": refusal[0]})
                message = message.model_copy(
                    update={"intent": decision.intent, "meta": {**message.meta, "refused": refusal[0]}}
                )
            channel_pointer = None
            if resolved.new and inbound.phone is not None:
                channel_pointer = ChannelPointer(
                    tenant_id=session.tenant_id,
                    phone=inbound.phone,
                    channel=inbound.channel,
                    session_id=session.session_id,
                    user_id=session.user_id,
                    previous=resolved.previous_id,
                )
            # A refused WebSocket message is not "processed": a retry with the same id must go through.
            # A Twilio retry is a transport retry: the person must not be told twice.
            idempotent = refusal is None or inbound.via_twilio
            try:
                self.conversations.record_inbound(
                    InboundRecord(
                        session=session,
                        message=message,
                        decision=decision,
                        new_session=resolved.new,
                        client_message_id=inbound.client_message_id if idempotent else None,
                        close_session=resolved.closed,
                        extra_updates=inline.updates if inline is not None else [],
                        channel_pointer=channel_pointer,
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
                        dup.record.session_id if dup.record else inbound.session_id,
                        clientMessageId=inbound.client_message_id,
                        messageId=dup.record.message_id if dup.record else None,
                    ),
                )
                return
            except ExtraUpdateFailedError:
                # The bucket was not in the state guessed: settle it on its own (refusing if empty),
                # then write the message without the bucket updates.
                inline, rate = None, self._checked(principal, inbound.source_ip)
            except SessionConflictError:
                # The session was locked/closed (or the address moved to another session) between our
                # read and write: resolve it again.
                if attempt == 2:
                    raise LumaError(ErrorCode.INTERNAL) from None
                resolved = self._resolve(principal, inbound, now, None)
        else:
            raise LumaError(ErrorCode.INTERNAL)
        if resolved.new:
            previous = resolved.closed.session_id if resolved.closed else resolved.previous_id
            self.delivery.send(
                target,
                status_frame(
                    "session_restarted" if previous else "session_started",
                    session.session_id,
                    previousSessionId=previous,
                    clientMessageId=inbound.client_message_id,
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
                error_frame(err, client_message_id=inbound.client_message_id, session_id=session.session_id),
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
                "channel": inbound.channel,
                "language": session.language,
            },
        )
        turn = Turn(
            principal=principal,
            session=session,
            message=message,
            decision=decision,
            delivery=target,
            client_message_id=inbound.client_message_id,
        )
        if decision.route in (Route.FAST_PATH, Route.FLOW):
            self.invoker.invoke_async(self.settings.fast_path_function, turn.model_dump(mode="json"))
        else:
            self.agent.start(turn, reason=decision.reason)
