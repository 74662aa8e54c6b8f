"""AWS clients keep as many pooled connections as the settings say (PynamoDB models and boto3 clients)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from luma.aws import client
from luma.config import Settings, get_settings, reset_settings
from luma.store.models import ConversationRow, bind_models


@pytest.fixture
def pool_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LUMA_AWS_MAX_POOL_CONNECTIONS", "77")
    reset_settings()
    yield
    monkeypatch.undo()  # the environment as it was (a local stack in this process may set the variable)
    reset_settings()
    bind_models(get_settings())


def test_default_is_lambdas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMA_AWS_MAX_POOL_CONNECTIONS", raising=False)
    assert Settings().aws_max_pool_connections == 10


def test_models_and_clients_take_the_setting(pool_env: None) -> None:
    settings = get_settings()
    assert settings.aws_max_pool_connections == 77
    bind_models(settings)
    assert ConversationRow.Meta.max_pool_connections == 77
    sqs = client("sqs", region="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert sqs.meta.config.max_pool_connections == 77


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_bad_pool_size_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMA_AWS_MAX_POOL_CONNECTIONS", value)
    with pytest.raises(ValueError, match="aws_max_pool_connections"):
        Settings()
