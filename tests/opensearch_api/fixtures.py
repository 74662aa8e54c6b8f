"""pytest fixtures for the local OpenSearch-compatible server.

Test modules bind them by assignment (``opensearch_server = fixtures.opensearch_server``); a conftest can
load them for a whole tree with ``pytest_plugins = ["tests.opensearch_api.fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.opensearch import OpenSearchServer, start_opensearch


@pytest.fixture(scope="session")
def opensearch_server() -> Iterator[OpenSearchServer]:
    """The local OpenSearch-compatible server on a free loopback port (one per session)."""
    server = start_opensearch()
    yield server
    server.stop()
