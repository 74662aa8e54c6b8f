"""Dev tokens, errors and PII masking in logs."""

from __future__ import annotations

import io
import json
import logging

import jwt
import pytest
from luma.auth import issue_dev_token, verify_token
from luma.config import Settings
from luma.errors import ErrorCode, LumaError
from luma.observability import PiiMaskingFormatter, mask_pii


def test_token_round_trip() -> None:
    p = verify_token(issue_dev_token("u-alice", "demo", name="Alice"))
    assert (p.tenant_id, p.user_id, p.display_name) == ("demo", "u-alice", "Alice")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, ErrorCode.AUTH_REQUIRED),
        ("not-a-jwt", ErrorCode.AUTH_INVALID_TOKEN),
        (
            jwt.encode(
                {"sub": "u", "tenant": "demo", "iss": "luma-dev", "aud": "luma", "exp": 9999999999},
                "another-key-that-is-long-enough-32b",
                algorithm="HS256",
            ),
            ErrorCode.AUTH_INVALID_TOKEN,
        ),
        (
            jwt.encode({"sub": "u", "iss": "luma-dev", "aud": "luma", "exp": 9999999999}, "x" * 32, algorithm="HS256"),
            ErrorCode.AUTH_INVALID_TOKEN,
        ),
    ],
)
def test_bad_tokens(token: str | None, code: ErrorCode) -> None:
    with pytest.raises(LumaError) as caught:
        verify_token(token)
    assert caught.value.code is code and caught.value.http_status == 401


def test_expired_and_tenantless_tokens() -> None:
    with pytest.raises(LumaError) as caught:
        verify_token(issue_dev_token("u-alice", "demo", ttl_s=-1))
    assert caught.value.code is ErrorCode.AUTH_EXPIRED_TOKEN
    with pytest.raises(ValueError):
        issue_dev_token("u alice", "demo")  # ids are validated


def test_missing_dev_key_explains_the_fix() -> None:
    with pytest.raises(LumaError, match="LUMA_DEV_JWT_SECRET"):
        verify_token("x.y.z", settings=Settings(dev_jwt_secret=None))


def test_cognito_mode_needs_jwks() -> None:
    with pytest.raises(ValueError, match="LUMA_COGNITO_JWKS_URL"):
        Settings(auth_mode="cognito")


def test_mask_pii() -> None:
    masked = mask_pii("call +33 6 12 34 50 01 or mail alice@example.com, born 14/03/1987, token=abcdefghijk123")
    assert "+33" not in masked and "alice@" not in masked and "1987" not in masked and "abcdefghijk" not in masked
    assert "<phone>" in masked and "<email>" in masked and "<dob>" in masked and "<secret>" in masked


def test_mask_pii_leaves_timestamps_and_aws_identifiers_readable() -> None:
    text = (
        "2026-12-02 07:05:36 run arn:aws:states:eu-west-1:123456789012:execution:agent-run:01JE8ZK3M4N5P6Q7R8S9T0V1W2 "
        "request 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b appointment 2026-12-09 10:30"
    )
    assert mask_pii(text) == text


def test_log_lines_mask_sensitive_keys_and_values() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PiiMaskingFormatter())
    log = logging.getLogger("luma-test-masking")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("user wrote alice@example.com", extra={"text": "Alice Martin 14/03/1987", "intent": "greeting"})
    line = json.loads(stream.getvalue())
    assert "alice@example.com" not in stream.getvalue() and "Alice Martin" not in stream.getvalue()
    assert line["intent"] == "greeting" and line["text"].startswith("<redacted:")


def test_log_lines_keep_timestamps_and_request_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PiiMaskingFormatter())
    log = logging.getLogger("luma-test-masking-ids")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info(
        "run started at 2026-12-02 07:05:36 for +33 6 12 34 56 78",
        extra={
            "request_id": "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            "execution": "arn:aws:states:eu-west-1:123456789012:execution:agent-run:01JE8ZK3M4N5P6Q7R8S9T0V1W2",
            "phone": "+33612345678",
            "nested": {"contact": "bob@mail.fr", "ids": ["01JE8ZK3M4N5P6Q7R8S9T0V1W2"]},
        },
    )
    line = json.loads(stream.getvalue())
    assert line["message"] == "run started at 2026-12-02 07:05:36 for <phone>"
    assert line["request_id"] == "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    assert line["execution"].endswith(":123456789012:execution:agent-run:01JE8ZK3M4N5P6Q7R8S9T0V1W2")
    assert line["phone"].startswith("<redacted:") and line["nested"]["contact"] == "<email>"
    assert line["nested"]["ids"] == ["01JE8ZK3M4N5P6Q7R8S9T0V1W2"]


def test_errors_have_user_safe_messages_and_statuses() -> None:
    err = LumaError(ErrorCode.SESSION_NOT_FOUND)
    assert err.http_status == 404 and "sessionId" in err.message
    assert err.to_dict()["code"] == "SESSION_NOT_FOUND"
    assert LumaError(ErrorCode.MALFORMED_JSON).http_status == 400


def test_xray_subsegments_are_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from luma.config import reset_settings
    from luma.observability import capture_handler

    def handler(event: dict[str, str], context: object) -> str:
        return "ok"

    reset_settings()
    assert capture_handler(handler) is handler
    monkeypatch.setenv("LUMA_XRAY_SDK", "true")
    reset_settings()
    try:
        wrapped = capture_handler(handler)
        assert wrapped is not handler and callable(wrapped)
    finally:
        monkeypatch.delenv("LUMA_XRAY_SDK")
        reset_settings()
