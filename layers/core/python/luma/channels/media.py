"""Attachments of WhatsApp/SMS messages: fetched from Twilio, images stored in S3, voice notes transcribed.

- **Fetch**: Twilio media URLs need HTTP basic auth (account SID + auth token). Only URLs on Twilio's
  API host (or the configured ``LUMA_TWILIO_API_BASE_URL``: the fake on loopback) are fetched, with a
  size cap (``LUMA_TWILIO_MEDIA_MAX_BYTES``) and the Twilio timeout; ``requests`` drops the credentials
  if Twilio redirects to its media CDN.
- **Images** go to the S3 bucket ``LUMA_MEDIA_BUCKET`` (``LUMA_S3_ENDPOINT_URL`` locally: the moto
  server's S3) under ``<tenant>/<yyyy>/<mm>/<dd>/<MessageSid>-<n>.<ext>``; the message keeps a
  reference (bucket, key, type, size, SHA-256), never the bytes. Encryption is the bucket's default.
- **Voice notes** (``audio/*``) are transcribed with OpenAI's transcription API through the ``openai``
  SDK (imported only when a voice note arrives: ~0.6 s) when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL``
  is set (in AWS: in the LLM secret, :func:`luma.llm.provider_keys`); the transcript becomes the text.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from luma.channels.twilio_account import TwilioAccount
from luma.config import Settings
from luma.errors import ErrorCode, LumaError

TWILIO_API = "https://api.twilio.com"


class MediaError(Exception):
    """A media file could not be fetched, stored or transcribed (retryable: the turn is retried)."""


class MediaProcessor:
    """Fetch, store and transcribe; every client is built on first use."""

    def __init__(
        self,
        settings: Settings,
        account: Callable[[], TwilioAccount],
        *,
        s3_client: Any | None = None,
        transcriber: Callable[[bytes, str], str] | None = None,
    ) -> None:
        self.settings = settings
        self._account = account
        self._s3 = s3_client
        self._transcriber = transcriber

    # -- capabilities ---------------------------------------------------------------------------
    @property
    def can_transcribe(self) -> bool:
        return self._transcriber is not None or self._openai() is not None

    def _openai(self) -> tuple[str | None, str | None] | None:
        """OpenAI's key and base URL for transcription (settings, else the LLM secret); None if neither."""
        from luma.llm import provider_keys

        keys = provider_keys(self.settings)
        if keys.openai_api_key is None and not keys.openai_base_url:
            return None
        return (keys.openai_api_key.get_secret_value() if keys.openai_api_key else None), keys.openai_base_url

    @property
    def can_store(self) -> bool:
        return bool(self.settings.media_bucket)

    # -- fetch ------------------------------------------------------------------------------------
    def _allowed(self, url: str) -> bool:
        bases = [TWILIO_API]
        if self.settings.twilio_api_base_url:
            bases.append(self.settings.twilio_api_base_url)
        target = urlsplit(url)
        return any(
            (target.scheme, target.netloc) == (urlsplit(b).scheme, urlsplit(b).netloc) for b in bases
        ) and target.scheme in ("https", "http")

    def fetch(self, url: str) -> bytes:
        """The bytes at a Twilio media URL (basic auth), at most ``twilio_media_max_bytes``."""
        import requests

        if not self._allowed(url):
            raise LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.only_unsupported", reason="media_host")
        account = self._account()
        auth = None
        if account.account_sid and account.auth_token:
            auth = (account.account_sid, account.auth_token.get_secret_value())
        limit = self.settings.twilio_media_max_bytes
        try:
            with requests.get(url, auth=auth, timeout=self.settings.twilio_timeout_s, stream=True) as resp:
                if resp.status_code == 404 or resp.status_code == 403:
                    raise LumaError(ErrorCode.MEDIA_UNSUPPORTED, text_key="media.only_unsupported", reason="media_gone")
                if resp.status_code >= 400:
                    raise MediaError(f"media fetch failed with HTTP {resp.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise LumaError(
                            ErrorCode.MEDIA_UNSUPPORTED, text_key="media.only_unsupported", reason="media_too_large"
                        )
                    chunks.append(chunk)
        except requests.RequestException as exc:
            raise MediaError(f"media fetch failed: {type(exc).__name__}") from None
        return b"".join(chunks)

    # -- images -----------------------------------------------------------------------------------
    def _s3_client(self) -> Any:
        if self._s3 is None:
            from luma.aws import client

            self._s3 = client("s3", region=self.settings.region, endpoint_url=self.settings.s3_endpoint_url)
        return self._s3

    def store(
        self, tenant_id: str, external_id: str, index: int, data: bytes, content_type: str, *, at: datetime
    ) -> dict[str, Any]:
        """Put ``data`` in the media bucket; the reference the message keeps."""
        bucket = self.settings.media_bucket
        if not bucket:
            raise MediaError("no media bucket configured (LUMA_MEDIA_BUCKET)")
        media_type = content_type.split(";", 1)[0].strip().lower()
        ext = mimetypes.guess_extension(media_type) or ".bin"
        key = f"{tenant_id}/{at:%Y/%m/%d}/{external_id}-{index}{ext}"
        try:
            self._s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=media_type)
        except Exception as exc:
            raise MediaError(f"media store failed: {type(exc).__name__}") from None
        return {
            "type": media_type,
            "bucket": bucket,
            "key": key,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    # -- voice notes ------------------------------------------------------------------------------
    def transcribe(self, data: bytes, content_type: str) -> str:
        """The transcript of a voice note; ``MEDIA_UNSUPPORTED`` when the API refuses the audio."""
        if self._transcriber is not None:
            return self._transcriber(data, content_type).strip()
        import openai

        settings = self.settings
        key, base_url = self._openai() or (None, None)
        client = openai.OpenAI(
            api_key=key or "unused",
            base_url=base_url,
            max_retries=1,
            timeout=openai.Timeout(30.0, connect=settings.llm_connect_timeout_s),
        )
        media_type = content_type.split(";", 1)[0].strip().lower()
        name = "voice" + (mimetypes.guess_extension(media_type) or ".ogg")
        try:
            result = client.audio.transcriptions.create(
                model=settings.transcription_model, file=(name, data, media_type)
            )
        except openai.APIStatusError as exc:
            if 400 <= exc.status_code < 500 and exc.status_code not in (408, 409, 429):
                refused = LumaError(
                    ErrorCode.MEDIA_UNSUPPORTED, text_key="media.voice_unclear", reason="transcription_refused"
                )
                raise refused from None
            raise MediaError(f"transcription failed with HTTP {exc.status_code}") from None
        except openai.APIError as exc:
            raise MediaError(f"transcription failed: {type(exc).__name__}") from None
        text = getattr(result, "text", result if isinstance(result, str) else "")
        return str(text or "").strip()
