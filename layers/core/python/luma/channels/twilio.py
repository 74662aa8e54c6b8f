"""The Twilio channel's edges: webhook URL, form parsing, signatures, inbound model, replies.

Inbound (an API Gateway HTTP API payload 2.0 event)::

    form = verify_webhook(event, auth_token, base_url=settings.twilio_public_base_url,
                          max_bytes=settings.twilio_max_body_bytes)
    message = InboundMessage.from_form(form)

:func:`verify_webhook` is :func:`public_url` + :func:`parse_form` + :func:`require_signature`.

Outbound: :class:`TwilioSender` sends a reply as one message per :func:`split_message` part, and an
:class:`Interactive` message (quick-reply buttons or a list picker) through a generic Content API
template whose texts are all variables (:func:`template_definition`).

The auth token is ``LUMA_TWILIO_AUTH_TOKEN`` locally; in AWS the caller reads it from Secrets
Manager and passes it in. Nothing here reads the environment. Importing this module loads only
the SDK's small ``request_validator``; the REST client is imported when a sender is built.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from twilio.request_validator import RequestValidator

from luma.errors import ErrorCode, LumaError

SIGNATURE_HEADER = "x-twilio-signature"
MAX_BODY_CHARS = 1600
MAX_FORM_FIELDS = 200

# The SDK's HTTP client logs URLs and response bodies (message text) at INFO: keep it quiet.
_sdk_logger = logging.getLogger("luma.twilio.sdk")
_sdk_logger.setLevel(logging.WARNING)
_log = logging.getLogger(__name__)


# Errors ---------------------------------------------------------------------------------------


class TwilioSignatureError(LumaError):
    """The webhook's ``X-Twilio-Signature`` is missing or wrong (``SIGNATURE_INVALID``, 403).

    403, not 401: there is no credential the caller could add (401 would ask for authentication).
    """

    def __init__(self, message: str = "The request signature is not valid.") -> None:
        super().__init__(ErrorCode.SIGNATURE_INVALID, message)


class TwilioSendError(LumaError):
    """Twilio refused or failed a send. ``RATE_LIMITED`` for 429, ``INTERNAL`` otherwise.

    ``status`` is the HTTP status (None for a network error), ``retryable`` is True for 429, 5xx
    and network errors; ``details["sent_sids"]`` lists the parts delivered before the failure.
    """

    def __init__(
        self,
        status: int | None,
        *,
        twilio_code: int | None,
        sent_sids: list[str],
        part: int,
        what: str = "Sending the reply",
    ) -> None:
        self.status = status
        self.twilio_code = twilio_code
        self.retryable = status is None or status == 429 or status >= 500
        code = ErrorCode.RATE_LIMITED if status == 429 else ErrorCode.INTERNAL
        failure = f"HTTP {status}" if status is not None else "a network error"
        suffix = f" (Twilio error {twilio_code})" if twilio_code is not None else ""
        super().__init__(
            code,
            f"{what} through Twilio failed with {failure}{suffix}.",
            status=status,
            twilio_code=twilio_code,
            retryable=self.retryable,
            part=part,
            sent_sids=sent_sids,
        )


# Inbound: URL, form, signature ---------------------------------------------------------------


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header of a payload 2.0 event, case-insensitively (HTTP APIs lowercase them)."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def public_url(event: Mapping[str, Any], base_url: str | None = None) -> str:
    """The URL Twilio requested (and signed), rebuilt from an HTTP API payload 2.0 event.

    Scheme from ``x-forwarded-proto`` (default https), host from ``host`` or
    ``requestContext.domainName``, ``/{stage}`` unless the stage is ``$default`` (API Gateway
    already puts a named stage at the start of ``rawPath``; it is added only when missing), then
    ``rawPath`` and ``?rawQueryString`` when non-empty. ``base_url`` (``LUMA_TWILIO_PUBLIC_BASE_URL``,
    a custom domain or tunnel) replaces scheme, host and stage; its path is kept as a prefix.
    """
    ctx = event.get("requestContext") or {}
    raw_path = event.get("rawPath") or (ctx.get("http") or {}).get("path") or "/"
    if not raw_path.startswith("/"):
        raw_path = "/" + raw_path
    stage = ctx.get("stage") or "$default"
    stage_prefix = "" if stage == "$default" else f"/{stage}"
    has_stage = bool(stage_prefix) and (raw_path == stage_prefix or raw_path.startswith(stage_prefix + "/"))
    query = event.get("rawQueryString") or ""
    suffix = f"?{query}" if query else ""

    if base_url:
        path = (raw_path[len(stage_prefix) :] or "/") if has_stage else raw_path
        base = base_url.rstrip("/")
        base_path = urlsplit(base).path
        if base_path and (path == base_path or path.startswith(base_path + "/")):
            base = base[: -len(base_path)]  # a mapped base path already in rawPath
        return f"{base}{path}{suffix}"

    proto = (header(event, "x-forwarded-proto") or "https").split(",")[0].strip().lower() or "https"
    host = header(event, "host") or ctx.get("domainName")
    if not host:
        raise LumaError(ErrorCode.BAD_REQUEST, "The request has no host to rebuild the webhook URL from.")
    path = raw_path if has_stage or not stage_prefix else stage_prefix + raw_path
    return f"{proto}://{host}{path}{suffix}"


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_FORM_TYPE = "application/x-www-form-urlencoded"


def parse_form(event: Mapping[str, Any], max_bytes: int = 64 * 1024) -> dict[str, list[str]]:
    """Decode an ``application/x-www-form-urlencoded`` body strictly, keeping repeated keys.

    Raises ``FRAME_TOO_LARGE`` (413) above ``max_bytes``, ``BAD_REQUEST`` for another content
    type, bad base64, broken percent-encoding, invalid UTF-8 or a field without ``=``.
    """
    content_type = header(event, "content-type")
    if content_type and content_type.split(";")[0].strip().lower() != _FORM_TYPE:
        raise LumaError(ErrorCode.BAD_REQUEST, f"Expected {_FORM_TYPE}, got {content_type.split(';')[0].strip()}.")
    body: str | bytes = event.get("body") or ""
    too_large = LumaError(ErrorCode.FRAME_TOO_LARGE, f"The request body exceeds {max_bytes} bytes.")
    if event.get("isBase64Encoded"):
        if len(body) > (max_bytes + 2) // 3 * 4 + 4:
            raise too_large
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise LumaError(ErrorCode.BAD_REQUEST, "The request body is not valid base64.") from None
    else:
        raw = body.encode() if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise too_large
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise LumaError(ErrorCode.BAD_REQUEST, "The form body has characters that are not URL-encoded.") from None
    if _BAD_PERCENT.search(text):
        raise LumaError(ErrorCode.BAD_REQUEST, "The form body has a broken percent-encoding.")
    if not text:
        return {}
    try:
        return parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise LumaError(ErrorCode.BAD_REQUEST, "The form body does not decode as UTF-8.") from None
    except ValueError:
        raise LumaError(ErrorCode.BAD_REQUEST, "The form body is not valid URL-encoded form data.") from None


class _MultiParams(dict[str, list[str]]):
    """A form whose repeated keys the SDK's validator reads through ``getlist``."""

    def getlist(self, key: str) -> list[str]:
        return self[key]


