"""Keys from Secrets Manager (issue 12, findings 5 and 11), against moto's Secrets Manager.

In AWS the functions get secret ARNs only: the agent and voice-note transcription read the provider
keys from the LLM secret; pseudonymous ids are keyed by a pepper from the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from luma.channels.addresses import pseudonymous_user_id
from luma.channels.media import MediaProcessor
from luma.channels.twilio_account import TwilioAccount, load_account
from luma.config import Settings
from luma.llm import build_provider, provider_keys, reset_providers
from luma.secrets import SecretUnavailableError, reset_secrets, signing_key

moto = pytest.importorskip("moto")
REGION = "us-east-1"


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    import boto3

    reset_secrets()
    reset_providers()
    with moto.mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    reset_secrets()
    reset_providers()


def _secret(client: Any, name: str, value: dict[str, Any]) -> str:
    arn: str = client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    return arn


def aws_settings(**kw: Any) -> Settings:
    return Settings(
        env="aws", region=REGION, auth_mode="cognito", cognito_jwks_url="https://example.invalid/jwks.json", **kw
    )


# -- finding 5: provider keys ----------------------------------------------------------------
def test_the_agent_gets_its_provider_keys_from_the_llm_secret(secretsmanager: Any) -> None:
    arn = _secret(
        secretsmanager,
        "luma-test/llm",
        {"ANTHROPIC_API_KEY": "sk-ant-from-the-secret", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""},
    )
    settings = aws_settings(llm_secret_arn=arn)
    assert settings.anthropic_api_key is None  # nothing in the environment
    assert settings.agent_configured  # so classify starts agent runs
    provider = build_provider(settings)
    assert provider is not None and type(provider).__name__ == "AnthropicProvider"
    assert provider._api_key == "sk-ant-from-the-secret"  # type: ignore[attr-defined]
    keys = provider_keys(settings)
    assert keys.openai_api_key is None and keys.openai_base_url is None  # empty values mean unset


def test_both_providers_from_the_secret_make_a_fallback(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, "luma-test/llm2", {"ANTHROPIC_API_KEY": "sk-a", "OPENAI_API_KEY": "sk-o"})
    provider = build_provider(aws_settings(llm_secret_arn=arn))
    assert type(provider).__name__ == "FallbackProvider"


def test_an_unreadable_llm_secret_means_no_provider_and_logs_no_value(
    secretsmanager: Any, caplog: pytest.LogCaptureFixture
) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:luma-test/none-AbCdEf"
    with caplog.at_level(logging.ERROR):
        assert build_provider(aws_settings(llm_secret_arn=missing)) is None
    assert "llm secret unreadable" in caplog.text and "luma-test/none" not in caplog.text


def test_voice_notes_are_transcribed_with_the_openai_key_from_the_secret(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = pytest.importorskip("openai")
    arn = _secret(secretsmanager, "luma-test/llm3", {"OPENAI_API_KEY": "sk-openai-from-the-secret"})
    media = MediaProcessor(aws_settings(llm_secret_arn=arn), lambda: TwilioAccount(None, None))
    assert media.can_transcribe
    seen: dict[str, Any] = {}

    class FakeOpenAI:
        def __init__(self, **kwargs: Any) -> None:
            seen.update(kwargs)
            self.audio = self

        @property
        def transcriptions(self) -> Any:
            return self

        def create(self, **kwargs: Any) -> Any:
            return type("Result", (), {"text": " hello "})()

    monkeypatch.setattr(openai, "OpenAI", FakeOpenAI)
    assert media.transcribe(b"OggS...", "audio/ogg") == "hello"
    assert seen["api_key"] == "sk-openai-from-the-secret" and seen["base_url"] is None
    anthropic_only = _secret(secretsmanager, "luma-test/llm4", {"ANTHROPIC_API_KEY": "sk-a"})
    media = MediaProcessor(aws_settings(llm_secret_arn=anthropic_only), lambda: TwilioAccount(None, None))
    assert not media.can_transcribe  # answered with the clear "can't listen" message instead


def test_the_twilio_account_still_comes_from_its_secret(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, "luma-test/twilio", {"account_sid": "AC1", "auth_token": "tok", "sms_from": "+1"})
    account = load_account(aws_settings(twilio_secret_arn=arn))
    assert account.account_sid == "AC1" and account.can_send and account.sms_from == "+1"


# -- finding 11: pseudonymous ids keyed by a secret pepper -------------------------------------
def test_pseudonymous_ids_need_the_secret_pepper(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, "luma-test/signing", {"key": "p" * 48})
    settings = aws_settings(signing_secret_arn=arn)
    anon = pseudonymous_user_id("demo", "+33612345678", settings=settings)
    assert anon.startswith("anon-") and len(anon) == 29
    assert anon == pseudonymous_user_id("demo", "+33612345678", settings=settings)  # stable
    assert anon != pseudonymous_user_id("other", "+33612345678", settings=settings)  # per tenant
    # Not computable from public strings (the previous derivation keyed the hash with "luma-anon:<tenant>").
    public = hmac.new(b"luma-anon:demo", b"+33612345678", hashlib.sha256).hexdigest()[:24]
    assert anon != f"anon-{public}"
    other_key = aws_settings(signing_secret="q" * 48)
    assert anon != pseudonymous_user_id("demo", "+33612345678", settings=other_key)


def test_in_aws_there_is_no_fallback_pepper(secretsmanager: Any) -> None:
    with pytest.raises(SecretUnavailableError):
        signing_key("pseudonymous-id", aws_settings(dev_jwt_secret="d" * 40))
    lambda_without_env = Settings(
        auth_mode="cognito", cognito_jwks_url="https://example.invalid/jwks.json", dev_jwt_secret="d" * 40
    )
    with pytest.raises(SecretUnavailableError):  # the dev key is a dev-auth thing, whatever LUMA_ENV says
        signing_key("pseudonymous-id", lambda_without_env)
    short = _secret(secretsmanager, "luma-test/short", {"key": "too-short"})
    with pytest.raises(SecretUnavailableError):
        signing_key("pseudonymous-id", aws_settings(signing_secret_arn=short))


def test_locally_the_pepper_is_the_generated_dev_secret() -> None:
    local = Settings(dev_jwt_secret="d" * 40)
    assert signing_key("pseudonymous-id", local) != signing_key("page-cursor", local)  # one key per purpose
    assert signing_key("x", local) != signing_key("x", Settings(dev_jwt_secret="e" * 40))
