"""``python -m local.opensearch``: run the local OpenSearch-compatible server."""

from .server import main

main()