def _as_multi(params: Mapping[str, str | Sequence[str]]) -> _MultiParams:
    return _MultiParams({k: [v] if isinstance(v, str) else list(v) for k, v in params.items()})


def validate_signature(
    url: str, params: Mapping[str, str | Sequence[str]] | str | None, signature: str | None, auth_token: str | SecretStr
) -> bool:
    """True when ``signature`` is Twilio's for ``url`` and ``params`` (the SDK's ``RequestValidator``).

    ``params`` is the form (repeated keys as lists) or, for JSON webhooks whose URL carries
    ``bodySHA256``, the raw body string. The URL is tried with and without its port.
    """
    token = auth_token.get_secret_value() if isinstance(auth_token, SecretStr) else auth_token
    if not token or not signature:
        return False
    payload: Any = params if isinstance(params, str) else _as_multi(params or {})
    return bool(RequestValidator(token).validate(url, payload, signature))


def require_signature(
    url: str, params: Mapping[str, str | Sequence[str]] | str | None, signature: str | None, auth_token: str | SecretStr
) -> None:
    """Raise :class:`TwilioSignatureError` unless :func:`validate_signature` accepts the request."""
    if not signature:
        raise TwilioSignatureError("The request has no X-Twilio-Signature header.")
    if not validate_signature(url, params, signature, auth_token):
        raise TwilioSignatureError()


