"""A fake Twilio REST API on loopback: Programmable Messaging and the Content API subset Luma uses.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``Body`` (and/or ``MediaUrl``) or with
  ``ContentSid`` + ``ContentVariables``: answers 201 with a message resource shaped like Twilio's and
  records a :class:`FakeMessage`. A content message is rendered (variables filled, falling back to
  the template's sample values) and recorded with its buttons or list items;
- ``GET .../Messages.json?To=&PageSize=``: the messages received, newest first, like Twilio; each
  resource carries ``luma_received_at`` (epoch seconds it arrived, for benchmarks) and, for content
  messages, ``luma_content`` (buttons, list button and items) — neither is Twilio's;
- ``POST /v1/Content`` (JSON), ``GET /v1/Content`` (pages shaped like Twilio's, ``meta.key`` =
  ``contents``, absolute ``next_page_url``), ``GET`` / ``DELETE /v1/Content/{HX...}``: templates;
- media URLs shaped like Twilio's (basic auth required) for content registered with
  :meth:`FakeTwilioServer.add_media`, or posted raw to ``POST /_fake/media`` (``Content-Type`` = the
  media's type; answers ``{"url": ...}``) by another process such as ``luma whatsapp``.

Every request needs HTTP basic auth (account SID + auth token). ``fail_next`` scripts failures of
message creation (``api="messages"``) or of Content API calls (``api="content"``)::

    with FakeTwilioServer(account_sid, auth_token) as fake:
        sender = TwilioSender(account_sid, auth_token, "whatsapp:+14155238886", base_url=fake.url)
        fake.fail_next(1, status=500)
        ...
        fake.messages  # [FakeMessage(to=..., from_=..., body=..., sid="SM...", buttons=[...])]

What is validated, with Twilio-shaped 400s: templates of type ``twilio/text``, ``twilio/quick-reply``
(1–10 actions; body ≤ 1,024, title ≤ 20, id ≤ 200) and ``twilio/list-picker`` (1–10 items; body ≤
1,024, button ≤ 20, item ≤ 24, id ≤ 200, description ≤ 72) at creation; at send time an unknown
``ContentSid`` (21655), ``ContentVariables`` that are not a JSON object of non-empty values (21656)
or longer than 1,600 characters (21658), and the rendered message against the same limits plus
WhatsApp's in-session ones: at most 3 quick-reply buttons, distinct titles and ids, interactive types
only on ``whatsapp:`` addresses (63021). Twilio accepts some of the latter and reports them later
through the message's status; the fake refuses them at once so a test sees them.

:func:`sign` computes the ``X-Twilio-Signature`` Twilio would send to a webhook.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlencode

from luma.channels.twilio import sign

__all__ = [
    "DEV_ACCOUNT_SID",
    "DEV_AUTH_TOKEN",
    "DEV_WHATSAPP_NUMBER",
    "FakeContent",
    "FakeMessage",
    "FakeTwilioServer",
    "sign",
]

# What the local stack uses (a fake account on loopback: nothing here is a secret).
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "luma-local-twilio-token"
DEV_WHATSAPP_NUMBER = "whatsapp:+14155238886"

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MEDIA_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<media>[^/]+)$"
)
_CONTENT_PATH = "/v1/Content"
_CONTENT_ONE = re.compile(r"^/v1/Content/(?P<sid>[^/]+)$")
_UPLOAD_PATH = "/_fake/media"
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]{1,16})\s*\}\}")
MAX_UPLOAD_BYTES = 16 * 1024 * 1024

# Field limits of the two interactive types (Twilio's docs), and WhatsApp's in-session button count.
_QUICK_REPLY = {"body": 1024, "title": 20, "id": 200, "max": 10}
_LIST_PICKER = {"body": 1024, "button": 20, "item": 24, "id": 200, "description": 72, "max": 10}
_SESSION_BUTTONS = 3
_KNOWN_TYPES = {"twilio/text", "twilio/quick-reply", "twilio/list-picker"}


@dataclass
class FakeMessage:
    """One message the fake accepted (a content message as WhatsApp would show it)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    date_created: datetime
    params: dict[str, list[str]] = field(default_factory=dict)
    received_at: float = 0.0  # epoch seconds (time.time()) when the fake accepted it
    content_sid: str | None = None
    content_variables: dict[str, str] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)  # quick reply: {"title", "id"}
    list_button: str | None = None  # list picker: its button label
    items: list[dict[str, str]] = field(default_factory=list)  # list picker: {"item", "id", "description"}

    @property
    def summary(self) -> str:
        """The body, then ``[buttons: Approve | Decline]`` or ``[list "Options": A | B | C]`` (consoles)."""
        if self.buttons:
            return f"{self.body} [buttons: {' | '.join(b['title'] for b in self.buttons)}]"
        if self.items:
            return f'{self.body} [list "{self.list_button}": {" | ".join(i["item"] for i in self.items)}]'
        return self.body


