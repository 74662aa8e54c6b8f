"""How long a voice note is, read from its container before anything is sent for transcription.

WhatsApp voice notes are Ogg Opus: the last page's granule position counts 48 kHz samples, so the
duration is exact and costs a scan of the file's tail. Other audio types are bounded by size at
an assumed bitrate (generous, so a legitimate note is never refused for being an unknown type).
"""

from __future__ import annotations

import struct

from luma.config import Settings
from luma.errors import ErrorCode, LumaError

OGG_RATE = 48_000  # Opus granule positions are always in 48 kHz samples
FALLBACK_BYTES_PER_S = 4_000  # 32 kbit/s: voice codecs at or under it


def duration_s(data: bytes, content_type: str) -> float | None:
    """The audio's duration in seconds when the container tells it (Ogg), else None."""
    if "ogg" not in content_type.lower() and not data.startswith(b"OggS"):
        return None
    last = data.rfind(b"OggS")
    if last < 0 or len(data) < last + 14:
        return None
    (granule,) = struct.unpack_from("<q", data, last + 6)
    return granule / OGG_RATE if granule > 0 else None


def check_audio(data: bytes, content_type: str, settings: Settings) -> None:
    """Refuse a voice note longer than ``twilio_audio_max_s`` (``MEDIA_UNSUPPORTED``, nothing transcribed)."""
    limit = settings.twilio_audio_max_s
    seconds = duration_s(data, content_type)
    too_long = seconds > limit if seconds is not None else len(data) > limit * FALLBACK_BYTES_PER_S
    if too_long:
        raise LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.voice_too_long", reason="audio_too_long")