def verify_webhook(
    event: Mapping[str, Any],
    auth_token: str | SecretStr,
    *,
    base_url: str | None = None,
    max_bytes: int = 64 * 1024,
) -> dict[str, list[str]]:
    """The form of a Twilio webhook event whose signature checks out, else a typed error.

    :func:`public_url` + :func:`parse_form` + :func:`require_signature`; a missing signature is
    refused before the body is parsed.
    """
    signature = header(event, SIGNATURE_HEADER)
    if not signature:
        raise TwilioSignatureError("The request has no X-Twilio-Signature header.")
    form = parse_form(event, max_bytes=max_bytes)
    require_signature(public_url(event, base_url), form, signature, auth_token)
    return form


def sign(url: str, params: Mapping[str, str | Sequence[str]], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this URL and form (tests, benchmarks)."""
    return str(RequestValidator(auth_token).compute_signature(url, _as_multi(params)))


# Inbound: the message model -------------------------------------------------------------------


class Media(BaseModel):
    """One attachment: a Twilio media URL (basic auth required to fetch) and its MIME type."""

    url: str = Field(pattern=r"^https?://")
    content_type: str


class InboundMessage(BaseModel):
    """The fields Luma uses from Twilio's incoming-message webhook; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_sid: str = Field(alias="MessageSid", pattern=r"^[A-Z]{2}[0-9a-fA-F]{32}$")
    account_sid: str = Field(alias="AccountSid", pattern=r"^AC[0-9a-fA-F]{32}$")
    from_: str = Field(alias="From", min_length=1, max_length=256)
    to: str = Field(alias="To", min_length=1, max_length=256)
    body: str = Field("", alias="Body", max_length=MAX_BODY_CHARS)
    num_media: int = Field(0, alias="NumMedia", ge=0, le=10)
    media: list[Media] = Field(default_factory=list)
    profile_name: str | None = Field(None, alias="ProfileName")
    wa_id: str | None = Field(None, alias="WaId")
    messaging_service_sid: str | None = Field(None, alias="MessagingServiceSid")
    button_text: str | None = Field(None, alias="ButtonText")
    button_payload: str | None = Field(None, alias="ButtonPayload")
    list_id: str | None = Field(None, alias="ListId")
    latitude: float | None = Field(None, alias="Latitude")
    longitude: float | None = Field(None, alias="Longitude")

    @model_validator(mode="before")
    @classmethod
    def _collect_media(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "media" in data:
            return data
        data = dict(data)
        try:
            count = int(data.get("NumMedia") or 0)
        except (TypeError, ValueError):
            return data  # the field validator reports it
        data["media"] = [
            {"url": data.get(f"MediaUrl{n}"), "content_type": data.get(f"MediaContentType{n}")}
            for n in range(min(max(count, 0), 10))
        ]
        return data

    @property
    def channel(self) -> Literal["whatsapp", "sms"]:
        """``whatsapp`` when ``From`` is a ``whatsapp:`` address, else ``sms``."""
        return "whatsapp" if self.from_.lower().startswith("whatsapp:") else "sms"

    @property
    def sender(self) -> str:
        """``From`` without its channel prefix (the E.164 number)."""
        return self.from_.split(":", 1)[1] if ":" in self.from_ else self.from_

    @classmethod
    def from_form(cls, form: Mapping[str, str | Sequence[str]]) -> InboundMessage:
        """Validate a parsed form (first value of each key). Raises ``VALIDATION_FAILED`` or
        ``TEXT_TOO_LONG`` naming the bad fields (never their values)."""
        flat = {k: v if isinstance(v, str) else (v[0] if v else "") for k, v in form.items()}
        try:
            return cls.model_validate(flat)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) or "form" for err in exc.errors()})
            if fields == ["Body"] and all(e["type"] == "string_too_long" for e in exc.errors()):
                raise LumaError(ErrorCode.TEXT_TOO_LONG, fields=fields) from None
            raise LumaError(
                ErrorCode.VALIDATION_FAILED, "The Twilio webhook has missing or invalid fields.", fields=fields
            ) from None