@dataclass
class FakeContent:
    """One Content API template."""

    sid: str
    account_sid: str
    friendly_name: str
    language: str
    variables: dict[str, str]
    types: dict[str, Any]
    date_created: datetime


class _RefusedError(Exception):
    """A request the fake answers with a Twilio-shaped error."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeTwilioServer:
    """``start()`` → ``url``; ``messages``, ``contents``; ``requests`` (message posts), ``content_requests``;
    ``fail_next(n, status)``; ``stop()``."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-auth-token",  # noqa: S107 (a fake server)
        host: str = "127.0.0.1",
        port: int = 0,
        on_message: Callable[[FakeMessage], None] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.on_message = on_message  # called for every accepted message (``luma dev`` prints them)
        self.media: dict[str, tuple[bytes, str]] = {}  # path -> (content, content type)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        # Scripted outcomes of the next authorized requests: (status, Twilio error code) or None = normal.
        self._failures: dict[str, list[tuple[int, int | None] | None]] = {"messages": [], "content": []}
        self.messages: list[FakeMessage] = []
        self.contents: dict[str, FakeContent] = {}  # SID -> template, in creation order
        self.requests: list[dict[str, Any]] = []  # message posts: method, path, authorized
        self.content_requests: list[dict[str, Any]] = []  # Content API calls: method, path, status
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Control ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to use instead of ``https://api.twilio.com`` (and ``https://content.twilio.com``)."""
        if self._server is None:
            raise RuntimeError("fake Twilio server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        code: int | None = None,
        *,
        after: int = 0,
        api: Literal["messages", "content"] = "messages",
    ) -> None:
        """Answer ``count`` authorized requests to ``api`` with ``status`` (and Twilio error ``code``),
        after letting ``after`` of them through. ``messages``: message creation; ``content``: every
        Content API call."""
        with self._lock:
            self._failures[api].extend([None] * after + [(status, code)] * count)

    def reset(self, *, templates: bool = False) -> None:
        """Forget recorded messages, requests and pending failures (and the templates, when asked:
        they are the account's configuration, which senders remember)."""
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self.content_requests.clear()
            for pending in self._failures.values():
                pending.clear()
            if templates:
                self.contents.clear()

    def add_media(self, content: bytes, content_type: str, *, message_sid: str | None = None) -> str:
        """Serve ``content`` at a Twilio-shaped media URL (basic auth required, like Twilio's); its URL."""
        message = message_sid or "MM" + uuid.uuid4().hex
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message}/Media/ME{uuid.uuid4().hex}"
        with self._lock:
            self.media[path] = (content, content_type)
        return self.url + path

    def messages_to(self, to: str) -> list[FakeMessage]:
        """The accepted messages sent to ``to``, oldest first."""
        with self._lock:
            return [m for m in self.messages if m.to == to]

    def content_named(self, friendly_name: str) -> list[FakeContent]:
        """The templates with that friendly name, oldest first."""
        with self._lock:
            return [c for c in self.contents.values() if c.friendly_name == friendly_name]

    def start(self) -> FakeTwilioServer:
        """Serve on a background thread (port 0 picks a free port)."""
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTwilioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Request handling -------------------------------------------------------------------------

    def _authorized(self, authorization: str | None, account: str) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
            and account == self.account_sid
        )

    def media_response(self, path: str, authorization: str | None) -> tuple[int, bytes, str] | None:
        """``(status, body, content type)`` for a media URL, None when ``path`` is not one."""
        match = _MEDIA_PATH.match(path.split("?", 1)[0])
        if not match:
            return None
        if not self._authorized(authorization, match.group("account")):
            return 401, json.dumps(_error(401, 20003, "Authenticate")).encode(), "application/json"
        with self._lock:
            found = self.media.get(path.split("?", 1)[0])
        if found is None:
            return 404, json.dumps(_error(404, 20404, "Media not found")).encode(), "application/json"
        return 200, found[0], found[1]

    def _list(self, account: str, query: str) -> tuple[int, dict[str, Any]]:
        """Newest first, ``PageSize`` (1..1,000) a page, ``Page`` from 0, as Twilio's list resource."""
        params = parse_qs(query)
        to = params.get("To", [None])[0]
        try:
            size = max(1, min(1000, int(params.get("PageSize", ["50"])[0])))
            number = max(0, int(params.get("Page", ["0"])[0]))
        except ValueError:
            return 400, _error(400, 20001, "PageSize and Page must be numbers")
        with self._lock:
            newest_first = (
                m for m in reversed(self.messages) if m.account_sid == account and (to is None or m.to == to)
            )
            window = list(itertools.islice(newest_first, number * size, (number + 1) * size + 1))
        page, more = window[:size], len(window) > size
        uri = f"/2010-04-01/Accounts/{account}/Messages.json"
        query_to = f"&To={quote(to)}" if to else ""
        return 200, {
            "messages": [_resource(m) for m in page],
            "page": number,
            "page_size": size,
            "first_page_url": f"{uri}?PageSize={size}&Page=0{query_to}",
            "next_page_uri": f"{uri}?PageSize={size}&Page={number + 1}{query_to}" if more else None,
            "previous_page_uri": f"{uri}?PageSize={size}&Page={number - 1}{query_to}" if number else None,
            "uri": f"{uri}?PageSize={size}&Page={number}{query_to}",
            "start": number * size,
            "end": number * size + max(0, len(page) - 1),
        }

    def handle(
        self,
        method: str,
        path: str,
        authorization: str | None,
        body: bytes,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, Any] | None]:
        """Status and JSON body (None: no body) for one request."""
        route, _, query = path.partition("?")
        if route == _UPLOAD_PATH:
            return self._upload(method, authorization, body, content_type)
        if route == _CONTENT_PATH or _CONTENT_ONE.match(route):
            return self._content(method, route, query, authorization, body, content_type)
        match = _MESSAGES_PATH.match(route)
        if not match:
            return 404, _error(404, 20404, "The requested resource was not found")
        if method == "GET":
            if not self._authorized(authorization, match.group("account")):
                return 401, _error(401, 20003, "Authenticate")
            return self._list(match.group("account"), query)
        if method != "POST":
            return 405, _error(405, 20004, "Method not allowed")
        account = match.group("account")
        authorized = self._authorized(authorization, account)
        with self._lock:
            self.requests.append({"method": method, "path": path, "authorized": authorized})
            pending = self._failures["messages"]
            failure = pending.pop(0) if authorized and pending else None
        if not authorized:
            return 401, _error(401, 20003, "Authenticate")
        if failure is not None:
            status, code = failure
            return status, _error(status, code or status, "Injected failure")
        try:
            params = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            return 400, _error(400, 20001, "Malformed form body")
        try:
            message = self._accept(account, params)
        except _RefusedError as refused:
            return refused.status, _error(refused.status, refused.code, refused.message)
        with self._lock:
            self.messages.append(message)
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception as exc:  # a printing callback must never fail the API
                print(f"fake Twilio: on_message failed: {type(exc).__name__}", file=sys.stderr)
        return 201, _resource(message)

    def _accept(self, account: str, params: dict[str, list[str]]) -> FakeMessage:
        """The message a valid create request makes, else :class:`_RefusedError`."""
        to, from_, text, content_sid = (params.get(k, [""])[0] for k in ("To", "From", "Body", "ContentSid"))
        if not to:
            raise _RefusedError(400, 21604, "A 'To' phone number is required.")
        if not from_:
            raise _RefusedError(400, 21603, "A 'From' phone number is required.")
        message = FakeMessage(
            sid="SM" + uuid.uuid4().hex,
            account_sid=account,
            to=to,
            from_=from_,
            body=text,
            date_created=datetime.now(UTC),
            params=params,
            received_at=time.time(),
        )
        if content_sid:
            self._render_content(message, content_sid, params.get("ContentVariables", [""])[0])
            return message
        if not text and "MediaUrl" not in params:
            raise _RefusedError(400, 21619, "A text message body or media urls must be specified.")
        if len(text) > 1600:
            raise _RefusedError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        return message

    def _render_content(self, message: FakeMessage, content_sid: str, raw_variables: str) -> None:
        with self._lock:
            content = self.contents.get(content_sid) if _CONTENT_SID.match(content_sid) else None
        if content is None or content.account_sid != message.account_sid:
            raise _RefusedError(400, 21655, "The ContentSid is Invalid")
        variables = _content_variables(raw_variables)
        values = {**content.variables, **variables}
        whatsapp = message.to.lower().startswith("whatsapp:")

        def fill(template: Any, what: str, limit: int) -> str:
            def one(match: re.Match[str]) -> str:
                value = values.get(match.group(1))
                if not value:
                    raise _RefusedError(400, 21656, f"The ContentVariables Parameter is invalid: no value for {what}")
                return value

            text = _VARIABLE.sub(one, str(template or ""))
            if not text.strip():
                raise _RefusedError(400, 63021, f"The message's {what} is empty")
            if len(text) > limit:
                raise _RefusedError(400, 63021, f"The message's {what} exceeds {limit} characters")
            return text

        types = content.types
        if whatsapp and "twilio/quick-reply" in types:
            quick = types["twilio/quick-reply"]
            message.body = fill(quick.get("body"), "body", _QUICK_REPLY["body"])
            actions = quick.get("actions") or []
            if len(actions) > _SESSION_BUTTONS:
                raise _RefusedError(400, 63021, f"In-session quick replies take at most {_SESSION_BUTTONS} buttons")
            message.buttons = [
                {
                    "title": fill(a.get("title"), f"button {i} title", _QUICK_REPLY["title"]),
                    "id": fill(a.get("id"), f"button {i} id", _QUICK_REPLY["id"]),
                }
                for i, a in enumerate(actions, 1)
            ]
            _distinct(message.buttons, ("title", "id"), "buttons")
        elif whatsapp and "twilio/list-picker" in types:
            picker = types["twilio/list-picker"]
            message.body = fill(picker.get("body"), "body", _LIST_PICKER["body"])
            message.list_button = fill(picker.get("button"), "list button", _LIST_PICKER["button"])
            message.items = [
                {
                    "item": fill(it.get("item"), f"item {i}", _LIST_PICKER["item"]),
                    "id": fill(it.get("id"), f"item {i} id", _LIST_PICKER["id"]),
                    "description": fill(it.get("description"), f"item {i} description", _LIST_PICKER["description"]),
                }
                for i, it in enumerate(picker.get("items") or [], 1)
            ]
            _distinct(message.items, ("id",), "list items")
        elif "twilio/text" in types:
            message.body = fill(types["twilio/text"].get("body"), "body", 1600)
        else:
            channel = "WhatsApp" if whatsapp else "SMS"
            raise _RefusedError(400, 63021, f"The content has no type that can be sent over {channel}")
        message.content_sid = content_sid
        message.content_variables = variables

    # Content API -------------------------------------------------------------------------------

    def _content(
        self, method: str, route: str, query: str, authorization: str | None, body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any] | None]:
        authorized = self._authorized(authorization, self.account_sid)
        payload: dict[str, Any] | None
        with self._lock:
            pending = self._failures["content"]
            failure = pending.pop(0) if authorized and pending else None
        if not authorized:
            status, payload = 401, _error(401, 20003, "Authenticate")
        elif failure is not None:
            status, code = failure
            payload = _error(status, code or status, "Injected failure")
        else:
            try:
                status, payload = self._content_call(method, route, query, body, content_type)
            except _RefusedError as refused:
                status, payload = refused.status, _error(refused.status, refused.code, refused.message)
        with self._lock:
            self.content_requests.append({"method": method, "path": route, "status": status})
        return status, payload

    def _content_call(
        self, method: str, route: str, query: str, body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any] | None]:
        one = _CONTENT_ONE.match(route)
        if one:
            with self._lock:
                found = self.contents.get(one.group("sid"))
                if found is not None and method == "DELETE":
                    del self.contents[found.sid]
            if method not in {"GET", "DELETE"}:
                raise _RefusedError(405, 20004, "Method not allowed")
            if found is None:
                raise _RefusedError(404, 20404, "The requested resource was not found")
            return (200, self._content_resource(found)) if method == "GET" else (204, None)
        if method == "GET":
            return 200, self._content_page(query)
        if method != "POST":
            raise _RefusedError(405, 20004, "Method not allowed")
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            raise _RefusedError(400, 20001, "Content must be created with a JSON body (Content-Type: application/json)")
        try:
            data = json.loads(body.decode() or "null")
        except (UnicodeDecodeError, ValueError):
            raise _RefusedError(400, 20001, "The request body is not valid JSON") from None
        content = _validate_content(data, self.account_sid)
        with self._lock:
            self.contents[content.sid] = content
        return 201, self._content_resource(content)

    def _content_page(self, query: str) -> dict[str, Any]:
        params = parse_qs(query)
        try:
            size = max(1, min(1000, int(params.get("PageSize", ["50"])[0])))
            page = max(0, int(params.get("Page", ["0"])[0]))
        except ValueError:
            raise _RefusedError(400, 20001, "PageSize and Page must be numbers") from None
        token = params.get("PageToken", [""])[0]
        with self._lock:
            newest_first = list(reversed(self.contents.values()))
        sids = [c.sid for c in newest_first]
        start = 0
        if token:  # DN<sid>: the page after that template; UP<sid>: the page before it
            where, sid = token[:2], token[2:]
            if where not in {"DN", "UP"} or sid not in sids:
                raise _RefusedError(400, 20001, "Invalid PageToken")
            start = sids.index(sid) + 1 if where == "DN" else max(0, sids.index(sid) - size)
        rows = newest_first[start : start + size]

        def url(**extra: Any) -> str:
            return f"{self.url}{_CONTENT_PATH}?{urlencode({'PageSize': size, **extra})}"

        more = start + size < len(newest_first)
        return {
            "contents": [self._content_resource(c) for c in rows],
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": url(Page=0),
                "previous_page_url": url(Page=page - 1, PageToken=f"UP{rows[0].sid}") if start and rows else None,
                "url": url(Page=page, **({"PageToken": token} if token else {})),
                "next_page_url": url(Page=page + 1, PageToken=f"DN{rows[-1].sid}") if more and rows else None,
                "key": "contents",
            },
        }

    def _content_resource(self, c: FakeContent) -> dict[str, Any]:
        created = c.date_created.strftime("%Y-%m-%dT%H:%M:%SZ")
        url = f"{self.url}{_CONTENT_PATH}/{c.sid}"
        return {
            "language": c.language,
            "date_updated": created,
            "variables": c.variables,
            "friendly_name": c.friendly_name,
            "account_sid": c.account_sid,
            "url": url,
            "sid": c.sid,
            "date_created": created,
            "types": c.types,
            "links": {
                "approval_fetch": f"{url}/ApprovalRequests",
                "approval_create": f"{url}/ApprovalRequests/whatsapp",
            },
        }

    # Raw media upload ----------------------------------------------------------------------------

    def _upload(
        self, method: str, authorization: str | None, body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            return 405, _error(405, 20004, "Method not allowed")
        if not self._authorized(authorization, self.account_sid):
            return 401, _error(401, 20003, "Authenticate")
        kind = (content_type or "").split(";")[0].strip().lower()
        if not body or "/" not in kind:
            return 400, _error(400, 20001, "Post the media's bytes with its Content-Type")
        return 201, {"url": self.add_media(body, kind), "content_type": kind, "bytes": len(body)}


def _content_variables(raw: str) -> dict[str, str]:
    """``ContentVariables`` as Twilio takes it: a JSON object of non-empty values, each ≤ 1,600 characters."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise _RefusedError(400, 21656, "The ContentVariables Parameter is invalid") from None
    if not isinstance(data, dict):
        raise _RefusedError(400, 21656, "The ContentVariables Parameter is invalid")
    variables: dict[str, str] = {}
    for key, value in data.items():
        if value is None or value == "" or isinstance(value, dict | list):
            raise _RefusedError(400, 21656, "The ContentVariables Parameter is invalid")
        text = str(value)
        if len(text) > 1600:
            raise _RefusedError(400, 21658, "Parameter exceeded character limit")
        variables[str(key)] = text
    return variables


def _literal_length(value: Any) -> int:
    """How long a template field is without its variables (those are checked when sent)."""
    return len(_VARIABLE.sub("", value)) if isinstance(value, str) else 0


def _require_text(value: Any, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _RefusedError(400, 20001, f"{what} is required")
    if _literal_length(value) > limit:
        raise _RefusedError(400, 20001, f"{what} exceeds {limit} characters")


def _validate_content(data: Any, account_sid: str) -> FakeContent:
    """A template from a create request, validated like Twilio's, else :class:`_RefusedError`."""
    if not isinstance(data, dict):
        raise _RefusedError(400, 20001, "The request body must be a JSON object")
    name, language, variables, types = (data.get(k) for k in ("friendly_name", "language", "variables", "types"))
    if not isinstance(name, str) or not name.strip():
        raise _RefusedError(400, 20001, "friendly_name is required")
    if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}([_-][A-Za-z]{2,4})?", language):
        raise _RefusedError(400, 20001, "language must be a language code such as 'en'")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) and v for v in variables.values()):
        raise _RefusedError(400, 20001, "variables must map names to non-empty sample values")
    if not isinstance(types, dict):
        raise _RefusedError(400, 20001, "types is required")
    given = {k: v for k, v in types.items() if v is not None}  # the SDK sends every type, unset ones as null
    if not given:
        raise _RefusedError(400, 20001, "types must have at least one content type")
    unknown = sorted(set(given) - _KNOWN_TYPES)
    if unknown:
        raise _RefusedError(400, 20001, f"Unsupported content type: {unknown[0]}")
    for kind, spec in given.items():
        if not isinstance(spec, dict):
            raise _RefusedError(400, 20001, f"{kind} must be an object")
        if kind == "twilio/text":
            _require_text(spec.get("body"), "twilio/text body", 1600)
        elif kind == "twilio/quick-reply":
            _validate_quick_reply(spec)
        else:
            _validate_list_picker(spec)
    return FakeContent(
        sid="HX" + uuid.uuid4().hex,
        account_sid=account_sid,
        friendly_name=name,
        language=language,
        variables=dict(variables),
        types={k: _without_nulls(v) for k, v in given.items()},
        date_created=datetime.now(UTC),
    )


