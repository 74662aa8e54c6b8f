"""Token issue and verification for web and mobile clients.

Locally, tokens are HS256 JWTs signed with a dev key (``LUMA_DEV_JWT_SECRET``); in AWS a Cognito
user pool issues RS256 tokens checked against its JWKS. Both produce the same :class:`Principal`
from the ``sub`` and ``tenant`` (or ``custom:tenant``) claims.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import jwt

from luma.config import Settings, get_settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError


def _dev_secret(settings: Settings) -> str:
    if settings.dev_jwt_secret is None:
        raise LumaError(
            ErrorCode.AUTH_INVALID_TOKEN,
            "Dev auth is not configured: set LUMA_DEV_JWT_SECRET (luma dev does this for you).",
        )
    return settings.dev_jwt_secret.get_secret_value()


def issue_dev_token(
    user_id: str,
    tenant_id: str,
    *,
    name: str | None = None,
    ttl_s: int | None = None,
    settings: Settings | None = None,
) -> str:
    """Sign a dev token for ``user_id`` in ``tenant_id`` (local stack and tests only)."""
    settings = settings or get_settings()
    Principal(tenant_id=tenant_id, user_id=user_id)  # validates the ids
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "tenant": tenant_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + (ttl_s if ttl_s is not None else settings.dev_token_ttl_s),
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, _dev_secret(settings), algorithm="HS256")


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def verify_token(token: str | None, *, settings: Settings | None = None) -> Principal:
    """Verify a bearer token and return who it names; raises ``LumaError(AUTH_*)`` otherwise."""
    settings = settings or get_settings()
    if not token:
        raise LumaError(ErrorCode.AUTH_REQUIRED)
    try:
        if settings.auth_mode == "cognito":
            assert settings.cognito_jwks_url
            key: Any = _jwks_client(settings.cognito_jwks_url).get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token, key, algorithms=["RS256"], issuer=settings.jwt_issuer, options={"verify_aud": False}
            )
        else:
            claims = jwt.decode(
                token,
                _dev_secret(settings),
                algorithms=["HS256"],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
    except jwt.ExpiredSignatureError as exc:
        raise LumaError(ErrorCode.AUTH_EXPIRED_TOKEN) from exc
    except jwt.PyJWTError as exc:
        raise LumaError(ErrorCode.AUTH_INVALID_TOKEN) from exc
    tenant = claims.get("tenant") or claims.get("custom:tenant")
    try:
        return Principal(tenant_id=tenant, user_id=claims["sub"], display_name=claims.get("name"))
    except (KeyError, ValueError) as exc:
        raise LumaError(ErrorCode.AUTH_INVALID_TOKEN) from exc