# Outbound --------------------------------------------------------------------------------------


_SENTENCE_END = re.compile(r"[.!?…;:](?=\s)|[。！？]")
_GLUE = {"\u200d", "\u2060", "\ufeff"}  # ZWJ, word joiner, ZWNBSP


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int) -> int:
    """The longest prefix (in code points) of ``text`` that is at most ``limit`` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def _unsplittable(ch: str) -> bool:
    return (
        bool(unicodedata.combining(ch)) or ch in _GLUE or 0xFE00 <= ord(ch) <= 0xFE0F or 0x1F3FB <= ord(ch) <= 0x1F3FF
    )


def _cut(text: str, n: int, limit: int) -> int:
    """Where to end the next part of ``text``, whose first ``n`` code points fit the limit."""
    window = text[: n + 1]  # one more: a space right after the limit is a clean cut
    floor = max(1, limit // 3)  # paragraph/sentence cuts shorter than this waste a message
    for sep in ("\n\n", "\n"):
        i = window.rfind(sep, 0, n + 1)
        if i >= floor:
            return i
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if floor <= m.end() <= n]
    if ends:
        return ends[-1]
    for i in range(min(n, len(window) - 1), 0, -1):
        if window[i].isspace():
            return i
    cut = n  # one word longer than the limit: cut it, but not inside a grapheme
    while cut > 1 and (_unsplittable(text[cut]) or text[cut - 1] in _GLUE):
        cut -= 1
    return cut


def split_message(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters for Twilio's body limit.

    Cuts at a paragraph, line, sentence or word boundary; mid-word only when a single word is
    longer than the limit. Length is counted in UTF-16 code units (an emoji counts twice), the
    stricter of the counts Twilio may apply. Whitespace around cuts is dropped; blank text → ``[]``.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    rest = text.strip()
    parts: list[str] = []
    while rest:
        if _utf16_len(rest) <= limit:
            parts.append(rest)
            break
        cut = _cut(rest, _fit(rest, limit), limit)
        part = rest[:cut].rstrip()
        if part:
            parts.append(part)
        rest = rest[cut:].lstrip()
    return parts


def truncate(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` UTF-16 units with an ellipsis when it is longer."""
    flat = " ".join(text.split())
    if _utf16_len(flat) <= limit:
        return flat
    cut = _fit(flat, max(1, limit - 1))
    while cut > 1 and (_unsplittable(flat[cut]) or flat[cut - 1] in _GLUE):
        cut -= 1
    return flat[:cut].rstrip() + "…"


# Interactive messages (Content API) -----------------------------------------------------------

# Limits of an in-session WhatsApp message (Twilio's twilio/quick-reply and twilio/list-picker).
CONTENT_BODY_MAX = 1024
QUICK_REPLY_MAX = 3
BUTTON_TITLE_MAX = 20
LIST_PICKER_MAX = 10
LIST_ITEM_MAX = 24
LIST_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
INVALID_CONTENT_SID = 21655  # Twilio: the ContentSid is invalid (deleted, another account's, a typo)

