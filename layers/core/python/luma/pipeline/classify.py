"""The classify stage of a turn, for WebSocket frames and WhatsApp/SMS messages alike.

intake (:mod:`~luma.pipeline.intake`: the frame or the Twilio message, its sender and attachments)
→ session (:mod:`~luma.pipeline.resolve`) → language → route (a pending flow step or the session's
assistant's classifier) → the recorder (:mod:`~luma.pipeline.recorder`: message, decision,
idempotency record, session and rate-limit buckets in one transaction) → the dispatcher
(:mod:`~luma.pipeline.dispatch`: status and error frames, then the fast path or the agent).

Rate limits are checked after validation — a malformed frame costs no token — and ride in the
message's own transaction, with the user bucket's limits of a verified or unverified user (known
once the session is read; credits are reserved when an agent run starts, :mod:`luma.agent.entry`).
A message over a limit is still persisted (decision ``reason = "rate_limited"``) and answered with an
``error`` frame (a polite text on WhatsApp/SMS). On the WebSocket it gets no idempotency record, so
a retry with the same ``clientMessageId`` after ``retryAfter`` is processed; a Twilio retry of the
same ``MessageSid`` is only a transport retry, so there it does get one (the person is not told twice).
WhatsApp/SMS faults other than typed errors propagate, so Lambda's async retries (idempotent on
``MessageSid``) and then the DLQ take the message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from luma import metrics_names as mn
from luma import timing
from luma.agent.approvals import APPROVAL_KEY
from luma.answers import is_no, is_yes
from luma.assistants import registry
from luma.assistants.contract import MENU_KEY, AssistantPack
from luma.channels.addresses import PSEUDONYMOUS_PREFIX, normalize_phone
from luma.config import Settings
from luma.domain.models import (
    ChannelMessage,
    DeliveryTarget,
    Message,
    Principal,
    Route,
    RoutingDecision,
    Session,
    Turn,
)
from luma.errors import ErrorCode, LumaError
from luma.language import Lexicon, with_domain_words
from luma.limits import Limiter, NoLimits, RateDecision, RateTier
from luma.observability import emit, logger
from luma.pipeline.dispatch import APPROVAL_INTENT, Dispatcher, TakeoverRelay
from luma.pipeline.frames import error_frame, status_frame
from luma.pipeline.guard import InputGuard, Screened, blocked_error
from luma.pipeline.intake import Inbound, TwilioIntake, WsRequest, websocket_inbound
from luma.pipeline.recorder import DuplicateTurnError, TurnRecorder
from luma.pipeline.resolve import ResolvedSession, SessionResolver
from luma.pipeline.router import Classified, Router
from luma.store.repos import ChannelSession, ConversationRepository, PhoneRepository
from luma.usage import TurnRecord, metrics_beside

if TYPE_CHECKING:
    from luma.agent.approvals import ApprovalService
    from luma.agent.entry import AgentEntry
    from luma.channels.media import MediaProcessor
    from luma.channels.websocket import Delivery
    from luma.invoke import Invoker

__all__ = ["ClassifyService", "Inbound", "WsRequest"]


class ClassifyService:
    """Runs the classify stage; every dependency is injected (real adapters by default in the handler)."""

    def __init__(
        self,
        *,
        settings: Settings,
        conversations: ConversationRepository,
        routers: Callable[[str], Router],
        invoker: Invoker,
        delivery: Delivery,
        agent: AgentEntry,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: Limiter | None = None,
        phones: PhoneRepository | None = None,
        media: MediaProcessor | None = None,
        detect_language: Callable[..., str] | None = None,
        approvals: Callable[[], ApprovalService] | None = None,
        guard: InputGuard | None = None,
        relay: TakeoverRelay | None = None,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.routers = routers
        self.delivery = delivery
        self.clock = clock
        self.limiter: Limiter = limiter or NoLimits()
        self.phones = phones
        self.guard = guard
        if detect_language is None:
            from luma.language import detect_language as detect

            detect_language = detect
        self.detect_language = detect_language
        self.resolver = SessionResolver(settings, conversations)
        self.recorder = TurnRecorder(conversations, self.limiter, twilio_ttl_s=settings.twilio_idempotency_ttl_s)
        self.metrics = metrics_beside(conversations)
        self.dispatcher = Dispatcher(
            settings,
            invoker=invoker,
            delivery=delivery,
            agent=agent,
            approvals=approvals,
            metrics=self.metrics,
            conversations=conversations,
            relay=relay,
        )
        self.twilio = TwilioIntake(
            settings, conversations=conversations, limiter=self.limiter, delivery=delivery, media=media
        )
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="classify-io")
        self._lexicons: dict[str, Lexicon] = {}

    def warm_up(self) -> None:
        """Load every served assistant's models and build the clients during Lambda init."""
        for name in registry.available(self.settings):
            self.routers(name).predict("hello")
        self._language("hello", None, None)
        self.limiter.warm_up()
        if self.guard is not None:
            self.guard.warm_up()

    # -- WebSocket -------------------------------------------------------------------------------
    def handle(self, request: WsRequest) -> None:
        """Process one frame; errors become ``error`` frames, never exceptions to API Gateway."""
        target = DeliveryTarget(connection_id=request.connection_id, endpoint=request.endpoint)
        inbound: Inbound | None = None
        started = time.perf_counter()
        timing.begin()
        try:
            inbound = websocket_inbound(request, max_chars=self.settings.max_text_chars)
            timing.mark("parse")
            assert request.principal is not None
            self._process(request.principal, inbound, target)
            timing.finish("classify")
        except Exception as exc:
            err = self._typed(exc)
            self.delivery.send(
                target,
                error_frame(
                    err,
                    client_message_id=inbound.client_message_id if inbound else None,
                    session_id=inbound.session_id if inbound else None,
                ),
            )
            if request.principal is not None:
                ms = (time.perf_counter() - started) * 1000
                turn = TurnRecord(
                    request.principal.tenant_id, None, None, ok=False, response_ms=ms, code=err.code.value
                )
                self.metrics.record(turn)

    # -- WhatsApp / SMS --------------------------------------------------------------------------
    def handle_channel(self, message: ChannelMessage) -> None:
        """Process one WhatsApp/SMS message; typed errors are answered as text, faults propagate (retry)."""
        target = DeliveryTarget(channel=message.channel, to_address=message.sender, from_address=message.recipient)
        timing.begin()
        try:
            phone = normalize_phone(message.sender)
            if phone is None:
                raise LumaError(ErrorCode.VALIDATION_FAILED, "The sender is not a phone number.", fields=["From"])
            if len(message.text) > self.settings.max_text_chars:
                raise LumaError(ErrorCode.TEXT_TOO_LONG, maxChars=self.settings.max_text_chars)
            tenant = message.tenant_id
            pointer = self._pool.submit(self.conversations.get_channel_session, tenant, phone, message.channel)
            link = self.phones.get(tenant, phone) if self.phones is not None else None
            principal = self.twilio.principal(message, phone, link)
            if principal is None:
                return
            inbound = self.twilio.inbound(message, principal, phone)
            if inbound is None:
                return
            timing.mark("intake")
            self._process(principal, inbound, target, pointer=pointer)
            timing.finish("classify_channel")
        except LumaError as err:
            logger.info("channel turn rejected", extra={"code": err.code.value, "channel": message.channel})
            emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
            language = self._language(message.text, None, message.assistant)
            self.delivery.send(
                target,
                error_frame(err, client_message_id=message.external_id, language=language, assistant=message.assistant),
            )

    # -- the turn --------------------------------------------------------------------------------
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
        # trip; their limits are chosen once the session is read, below); when the limiter can't do
        # that, it is checked on the pool while the classifier runs.
        inline = self.limiter.inline(principal, inbound.source_ip)
        limited = None if inline is not None else self._pool.submit(self._checked, principal, inbound.source_ip)
        needs_io = inbound.session_id is not None or inbound.via_twilio
        pending = self._pool.submit(self._resolve, principal, inbound, now, pointer) if needs_io else None
        blocked = self._pool.submit(self._blocked_for, principal) if self.guard is not None else None
        # Classify while the session is read, with the assistant the connection or number asked for
        # (a session's assistant is almost always that one; if not, the text is classified again).
        guess = inbound.assistant or _default(principal)
        classified = self._predict(guess, inbound.text) if inbound.text else None
        timing.mark("classify")
        rate = RateDecision(True) if limited is None else limited.result()
        resolved = pending.result() if pending is not None else self._resolve(principal, inbound, now, None)
        timing.mark("session")
        if inline is not None:  # the user bucket's limits for a verified user or not
            pack = self.routers(resolved.session.assistant).pack
            inline = self.limiter.inline(principal, inbound.source_ip, _tier(principal, resolved.session, pack))
        if inbound.text and (classified is None or classified.assistant != resolved.session.assistant):
            classified = self._predict(resolved.session.assistant, inbound.text)
        screened = self._screen(principal, inbound, resolved, classified)
        wait = blocked.result() if blocked is not None else None
        timing.mark("guard")
        if wait and screened is not None and screened.action == "safety":
            wait = None  # a blocked user in crisis still gets the crisis reply and a person
        try:
            recorded = self.recorder.record(
                principal,
                inbound,
                resolved,
                now=now,
                language=lambda r: self._language(
                    inbound.text,
                    r.session.language if not r.new else r.previous_language,
                    r.session.assistant,
                ),
                decide=lambda session, message: (
                    _guarded(session, message, screened) or self._decide(session, message, inbound, classified)
                ),
                refuse=lambda rate_now, _: (
                    (("blocked", blocked_error(wait)) if wait else None) or self._refusal(rate_now, inbound)
                ),
                rate=rate,
                inline=inline,
                resolve_again=lambda: self._resolve(principal, inbound, now, None),
            )
        except DuplicateTurnError as dup:
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
        timing.mark("record")
        self.dispatcher.announce(recorded, inbound, target)
        turn = Turn(
            principal=principal,
            session=recorded.session,
            message=recorded.message,
            decision=recorded.decision,
            delivery=target,
            client_message_id=inbound.client_message_id,
        )
        if screened is not None and self.guard is not None and screened.result.findings and not wait:
            self._after_screening(turn, screened, inbound)
        if recorded.refusal is not None:
            self.dispatcher.refuse(recorded, inbound, target, scope=rate.scope)
            return
        self.dispatcher.dispatch(turn)
        timing.mark("dispatch")

    # -- the guard -------------------------------------------------------------------------------
    def _blocked_for(self, principal: Principal) -> int | None:
        assert self.guard is not None
        try:
            return self.guard.store.blocked_for(principal.tenant_id, principal.user_id)
        except Exception:  # the guard's state unreadable: screening still applies to this message
            logger.warning("guard state unavailable", exc_info=True)
            return None

    def _screen(
        self, principal: Principal, inbound: Inbound, resolved: ResolvedSession, classified: _Prediction | None
    ) -> Screened | None:
        if self.guard is None or not inbound.text:
            return None
        prediction = classified.result.prediction if classified is not None else None
        session = resolved.session
        return self.guard.screen(
            inbound.text,
            language=self._language(inbound.text, session.language if not resolved.new else None, session.assistant),
            assistant=session.assistant,
            tenant_id=principal.tenant_id,
            embedding=getattr(prediction, "vector", None),
        )

    def _after_screening(self, turn: Turn, screened: Screened, inbound: Inbound) -> None:
        """Audit the findings, count a violation, answer a refusal or a crisis with its fixed reply."""
        assert self.guard is not None
        session, policy = turn.session, self.guard.policy(turn.session.assistant, turn.principal.tenant_id)
        self.guard.audit(session, turn.message, screened)
        if screened.decision.violation:
            try:
                self.guard.store.violation(session.tenant_id, session.user_id, policy)
            except Exception:
                logger.warning("guard violation not counted", exc_info=True)
        action = screened.action
        if action == "safety":
            from luma.guard.replies import crisis_reply

            text = crisis_reply(
                screened.result.crisis_types,
                session.language,
                country=_country(inbound.phone),
                overrides=self.settings.crisis_resources.get(session.tenant_id),
            )
            self.dispatcher.safety_reply(turn, text, escalate=screened.decision.escalate or "urgent")
        elif action == "refuse":
            from luma.guard.replies import text as guard_text

            key = screened.decision.text_key or "refusal.generic"
            self.dispatcher.safety_reply(turn, guard_text(key, session.language), escalate=screened.decision.escalate)
        elif action == "block":
            self.dispatcher.block(turn, blocked_error(policy.blocking.block_s))

    def _resolve(
        self, principal: Principal, inbound: Inbound, now: datetime, pointer: Future[ChannelSession | None] | None
    ) -> ResolvedSession:
        current = None
        if inbound.via_twilio:
            assert inbound.phone is not None
            current = (
                pointer.result()
                if pointer is not None
                else self.conversations.get_channel_session(principal.tenant_id, inbound.phone, inbound.channel)
            )
        return self.resolver.resolve(principal, inbound, now, current)

    def _predict(self, assistant: str, text: str) -> _Prediction:
        return _Prediction(assistant, self.routers(assistant).predict(text))

    def _decide(
        self, session: Session, message: Message, inbound: Inbound, classified: _Prediction | None
    ) -> RoutingDecision:
        # WhatsApp shows long menus (and menus whose buttons failed) as numbered text too.
        choice = inbound.choice or (_numbered_choice(session, message.text) if inbound.via_twilio else None)
        if choice and choice != inbound.choice:
            message.meta["choice"] = choice
        answer = _approval_answer(session, message.text, choice)
        if answer is not None:
            approval_id, approved = answer
            return _flow_decision(
                session, message, APPROVAL_INTENT, f"approval:{approval_id}:{'yes' if approved else 'no'}"
            )
        router = self.routers(session.assistant)
        if not message.text:
            # An attachment without text: a pending step of the assistant may expect it (a photo), else the
            # agent looks at it.
            flow = router.pack.pre_route(session, message)
            if flow is not None:
                return _flow_decision(session, message, flow.intent, flow.reason)
            return _flow_decision(session, message, None, "media_only", route=Route.AGENT, classifier="none")
        return router.route(session, message, classified.result if classified else None)

    def _language(self, text: str, previous: str | None, assistant: str | None) -> str:
        """The message's language (one of luma.language.SUPPORTED); a detector fault keeps the previous one."""
        if not text:
            return previous or "en"
        try:
            return self.detect_language(text, previous=previous, lexicon=self._lexicon(assistant))
        except Exception:
            logger.warning("language detection failed; keeping the previous language", exc_info=True)
            return previous or "en"

    def _lexicon(self, assistant: str | None) -> Lexicon | None:
        """The language markers of the core plus the assistant's domain words (merged once per assistant)."""
        if not assistant:
            return None
        lexicon = self._lexicons.get(assistant)
        if lexicon is None:
            lexicon = self._lexicons[assistant] = with_domain_words(dict(registry.get_pack(assistant).lexicon))
        return lexicon

    # -- limits ----------------------------------------------------------------------------------
    def _checked(self, principal: Principal, source_ip: str | None) -> RateDecision:
        try:
            return self.limiter.check(principal, source_ip)
        except Exception:  # the limiter fails open by itself; this is a fault of a fake or a bug
            logger.warning("rate limit check failed; allowing the message", exc_info=True)
            return RateDecision(True)

    @staticmethod
    def _refusal(rate: RateDecision, inbound: Inbound) -> tuple[str, LumaError] | None:
        """Why this message must not be processed, if it must not: a rate limit or an unsupported attachment.
        (Credits are reserved when an agent run starts.)"""
        if not rate.allowed:
            return "rate_limited", rate.error()
        return inbound.refusal

    @staticmethod
    def _typed(exc: Exception) -> LumaError:
        if isinstance(exc, LumaError):
            logger.info("turn rejected", extra={"code": exc.code.value})
            err = exc
        else:  # a fault of ours or of a dependency: the client may retry with the same clientMessageId
            logger.exception("turn failed")
            err = LumaError(ErrorCode.INTERNAL)
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
        return err


