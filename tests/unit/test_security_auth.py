"""Tokens and roles (issue 12, findings 9 and 10): exp everywhere, Cognito audience and token_use,
the tenant from custom:tenant only, roles from a claim or a Cognito group, dev auth refused in AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends
from fastapi.testclient import TestClient
from luma import auth
from luma.auth import issue_dev_token, verify_token
from luma.config import Settings
from luma.domain.models import Principal
from luma.errors import ErrorCode, LumaError
from pydantic import ValidationError

DEV_KEY = "a-dev-key-for-these-tests-0123456789abcdef"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test"
CLIENT_ID = "web-client-id"


def dev_settings(**kw: Any) -> Settings:
    return Settings(dev_jwt_secret=DEV_KEY, **kw)


def dev_claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "u-alice", "tenant": "demo", "iss": "luma-dev", "aud": "luma", "iat": now, "exp": now + 60, **kw}


# -- exp is required, dev tokens included ----------------------------------------------------
def test_a_dev_token_without_exp_is_refused() -> None:
    claims = dev_claims()
    del claims["exp"]
    token = jwt.encode(claims, DEV_KEY, algorithm="HS256")
    with pytest.raises(LumaError) as caught:
        verify_token(token, settings=dev_settings())
    assert caught.value.code is ErrorCode.AUTH_INVALID_TOKEN and caught.value.http_status == 401


def test_http_and_websocket_answer_401_to_a_token_without_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    from luma.config import reset_settings
    from luma.http.app import create_app

    from tests.fakes import MemorySessionStore
    from tests.unit.test_handlers import Ctx, event, load

    monkeypatch.setenv("LUMA_DEV_JWT_SECRET", DEV_KEY)
    reset_settings()
    try:
        claims = dev_claims()
        del claims["exp"]
        token = jwt.encode(claims, DEV_KEY, algorithm="HS256")
        store = MemorySessionStore()
        with TestClient(create_app(lambda: store), raise_server_exceptions=False) as client:
            res = client.get("/sessions", headers={"Authorization": f"Bearer {token}"})
            assert res.status_code == 401 and res.json()["code"] == "AUTH_INVALID_TOKEN"
            good = issue_dev_token("u-alice", "demo")
            assert client.get("/sessions", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        ev = event("ws_authorizer")
        ev["queryStringParameters"]["token"] = token
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            load("ws_authorizer").handler(ev, Ctx())
    finally:
        reset_settings()


# -- roles -----------------------------------------------------------------------------------
def test_dev_tokens_carry_a_role_user_by_default() -> None:
    settings = dev_settings()
    assert verify_token(issue_dev_token("u-alice", "demo", settings=settings), settings=settings).role == "user"
    op = issue_dev_token("u-olga", "demo", role="operator", settings=settings)
    assert jwt.decode(op, options={"verify_signature": False})["role"] == "operator"
    assert verify_token(op, settings=settings).role == "operator"


def test_an_unknown_role_claim_is_an_invalid_token() -> None:
    token = jwt.encode(dev_claims(role="admin"), DEV_KEY, algorithm="HS256")
    with pytest.raises(LumaError) as caught:
        verify_token(token, settings=dev_settings())
    assert caught.value.code is ErrorCode.AUTH_INVALID_TOKEN
    with pytest.raises(ValueError):
        issue_dev_token("u-alice", "demo", role="admin", settings=dev_settings())  # type: ignore[arg-type]


def test_the_authorizer_passes_the_role_in_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from luma.config import reset_settings

    from tests.unit.test_handlers import Ctx, event, load

    monkeypatch.setenv("LUMA_DEV_JWT_SECRET", DEV_KEY)
    reset_settings()
    try:
        for role in ("user", "operator"):
            ev = event("ws_authorizer")
            ev["queryStringParameters"]["token"] = issue_dev_token("u-olga", "demo", role=role)  # type: ignore[arg-type]
            result = load("ws_authorizer").handler(ev, Ctx())
            assert result["context"]["role"] == role
            assert all(isinstance(v, str | int | bool) for v in result["context"].values())  # API Gateway's rule
    finally:
        reset_settings()


def test_require_operator_lets_operators_through_and_answers_403_to_users() -> None:
    from luma.http.app import create_app, require_operator

    from tests.fakes import MemorySessionStore

    store = MemorySessionStore()
    app = create_app(lambda: store)

    @app.get("/ops/ping")
    def ping(op: Principal = Depends(require_operator)) -> dict[str, str]:  # noqa: B008 (FastAPI style)
        return {"operator": op.user_id}

    with TestClient(app, raise_server_exceptions=False) as client:
        user = issue_dev_token("u-alice", "demo")
        op = issue_dev_token("u-olga", "demo", role="operator")
        res = client.get("/ops/ping", headers={"Authorization": f"Bearer {user}"})
        assert res.status_code == 403 and res.json()["code"] == "FORBIDDEN"
        assert client.get("/ops/ping").status_code == 401
        res = client.get("/ops/ping", headers={"Authorization": f"Bearer {op}"})
        assert res.status_code == 200 and res.json() == {"operator": "u-olga"}


# -- Cognito ---------------------------------------------------------------------------------
class _Jwks:
    def __init__(self, key: Any) -> None:
        self.key = key

    def get_signing_key_from_jwt(self, token: str) -> Any:
        return self


@pytest.fixture
def cognito(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(auth, "_jwks_client", lambda url: _Jwks(private.public_key()))
    settings = Settings(
        auth_mode="cognito",
        cognito_jwks_url=f"{ISSUER}/.well-known/jwks.json",
        jwt_issuer=ISSUER,
        jwt_audience=CLIENT_ID,
    )
    yield settings, private


def id_token(private: Any, **kw: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "3c1a-alice",
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "custom:tenant": "clinic-1",
        "iat": now,
        "exp": now + 300,
        **kw,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, private, algorithm="RS256")


def test_a_cognito_id_token_gives_the_principal_and_its_groups_the_role(cognito: tuple[Settings, Any]) -> None:
    settings, private = cognito
    p = verify_token(id_token(private), settings=settings)
    assert (p.tenant_id, p.user_id, p.role) == ("clinic-1", "3c1a-alice", "user")
    op = verify_token(id_token(private, **{"cognito:groups": ["staff", "operator"]}), settings=settings)
    assert op.role == "operator"


def test_a_cognito_access_token_is_checked_on_client_id(cognito: tuple[Settings, Any]) -> None:
    settings, private = cognito
    good = id_token(private, aud=None, token_use="access", client_id=CLIENT_ID)
    assert verify_token(good, settings=settings).tenant_id == "clinic-1"
    other = id_token(private, aud=None, token_use="access", client_id="another-app")
    with pytest.raises(LumaError) as caught:
        verify_token(other, settings=settings)
    assert caught.value.code is ErrorCode.AUTH_INVALID_TOKEN


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},  # an id token for another app client of the pool
        {"token_use": "refresh"},
        {"token_use": None},
        {"exp": None},
        {"custom:tenant": None, "tenant": "clinic-1"},  # a plain "tenant" claim is not Cognito's attribute
    ],
    ids=["foreign-audience", "bad-token-use", "no-token-use", "no-exp", "tenant-not-custom"],
)
def test_cognito_tokens_refused(cognito: tuple[Settings, Any], claims: dict[str, Any]) -> None:
    settings, private = cognito
    with pytest.raises(LumaError) as caught:
        verify_token(id_token(private, **claims), settings=settings)
    assert caught.value.code is ErrorCode.AUTH_INVALID_TOKEN and caught.value.http_status == 401


# -- dev auth refused in AWS -----------------------------------------------------------------
def test_dev_auth_is_refused_in_aws() -> None:
    with pytest.raises(ValidationError, match="LUMA_AUTH_MODE=dev is refused in AWS"):
        Settings(env="aws", auth_mode="dev")


def test_dev_auth_is_refused_in_a_lambda_environment_without_a_local_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMA_ENV", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "luma-staging-classify")
    with pytest.raises(ValidationError, match="LUMA_AUTH_MODE=dev is refused in AWS"):
        Settings()
    monkeypatch.setenv("LUMA_ENV", "local")  # the local stack and the cold-start bench say so explicitly
    assert Settings().auth_mode == "dev"
    monkeypatch.delenv("LUMA_ENV")
    monkeypatch.setenv("LUMA_AUTH_MODE", "cognito")
    monkeypatch.setenv("LUMA_COGNITO_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
    assert Settings().auth_mode == "cognito"
