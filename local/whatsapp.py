"""``luma whatsapp``: send one WhatsApp (or SMS) message to a running ``luma dev`` as Twilio would, show the replies.

The form is signed with the local stack's fake Twilio account (the SDK's ``RequestValidator``
scheme) and posted to ``/api/twilio/whatsapp`` (``/api/twilio/sms`` with ``--sms``); the replies are
read back from the fake Twilio API, with their buttons or list items::

    luma whatsapp "hola, ¿a qué hora abrís el sábado?"                  # as Bruno (+33612345002)
    luma whatsapp --from +33612345001 "what are your opening hours?"    # as Alice
    luma whatsapp --assistant sitework "show my projects"
    luma whatsapp --assistant sitework --button project:p-1             # press a button of the last reply
    luma whatsapp --assistant sitework --media photo.jpg "broken scaffold"
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from luma.channels.twilio import sign

from bench.common import http_json
from bench.twilio import FakeTwilioReader, Webhook
from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER

DESCRIPTION = """\
Send one WhatsApp (or SMS) message to a running luma dev stack, signed as Twilio signs its
webhooks, and print the replies the fake Twilio API receives, with their buttons or list items.

examples:
  luma whatsapp "what are your opening hours?"
  luma whatsapp --from +33612345001 "show me my appointments"
  luma whatsapp --assistant sitework "show my projects"
  luma whatsapp --assistant sitework --button project:p-1
  luma whatsapp --assistant sitework --media photo.jpg "broken scaffold on level 2"
  luma whatsapp --sms "what are your opening hours?"
