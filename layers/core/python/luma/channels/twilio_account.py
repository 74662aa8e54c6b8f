"""The Twilio account Luma answers for: credentials and numbers, from the settings or Secrets Manager.

In AWS the CDK sets ``LUMA_TWILIO_SECRET_ARN``; the secret is JSON ``{"account_sid", "auth_token",
"whatsapp_from", "sms_from"}``. Values set directly (``LUMA_TWILIO_ACCOUNT_SID``,
``LUMA_TWILIO_AUTH_TOKEN``, ``LUMA_TWILIO_FROM_NUMBER``: the local stack and tests) take precedence.
The secret is read once per process (cold start); a rotated token reaches a function at its next cold
start. Nothing here logs a value of the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from luma.config import Settings
from luma.observability import logger
from luma.secrets import SecretUnavailableError, read_json_secret


@dataclass(frozen=True)
class TwilioAccount:
    """What the webhook needs to verify signatures and the deliveries need to send."""

    account_sid: str | None
    auth_token: SecretStr | None
    whatsapp_from: str | None = None
    sms_from: str | None = None
    api_base_url: str | None = None

    @property
    def can_verify(self) -> bool:
        return bool(self.auth_token and self.auth_token.get_secret_value())

    @property
    def can_send(self) -> bool:
        return bool(self.account_sid and self.can_verify)

    def default_from(self, channel: str) -> str | None:
        """Our sender address on ``channel`` when a reply has none of its own."""
        return self.whatsapp_from if channel == "whatsapp" else self.sms_from


def load_account(settings: Settings, *, secrets_client: Any | None = None) -> TwilioAccount:
    """The account from the settings, completed from the Secrets Manager secret when one is configured."""
    secret: dict[str, Any] = {}
    complete = settings.twilio_account_sid and settings.twilio_auth_token
    if settings.twilio_secret_arn and not complete:
        try:
            secret = read_json_secret(settings.twilio_secret_arn, region=settings.region, client=secrets_client)
        except SecretUnavailableError as exc:  # its message names the error's type, never a value
            logger.error("twilio secret unreadable", extra={"error": str(exc)})
    token = settings.twilio_auth_token or (SecretStr(secret["auth_token"]) if secret.get("auth_token") else None)
    from_number = settings.twilio_from_number
    whatsapp_from = secret.get("whatsapp_from") or None
    sms_from = secret.get("sms_from") or None
    if from_number:
        if from_number.lower().startswith("whatsapp:"):
            whatsapp_from = from_number
        else:
            sms_from = from_number
    return TwilioAccount(
        account_sid=settings.twilio_account_sid or secret.get("account_sid") or None,
        auth_token=token,
        whatsapp_from=whatsapp_from,
        sms_from=sms_from,
        api_base_url=settings.twilio_api_base_url,
    )
