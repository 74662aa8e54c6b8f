"""The assistant-pack contract: everything an assistant brings, declared in one class.

A pack is a Python package that subclasses :class:`AssistantPack` and registers the class under
the ``luma.assistants`` entry-point group (see ``docs/packs.md``). The core reads packs only
through this contract: intents and exemplars (``intents.json`` and ``intents.multilingual.json``
beside the pack's module, read with :mod:`importlib.resources`), fast-path handlers and flows,
agent tools with their identity rule, result keys, status labels, system prompt, per-intent limits
and model choice, texts in the nine languages (``texts.json``), session-state schema, escalation
tool, data tables, seed data and session policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from luma.domain.models import Message, Route, Session, SessionStatus, Turn

if TYPE_CHECKING:
    from luma.agent.tools import ToolRegistry
    from luma.config import Settings

ModelTier = Literal["fast", "strong"]
#: Session-state key the core keeps the option ids of the last menu under (numbered answers on SMS).
MENU_KEY = "_menu"


@dataclass(frozen=True)
class Choice:
    """One option of an interactive menu: buttons or a list on WhatsApp, numbered text on SMS, chips on the web."""

    id: str
    label: str


@dataclass(frozen=True)
class FlowDecision:
    """A message claimed by a pending conversation step before classification."""

    intent: str
    reason: str
    route: Route = Route.FLOW


@dataclass
class FastPathResult:
    """A fast-path handler's answer; ``handoff`` sends the turn to the agent instead."""

    text: str = ""
    state: dict[str, Any] | None = None  # the new full session state, when it changed
    status: SessionStatus | None = None
    handoff: str | None = None
    intent: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)


FastPathHandler = Callable[[Turn], FastPathResult]


@dataclass(frozen=True)
class TableSpec:
    """A table of the pack's own data: string ``pk``/``sk`` keys, the tenant first in every ``pk``.

    Created locally by the stack and synthesized by CDK as ``<prefix>-<pack>-<name>``; the code
    reaches it through :func:`luma.store.packdata.pack_table`.
    """

    name: str
    description: str = ""


@dataclass(frozen=True)
class SessionPolicy:
    """When a message starts a new session instead of continuing the current one.

    ``inactivity_s`` (None: the deployment's ``LUMA_SESSION_INACTIVITY_S``) of silence, or, with
    ``working_hours``, a last message sent outside them (local time of ``timezone``).
    """

    inactivity_s: int | None = None
    working_hours: tuple[time, time] | None = None
    timezone: str = "UTC"

    def expired(self, last_activity: datetime, now: datetime, *, default_inactivity_s: int) -> bool:
        """True when a message at ``now`` must start a new session after one last active at ``last_activity``."""
        limit = self.inactivity_s if self.inactivity_s is not None else default_inactivity_s
        if now - last_activity > timedelta(seconds=limit):
            return True
        if self.working_hours is None:
            return False
        start, end = self.working_hours
        local = last_activity.astimezone(ZoneInfo(self.timezone)).time()
        return not (start <= local < end)


@dataclass(frozen=True)
class IdentityRule:
    """How a pack knows who it is talking to, for tools flagged ``requires_identity``.

    ``verified(state)`` tells whether the session is verified; ``instructions`` is what the model is
    told when a tool refuses for lack of it (e.g. which details to ask for and which tool to call).
    """

    verified: Callable[[Mapping[str, Any]], bool]
    instructions: str


