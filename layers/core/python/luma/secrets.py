"""Secrets Manager reads and the keys derived from them.

In AWS no secret value is in a function's environment: CDK passes secret ARNs
(``LUMA_<NAME>_SECRET_ARN``) and the code reads the JSON values once per process (cold start).
A rotated value reaches a function at its next cold start. Nothing here logs a secret's value.

- :func:`read_json_secret`: one secret's JSON object, cached per process.
- :func:`signing_key`: a key per purpose (page cursors, pseudonymous ids), derived with HMAC-SHA256
  from one root: ``LUMA_SIGNING_SECRET``, else the generated secret at ``LUMA_SIGNING_SECRET_ARN``,
  else, with dev auth (local stack and tests only), the dev token key, generated into ``.luma/dev-secret``.
- :func:`origin_verified`: whether a request carries the header CloudFront adds in front of both APIs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from typing import Any

from luma.config import Settings

ORIGIN_VERIFY_HEADER = "x-luma-origin-verify"
# CloudFront sets it ("<ip>:<port>", IPv6 unbracketed) and overwrites any value a viewer sends.
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"

_lock = threading.Lock()
_cache: dict[str, dict[str, Any]] = {}


class SecretUnavailableError(RuntimeError):
    """A secret could not be read or is not a JSON object (the message names no value)."""


def read_json_secret(arn: str, *, region: str, client: Any | None = None) -> dict[str, Any]:
    """The JSON object stored in secret ``arn``, read once per process."""
    with _lock:
        if arn in _cache:
            return _cache[arn]
    try:
        if client is None:
            from luma.aws import client as make_client

            client = make_client("secretsmanager", region=region)
        raw = client.get_secret_value(SecretId=arn)["SecretString"]
        value = json.loads(raw)
    except Exception as exc:  # only the type: an SDK message may quote the request
        raise SecretUnavailableError(f"secret unreadable: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise SecretUnavailableError("secret is not a JSON object")
    with _lock:
        _cache[arn] = value
    return value


def reset_secrets() -> None:
    """Forget cached secrets (tests; a process picks up rotated values at its next start)."""
    with _lock:
        _cache.clear()


def _root_key(settings: Settings) -> bytes:
    if settings.signing_secret is not None:
        return settings.signing_secret.get_secret_value().encode()
    if settings.signing_secret_arn:
        key = read_json_secret(settings.signing_secret_arn, region=settings.region).get("key")
        if not isinstance(key, str) or len(key) < 32:
            raise SecretUnavailableError("the signing secret has no 'key' of at least 32 characters")
        return key.encode()
    if settings.auth_mode == "dev" and settings.dev_jwt_secret is not None:  # never in AWS (config refuses it)
        return settings.dev_jwt_secret.get_secret_value().encode()
    raise SecretUnavailableError(
        "no signing key: set LUMA_SIGNING_SECRET_ARN (AWS) or LUMA_SIGNING_SECRET / LUMA_DEV_JWT_SECRET (local)"
    )


def signing_key(purpose: str, settings: Settings) -> bytes:
    """The key for one ``purpose`` (``page-cursor``, ``pseudonymous-id``): keys never serve two purposes."""
    return hmac.new(_root_key(settings), f"luma:{purpose}".encode(), hashlib.sha256).digest()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def origin_verified(headers: Mapping[str, str] | None, settings: Settings) -> bool:
    """True when no origin check is configured, or the request carries CloudFront's current or previous
    origin-verify value. An unreadable secret refuses everything (fail closed)."""
    if not settings.origin_verify_secret_arn:
        return True
    sent = _header(headers, ORIGIN_VERIFY_HEADER)
    if not sent:
        return False
    try:
        secret = read_json_secret(settings.origin_verify_secret_arn, region=settings.region)
    except SecretUnavailableError:
        from luma.observability import logger

        logger.error("origin-verify secret unreadable: refusing requests")
        return False
    expected = [v for v in (secret.get("current"), secret.get("previous")) if isinstance(v, str) and v]
    return any(hmac.compare_digest(sent.encode(), value.encode()) for value in expected)


def viewer_ip(headers: Mapping[str, str] | None, settings: Settings) -> str | None:
    """The client's IP as CloudFront saw it, when requests come through CloudFront (origin check on);
    else None (the caller uses the connection's own source address)."""
    if not settings.origin_verify_secret_arn:
        return None
    address = _header(headers, VIEWER_ADDRESS_HEADER)
    if not address or ":" not in address:
        return None
    return address.rsplit(":", 1)[0].strip("[]") or None
