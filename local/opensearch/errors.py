"""OpenSearch-shaped errors: ``{"error": {"root_cause": [...], "type": ..., "reason": ...}, "status": N}``."""

from __future__ import annotations

from typing import Any


class OpenSearchError(Exception):
    """An error the server answers with OpenSearch's status, type and reason.

    ``extra`` fields (``index``, ``resource.id``, ...) are copied into the cause like OpenSearch does.
    """

    def __init__(self, status: int, error_type: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.extra = extra

    def cause(self) -> dict[str, Any]:
        """The error object without ``root_cause`` (what bulk items and root causes carry)."""
        return {"type": self.error_type, "reason": self.reason, **self.extra}

    def body(self) -> dict[str, Any]:
        """The whole response body."""
        cause = self.cause()
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def index_not_found(name: str) -> OpenSearchError:
    return OpenSearchError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        index=name,
        index_uuid="_na_",
        **{"resource.type": "index_or_alias", "resource.id": name},
    )


def bad_request(reason: str, error_type: str = "illegal_argument_exception") -> OpenSearchError:
    return OpenSearchError(400, error_type, reason)


def parsing(reason: str) -> OpenSearchError:
    """A malformed query or body (OpenSearch's ``parsing_exception``)."""
    return OpenSearchError(400, "parsing_exception", reason)


def mapper_parsing(reason: str) -> OpenSearchError:
    return OpenSearchError(400, "mapper_parsing_exception", reason)
