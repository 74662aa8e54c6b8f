"""WhatsApp/SMS addresses: phone normalization, which tenant a number serves, who an unknown sender is."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

from luma.config import Settings, get_settings
from luma.secrets import signing_key

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NOISE = re.compile(r"[\s().-]")

UnknownSenderPolicy = Literal["reply", "anonymous"]
PSEUDONYMOUS_PREFIX = "anon-"  # user ids of unknown senders


def normalize_phone(address: str) -> str | None:
    """The E.164 number of a Twilio address (``whatsapp:+33 6 12…`` → ``+33612…``), None if it is not one."""
    value = address.split(":", 1)[1] if ":" in address else address
    value = _NOISE.sub("", value.strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        value = "+" + value
    return value if _E164.match(value) else None


def unknown_sender_policy(settings: Settings, tenant_id: str) -> UnknownSenderPolicy:
    """What a tenant does with a sender whose number is linked to no user."""
    return settings.twilio_unknown_sender_tenants.get(tenant_id, settings.twilio_unknown_sender)


def pseudonymous_user_id(tenant_id: str, phone: str, *, settings: Settings | None = None) -> str:
    """A stable user id for an unknown number: ``anon-`` + 24 hex of an HMAC keyed by a secret pepper
    (:func:`luma.secrets.signing_key`), so nobody without the secret can link an id to a number."""
    pepper = signing_key("pseudonymous-id", settings or get_settings())
    digest = hmac.new(pepper, f"{tenant_id}\x00{phone}".encode(), hashlib.sha256).hexdigest()
    return f"{PSEUDONYMOUS_PREFIX}{digest[:24]}"