def _validate_quick_reply(spec: dict[str, Any]) -> None:
    _require_text(spec.get("body"), "twilio/quick-reply body", _QUICK_REPLY["body"])
    actions = spec.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= _QUICK_REPLY["max"]:
        raise _RefusedError(400, 20001, f"twilio/quick-reply takes 1 to {_QUICK_REPLY['max']} actions")
    for i, action in enumerate(actions, 1):
        if not isinstance(action, dict) or action.get("type") not in {None, "QUICK_REPLY"}:
            raise _RefusedError(400, 20001, f"twilio/quick-reply action {i} must be of type QUICK_REPLY")
        _require_text(action.get("title"), f"twilio/quick-reply action {i} title", _QUICK_REPLY["title"])
        _require_text(action.get("id"), f"twilio/quick-reply action {i} id", _QUICK_REPLY["id"])


def _validate_list_picker(spec: dict[str, Any]) -> None:
    _require_text(spec.get("body"), "twilio/list-picker body", _LIST_PICKER["body"])
    _require_text(spec.get("button"), "twilio/list-picker button", _LIST_PICKER["button"])
    items = spec.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= _LIST_PICKER["max"]:
        raise _RefusedError(400, 20001, f"twilio/list-picker takes 1 to {_LIST_PICKER['max']} items")
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise _RefusedError(400, 20001, f"twilio/list-picker item {i} must be an object")
        for key in ("item", "id", "description"):
            _require_text(item.get(key), f"twilio/list-picker item {i} {key}", _LIST_PICKER[key])