TemplateKind = Literal["quick_reply", "list_picker"]
_CONTENT_TYPE: dict[TemplateKind, str] = {"quick_reply": "twilio/quick-reply", "list_picker": "twilio/list-picker"}
_MAX_OPTIONS: dict[TemplateKind, int] = {"quick_reply": QUICK_REPLY_MAX, "list_picker": LIST_PICKER_MAX}
_TEMPLATE_NAME = re.compile(r"^luma_(quick_reply|list_picker)_(\d+)$")


def template_name(kind: TemplateKind, n: int) -> str:
    """The friendly name of the generic template for ``n`` options: ``luma_quick_reply_3``, ``luma_list_picker_7``."""
    return f"luma_{kind}_{n}"


def template_definition(kind: TemplateKind, n: int) -> dict[str, Any]:
    """The Content API create request of a generic template: every text is a variable.

    Quick reply: body ``{{1}}``, then title and id per button. List picker: body ``{{1}}``, button
    label ``{{2}}``, then item, id and description per item. ``variables`` are the samples Twilio
    falls back to for a variable left out at send time (never, here).
    """
    if not 1 <= n <= _MAX_OPTIONS[kind]:
        raise ValueError(f"{kind} takes 1..{_MAX_OPTIONS[kind]} options, not {n}")
    samples = {"1": "Please choose an option."}
    if kind == "quick_reply":
        actions = []
        for i in range(n):
            title, ident = 2 + 2 * i, 3 + 2 * i
            actions.append({"type": "QUICK_REPLY", "title": _var(title), "id": _var(ident)})
            samples |= {str(title): f"Option {i + 1}", str(ident): f"option_{i + 1}"}
        body: dict[str, Any] = {"body": "{{1}}", "actions": actions}
    else:
        samples["2"] = "Options"
        items = []
        for i in range(n):
            item, ident, desc = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
            items.append({"item": _var(item), "id": _var(ident), "description": _var(desc)})
            samples |= {str(item): f"Option {i + 1}", str(ident): f"option_{i + 1}", str(desc): f"Option {i + 1}"}
        body = {"body": "{{1}}", "button": "{{2}}", "items": items}
    return {
        "friendly_name": template_name(kind, n),
        "language": "en",
        "variables": samples,
        "types": {_CONTENT_TYPE[kind]: body},
    }


def _var(number: int) -> str:
    return "{{" + str(number) + "}}"


def _template_shape(friendly_name: str | None, types: Any) -> tuple[TemplateKind, int] | None:
    """``(kind, n)`` when a listed template is one of ours with the shape its name says, else None."""
    match = _TEMPLATE_NAME.match(friendly_name or "")
    if not match or not isinstance(types, Mapping):
        return None
    kind: TemplateKind = "quick_reply" if match.group(1) == "quick_reply" else "list_picker"
    n = int(match.group(2))
    found = types.get(_CONTENT_TYPE[kind])
    if not isinstance(found, Mapping) or found.get("body") != "{{1}}":
        return None
    options = found.get("actions" if kind == "quick_reply" else "items")
    return (kind, n) if isinstance(options, list) and len(options) == n else None


@dataclass(frozen=True)
class Option:
    """One button or list item: what the person reads, and the id Twilio posts back when it is chosen."""

    id: str
    title: str
    description: str = ""  # list items only


