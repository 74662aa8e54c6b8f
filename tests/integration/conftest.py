"""Integration fixtures: settings bound to the local stack's real DynamoDB emulator (moto server)."""

from __future__ import annotations

from typing import Any

import pytest
from luma.config import Settings, get_settings


@pytest.fixture(scope="session")
def ddb_settings(local_stack: Any) -> Settings:
    """Settings pointing at the moto server the local stack started (tables created, demo data seeded)."""
    settings = get_settings()
    assert settings.dynamodb_endpoint_url, "the local stack must set LUMA_DYNAMODB_ENDPOINT_URL"
    return settings
