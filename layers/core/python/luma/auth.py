"""Token issue and verification for web and mobile clients.

Locally, tokens are HS256 JWTs signed with a dev key (``LUMA_DEV_JWT_SECRET``); in AWS a Cognito
user pool issues RS256 tokens checked against its JWKS. Both produce the same :class:`Principal`.

Every token must carry ``exp``. Dev tokens name the tenant in ``tenant`` and the role in ``role``
(``user`` unless ``operator``). Cognito tokens must be ID tokens for our app client (``aud``) or
access tokens for it (``client_id``), per ``token_use``; the tenant comes only from the user pool's
``custom:tenant`` attribute, and membership of the ``operator`` group (``cognito:groups``) makes an
operator.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Literal, cast

import jwt

from luma.config import Settings, get_settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError

Role = Literal["user", "operator"]
ROLES: tuple[Role, ...] = ("user", "operator")
OPERATOR_GROUP = "operator"


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
    role: Role = "user",
    ttl_s: int | None = None,
    settings: Settings | None = None,
) -> str:
    """Sign a dev token for ``user_id`` in ``tenant_id`` (local stack and tests only)."""
    settings = settings or get_settings()
    Principal(tenant_id=tenant_id, user_id=user_id, role=role)  # validates the ids and the role
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "tenant": tenant_id,
        "role": role,
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


def _cognito_claims(token: str, settings: Settings) -> dict[str, Any]:
    assert settings.cognito_jwks_url
    key: Any = _jwks_client(settings.cognito_jwks_url).get_signing_key_from_jwt(token).key
    # ID tokens carry aud, access tokens client_id: the audience is checked below, per token_use.
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        issuer=settings.jwt_issuer,
        options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
    )
    use = claims.get("token_use")
    audience = claims.get("aud") if use == "id" else claims.get("client_id") if use == "access" else None
    if audience != settings.jwt_audience:
        raise jwt.InvalidAudienceError("token_use/audience mismatch")
    return claims


def _role(claims: dict[str, Any], cognito: bool) -> Role:
    if cognito:
        groups = claims.get("cognito:groups") or []
        return "operator" if isinstance(groups, list) and OPERATOR_GROUP in groups else "user"
    role = claims.get("role", "user")
    if role not in ROLES:
        raise LumaError(ErrorCode.AUTH_INVALID_TOKEN)
    return cast(Role, role)


def verify_token(token: str | None, *, settings: Settings | None = None) -> Principal:
    """Verify a bearer token and return who it names; raises ``LumaError(AUTH_*)`` otherwise."""
    settings = settings or get_settings()
    if not token:
        raise LumaError(ErrorCode.AUTH_REQUIRED)
    cognito = settings.auth_mode == "cognito"
    try:
        if cognito:
            claims = _cognito_claims(token, settings)
        else:
            claims = jwt.decode(
                token,
                _dev_secret(settings),
                algorithms=["HS256"],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
    except jwt.ExpiredSignatureError as exc:
        raise LumaError(ErrorCode.AUTH_EXPIRED_TOKEN) from exc
    except jwt.PyJWTError as exc:
        raise LumaError(ErrorCode.AUTH_INVALID_TOKEN) from exc
    tenant = claims.get("custom:tenant") if cognito else claims.get("tenant")
    try:
        return Principal(
            tenant_id=tenant,
            user_id=claims["sub"],
            display_name=claims.get("name"),
            role=_role(claims, cognito),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise LumaError(ErrorCode.AUTH_INVALID_TOKEN) from exc
