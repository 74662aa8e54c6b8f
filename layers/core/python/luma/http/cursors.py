"""Signed page cursors: what a client gets back is opaque, tamper-evident and bound to its owner.

A cursor is ``<payload>.<mac>`` (URL-safe base64, no padding): the store's own cursor and an
HMAC-SHA256 (128 bits kept) over a *scope* and that cursor, keyed by
``signing_key("page-cursor")``. The scope names the listing and whose it is (e.g.
``sessions:<tenant>:<user>``), so a cursor replayed by another user, against another listing or
another session, fails like a forged one: ``VALIDATION_FAILED`` (422), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from luma.config import Settings
from luma.errors import ErrorCode, LumaError
from luma.secrets import signing_key

PURPOSE = "page-cursor"
_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(scope: str, inner: bytes, settings: Settings) -> bytes:
    message = scope.encode() + b"\x00" + inner
    return hmac.new(signing_key(PURPOSE, settings), message, hashlib.sha256).digest()[:_MAC_BYTES]


def seal(inner: str | None, *, scope: str, settings: Settings) -> str | None:
    """The client-facing cursor for the store's cursor ``inner`` (None stays None: the last page)."""
    if inner is None:
        return None
    data = inner.encode()
    return f"{_b64(data)}.{_b64(_mac(scope, data, settings))}"


def unseal(cursor: str | None, *, scope: str, settings: Settings) -> str | None:
    """The store's cursor inside ``cursor``; ``VALIDATION_FAILED`` unless it was sealed for ``scope``."""
    if not cursor:
        return None
    invalid = LumaError(ErrorCode.VALIDATION_FAILED, "The page cursor is not valid.", fields=["cursor"])
    payload, _, mac = cursor.partition(".")
    try:
        data, sent = _unb64(payload), _unb64(mac)
        inner = data.decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not hmac.compare_digest(sent, _mac(scope, data, settings)):
        raise invalid
    return inner