"""

SETTLE_S = 1.0  # after a reply, how long to wait for the next part of it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="luma whatsapp", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("text", nargs="?", default="", help="the message (may be empty with --media or --button)")
    parser.add_argument("--from", dest="phone", default="+33612345002", help="sender (a demo user's number)")
    parser.add_argument(
        "--assistant", metavar="NAME", help="write to this assistant's number (default: the first demo number)"
    )
    parser.add_argument("--media", metavar="FILE", type=Path, help="attach this file (a picture or a voice note)")
    parser.add_argument("--media-type", metavar="TYPE", help="its MIME type (default: guessed from the file name)")
    parser.add_argument(
        "--button", metavar="ID", help="press the button or list item with this id (as shown after a reply)"
    )
    parser.add_argument("--sms", action="store_true", help="send an SMS instead of a WhatsApp message")
    parser.add_argument("--port", metavar="N", type=int, default=8787, help="port of the running stack (default 8787)")
    parser.add_argument(
        "--timeout", metavar="S", type=float, default=30.0, help="seconds to wait for a reply (default 30)"
    )
    args = parser.parse_args(argv)
    if not (args.text or args.media or args.button):
        parser.error("give a message, --media or --button")
    if args.sms and args.button:
        parser.error("SMS has no buttons: reply with the option's number instead")

    base = f"http://127.0.0.1:{args.port}"
    try:
        info = http_json(f"{base}/dev/info")
        fake_url = info["fakeTwilioUrl"]
    except (OSError, urllib.error.HTTPError, KeyError, ValueError):
        print(f"no local stack answers on {base}: start it with: make dev", file=sys.stderr)
        return 2
    ours = _our_number(info, args.assistant)
    if ours is None:
        return 2
    prefix = "" if args.sms else "whatsapp:"
    to, our_address = f"{prefix}{args.phone}", f"{prefix}{ours}"
    reader = FakeTwilioReader(fake_url, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)
    earlier = reader.received(to)

    media: list[tuple[str, str]] = []
    if args.media:
        try:
            media.append(_upload(fake_url, args.media, args.media_type))
        except (OSError, ValueError) as exc:
            print(f"could not attach {args.media}: {exc}", file=sys.stderr)
            return 2
    webhook = Webhook(base, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, our_address)
    pressed = _pressed(earlier, args.button) if args.button else {}
    form = webhook.form(args.phone, args.text, media=media, **pressed)
    if args.sms:
        form = _as_sms(form, args.phone)
    status, ms = _post(base, "sms" if args.sms else "whatsapp", form)
    print(f"webhook answered {status} in {ms:.1f} ms", file=sys.stderr)
    if status != 200:
        return 1

    replies = _wait(reader, to, len(earlier), args.timeout)
    if not replies:
        print(f"no reply within {args.timeout:g} s (see the luma dev console)", file=sys.stderr)
        return 1
    for reply in replies:
        print(render(reply))
    return 0


def _our_number(info: dict[str, Any], assistant: str | None) -> str | None:
    """Our number for ``assistant`` from ``/dev/info`` (``twilioNumbers``), else the default one."""
    default = DEV_WHATSAPP_NUMBER.removeprefix("whatsapp:")
    numbers = info.get("twilioNumbers")
    numbers = numbers if isinstance(numbers, dict) else {}
    if assistant is None:
        return default
    if assistant in numbers:
        return str(numbers[assistant])
    if numbers:
        print(f"no number serves {assistant!r}; served: {', '.join(sorted(numbers))}", file=sys.stderr)
        return None
    print(f"the stack lists no number per assistant: writing to {default}", file=sys.stderr)
    return default


def _upload(fake_url: str, path: Path, content_type: str | None) -> tuple[str, str]:
    """Put the file on the fake Twilio API (``POST /_fake/media``); its media URL and type."""
    kind = content_type or mimetypes.guess_type(path.name)[0]
    if not kind:
        raise ValueError("unknown media type: pass --media-type")
    token = base64.b64encode(f"{DEV_ACCOUNT_SID}:{DEV_AUTH_TOKEN}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (the stack's fake, on loopback)
        f"{fake_url.rstrip('/')}/_fake/media",
        data=path.read_bytes(),
        headers={"Content-Type": kind, "Authorization": f"Basic {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return str(json.load(response)["url"]), kind


def _pressed(earlier: list[dict[str, Any]], ident: str) -> dict[str, tuple[str, str]]:
    """``button=(id, title)`` or ``list_item=(id, title)`` for ``ident``, looked up in the latest menu."""
    for reply in reversed(earlier):
        content = reply.get("luma_content") or {}
        for button in content.get("buttons") or []:
            if button.get("id") == ident:
                return {"button": (ident, str(button.get("title") or ident))}
        for item in content.get("items") or []:
            if item.get("id") == ident:
                return {"list_item": (ident, str(item.get("item") or ident))}
        if content:
            break  # only the latest menu can be answered
    return {"button": (ident, ident)}


def _as_sms(form: dict[str, str], phone: str) -> dict[str, str]:
    """The WhatsApp form as an SMS: bare numbers, no WhatsApp fields."""
    sms = {k: v for k, v in form.items() if k not in {"WaId", "ProfileName", "MessageType", "ReferralNumMedia"}}
    return sms | {"From": phone, "To": form["To"].removeprefix("whatsapp:")}


def _post(base: str, route: str, form: dict[str, str]) -> tuple[int, float]:
    """Post the signed form; the status and milliseconds to the answer."""
    url = f"{base}/api/twilio/{route}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(url, form, DEV_AUTH_TOKEN),
        "User-Agent": "TwilioProxy/1.1",
    }
    request = urllib.request.Request(url, data=urlencode(form).encode(), headers=headers, method="POST")  # noqa: S310
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    return status, (time.perf_counter() - start) * 1000


def _wait(reader: FakeTwilioReader, to: str, before: int, timeout: float) -> list[dict[str, Any]]:
    """The replies after the first ``before``: waits for one, then until none arrives for a moment."""
    deadline = time.monotonic() + timeout
    replies: list[dict[str, Any]] = []
    quiet_until = None
    while time.monotonic() < deadline:
        found = reader.received(to)[before:]
        if len(found) > len(replies):
            replies, quiet_until = found, time.monotonic() + SETTLE_S
        elif quiet_until is not None and time.monotonic() >= quiet_until:
            break
        time.sleep(0.1)
    return replies


def render(reply: dict[str, Any]) -> str:
    """A reply as the person would see it, with the ids ``--button`` takes."""
    lines = [str(reply.get("body") or "")]
    content = reply.get("luma_content") or {}
    for button in content.get("buttons") or []:
        lines.append(f"  [ {button['title']} ]  --button {button['id']}")
    if content.get("items"):
        lines.append(f"  ≡ {content.get('list_button')}")
        for item in content["items"]:
            lines.append(f"    {item['item']}  --button {item['id']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
