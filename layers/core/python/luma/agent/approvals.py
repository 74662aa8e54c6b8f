"""Approvals: a tool call that waits for the person, as an item of the conversation.

An approval request is a message of the session (``meta.kind = "approval_request"``, its id the
``approvalId``) with the prompt, the run, the tool and its status — ``pending``, then ``approved``,
``declined`` or ``timed_out`` — so a client that reloads finds the card in the catch-up and can
still answer it. The Step Functions task token stays in the usage table (never shown to anyone).
The session state names the pending approval (``_approval``), so a WhatsApp button or an SMS
"YES" finds what it answers.

An answer resumes the run through its task token (``SendTaskSuccess``); an answer after the
timeout gets ``APPROVAL_EXPIRED``, which says nothing was changed and that the person can ask again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from luma import texts
from luma.agent.store import AgentStore
from luma.domain.models import Message, Principal, Role, Session, Turn
from luma.errors import ErrorCode, LumaError
from luma.observability import logger
from luma.store.repos import ConversationRepository

APPROVAL_KEY = "_approval"  # session state: the id of the pending approval
Outcome = Literal["approved", "declined", "timed_out"]


class ApprovalService:
    """Stores approval requests, records their outcome, resumes the waiting run."""

    def __init__(self, conversations: ConversationRepository, store: AgentStore, task_tokens: Any) -> None:
        self.conversations = conversations
        self.store = store
        self.task_tokens = task_tokens  # a Step Functions client (send_task_success)

    def request(
        self,
        turn: Turn,
        session: Session,
        *,
        approval_id: str,
        run_id: str,
        tool: str,
        prompt: str,
        token: str,
        ttl_s: int,
    ) -> Message:
        """Persist the request (the card) and the task token; mark it pending on the session."""
        expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
        self.store.put_approval(
            session.tenant_id,
            {
                "approval_id": approval_id,
                "token": token,
                "run_id": run_id,
                "session_id": session.session_id,
                "user_id": turn.principal.user_id,
                "tool": tool,
                "prompt": prompt,
            },
            ttl_s,
        )
        card = Message(
            tenant_id=session.tenant_id,
            session_id=session.session_id,
            message_id=approval_id,
            role=Role.ASSISTANT,
            text=prompt,
            reply_to=turn.message.message_id,
            meta={
                "kind": "approval_request",
                "approvalId": approval_id,
                "runId": run_id,
                "tool": tool,
                "approvalStatus": "pending",
                "expiresAt": expires.isoformat(),
            },
        )
        self.conversations.save_reply(session, card)
        self.store.update_session(session, lambda fresh: ({**fresh.state, APPROVAL_KEY: approval_id}, None))
        return card

    def answer(self, principal: Principal, approval_id: str, approved: bool) -> dict[str, Any]:
        """The person's answer: resume the run. ``BAD_REQUEST``/``APPROVAL_EXPIRED`` when there is nothing to answer."""
        pending = self.store.take_approval(principal.tenant_id, approval_id, principal.user_id)
        if pending is None:
            raise LumaError(ErrorCode.BAD_REQUEST, "That approval request was not found or was already answered.")
        output = json.dumps({"approved": approved, "approval_id": approval_id})
        try:
            self.task_tokens.send_task_success(taskToken=pending["token"], output=output)
        except Exception as exc:  # the run timed out or ended meanwhile
            logger.info("approval arrived too late", extra={"approval_id": approval_id, "error": type(exc).__name__})
            self.settle(principal.tenant_id, pending["session_id"], approval_id, "timed_out")
            raise LumaError(ErrorCode.APPROVAL_EXPIRED) from exc
        self.settle(principal.tenant_id, pending["session_id"], approval_id, "approved" if approved else "declined")
        session = self.conversations.get_session(principal.tenant_id, pending["session_id"])
        label = None
        if session is not None:
            key = f"tool.{pending['tool']}"
            key = key if texts.has(key, assistant=session.assistant) else "tool.working"
            label = texts.text(key, session.language, assistant=session.assistant)
        return {"sessionId": pending["session_id"], "runId": pending["run_id"], "tool": pending["tool"], "label": label}

    def settle(self, tenant_id: str, session_id: str, approval_id: str, outcome: Outcome) -> None:
        """Record the outcome on the card and clear the session's pending approval (idempotent)."""
        session = self.conversations.get_session(tenant_id, session_id)
        if session is None:
            return
        card = self.conversations.get_message(tenant_id, session_id, approval_id)
        if card is not None and card.meta.get("approvalStatus") == "pending":
            meta = {**card.meta, "approvalStatus": outcome, "settledAt": datetime.now(UTC).isoformat()}
            self.conversations.save_reply(session, card.model_copy(update={"meta": meta}))
        if session.state.get(APPROVAL_KEY) == approval_id:
            self.store.update_session(
                session, lambda fresh: ({k: v for k, v in fresh.state.items() if k != APPROVAL_KEY}, None)
            )
