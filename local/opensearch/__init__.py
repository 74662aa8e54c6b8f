"""A local OpenSearch-compatible server for ``luma dev`` and the tests (in memory, exact search).

The REST subset the memory adapter uses, answered like OpenSearch 2.19: indices with mappings
(``knn_vector`` on faiss or lucene), documents, ``_bulk``, ``_refresh``, ``_search`` (BM25, exact k-NN,
``bool``/``term``/``terms``/``match``/``range``/..., ``hybrid`` with search pipelines), ``_count``,
``_delete_by_query``. Checked against OpenSearch's REST API specification and test stories
(``tests/opensearch_api``).
"""

from .engine import Engine
from .errors import OpenSearchError
from .server import OpenSearchServer, SigV4, start_opensearch

__all__ = ["Engine", "OpenSearchError", "OpenSearchServer", "SigV4", "start_opensearch"]
