"""Create the tables from the same PynamoDB definitions the code uses (local stack and tests)."""

from __future__ import annotations

from luma.config import Settings, get_settings
from luma.store.models import ALL_MODELS, bind_models
from luma.store.packdata import pack_table_models


def create_tables(settings: Settings | None = None, *, wait: bool = True) -> list[str]:
    """Create every missing table; returns the names created."""
    settings = settings or get_settings()
    bind_models(settings)
    created: list[str] = []
    for model in (*ALL_MODELS, *pack_table_models(settings)):
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created


def delete_tables(settings: Settings | None = None) -> None:
    """Drop every table (tests)."""
    settings = settings or get_settings()
    bind_models(settings)
    for model in (*ALL_MODELS, *pack_table_models(settings)):
        if model.exists():
            model.delete_table()
