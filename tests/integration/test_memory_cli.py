"""``luma memory reindex``: the index rebuilt from DynamoDB through the process settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from luma.classify.embedder import get_embedder
from luma.config import Settings, get_settings, reset_settings
from luma.memory import wiring
from luma.memory.cli import main
from luma.memory.model import SourceMessage
from luma.memory.service import MemoryService
from luma.memory.settings import MemorySettings

from local.opensearch import start_opensearch
from tests.integration.test_memory_consumers import START, TENANT


@pytest.fixture
def memory_env(ddb_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    server = start_opensearch()
    monkeypatch.setenv("LUMA_OPENSEARCH_URL", server.url)
    monkeypatch.setenv("LUMA_MEMORY_INDEX", f"memory-cli-{uuid.uuid4().hex[:8]}")
    reset_settings()
    wiring.reset()
    try:
        yield get_settings()
    finally:
        monkeypatch.undo()
        reset_settings()
        wiring.reset()
        server.stop()


def test_reindex_one_user_then_everyone(memory_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    wired = wiring.get_memory_service()  # what the command uses: the index and table of the settings
    wired.store.ensure_ready()
    settings = MemorySettings(memory_extraction="extractive")
    service = MemoryService(repo=wired.repo, store=wired.store, embed=get_embedder().embed, settings=settings)
    users = [f"u-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for n, user in enumerate(users):
        text = f"I keep {n + 2} beehives behind my house in Tours."
        service.ingest(TENANT, user, [SourceMessage(f"MSG{n}{uuid.uuid4().hex[:8]}", "s-1", "user", text, START)])
    service.store.refresh()
    for user in users:
        service.store.delete_user(TENANT, user)
    assert main(["reindex", "--tenant", TENANT, "--user", users[0]]) == 0
    assert capsys.readouterr().out.strip() == "memory reindex: 1 items, 1 users"
    assert service.store.count(TENANT, users[0]) == 1 and service.store.count(TENANT, users[1]) == 0
    assert main(["reindex", "--tenant", "another-tenant"]) == 0
    assert capsys.readouterr().out.strip() == "memory reindex: 0 items, 0 users"
    assert main(["reindex", "--tenant", TENANT]) == 0
    assert service.store.count(TENANT, users[1]) == 1
    service.store.delete_user(TENANT, users[1])
    assert main(["reindex"]) == 0  # everyone
    assert service.store.count(TENANT, users[1]) == 1
    with pytest.raises(SystemExit):
        main(["reindex", "--user", users[0]])  # a user needs the tenant
