"""Reply templates of the clinic's fast paths (English; more languages plug in by key)."""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "greeting": (
            "Hello{name}! I'm the {clinic} assistant. I can show, confirm or cancel your appointments "
            "and tell you our opening hours and locations. How can I help?"
        ),
        "goodbye": "Goodbye{name}, take care! Write any time if you need us.",
        "hours_header": "Our opening hours ({clinic}):",
        "closed": "closed",
        "locations_header": "You can find us at:",
        "ask_identity": (
            "To protect your privacy I first need to check who you are. Please send your full name "
            "and date of birth, for example: Jane Doe, 14/03/1985."
        ),
        "identity_failed": (
            "Sorry, I couldn't match those details. Please check the spelling of your full name and your "
            "date of birth. {left} attempt(s) left."
        ),
        "identity_locked": (
            "I couldn't verify your identity after {max} attempts, so I've locked this conversation to protect "
            "your data. Please call the clinic on {phone}."
        ),
        "identity_ok": "Thank you, {first}, you're verified.",
        "no_appointments": "You have no upcoming appointments.",
        "appointments_header": "Your upcoming appointments:",
        "appointment_line": "• {when} — {doctor} ({reason}) at {location}, {status}",
        "confirmed": "Done: your appointment on {when} with {doctor} is confirmed. See you then!",
        "all_confirmed": "All your upcoming appointments are already confirmed.",
        "nothing_to_cancel": "You have no upcoming appointments to cancel.",
        "cancel_ask": "Do you want me to cancel your appointment on {when} with {doctor}? Please answer yes or no.",
        "cancelled": "Your appointment on {when} with {doctor} is cancelled. Would you like to book another time?",
        "cancel_kept": "OK, I've kept your appointment on {when} with {doctor}.",
        "escalated": (
            "I've asked a member of our staff to contact you; they usually reply within working hours. "
            "If it's urgent please call {phone}, and in an emergency call 112."
        ),
        "status_scheduled": "not yet confirmed",
        "status_confirmed": "confirmed",
    }
}


def render(key: str, lang: str = "en", **values: Any) -> str:
    """The template ``key`` in ``lang`` (falling back to English), formatted with ``values``."""
    table = TEMPLATES.get(lang, TEMPLATES["en"])
    return table.get(key, TEMPLATES["en"][key]).format(**values)
