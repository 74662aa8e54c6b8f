"""The tables assistant packs declare: one bound PynamoDB model per table, named by convention.

A pack lists its tables (:class:`luma.assistants.contract.TableSpec`); each is a plain ``pk``/``sk``
table whose items carry a ``kind`` and a JSON ``data`` document, the tenant first in every ``pk``.
Its name is ``LUMA_PACK_TABLES["<pack>.<table>"]`` (CDK sets it) or
``<LUMA_PACK_TABLE_PREFIX>-<pack>-<table>`` (locally, e.g. ``luma-shop-data``).
"""

from __future__ import annotations

import threading
from typing import Any

from luma.config import Settings, get_settings
from luma.store.models import PackDataRow, bind_models

_lock = threading.Lock()
_models: dict[tuple[str, str | None, str], type[PackDataRow]] = {}


def table_name(pack: str, table: str, settings: Settings | None = None) -> str:
    """The physical name of a pack's table."""
    settings = settings or get_settings()
    return settings.pack_tables.get(f"{pack}.{table}") or f"{settings.pack_table_prefix}-{pack}-{table}"


def pack_table(pack: str, table: str, settings: Settings | None = None) -> type[PackDataRow]:
    """The PynamoDB model of a pack's table, bound to the settings' region and endpoint."""
    settings = settings or get_settings()
    bind_models(settings)
    name = table_name(pack, table, settings)
    key = (settings.region, settings.dynamodb_endpoint_url, name)
    model = _models.get(key)
    if model is None:
        with _lock:
            model = _models.get(key)
            if model is None:
                meta: Any = type(
                    "Meta",
                    (),
                    {
                        "table_name": name,
                        "region": settings.region,
                        "host": settings.dynamodb_endpoint_url,
                        "billing_mode": "PAY_PER_REQUEST",
                        "connect_timeout_seconds": 2,
                        "read_timeout_seconds": 5,
                        "max_retry_attempts": 2,
                    },
                )
                model = type(f"PackData_{pack}_{table}", (PackDataRow,), {"Meta": meta})
                _models[key] = model
    return model


def pack_table_models(settings: Settings | None = None) -> list[type[PackDataRow]]:
    """The models of every table of every pack this deployment serves."""
    from luma.assistants.registry import available, get_pack

    settings = settings or get_settings()
    return [pack_table(name, spec.name, settings) for name in available(settings) for spec in get_pack(name).tables]
