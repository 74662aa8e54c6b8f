"""Default adapters for the Lambda handlers, built once per process on first use (cold start)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from luma.config import get_settings
from luma.store.repos import DynamoConnectionRepository, DynamoConversationRepository

if TYPE_CHECKING:
    from luma.agent.approvals import ApprovalService
    from luma.agent.entry import AgentEntry
    from luma.agent.limits import AgentLimits
    from luma.agent.run import AgentService
    from luma.channels.delivery import ChannelDelivery, TwilioDelivery
    from luma.channels.media import MediaProcessor
    from luma.channels.twilio import TwilioSender
    from luma.channels.twilio_account import TwilioAccount
    from luma.limits import DynamoLimiter
    from luma.pipeline.classify import ClassifyService
    from luma.pipeline.fast_path import FastPathService
    from luma.store.repos import DynamoPhoneRepository


@lru_cache(maxsize=1)
def connections() -> DynamoConnectionRepository:
    return DynamoConnectionRepository(get_settings())


@lru_cache(maxsize=1)
def conversations() -> DynamoConversationRepository:
    return DynamoConversationRepository(get_settings())


@lru_cache(maxsize=1)
def delivery() -> ChannelDelivery:
    """Replies by channel: WebSocket frames through the management API, WhatsApp/SMS through Twilio."""
    from luma.channels.delivery import ChannelDelivery
    from luma.channels.websocket import WebSocketDelivery

    return ChannelDelivery(WebSocketDelivery(get_settings()), twilio_delivery())


@lru_cache(maxsize=1)
def twilio_account() -> TwilioAccount:
    """Twilio credentials and numbers (settings, else the Secrets Manager secret), read once per process."""
    from luma.channels.twilio_account import load_account

    return load_account(get_settings())


@lru_cache(maxsize=1)
def twilio_sender() -> TwilioSender | None:
    """The REST client (the SDK's client is imported here, on the first reply); None when unconfigured."""
    from luma.channels.twilio import TwilioSender

    account, settings = twilio_account(), get_settings()
    if not account.can_send or account.auth_token is None:
        return None
    return TwilioSender(
        account.account_sid or "",
        account.auth_token,
        account.whatsapp_from or account.sms_from or "",
        base_url=account.api_base_url,
        timeout_s=settings.twilio_timeout_s,
    )


@lru_cache(maxsize=1)
def twilio_delivery() -> TwilioDelivery:
    from luma.channels.delivery import TwilioDelivery
    from luma.invoke import LambdaInvoker

    settings = get_settings()
    return TwilioDelivery(settings, twilio_sender, LambdaInvoker(settings))


@lru_cache(maxsize=1)
def phones() -> DynamoPhoneRepository:
    from luma.store.repos import DynamoPhoneRepository

    return DynamoPhoneRepository(get_settings())


@lru_cache(maxsize=1)
def media() -> MediaProcessor:
    from luma.channels.media import MediaProcessor

    return MediaProcessor(get_settings(), twilio_account)


@lru_cache(maxsize=1)
def agent() -> AgentEntry:
    """Agent runs when a provider and the state machine are configured, else ``agent_unavailable``."""
    from luma.agent.entry import StepFunctionsAgent, UnavailableAgent

    settings = get_settings()
    if not (settings.agent_configured and settings.agent_run_state_machine_arn):
        return UnavailableAgent(settings, conversations(), delivery())
    return StepFunctionsAgent(settings, conversations(), delivery(), limits=agent_limits)


def agent_limits(assistant: str, intent: str | None) -> AgentLimits:
    """The limits of an agent run for an intent (defaults, the assistant pack, then ``LUMA_AGENT_LIMITS``)."""
    from luma.agent.limits import resolve_limits
    from luma.assistants.registry import get_pack

    return resolve_limits(intent, pack=dict(get_pack(assistant).limits), env=get_settings().agent_limits)


@lru_cache(maxsize=1)
def agent_service() -> AgentService:
    """The agent's steps (agent_* functions): provider, tools, store, delivery."""
    from luma.agent.run import AgentService
    from luma.agent.store import DynamoAgentStore
    from luma.assistants.registry import get_pack
    from luma.aws import client as make_client
    from luma.llm import get_provider

    settings = get_settings()
    return AgentService(
        settings=settings,
        conversations=conversations(),
        store=DynamoAgentStore(settings),
        delivery=delivery(),
        provider=lambda: get_provider(settings),
        packs=get_pack,
        limiter=limiter(),
        connections=connections(),
        task_tokens=make_client(
            "stepfunctions", region=settings.region, endpoint_url=settings.stepfunctions_endpoint_url
        ),
    )


@lru_cache(maxsize=1)
def classify_service() -> ClassifyService:
    from luma.assistants.registry import get_pack
    from luma.invoke import LambdaInvoker
    from luma.operators.relay import OperatorRelay
    from luma.pipeline.classify import ClassifyService
    from luma.pipeline.guard import InputGuard
    from luma.pipeline.router import get_router

    settings = get_settings()
    return ClassifyService(
        settings=settings,
        conversations=conversations(),
        routers=get_router,
        invoker=LambdaInvoker(settings),
        delivery=delivery(),
        agent=agent(),
        limiter=limiter(),
        phones=phones(),
        media=media(),
        approvals=approvals,
        guard=InputGuard(settings, packs=get_pack),
        relay=OperatorRelay(),
    )


@lru_cache(maxsize=1)
def approvals() -> ApprovalService:
    """Approval requests and answers (the agent asks; the approve route and WhatsApp/SMS answers resume)."""
    from luma.agent.approvals import ApprovalService
    from luma.agent.store import DynamoAgentStore
    from luma.aws import client as make_client

    settings = get_settings()
    tokens = make_client("stepfunctions", region=settings.region, endpoint_url=settings.stepfunctions_endpoint_url)
    return ApprovalService(conversations(), DynamoAgentStore(settings), tokens)


@lru_cache(maxsize=1)
def limiter() -> DynamoLimiter:
    """Rate limits and quotas in the usage table (the agent charges its tokens through this one too)."""
    from luma.limits import DynamoLimiter

    return DynamoLimiter(get_settings())


@lru_cache(maxsize=1)
def fast_path_service() -> FastPathService:
    from luma.assistants.registry import get_pack
    from luma.pipeline.fast_path import FastPathService

    return FastPathService(packs=get_pack, conversations=conversations(), delivery=delivery(), agent=agent())


def reset() -> None:
    """Forget every cached adapter (tests and the local stack re-bind settings)."""
    from luma.assistants import registry
    from luma.operators import wiring as operator_wiring

    registry.reset()
    operator_wiring.reset()
    for fn in _CACHED:
        fn.cache_clear()


# The cached factories as defined here: ``reset`` clears them even while a test has patched one.
_CACHED = (
    connections,
    conversations,
    delivery,
    twilio_account,
    twilio_sender,
    twilio_delivery,
    phones,
    media,
    agent,
    agent_service,
    classify_service,
    approvals,
    limiter,
    fast_path_service,
)
