"""``luma bench twilio``: WhatsApp turns through the Twilio webhook of a running ``luma dev``.

Posts WhatsApp-shaped forms, signed exactly as Twilio signs them (the SDK's ``RequestValidator``
over the public URL and the fake account's token), from the demo patients' linked numbers, with
fast-path questions ("what are your opening hours?"). Each message is delivered **twice**, the second
right after the first is acknowledged, like a Twilio retry. Messages go one at a time, each waiting
for its reply, so the figures are latencies, not a load test.

- **ack**: the webhook's answer (empty TwiML) to a delivery, both deliveries counted;
- **reply**: from the first delivery to the moment the fake Twilio API received the answer (its own
  timestamp, ``luma_received_at``; same machine, same clock), read back through the fake's Twilio-shaped
  ``GET .../Messages.json?To=``. Each message's answer is found by ``MessageSid``: its stored reply
  (the store's message with that ``clientMessageId``, and the reply to it), then the delivery whose
  text is that reply's — never by order, so a late answer is not taken for the next message's;
- **lost**: a message with no stored reply; **duplicated**: a ``MessageSid`` with more than one stored
  reply, plus every delivery to a number beyond its messages' stored replies (a reply sent twice),
  counted after a settle time at the end.

The fake Twilio API's URL and the emulator's endpoint come from the stack's ``GET /dev/info`` (or
``--fake-twilio-url``; without the endpoint, lost and duplicated are counted per number).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.common import histogram_png, http_json, progress, save, summary

UTTERANCES = [
    "what are your opening hours?",
    "where is the clinic located?",
    "hello there",
    "are you open on saturday?",
    "thanks, bye!",
    "what's the address of the clinic",
]
WARM_UP = 4


class Webhook:
    """A keep-alive connection to the stack's webhook, posting signed forms."""

    def __init__(self, base: str, account_sid: str, auth_token: str, our_number: str) -> None:
        from luma.channels.twilio import sign

        self._sign = sign
        self.url = f"{base}/api/twilio/whatsapp"
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.our_number = our_number

    def form(
        self,
        phone: str,
        text: str,
        *,
        media: Sequence[tuple[str, str]] = (),
        button: tuple[str, str] | None = None,
        list_item: tuple[str, str] | None = None,
    ) -> dict[str, str]:
        """A WhatsApp message from ``phone`` as Twilio posts it: ``media`` as ``(url, content type)``
        pairs, a pressed quick-reply ``button`` or a chosen ``list_item`` as ``(id, title)`` (the title
        is also the body, as WhatsApp sends it)."""
        sid = ("MM" if media else "SM") + uuid.uuid4().hex
        kind = "button" if button else "interactive" if list_item else media[0][1].split("/")[0] if media else "text"
        form = {
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
            "ProfileName": "Bench",
            "MessageType": kind,
            "SmsSid": sid,
            "WaId": phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": text,
            "To": self.our_number,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{phone}",
            "ApiVersion": "2010-04-01",
        }
        for n, (url, content_type) in enumerate(media):
            form[f"MediaUrl{n}"] = url
            form[f"MediaContentType{n}"] = content_type
        if button:
            form |= {"ButtonPayload": button[0], "ButtonText": button[1], "Body": text or button[1]}
        if list_item:
            form |= {"ListId": list_item[0], "ListTitle": list_item[1], "Body": text or list_item[1]}
        return form

    def post(self, params: dict[str, str]) -> tuple[int, float]:
        """Status and milliseconds to the webhook's answer."""
        body = urlencode(params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self._sign(self.url, params, self.auth_token),
            "User-Agent": "TwilioProxy/1.1",
        }
        start = time.perf_counter()
        self.conn.request("POST", "/api/twilio/whatsapp", body=body, headers=headers)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status, (time.perf_counter() - start) * 1000


