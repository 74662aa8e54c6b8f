"""``luma whatsapp``: send one WhatsApp message to a running ``luma dev`` as Twilio would, show the reply.

The form is signed with the local stack's fake Twilio account (the SDK's ``RequestValidator``
scheme), posted to ``/api/twilio/whatsapp``, and the answer is read back from the fake Twilio API::

    luma whatsapp "hola, ¿a qué hora abrís el sábado?"                # as Bruno (+33612345002)
    luma whatsapp --from +33612345001 "what are your opening hours?"  # as Alice
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error

from bench.common import http_json
from bench.twilio import FakeTwilioReader, Webhook
from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="luma whatsapp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("text", help="the message")
    parser.add_argument("--from", dest="phone", default="+33612345002", help="sender (a demo patient's number)")
    parser.add_argument("--port", type=int, default=8787, help="port of a running `luma dev` (default 8787)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    args = parser.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    try:
        fake_url = http_json(f"{base}/dev/info")["fakeTwilioUrl"]
    except (OSError, urllib.error.HTTPError, KeyError):
        print(f"no local stack answers on {base}: start it with `make dev`", file=sys.stderr)
        return 2
    reader = FakeTwilioReader(fake_url, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)
    to = f"whatsapp:{args.phone}"
    before = len(reader.received(to))
    webhook = Webhook(base, DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER)
    status, ms = webhook.post(webhook.form(args.phone, args.text))
    print(f"webhook answered {status} in {ms:.1f} ms", file=sys.stderr)
    if status != 200:
        return 1
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        replies = reader.received(to)[before:]
        if replies:
            for reply in replies:
                print(reply["body"])
            return 0
        time.sleep(0.2)
    print(f"no reply within {args.timeout:g} s (see the `luma dev` console)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