class AssistantPack:
    """Base class of every assistant; a pack overrides what it provides.

    Class attributes are declarations; methods are behaviour. A pack gets its settings through
    :meth:`bind` (called once per process, before any handler runs) and builds its repositories
    lazily from them.
    """

    #: Unique name: ``[a-z][a-z0-9_]*`` (sessions, entry point, ``assistant=`` parameter).
    name: ClassVar[str] = ""
    #: What users see (page title, greeting).
    display_name: ClassVar[str] = ""
    #: Per-intent and default agent limits: ``{"max_iterations": 6, "intents": {"x": {...}}}``.
    limits: ClassVar[Mapping[str, Any]] = {}
    #: Model tier per intent for agent runs (``"fast"`` or ``"strong"``); ``"*"`` is the default.
    models: ClassVar[Mapping[str, ModelTier]] = {}
    #: Keys of tool results shown to the model unmasked (the caller's own data).
    keep_keys: ClassVar[frozenset[str]] = frozenset()
    #: The tool that puts the user in touch with a person (used when a run fails).
    escalation_tool: ClassVar[str | None] = "escalate_to_human"
    #: Tables of the pack's own data.
    tables: ClassVar[tuple[TableSpec, ...]] = ()
    #: When sessions restart.
    session_policy: ClassVar[SessionPolicy] = SessionPolicy()
    #: Schema of the pack's session state (validated when tools or fast paths change it).
    state_model: ClassVar[type[BaseModel] | None] = None
    #: Words that mark a language in short messages of this domain: ``{"es": "cita citas", ...}``.
    lexicon: ClassVar[Mapping[str, str]] = {}
    #: Guard policy overrides: finding kind -> action (see :mod:`luma.guard`).
    guard_policy: ClassVar[Mapping[str, str]] = {}
    #: User-bucket rate limits per kind of user (see :mod:`luma.limits`):
    #: ``{"verified": {"user_per_minute": 30, "user_burst": 10}, "unverified": {"user_per_minute": 10}}``.
    rate_limits: ClassVar[Mapping[str, Mapping[str, int]]] = {}

    def __init__(self) -> None:
        self._settings: Settings | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def bind(self, settings: Settings) -> None:
        """Receive the deployment's settings (once per process); repositories are built lazily."""
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from luma.config import get_settings

            self._settings = get_settings()
        return self._settings

    # -- resources -------------------------------------------------------------------------------
    @classmethod
    def package(cls) -> str:
        """The pack's package (where its resource files live): the module that defines the class."""
        module = cls.__module__
        return module if cls._is_package(module) else module.rpartition(".")[0]

    @staticmethod
    def _is_package(module: str) -> bool:
        import sys

        mod = sys.modules.get(module)
        return bool(mod is not None and hasattr(mod, "__path__"))

    @classmethod
    def resource(cls, name: str) -> Traversable:
        """A file shipped inside the pack's package."""
        return resources.files(cls.package()).joinpath(name)

    @classmethod
    def read_json(cls, name: str) -> Any:
        """A JSON resource of the pack, decoded."""
        return json.loads(cls.resource(name).read_text(encoding="utf-8"))

    @cached_property
    def texts(self) -> dict[str, dict[str, str]]:
        """The pack's texts, ``{key: {language: text}}`` (``texts.json``; empty when absent)."""
        res = self.resource("texts.json")
        return dict(self.read_json("texts.json")) if res.is_file() else {}

    # -- routing ---------------------------------------------------------------------------------
    def fast_path(self, intent: str) -> FastPathHandler | None:
        """The handler of an intent or flow step; None sends the turn to the agent."""
        return None

    def pre_route(self, session: Session, message: Message) -> FlowDecision | None:
        """Claim a message for a pending step (an awaited answer, a menu choice) before classification."""
        return None

    # -- agent -----------------------------------------------------------------------------------
    def tools(self) -> ToolRegistry:
        """The agent's tools (and those served over MCP)."""
        from luma.agent.tools import ToolRegistry

        return ToolRegistry([])

    def identity(self) -> IdentityRule | None:
        """The rule for tools that need a known user; None: every tool may run for any signed-in user."""
        return None

    def system_prompt(self, session: Session) -> str:
        """The agent's instructions: the same for every session of the pack (the provider caches them)."""
        return f"You are the assistant of {self.display_name or self.name}. Be brief and helpful."

    def session_context(self, session: Session) -> str:
        """What changes per session and turn (the time, the language, who the user is): after the cached part."""
        return ""

    def apply_state(self, session: Session, updates: dict[str, Any]) -> tuple[dict[str, Any], SessionStatus | None]:
        """The session state after a tool's updates, and a new status when the tool changed it."""
        state = {**session.state, **{k: v for k, v in updates.items() if k != "locked"}}
        if self.state_model is not None:
            self.state_model.model_validate(state)
        return state, SessionStatus.LOCKED if updates.get("locked") else None

    def allowed_output(self) -> frozenset[str]:
        """Strings the output guardrail must never mask (the pack's own phone number, ...)."""
        return frozenset()

    # -- data ------------------------------------------------------------------------------------
    def seed(self, settings: Settings, *, today: Any = None) -> int:
        """Write the demo data of the local stack; returns the items written."""
        return 0

    def erase_user(self, settings: Settings, tenant_id: str, user_id: str) -> int:
        """Erase (or unlink) the pack's own records of this user; safe to repeat; returns the items changed.

        Called by the erasure job (``DELETE /api/me``, ``luma forget``) after the core's data is gone.
        """
        return 0

    def demo_users(self) -> list[dict[str, Any]]:
        """Users of the demo data to sign in as locally: ``userId``, ``tenantId``, ``name``, ``identityHint``."""
        return []