class FakeTwilioReader:
    """Reads what the fake Twilio API received, through its Twilio-shaped list endpoint."""

    def __init__(self, url: str, account_sid: str, auth_token: str) -> None:
        self.url = url.rstrip("/")
        self.account_sid = account_sid
        self.auth = (account_sid, auth_token)

    def received(self, to: str) -> list[dict[str, Any]]:
        """Messages sent to ``to``, oldest first."""
        query = urlencode({"To": to, "PageSize": 1000})
        page = http_json(f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages.json?{query}", auth=self.auth)
        return list(reversed(page["messages"]))


def run(
    base: str,
    fake_url: str,
    messages: int,
    timeout: float,
    *,
    account_sid: str,
    auth_token: str,
    our_number: str,
    phones: list[str],
    dynamodb_endpoint: str | None = None,
    user_ids: set[str] | None = None,
) -> dict[str, Any]:
    """Send the messages one at a time (each delivered twice), then account for them per ``MessageSid``.

    The loop only paces the run (a message waits for a new reply to its number, or ``timeout``). The
    figures come from the store when ``dynamodb_endpoint`` is given: each ``MessageSid``'s stored
    replies (more than one is a duplicate), each number's deliveries beyond its stored replies (a
    reply sent twice), and each reply's latency from the delivery whose text is that reply's.
    """
    hook = Webhook(base, account_sid, auth_token, our_number)
    reader = FakeTwilioReader(fake_url, account_sid, auth_token)
    before: dict[str, int] = {p: len(reader.received(f"whatsapp:{p}")) for p in phones}
    seen = dict(before)
    res: dict[str, Any] = {"ack": [], "reply": [], "lost": 0, "bad_status": 0, "samples": []}
    sent: list[tuple[str, str, float, bool]] = []  # (phone, MessageSid, sent at, measured)
    total = WARM_UP + messages
    for i in range(total):
        phone = phones[i % len(phones)]
        to = f"whatsapp:{phone}"
        params = hook.form(phone, UTTERANCES[i % len(UTTERANCES)])
        t0 = time.time()
        first, ack1 = hook.post(params)
        second, ack2 = hook.post(params)  # Twilio's retry of the same MessageSid
        measured = i >= WARM_UP
        sent.append((phone, params["MessageSid"], t0, measured))
        if measured:
            res["ack"] += [ack1, ack2]
            res["bad_status"] += (first != 200) + (second != 200)
        deadline = time.monotonic() + timeout
        time.sleep(0.02)
        while time.monotonic() < deadline:
            got = reader.received(to)
            if len(got) > seen[phone]:
                seen[phone] = len(got)
                break
            time.sleep(0.025)
        if measured:
            progress(i + 1 - WARM_UP, messages, "messages")
    time.sleep(1.5)  # late replies and duplicates, if any, arrive now
    delivered = {p: reader.received(f"whatsapp:{p}")[before[p] :] for p in phones}
    if dynamodb_endpoint is None:  # no store to ask: count by number, as a person would
        res["duplicated"] = sum(max(0, len(delivered[p]) - sum(1 for s in sent if s[0] == p)) for p in phones)
        res["lost"] = sum(max(0, sum(1 for s in sent if s[0] == p) - len(delivered[p])) for p in phones)
        return res
    from bench.load import stored_messages

    rows = stored_messages(dynamodb_endpoint, user_ids or set())
    user_msg = {r["message_id"]: r["client_message_id"] for r in rows if r.get("client_message_id")}
    replies: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        sid = user_msg.get(row.get("reply_to") or "")
        if sid and row.get("role") == "assistant":
            replies.setdefault(sid, []).append(row)
    res["duplicated_sids"] = [sid for _, sid, _, _ in sent if len(replies.get(sid, [])) > 1]
    extra = 0
    for phone in phones:
        stored = sum(len(replies.get(sid, [])) for p, sid, _, _ in sent if p == phone)
        extra += max(0, len(delivered[phone]) - stored)
        unused = list(delivered[phone])
        for p, sid, t0, measured in sent:
            if p != phone:
                continue
            texts = [r.get("text", "") for r in replies.get(sid, [])]
            match = next((d for d in unused if any(d["body"] and t.startswith(d["body"]) for t in texts)), None)
            if match is not None:
                unused.remove(match)
            if not measured:
                continue
            if not texts:
                res["lost"] += 1
            elif match is not None:
                res["reply"].append((float(match["luma_received_at"]) - t0) * 1000)
                if len(res["samples"]) < 3:
                    res["samples"].append(match["body"][:80])
    res["extra_deliveries"] = extra
    res["duplicated"] = len(res["duplicated_sids"]) + extra
    return res


def _patients() -> list[tuple[str, str]]:
    """The demo patients' linked numbers and their user ids."""
    from luma.assistants.clinic.info import clinic_data

    return [(p["phone"], p["user_id"]) for p in clinic_data()["patients"] if p.get("phone") and p.get("user_id")]


def main(argv: list[str] | None = None) -> int:
    from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER

    parser = argparse.ArgumentParser(
        prog="luma bench twilio", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300, help="measured messages (default 300)")
    parser.add_argument("--port", type=int, default=8787, help="port of a running `luma dev` (default 8787)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a message counts as lost")
    parser.add_argument("--fake-twilio-url", help="the fake Twilio API (default: from GET /dev/info)")
    parser.add_argument("--account-sid", default=DEV_ACCOUNT_SID, help="the stack's Twilio account (fake)")
    parser.add_argument("--auth-token", default=DEV_AUTH_TOKEN, help="its auth token (signs the webhooks)")
    parser.add_argument("--to", default=DEV_WHATSAPP_NUMBER, help="our WhatsApp number")
    args = parser.parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    try:
        http_json(f"{base}/api/health")
    except OSError:
        print(
            f"no local stack answers on {base}: start it with `make dev` (or `luma dev --port {args.port}`)",
            file=sys.stderr,
        )
        return 2
    fake_url = args.fake_twilio_url
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError):
        info = http_json(f"{base}/dev/info")
    fake_url = fake_url or info.get("fakeTwilioUrl")
    if not fake_url:
        print("the stack reports no fake Twilio API (GET /dev/info): pass --fake-twilio-url", file=sys.stderr)
        return 2
    patients = _patients()
    phones = [phone for phone, _ in patients]
    print(
        f"twilio benchmark: {args.messages} messages (each delivered twice), {len(phones)} numbers, {base}",
        file=sys.stderr,
    )
    res = run(
        base,
        fake_url,
        args.messages,
        args.timeout,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        our_number=args.to,
        phones=phones,
        dynamodb_endpoint=info.get("dynamodbEndpoint"),
        user_ids={user for _, user in patients},
    )
    ack, reply = summary(res["ack"]), summary(res["reply"])
    print(f"{'':<8}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, values, s in (("ack", res["ack"], ack), ("reply", res["reply"], reply)):
        print(f"{name:<8}{len(values):>6}{s['p50']:>10.1f}{s['p95']:>10.1f}{s['p99']:>10.1f}")
    if res["bad_status"]:
        print(f"deliveries not answered 200: {res['bad_status']}")
    if res["samples"]:
        print(f"sample reply: {res['samples'][0]!r}")
    if res.get("duplicated_sids") or res.get("extra_deliveries"):
        print(
            f"MessageSids with more than one stored reply: {res['duplicated_sids'][:10]}; "
            f"deliveries beyond the stored replies: {res['extra_deliveries']}"
        )
    figures = {
        "messages": args.messages,
        "deliveries_per_message": 2,
        "ack": {k: round(v, 2) for k, v in ack.items()},
        "reply": {k: round(v, 2) for k, v in reply.items()},
        "lost": res["lost"],
        "duplicated": res["duplicated"],
        "bad_status": res["bad_status"],
        "targets": {"ack_p95_ms": 50, "reply_p95_ms": 150, "lost": 0, "duplicated": 0},
    }
    save("twilio", figures)
    png = histogram_png(
        "twilio",
        res["reply"],
        f"WhatsApp reply latency ({len(res['reply'])} messages, each delivered twice)",
        "ms (webhook post → fake Twilio API received the reply)",
        {"reply p95": reply["p95"], "ack p95": ack["p95"], "reply target 150": 150, "ack target 50": 50},
    )
    if png:
        print(f"histogram: {png}")
    print(
        f"twilio messages={args.messages} ack_p95_ms={ack['p95']:.1f} "
        f"reply_p95_ms={reply['p95']:.1f} lost={res['lost']} duplicated={res['duplicated']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