@dataclass(frozen=True)
class Interactive:
    """One interactive WhatsApp message, sent with the generic template of its shape.

    Texts must already fit the limits (``truncate``): the sender does not cut them.
    """

    kind: TemplateKind
    body: str
    options: tuple[Option, ...]
    button: str = ""  # the list picker's button label

    def __post_init__(self) -> None:
        if not self.body.strip():
            raise ValueError("an interactive message needs a body")
        if not 1 <= len(self.options) <= _MAX_OPTIONS[self.kind]:
            raise ValueError(f"{self.kind} takes 1..{_MAX_OPTIONS[self.kind]} options, not {len(self.options)}")
        if self.kind == "list_picker" and not self.button.strip():
            raise ValueError("a list picker needs a button label")

    @property
    def template(self) -> str:
        """The friendly name of its template."""
        return template_name(self.kind, len(self.options))

    def variables(self) -> dict[str, str]:
        """The ``ContentVariables`` that fill its template (numbered as in :func:`template_definition`)."""
        values = [self.body]
        if self.kind == "list_picker":
            values.append(self.button)
        for option in self.options:
            values += [option.title, option.id]
            if self.kind == "list_picker":
                values.append(option.description or option.title)
        return {str(i): value for i, value in enumerate(values, 1)}


_T = TypeVar("_T")


