"""Which tenant and assistant each of our Twilio numbers serves (``LUMA_TWILIO_NUMBERS``)."""

from __future__ import annotations

from luma.channels.addresses import normalize_phone
from luma.config import NumberRoute, Settings


def route_for_number(settings: Settings, number: str) -> NumberRoute | None:
    """The route of one of our numbers (the webhook's ``To``), else the default tenant's, else None."""
    phone = normalize_phone(number)
    if phone is not None:
        for configured, route in settings.twilio_numbers.items():
            if normalize_phone(configured) == phone:
                return route
    if settings.twilio_default_tenant:
        return NumberRoute(tenant=settings.twilio_default_tenant)
    return None
