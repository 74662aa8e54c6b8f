"""Assistant packs as the deployment sees them: discovered, never named here.

A pack is a plugin registered under the ``luma.assistants`` entry-point group (built-in packs in
this project's pyproject.toml, third-party ones in their own distributions). The CDK app reads the
entry points of the environment `cdk synth` runs in, loads each pack's class and takes the tables it
declares (``AssistantPack.tables``). Each table becomes ``luma-<stage>-<pack>-<table>`` and reaches
the functions as ``LUMA_PACK_TABLES`` (``{"<pack>.<table>": "<name>"}``), the same lookup
``luma.store.packdata.table_name`` does at run time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

GROUP = "luma.assistants"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # the registry's rule for pack names
TABLE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class PackDiscoveryError(ValueError):
    """A pack is missing, misnamed, or declares an unusable table."""


@dataclass(frozen=True)
class PackTable:
    """One table a pack declares."""

    pack: str
    name: str
    description: str = ""

    @property
    def key(self) -> str:
        """The key of ``LUMA_PACK_TABLES``: ``<pack>.<table>``."""
        return f"{self.pack}.{self.name}"


@dataclass(frozen=True)
class Pack:
    name: str
    source: str  # the entry point's value, e.g. ``package.module:Class``
    distribution: str | None
    tables: tuple[PackTable, ...]


def _load(ep: EntryPoint) -> Pack:
    name, value = ep.name, ep.value
    if not NAME.match(name):
        raise PackDiscoveryError(f"{GROUP} entry point {name!r} ({value}): names are [a-z][a-z0-9_]*")
    try:
        target = ep.load()
    except Exception as exc:
        raise PackDiscoveryError(f"assistant pack {name!r} ({value}) cannot be imported: {exc}") from exc
    declared = getattr(target, "name", None)
    if declared != name:
        raise PackDiscoveryError(f"entry point {name!r} loads a pack named {declared!r}: the names must match")
    tables = []
    for spec in getattr(target, "tables", ()) or ():
        table = str(getattr(spec, "name", ""))
        if not TABLE.match(table):
            raise PackDiscoveryError(f"pack {name!r} declares a table named {table!r}: names are [a-z][a-z0-9_]*")
        tables.append(PackTable(name, table, str(getattr(spec, "description", "") or "")))
    if len({t.name for t in tables}) != len(tables):
        raise PackDiscoveryError(f"pack {name!r} declares a table name twice")
    dist = getattr(ep, "dist", None)
    return Pack(name, value, getattr(dist, "name", None), tuple(tables))


def installed_packs() -> dict[str, Pack]:
    """Every pack registered where this runs, by name (the first registration of a name wins, as at run time)."""
    found: dict[str, Pack] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name not in found:
            found[ep.name] = _load(ep)
    return found


def deployed_packs(wanted: Sequence[str] = (), installed: dict[str, Pack] | None = None) -> list[Pack]:
    """The packs a stage serves: ``wanted`` (its ``assistants``), or every installed one; sorted by name."""
    packs = installed_packs() if installed is None else installed
    if not wanted:
        if not packs:
            raise PackDiscoveryError(
                f"no assistant pack is installed (entry-point group {GROUP!r}): run `make install`, "
                "or synthesize with the environment that has the packs"
            )
        return [packs[name] for name in sorted(packs)]
    missing = [name for name in wanted if name not in packs]
    if missing:
        raise PackDiscoveryError(
            f"the stage serves {missing}, which are not installed (installed: {sorted(packs) or 'none'})"
        )
    return [packs[name] for name in sorted(dict.fromkeys(wanted))]