class TwilioSender:
    """Sends replies with the ``twilio`` SDK's REST client: text one message per part, in order, and
    interactive messages through the Content API.

    ``base_url`` replaces the scheme and host of ``https://api.twilio.com`` and
    ``https://content.twilio.com`` (the fake server in tests and the local stack) through a custom
    ``TwilioHttpClient``, the extension point Twilio's docs describe for proxies. The SDK does not
    retry; retrying is the caller's policy. The auth token (``LUMA_TWILIO_AUTH_TOKEN`` locally,
    Secrets Manager in AWS, read by the caller) never appears in an error or a log line.

    Template SIDs are found once per process (:meth:`template_sid`): a configured SID, else the
    account's template of that friendly name, else a new template.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str | SecretStr,
        from_number: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 10.0,
        limit: int = MAX_BODY_CHARS,
    ) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        token = auth_token.get_secret_value() if isinstance(auth_token, SecretStr) else auth_token
        target = urlsplit(base_url.rstrip("/")) if base_url else None

        class _BaseUrlHttpClient(TwilioHttpClient):
            def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                if target is not None:
                    parts = urlsplit(url)
                    url = parts._replace(
                        scheme=target.scheme, netloc=target.netloc, path=target.path + parts.path
                    ).geturl()
                return super().request(method, url, *args, **kwargs)

        self.from_number = from_number
        self.limit = limit
        http = _BaseUrlHttpClient(timeout=timeout_s, logger=_sdk_logger)
        # A non-empty environment keeps the SDK from reading TWILIO_EDGE/TWILIO_REGION from os.environ.
        environment = {"TWILIO_EDGE": "", "TWILIO_REGION": ""}
        self._client = Client(account_sid, token, http_client=http, environment=environment)
        self._templates: dict[str, str] = {}  # friendly name -> SID, found or created by this process
        self._listed = False
        self._templates_lock = threading.Lock()

    def send(self, to: str, text: str, *, from_: str | None = None) -> list[str]:
        """Send ``text`` to ``to`` (same channel prefix as the sender); returns the message SIDs.

        ``from_`` overrides ``from_number`` (a reply goes out from the number the user wrote to).
        Raises :class:`TwilioSendError` on a 4xx/5xx or network error; parts sent before it are in
        ``details["sent_sids"]``.
        """
        return self.send_parts(to, split_message(text, self.limit), from_=from_)

    def send_parts(self, to: str, parts: Sequence[str], *, from_: str | None = None) -> list[str]:
        """Send already split ``parts`` in order (what is left of a reply after a partial failure)."""
        sender = from_ or self.from_number
        sids: list[str] = []
        for i, part in enumerate(parts):
            create = partial(self._client.messages.create, to=to, from_=sender, body=part)
            message = _twilio_call(create, sent_sids=sids, part=i)
            sids.append(str(message.sid))
        return sids

    def send_content(self, to: str, content_sid: str, variables: Mapping[str, str], *, from_: str | None = None) -> str:
        """Send the template ``content_sid`` filled with ``variables``; returns the message SID.

        Raises :class:`TwilioSendError` like :meth:`send_parts` (``21655`` for an unknown SID).
        """
        payload = json.dumps(dict(variables), ensure_ascii=False)
        message = _twilio_call(
            lambda: self._client.messages.create(
                to=to, from_=from_ or self.from_number, content_sid=content_sid, content_variables=payload
            ),
            sent_sids=[],
            part=0,
        )
        return str(message.sid)

    def send_interactive(
        self,
        to: str,
        message: Interactive,
        *,
        from_: str | None = None,
        configured: Mapping[str, str] | None = None,
    ) -> str:
        """Send ``message`` with the generic template of its shape; returns the message SID.

        A template Twilio no longer knows (21655) is forgotten, so the next send looks it up again.
        """
        sid = self.template_sid(message.kind, len(message.options), configured=configured)
        try:
            return self.send_content(to, sid, message.variables(), from_=from_)
        except TwilioSendError as exc:
            if exc.twilio_code == INVALID_CONTENT_SID:
                with self._templates_lock:
                    if self._templates.get(message.template) == sid:
                        del self._templates[message.template]
            raise

    def template_sid(self, kind: TemplateKind, n: int, *, configured: Mapping[str, str] | None = None) -> str:
        """The Content SID of the generic template for ``n`` options of ``kind``.

        ``configured`` (``LUMA_TWILIO_CONTENT_SIDS``, friendly name → SID) is used as it is, with no
        API call. Otherwise the account's templates are listed once per process (ours are recognised
        by friendly name and shape) and a missing one is created; both are remembered. Raises
        :class:`TwilioSendError` when the Content API fails.
        """
        name = template_name(kind, n)
        if configured and configured.get(name):
            return configured[name]
        with self._templates_lock:  # one lookup or creation at a time in this process
            if name not in self._templates and not self._listed:
                for found_name, sid in self._list_templates():
                    self._templates.setdefault(found_name, sid)
                self._listed = True
            if name not in self._templates:
                self._templates[name] = self._create_template(kind, n)
            return self._templates[name]

    def template_sids(self) -> dict[str, str]:
        """Every generic template's SID, found or created: the value of ``LUMA_TWILIO_CONTENT_SIDS``
        (run once per account when deploying, so functions never create templates)."""
        return {
            template_name(kind, n): self.template_sid(kind, n)
            for kind in _CONTENT_TYPE
            for n in range(1, _MAX_OPTIONS[kind] + 1)
        }

    def _list_templates(self) -> list[tuple[str, str]]:
        def listing() -> list[tuple[str, str]]:
            found = []
            for content in self._client.content.v1.contents.stream(page_size=200):
                shape = _template_shape(content.friendly_name, content.types)
                if shape is not None and content.sid:
                    found.append((template_name(*shape), str(content.sid)))
            return found

        return _twilio_call(listing, sent_sids=[], part=0, what="Listing the content templates")

    def _create_template(self, kind: TemplateKind, n: int) -> str:
        from twilio.rest.content.v1.content import ContentList

        request = ContentList.ContentCreateRequest(template_definition(kind, n))
        content = _twilio_call(
            lambda: self._client.content.v1.contents.create(request),
            sent_sids=[],
            part=0,
            what="Creating a content template",
        )
        _log.warning(
            "created a Twilio content template", extra={"template": template_name(kind, n), "sid": content.sid}
        )
        return str(content.sid)


def _twilio_call(call: Callable[[], _T], *, sent_sids: list[str], part: int, what: str = "Sending the reply") -> _T:
    """``call()``, with the SDK's and requests' errors as :class:`TwilioSendError` (no token, no body)."""
    from requests import RequestException
    from twilio.base.exceptions import TwilioException

    try:
        return call()
    except TwilioException as exc:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        raise TwilioSendError(
            int(status) if status is not None else 500,
            twilio_code=code if isinstance(code, int) and code != status else None,
            sent_sids=list(sent_sids),
            part=part,
            what=what,
        ) from None
    except RequestException:
        raise TwilioSendError(None, twilio_code=None, sent_sids=list(sent_sids), part=part, what=what) from None