class _Prediction:
    """A classifier result and the assistant whose classifier made it."""

    __slots__ = ("assistant", "result")

    def __init__(self, assistant: str, result: Classified) -> None:
        self.assistant = assistant
        self.result = result


def _default(principal: Principal) -> str:
    return registry.default_for(principal.tenant_id)


def _tier(principal: Principal, session: Session, pack: AssistantPack) -> RateTier:
    """Whether the user counts as verified for rate limits: the session's pack's identity rule holds
    (no rule: any signed-in user, but not a pseudonymous sender), with the pack's limits per tier."""
    rule = pack.identity()
    if rule is not None:
        try:
            verified = bool(rule.verified(session.state))
        except Exception:  # a pack's rule failing on odd state: the stricter limits
            verified = False
    else:
        verified = not principal.user_id.startswith(PSEUDONYMOUS_PREFIX)
    return RateTier(verified, pack.rate_limits)


def _flow_decision(
    session: Session,
    message: Message,
    intent: str | None,
    reason: str,
    *,
    route: Route = Route.FLOW,
    classifier: str = "flow",
) -> RoutingDecision:
    """A decision taken before the classifier (a flow step, an approval answer, an attachment)."""
    confident = route is Route.FLOW
    return RoutingDecision(
        tenant_id=session.tenant_id,
        session_id=session.session_id,
        message_id=message.message_id,
        intent=intent,
        confidence=1.0 if confident else 0.0,
        margin=1.0 if confident else 0.0,
        route=route,
        reason=reason,
        latency_ms=0.0,
        classifier=classifier,
    )


