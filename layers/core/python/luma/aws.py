"""One botocore session per process, shared by boto3 clients and PynamoDB.

A botocore session's loader caches endpoint rules and service models; a second session parses
the same JSON again (~50 ms per client at cold start). Client creation from a shared session is
serialized with a lock (botocore's client creation is not thread-safe; the local stack runs
handlers on threads).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

_create_lock = threading.Lock()


@lru_cache(maxsize=1)
def botocore_session() -> Any:
    """The shared botocore session (built on first use, never at import time)."""
    import botocore.session

    session = botocore.session.get_session()
    create = session.create_client

    def create_client(*args: Any, **kwargs: Any) -> Any:
        with _create_lock:
            return create(*args, **kwargs)

    session.create_client = create_client  # type: ignore[method-assign]
    return session


@lru_cache(maxsize=1)
def boto_session() -> Any:
    """The shared boto3 session, on top of :func:`botocore_session`."""
    import boto3

    return boto3.session.Session(botocore_session=botocore_session())


def share_with_pynamodb() -> None:
    """Make PynamoDB build its clients from the shared session too."""
    import pynamodb.connection.base

    pynamodb.connection.base.get_session = botocore_session  # type: ignore[assignment]


def client(service: str, *, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client with short timeouts suited to a Lambda's budget (pool size from the settings)."""
    from botocore.config import Config

    from luma.config import get_settings

    return boto_session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"max_attempts": 2, "mode": "standard"},
            tcp_keepalive=True,
            max_pool_connections=get_settings().aws_max_pool_connections,
        ),
    )
