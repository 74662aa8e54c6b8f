"""A fake Twilio REST API on loopback: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

Checks HTTP basic auth (account SID + auth token), answers 201 with a message resource shaped
like Twilio's, records every accepted message, and can fail the next N requests. It also lists
the messages it received (``GET .../Messages.json?To=&PageSize=``, newest first, like Twilio; each
resource carries ``luma_received_at``, the epoch seconds it arrived, for benchmarks) and serves
media registered with :meth:`FakeTwilioServer.add_media` at Twilio-shaped media URLs::

    with FakeTwilioServer(account_sid, auth_token) as fake:
        sender = TwilioSender(account_sid, auth_token, "whatsapp:+14155238886", base_url=fake.url)
        fake.fail_next(1, status=500)
        ...
        fake.messages  # [FakeMessage(to=..., from_=..., body=..., sid="SM...")]

:func:`sign` computes the ``X-Twilio-Signature`` Twilio would send to a webhook.
"""

from __future__ import annotations

import base64
import binascii
import hmac
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
from typing import Any
from urllib.parse import parse_qs

from luma.channels.twilio import sign

__all__ = ["DEV_ACCOUNT_SID", "DEV_AUTH_TOKEN", "DEV_WHATSAPP_NUMBER", "FakeMessage", "FakeTwilioServer", "sign"]

# What the local stack uses (a fake account on loopback: nothing here is a secret).
DEV_ACCOUNT_SID = "AC" + "0" * 32
DEV_AUTH_TOKEN = "luma-local-twilio-token"
DEV_WHATSAPP_NUMBER = "whatsapp:+14155238886"

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MEDIA_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<media>[^/]+)$"
)


@dataclass
class FakeMessage:
    """One message the fake accepted."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    date_created: datetime
    params: dict[str, list[str]] = field(default_factory=dict)
    received_at: float = 0.0  # epoch seconds (time.time()) when the fake accepted it


class FakeTwilioServer:
    """``start()`` → ``url``; ``messages``; ``requests`` (every attempt); ``fail_next(n, status)``; ``stop()``."""

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
        self._failures: list[tuple[int, int | None] | None] = []
        self.messages: list[FakeMessage] = []
        self.requests: list[dict[str, Any]] = []  # method, path, status, authorized
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Control ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to use instead of ``https://api.twilio.com``."""
        if self._server is None:
            raise RuntimeError("fake Twilio server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, count: int = 1, status: int = 500, code: int | None = None, *, after: int = 0) -> None:
        """Answer ``count`` authorized requests with ``status`` (and Twilio error ``code``), after
        letting ``after`` of them through."""
        with self._lock:
            self._failures.extend([None] * after + [(status, code)] * count)

    def reset(self) -> None:
        """Forget recorded messages, requests and pending failures."""
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self._failures.clear()

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
        params = parse_qs(query)
        to = params.get("To", [None])[0]
        try:
            size = max(1, min(1000, int(params.get("PageSize", ["50"])[0])))
        except ValueError:
            return 400, _error(400, 20001, "PageSize must be a number")
        with self._lock:
            found = [m for m in self.messages if m.account_sid == account and (to is None or m.to == to)]
        page = list(reversed(found))[:size]
        uri = f"/2010-04-01/Accounts/{account}/Messages.json"
        return 200, {
            "messages": [_resource(m) for m in page],
            "page": 0,
            "page_size": size,
            "first_page_uri": f"{uri}?PageSize={size}&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": f"{uri}?PageSize={size}&Page=0",
            "start": 0,
            "end": max(0, len(page) - 1),
        }

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one request."""
        route, _, query = path.partition("?")
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
            failure = self._failures.pop(0) if authorized and self._failures else None
        if not authorized:
            return 401, _error(401, 20003, "Authenticate")
        if failure is not None:
            status, code = failure
            return status, _error(status, code or status, "Injected failure")
        try:
            params = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            return 400, _error(400, 20001, "Malformed form body")
        to, from_, text = (params.get(k, [""])[0] for k in ("To", "From", "Body"))
        if not to:
            return 400, _error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return 400, _error(400, 21603, "A 'From' phone number is required.")
        if not text and "MediaUrl" not in params:
            return 400, _error(400, 21619, "A text message body or media urls must be specified.")
        if len(text) > 1600:
            return 400, _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
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
        with self._lock:
            self.messages.append(message)
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception as exc:  # a printing callback must never fail the API
                print(f"fake Twilio: on_message failed: {type(exc).__name__}", file=sys.stderr)
        return 201, _resource(message)


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
    return {
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


def _make_handler(fake: FakeTwilioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
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
            status, payload = fake.handle(self.command, self.path, self.headers.get("Authorization"), body)
            data = json.dumps(payload).encode()
            self.send_response(status)
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
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
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