_APPROVAL_CHOICE = re.compile(r"^approval:(?P<id>[0-9A-Za-z]{1,64}):(?P<answer>yes|no)$")


def _approval_answer(session: Session, text: str, choice: str | None) -> tuple[str, bool] | None:
    """An answer to an approval request: a pressed button, or a yes/no while one is pending."""
    if choice:
        found = _APPROVAL_CHOICE.match(choice)
        if found:
            return found["id"], found["answer"] == "yes"
    pending = session.state.get(APPROVAL_KEY)
    if pending and (is_yes(text) or is_no(text)):
        return str(pending), is_yes(text)
    return None


def _guarded(session: Session, message: Message, screened: Screened | None) -> RoutingDecision | None:
    """The guard's decision when it answers the message itself (refusal, block, crisis reply)."""
    if screened is None or screened.action == "pass":
        if screened is not None and screened.result.findings:
            message.meta["guard"] = screened.meta()
        return None
    message.meta["guard"] = screened.meta()
    kind = screened.decision.kind or "guard"
    return _flow_decision(session, message, f"guard_{kind}", f"guard:{screened.action}:{kind}", route=Route.SAFETY)


def _country(phone: str | None) -> str | None:
    """The country of a WhatsApp/SMS sender's number (its crisis resources), when there is one."""
    if not phone:
        return None
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or None
    except phonenumbers.NumberParseException:
        return None


def _numbered_choice(session: Session, text: str) -> str | None:
    """A reply "2" to a menu shown as numbered text (SMS, long WhatsApp menus) is the second option's id."""
    menu = session.state.get(MENU_KEY)
    stripped = text.strip().rstrip(".)")
    if not isinstance(menu, list) or not stripped.isdigit():
        return None
    index = int(stripped) - 1
    return str(menu[index]) if 0 <= index < len(menu) else None
