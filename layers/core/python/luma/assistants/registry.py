"""The installed assistant packs, discovered through the ``luma.assistants`` entry-point group.

Built-in packs register in this project's ``pyproject.toml`` exactly as a third party's package
would in its own. A deployment serves every installed pack unless ``LUMA_ASSISTANTS`` lists some;
``LUMA_TENANT_ASSISTANTS`` narrows each tenant's packs and names its default.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from luma.assistants.contract import AssistantPack
from luma.config import Settings, get_settings
from luma.errors import ErrorCode, LumaError

GROUP = "luma.assistants"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_lock = threading.Lock()
_packs: dict[str, AssistantPack] = {}


class PackError(ValueError):
    """A pack is missing, misnamed or does not honour the contract."""


@lru_cache(maxsize=1)
def installed() -> dict[str, EntryPoint]:
    """Entry points of the installed packs, by name."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if not NAME.match(ep.name):
            raise PackError(f"assistant entry point {ep.name!r} ({ep.value}): names are [a-z][a-z0-9_]*")
        found.setdefault(ep.name, ep)
    return found


def available(settings: Settings | None = None) -> tuple[str, ...]:
    """The packs this deployment serves (``LUMA_ASSISTANTS``, else every installed one), sorted."""
    settings = settings or get_settings()
    names = installed()
    wanted = settings.assistants or sorted(names)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise PackError(
            f"LUMA_ASSISTANTS names {missing}, which are not installed (installed: {sorted(names) or 'none'}); "
            "install the pack's package or fix the setting"
        )
    return tuple(wanted)


def get_pack(name: str) -> AssistantPack:
    """The pack called ``name`` (loaded and bound to the settings once per process)."""
    pack = _packs.get(name)
    if pack is not None:
        return pack
    with _lock:
        pack = _packs.get(name)
        if pack is None:
            pack = _packs[name] = _load(name)
    return pack


def _load(name: str) -> AssistantPack:
    if not NAME.match(name):
        raise PackError(f"invalid assistant name {name!r}: names are [a-z][a-z0-9_]*")
    ep = installed().get(name)
    if ep is None:
        raise PackError(f"no assistant pack named {name!r} is installed (installed: {sorted(installed()) or 'none'})")
    target = ep.load()
    pack = target() if isinstance(target, type) else target
    if not isinstance(pack, AssistantPack):
        raise PackError(f"{ep.value} is not an AssistantPack (subclass luma.assistants.contract.AssistantPack)")
    if pack.name != name:
        raise PackError(f"entry point {name!r} loads a pack named {pack.name!r}: the names must match")
    pack.bind(get_settings())
    return pack


def default_for(tenant_id: str, settings: Settings | None = None) -> str:
    """The tenant's default pack."""
    settings = settings or get_settings()
    rule = settings.tenant_assistants.get(tenant_id)
    if rule is not None and rule.default:
        return rule.default
    allowed = allowed_for(tenant_id, settings)
    return settings.assistant if settings.assistant in allowed else allowed[0]


def allowed_for(tenant_id: str, settings: Settings | None = None) -> tuple[str, ...]:
    """The packs a tenant may talk to."""
    settings = settings or get_settings()
    served = available(settings)
    rule = settings.tenant_assistants.get(tenant_id)
    if rule is None or not rule.allowed:
        return served
    return tuple(n for n in rule.allowed if n in served)


def resolve(tenant_id: str, requested: str | None, settings: Settings | None = None) -> str:
    """The pack a new conversation of this tenant uses: ``requested`` if allowed, else the default."""
    settings = settings or get_settings()
    if not requested:
        return default_for(tenant_id, settings)
    if requested not in allowed_for(tenant_id, settings):
        raise LumaError(ErrorCode.ASSISTANT_NOT_AVAILABLE, assistant=requested[:32])
    return requested


def reset() -> None:
    """Forget loaded packs (tests that change settings or install packs)."""
    with _lock:
        _packs.clear()
    installed.cache_clear()