def _distinct(rows: list[dict[str, str]], keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        values = [row[key].casefold() for row in rows]
        if len(set(values)) != len(values):
            raise _RefusedError(400, 63021, f"The message's {what} must have distinct {key}s")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _resource(m: FakeMessage) -> dict[str, Any]:
    created = format_datetime(m.date_created, usegmt=True)
    uri = f"/2010-04-01/Accounts/{m.account_sid}/Messages/{m.sid}.json"
    resource: dict[str, Any] = {
        "account_sid": m.account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": m.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": m.sid,
        "status": "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": m.to,
        "uri": uri,
        "luma_received_at": m.received_at,  # not Twilio's: when the fake accepted it (benchmarks)
    }
    if m.content_sid:  # not Twilio's either: what WhatsApp would show (consoles, luma whatsapp)
        resource["luma_content"] = {
            "content_sid": m.content_sid,
            "buttons": m.buttons,
            "list_button": m.list_button,
            "items": m.items,
        }
    return resource


def _make_handler(fake: FakeTwilioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD_BYTES:
                self.send_error(413)
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            media = fake.media_response(self.path, self.headers.get("Authorization")) if self.command == "GET" else None
            if media is not None:
                status, content, content_type = media
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                return
            status, payload = fake.handle(
                self.command, self.path, self.headers.get("Authorization"), body, self.headers.get("Content-Type")
            )
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(data)

        do_POST = _serve
        do_GET = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            if "-v" in sys.argv:
                super().log_message(format, *args)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """``python -m local.fake_twilio [--port N] [--account-sid AC...] [--auth-token T]``: serve until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description="A fake Twilio REST API (Messages, Content API) on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="fake-auth-token")
    args = parser.parse_args(argv)
    with FakeTwilioServer(args.account_sid, args.auth_token, port=args.port) as fake:
        print(f"fake Twilio API on {fake.url} (LUMA_TWILIO_API_BASE_URL)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
