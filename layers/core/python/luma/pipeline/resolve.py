"""The session a message belongs to: the frame's (WebSocket) or the address's current one (WhatsApp/SMS).

A new session starts when there is none, when the last one was closed, or when its assistant's
:class:`~luma.assistants.contract.SessionPolicy` says the last one expired (inactivity, or a last
message outside working hours). A new session belongs to the assistant the connection or the
Twilio number asked for (allowed per tenant, else the tenant's default); an existing session keeps
its own assistant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from luma.assistants import registry
from luma.assistants.contract import AssistantPack
from luma.config import Settings
from luma.domain.models import Channel, Principal, Session, SessionStatus
from luma.errors import ErrorCode, LumaError
from luma.ids import new_id
from luma.pipeline.intake import Inbound
from luma.store.repos import ChannelSession, ConversationRepository


@dataclass(frozen=True)
class ResolvedSession:
    session: Session
    new: bool
    closed: Session | None = None  # the session that expired, when restarting
    previous_id: str | None = None  # the session this one replaces (restarted, closed, gone)
    previous_language: str | None = None


class SessionResolver:
    """Finds or starts the session of an inbound message; one read at most."""

    def __init__(
        self,
        settings: Settings,
        conversations: ConversationRepository,
        packs: Callable[[str], AssistantPack] = registry.get_pack,
    ) -> None:
        self.settings = settings
        self.conversations = conversations
        self.packs = packs

    def resolve(
        self, principal: Principal, inbound: Inbound, now: datetime, pointer: ChannelSession | None = None
    ) -> ResolvedSession:
        """The message's session (``pointer``: the address's current-session item, already read)."""
        if inbound.via_twilio:
            return self._channel(principal, inbound, now, pointer)
        return self._websocket(principal, inbound, now)

    def fresh(self, principal: Principal, channel: Channel, now: datetime, requested: str | None) -> Session:
        """A new session with the assistant the caller asked for (if the tenant allows it)."""
        return Session(
            tenant_id=principal.tenant_id,
            session_id=new_id(),
            user_id=principal.user_id,
            assistant=registry.resolve(principal.tenant_id, requested, self.settings),
            channel=channel,
            created_at=now,
            last_activity_at=now,
        )

    def _expired(self, session: Session, now: datetime) -> bool:
        policy = self.packs(session.assistant).session_policy
        return policy.expired(session.last_activity_at, now, default_inactivity_s=self.settings.session_inactivity_s)

    def _websocket(self, principal: Principal, inbound: Inbound, now: datetime) -> ResolvedSession:
        if inbound.session_id is None:
            return ResolvedSession(self.fresh(principal, "websocket", now, inbound.assistant), new=True)
        session = self.conversations.get_session(principal.tenant_id, inbound.session_id)
        # Another user's (or tenant's) session is indistinguishable from a missing one.
        if session is None or session.user_id != principal.user_id:
            raise LumaError(ErrorCode.SESSION_NOT_FOUND)
        if session.status is SessionStatus.LOCKED:
            raise LumaError(ErrorCode.SESSION_LOCKED)
        fresh = self.fresh(principal, "websocket", now, session.assistant)
        if session.status is SessionStatus.CLOSED:
            return ResolvedSession(fresh, new=True, previous_id=session.session_id, previous_language=session.language)
        if session.status is SessionStatus.ACTIVE and self._expired(session, now):
            return ResolvedSession(
                fresh, new=True, closed=session, previous_id=session.session_id, previous_language=session.language
            )
        return ResolvedSession(session.model_copy(update={"last_activity_at": now}), new=False)

    def _channel(
        self, principal: Principal, inbound: Inbound, now: datetime, pointer: ChannelSession | None
    ) -> ResolvedSession:
        """WhatsApp/SMS: the address's current session, unless it is gone, closed or expired.

        Unlike the WebSocket, a person cannot leave a locked session by starting another one: a locked
        session refuses messages until it expires, then a new one starts.
        """
        fresh = self.fresh(principal, inbound.channel, now, inbound.assistant)
        current = pointer.session_id if pointer is not None else None
        if current is None or pointer is None or pointer.user_id != principal.user_id:
            return ResolvedSession(fresh, new=True, previous_id=current)
        session = self.conversations.get_session(principal.tenant_id, current)
        if session is None or session.user_id != principal.user_id:
            return ResolvedSession(fresh, new=True, previous_id=current)
        lang = session.language
        if session.status is not SessionStatus.CLOSED and self._expired(session, now):
            closed = session if session.status is SessionStatus.ACTIVE else None
            return ResolvedSession(fresh, new=True, closed=closed, previous_id=current, previous_language=lang)
        if session.status is SessionStatus.LOCKED:
            raise LumaError(ErrorCode.SESSION_LOCKED)
        if session.status is SessionStatus.CLOSED:
            return ResolvedSession(fresh, new=True, previous_id=current, previous_language=lang)
        return ResolvedSession(session.model_copy(update={"last_activity_at": now}), new=False)
