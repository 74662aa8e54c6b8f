"""Interactive WhatsApp messages through the Content API, with the real twilio SDK against the fake on loopback:
generic templates found or created once, buttons and list pickers, numbered text on SMS, approvals, and
failed sends falling back to text without losing or duplicating a part."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from luma.channels.delivery import TwilioDelivery
from luma.channels.twilio import Interactive, Option, TwilioSender, TwilioSendError, template_definition
from luma.config import Settings
from luma.domain.models import DeliveryTarget
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.content.v1.content import ContentList

from local.fake_twilio import FakeContent, FakeMessage, FakeTwilioServer
from tests.fakes import RecordingInvoker

ACCOUNT = "AC" + "5" * 32
TOKEN = "content-test-token"
OURS = "whatsapp:+14155238887"
ALICE = "whatsapp:+33612345001"
WHATSAPP = DeliveryTarget(channel="whatsapp", to_address=ALICE, from_address=OURS)
SMS = DeliveryTarget(channel="sms", to_address="+33612345001", from_address="+14155238887")
HINT = "Reply with the number of your choice."


@pytest.fixture
def fake() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer(ACCOUNT, TOKEN) as server:
        yield server


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


def sender(fake: FakeTwilioServer) -> TwilioSender:
    """A sender as one process builds it (its template cache starts empty)."""
    return TwilioSender(ACCOUNT, TOKEN, "whatsapp:+10000000000", base_url=fake.url, timeout_s=5)


def delivery(
    fake: FakeTwilioServer, invoker: RecordingInvoker, the_sender: TwilioSender | None = None
) -> TwilioDelivery:
    one = the_sender or sender(fake)
    return TwilioDelivery(Settings(), lambda: one, invoker)


def sdk(fake: FakeTwilioServer) -> Client:
    """The SDK's own client pointed at the fake (for what Luma's sender does not do)."""
    base = urlsplit(fake.url)

    class Local(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            url = urlsplit(url)._replace(scheme=base.scheme, netloc=base.netloc).geturl()
            return super().request(method, url, *args, **kwargs)

    return Client(ACCOUNT, TOKEN, http_client=Local(timeout=5), environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})


def menu(n: int, text: str = "Which project?") -> dict[str, Any]:
    choices = [{"id": f"project:p-{i}", "label": f"Site {i}"} for i in range(1, n + 1)]
    return {"type": "message", "text": text, "choices": choices, "messageId": "m-menu", "language": "en"}


def numbered(n: int) -> str:
    return "\n".join(f"{i}. Site {i}" for i in range(1, n + 1)) + f"\n\n{HINT}"


def creates(fake: FakeTwilioServer) -> list[dict[str, Any]]:
    return [r for r in fake.content_requests if r["method"] == "POST"]


# -- templates ---------------------------------------------------------------------------------


def test_a_template_is_created_once_then_reused_and_found_by_name_in_a_new_process(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    one = sender(fake)
    d = delivery(fake, invoker, one)
    assert d.send(WHATSAPP, menu(3)) and d.send(WHATSAPP, menu(3, "Which one now?"))
    assert len(creates(fake)) == 1 and [c.friendly_name for c in fake.contents.values()] == ["luma_quick_reply_3"]
    sid = next(iter(fake.contents))
    assert [m.content_sid for m in fake.messages] == [sid, sid]
    assert d.send(WHATSAPP, menu(5))  # another shape: created, without listing the account again
    lists = [r for r in fake.content_requests if r["method"] == "GET"]
    assert len(lists) == 1 and len(creates(fake)) == 2  # the account's templates are listed once per process

    fake.content_requests.clear()
    other = sender(fake)  # another Lambda instance: finds the template by its friendly name
    assert other.template_sid("quick_reply", 3) == sid
    assert other.template_sid("quick_reply", 3) == sid
    assert creates(fake) == [] and len(fake.content_requests) == 1


def test_our_templates_are_found_beyond_the_first_page_of_the_account(fake: FakeTwilioServer) -> None:
    ours = sender(fake).template_sid("list_picker", 5)
    for i in range(230):  # others' templates, newer than ours: ours is on the second page of 200
        fake.contents[f"HX{i:032x}"] = FakeContent(
            f"HX{i:032x}", ACCOUNT, f"other_{i}", "en", {}, {"twilio/text": {"body": "hi"}}, datetime.now(UTC)
        )
    fake.content_requests.clear()
    assert sender(fake).template_sid("list_picker", 5) == ours
    pages = [r for r in fake.content_requests if r["method"] == "GET"]
    assert len(pages) == 2 and creates(fake) == []


def test_a_template_of_our_name_but_another_shape_is_not_used(fake: FakeTwilioServer) -> None:
    wrong = template_definition("quick_reply", 2) | {"friendly_name": "luma_quick_reply_3"}
    sdk(fake).content.v1.contents.create(ContentList.ContentCreateRequest(wrong))
    sid = sender(fake).template_sid("quick_reply", 3)
    (made,) = [c for c in fake.contents.values() if c.sid == sid]
    assert len(made.types["twilio/quick-reply"]["actions"]) == 3


def test_every_template_resolved_once_is_the_value_to_configure(fake: FakeTwilioServer) -> None:
    sids = sender(fake).template_sids()
    names = [f"luma_quick_reply_{n}" for n in (1, 2, 3)] + [f"luma_list_picker_{n}" for n in range(1, 11)]
    assert sorted(sids) == sorted(names) and len(set(sids.values())) == 13
    assert sender(fake).template_sids() == sids and len(creates(fake)) == 13  # a second run creates nothing


def test_configured_template_sids_need_no_content_api_call(fake: FakeTwilioServer) -> None:
    sid = sdk(fake).content.v1.contents.create(ContentList.ContentCreateRequest(template_definition("quick_reply", 2)))
    fake.content_requests.clear()
    message = Interactive("quick_reply", "Go?", (Option("a", "Yes"), Option("b", "No")))
    sender(fake).send_interactive(ALICE, message, configured={"luma_quick_reply_2": str(sid.sid)})
    assert fake.content_requests == []
    assert fake.messages[0].content_sid == sid.sid


def test_the_delivery_reads_configured_sids_from_the_settings(
    fake: FakeTwilioServer, invoker: RecordingInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = sdk(fake).content.v1.contents.create(ContentList.ContentCreateRequest(template_definition("quick_reply", 2)))
    fake.content_requests.clear()
    settings = Settings()
    object.__setattr__(settings, "twilio_content_sids", {"luma_quick_reply_2": sid.sid})  # LUMA_TWILIO_CONTENT_SIDS
    one = sender(fake)
    assert TwilioDelivery(settings, lambda: one, invoker).send(WHATSAPP, menu(2))
    assert fake.content_requests == [] and fake.messages[0].content_sid == sid.sid


# -- what each frame becomes ----------------------------------------------------------------------


def test_up_to_three_choices_arrive_as_quick_reply_buttons(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    assert delivery(fake, invoker).send(WHATSAPP, menu(2))
    (sent,) = fake.messages
    assert (sent.to, sent.from_, sent.body) == (ALICE, OURS, "Which project?")
    assert sent.buttons == [{"title": "Site 1", "id": "project:p-1"}, {"title": "Site 2", "id": "project:p-2"}]
    assert sent.content_variables == {
        "1": "Which project?",
        "2": "Site 1",
        "3": "project:p-1",
        "4": "Site 2",
        "5": "project:p-2",
    }
    assert sent.summary == "Which project? [buttons: Site 1 | Site 2]"


def test_four_to_ten_choices_arrive_as_a_list_picker(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    frame = menu(6)
    frame["choices"][0]["label"] = "Harbour bridge refurbishment, north approach"
    assert delivery(fake, invoker).send(WHATSAPP, frame)
    (sent,) = fake.messages
    assert sent.list_button == "Options" and len(sent.items) == 6
    assert sent.items[0] == {
        "item": "Harbour bridge refurbis…",  # 24 with the ellipsis
        "id": "project:p-1",
        "description": "Harbour bridge refurbishment, north approach",
    }
    assert [i["id"] for i in sent.items] == [f"project:p-{i}" for i in range(1, 7)]


def test_more_than_ten_choices_arrive_as_numbered_text(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    assert delivery(fake, invoker).send(WHATSAPP, menu(11))
    (sent,) = fake.messages
    assert sent.content_sid is None and sent.body == f"Which project?\n\n{numbered(11)}"
    assert fake.content_requests == []


def test_sms_gets_numbered_options(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    assert delivery(fake, invoker).send(SMS, menu(3))
    (sent,) = fake.messages
    assert (sent.to, sent.body, sent.content_sid) == ("+33612345001", f"Which project?\n\n{numbered(3)}", None)


def test_a_long_menu_reply_sends_its_text_first_and_the_buttons_last(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    text = " ".join(f"Line {i} of the site report." for i in range(100))  # ~2,800 characters
    assert delivery(fake, invoker).send(WHATSAPP, menu(2, text))
    *leading, last = fake.messages
    assert leading and all(m.content_sid is None for m in leading)
    assert last.buttons and len(last.body) <= 1024
    assert " ".join([*(m.body for m in leading), last.body]) == text


def test_an_approval_arrives_as_approve_and_decline_buttons(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    frame = {
        "type": "approval_request",
        "sessionId": "s1",
        "runId": "r1",
        "approvalId": "01JAPPROVAL",
        "tool": "move_appointment",
        "prompt": "Move your visit to Tuesday 3 pm?",
        "expiresInS": 600,
    }
    d = delivery(fake, invoker)
    assert d.send(WHATSAPP, frame) and d.send(SMS, frame)
    buttons, sms = fake.messages
    assert buttons.summary == "Move your visit to Tuesday 3 pm? [buttons: Approve | Decline]"
    assert [b["id"] for b in buttons.buttons] == ["approval:01JAPPROVAL:yes", "approval:01JAPPROVAL:no"]
    assert sms.body == "Move your visit to Tuesday 3 pm?\n\nReply YES to approve or NO to decline."


def test_the_fake_lists_a_content_message_with_what_whatsapp_shows(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    delivery(fake, invoker).send(WHATSAPP, menu(2))
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json?To=whatsapp%3A%2B33612345001"
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})) as resp:
        (listed,) = json.load(resp)["messages"]
    assert listed["body"] == "Which project?"
    assert listed["luma_content"]["buttons"][1] == {"title": "Site 2", "id": "project:p-2"}


# -- failures: text fallback, nothing lost, nothing twice -------------------------------------------


def bodies(messages: list[FakeMessage]) -> list[str]:
    return [m.summary for m in messages]


def test_a_retryable_failure_of_the_buttons_is_redelivered_as_numbered_text(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    d = delivery(fake, invoker)
    fake.fail_next(1, status=503)
    assert d.send(WHATSAPP, menu(3)) is True
    assert fake.messages == []
    ((function, job),) = invoker.calls
    assert function == "fast_path" and job["kind"] == "twilio_redelivery" and job["attempt"] == 1
    assert job["parts"] == [f"Which project?\n\n{numbered(3)}"] and job["ref"] == "m-menu"
    d.redeliver(job)
    assert bodies(fake.messages) == [f"Which project?\n\n{numbered(3)}"]


def test_a_content_api_outage_is_redelivered_as_text(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    d = delivery(fake, invoker)
    fake.fail_next(1, status=500, api="content")  # listing the templates fails
    assert d.send(WHATSAPP, menu(2)) is True
    assert fake.messages == [] and fake.contents == {}
    ((_, job),) = invoker.calls
    d.redeliver(job)
    assert bodies(fake.messages) == [f"Which project?\n\n{numbered(2)}"]


def test_a_failure_after_the_leading_text_redelivers_only_what_was_not_sent(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    text = " ".join(f"Line {i} of the site report." for i in range(100))
    d = delivery(fake, invoker)
    d.send(WHATSAPP, menu(2, "warm-up"))  # the template exists; the next content send is the 3rd message
    fake.reset()
    fake.fail_next(1, status=429, after=2)  # both text parts go through, the buttons fail
    assert d.send(WHATSAPP, menu(2, text)) is True
    leading = [m.body for m in fake.messages]
    assert len(leading) == 2
    ((_, job),) = invoker.calls
    d.redeliver(job)
    redelivered = [m.body for m in fake.messages[2:]]
    assert redelivered and redelivered[-1].endswith(numbered(2))
    sent = [*leading, *redelivered]
    assert len(sent) == len(set(sent))  # no part twice
    assert " ".join(sent).startswith(text) and all(m.content_sid is None for m in fake.messages)


def test_a_failure_in_the_leading_text_queues_the_rest_and_the_options_as_text(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    text = " ".join(f"Line {i} of the site report." for i in range(100))
    d = delivery(fake, invoker)
    fake.fail_next(1, status=503, after=1)
    assert d.send(WHATSAPP, menu(2, text)) is True
    assert len(fake.messages) == 1 and fake.content_requests == []  # the buttons were never tried
    ((_, job),) = invoker.calls
    d.redeliver(job)
    sent = [m.body for m in fake.messages]
    assert len(sent) == len(set(sent)) and sent[-1].endswith(numbered(2))
    assert " ".join(sent) == f"{text}\n\n{numbered(2)}"


def test_a_redelivery_that_fails_raises_and_its_retry_sends_each_part_once(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    d = delivery(fake, invoker)
    fake.fail_next(1, status=503)
    d.send(WHATSAPP, menu(3))
    ((_, job),) = invoker.calls
    fake.fail_next(1, status=500)
    with pytest.raises(TwilioSendError):
        d.redeliver(job)
    d.redeliver(job)  # Lambda's retry of the same event
    assert bodies(fake.messages) == [f"Which project?\n\n{numbered(3)}"]


def test_a_template_twilio_no_longer_knows_is_sent_as_text_at_once_and_made_again(
    fake: FakeTwilioServer, invoker: RecordingInvoker
) -> None:
    d = delivery(fake, invoker)
    d.send(WHATSAPP, menu(3))
    first_sid = fake.messages[0].content_sid
    fake.reset(templates=True)  # deleted from the account: Twilio answers 21655
    assert d.send(WHATSAPP, menu(3)) is True
    assert invoker.calls == []  # no redelivery: sent as text right away
    assert bodies(fake.messages) == [f"Which project?\n\n{numbered(3)}"]
    assert d.send(WHATSAPP, menu(3))  # the sender forgot the SID and makes the template again
    assert fake.messages[-1].buttons and fake.messages[-1].content_sid not in {None, first_sid}


def test_a_refusal_of_the_text_too_is_dropped_not_retried(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    d = delivery(fake, invoker)
    fake.fail_next(2, status=400, code=21211)  # an invalid 'To': the buttons and their text both refused
    assert d.send(WHATSAPP, menu(2)) is False
    assert fake.messages == [] and invoker.calls == []


# -- the fake validates like Twilio ------------------------------------------------------------------


def test_the_fake_refuses_templates_beyond_the_documented_limits(fake: FakeTwilioServer) -> None:
    contents = sdk(fake).content.v1.contents
    too_long_title = {"body": "Go?", "actions": [{"type": "QUICK_REPLY", "title": "x" * 21, "id": "a"}]}
    eleven_items = {
        "body": "Pick",
        "button": "Options",
        "items": [{"item": f"i{i}", "id": f"{i}", "description": "d"} for i in range(11)],
    }
    no_description = {"body": "Pick", "button": "Options", "items": [{"item": "A", "id": "a"}]}
    long_button = {"body": "Pick", "button": "b" * 21, "items": [{"item": "A", "id": "a", "description": "d"}]}
    for kind, spec in [
        ("twilio/quick-reply", too_long_title),
        ("twilio/list-picker", eleven_items),
        ("twilio/list-picker", no_description),
        ("twilio/list-picker", long_button),
        ("twilio/quick-reply", {"body": "Go?", "actions": []}),
    ]:
        with pytest.raises(TwilioRestException) as refused:
            contents.create(
                ContentList.ContentCreateRequest({"friendly_name": "t", "language": "en", "types": {kind: spec}})
            )
        assert refused.value.status == 400
    with pytest.raises(TwilioRestException):
        contents.create(ContentList.ContentCreateRequest({"friendly_name": "t", "language": "en", "types": {}}))
    assert fake.contents == {}


def test_the_fake_refuses_sends_twilio_would_refuse_or_fail(fake: FakeTwilioServer) -> None:
    one = sender(fake)
    quick4 = sdk(fake).content.v1.contents.create(
        ContentList.ContentCreateRequest(
            {
                "friendly_name": "four_buttons",
                "language": "en",
                "types": {
                    "twilio/quick-reply": {
                        "body": "{{1}}",
                        "actions": [{"type": "QUICK_REPLY", "title": f"B{i}", "id": f"b{i}"} for i in range(4)],
                    }
                },
            }
        )
    )
    picker = one.template_sid("list_picker", 1)
    cases = [
        ("HX" + "0" * 32, {"1": "x"}, ALICE, 21655),  # unknown template
        (quick4.sid, {"1": "Pick"}, ALICE, 63021),  # 4 buttons in a session message
        (picker, {"1": "Pick", "2": "Options", "3": "x" * 25, "4": "a", "5": "d"}, ALICE, 63021),  # item > 24
        (picker, {"1": "Pick", "2": "Options", "3": "A", "4": "a", "5": ""}, ALICE, 21656),  # an empty value
        (picker, {"1": "x" * 1601}, ALICE, 21658),  # a value over 1,600
        (picker, {"1": "Pick", "2": "Options", "3": "A", "4": "a", "5": "d"}, "+33612345001", 63021),  # SMS
    ]
    for sid, variables, to, code in cases:
        with pytest.raises(TwilioSendError) as refused:
            one.send_content(to, str(sid), variables)
        assert (refused.value.status, refused.value.twilio_code, refused.value.retryable) == (400, code, False)
    assert fake.messages == []


def test_the_fake_lists_pages_like_twilio(fake: FakeTwilioServer) -> None:
    contents = sdk(fake).content.v1.contents
    made = [
        contents.create(
            ContentList.ContentCreateRequest(template_definition("quick_reply", 1) | {"friendly_name": f"t{i}"})
        )
        for i in range(5)
    ]
    listed = contents.list(page_size=2)
    assert [c.sid for c in listed] == [c.sid for c in reversed(made)]  # newest first, across three pages
    page = contents.page(page_size=2)
    assert page.next_page_url and page.next_page_url.startswith(fake.url)
    assert contents(made[0].sid).fetch().friendly_name == "t0"
    assert contents(made[0].sid).delete() is True and made[0].sid not in fake.contents


def test_media_posted_to_the_fake_is_served_at_a_twilio_shaped_url(fake: FakeTwilioServer) -> None:
    auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 32
    upload = urllib.request.Request(
        f"{fake.url}/_fake/media", data=jpeg, headers={"Content-Type": "image/jpeg", "Authorization": auth}
    )
    with urllib.request.urlopen(upload) as resp:
        assert resp.status == 201
        url = json.load(resp)["url"]
    assert f"/2010-04-01/Accounts/{ACCOUNT}/Messages/" in url and "/Media/ME" in url
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth})) as resp:
        assert resp.read() == jpeg and resp.headers["Content-Type"] == "image/jpeg"
    anonymous = urllib.request.Request(f"{fake.url}/_fake/media", data=jpeg, headers={"Content-Type": "image/jpeg"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous)
    assert refused.value.code == 401


# -- luma whatsapp ---------------------------------------------------------------------------------


def test_luma_whatsapp_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    from local import whatsapp

    with pytest.raises(SystemExit):
        whatsapp.main(["--help"])
    shown = capsys.readouterr().out
    assert "`" not in shown and "--assistant NAME" in shown and "--media FILE" in shown and "--button ID" in shown


def test_luma_whatsapp_presses_what_the_latest_menu_offered(fake: FakeTwilioServer, invoker: RecordingInvoker) -> None:
    from bench.twilio import FakeTwilioReader, Webhook
    from local import whatsapp

    d = delivery(fake, invoker)
    d.send(WHATSAPP, menu(2))
    d.send(WHATSAPP, menu(5, "Which site?"))
    listed = FakeTwilioReader(fake.url, ACCOUNT, TOKEN).received(ALICE)
    assert whatsapp._pressed(listed, "project:p-4") == {"list_item": ("project:p-4", "Site 4")}
    assert whatsapp._pressed(listed[:1], "project:p-2") == {"button": ("project:p-2", "Site 2")}
    assert whatsapp._pressed(listed, "unknown") == {"button": ("unknown", "unknown")}
    shown = whatsapp.render(listed[-1])
    assert shown.splitlines()[0] == "Which site?" and "Site 4  --button project:p-4" in shown

    hook = Webhook("http://127.0.0.1:1", ACCOUNT, TOKEN, OURS)
    pressed = hook.form("+33612345001", "", list_item=("project:p-4", "Site 4"))
    assert (pressed["ListId"], pressed["ListTitle"], pressed["Body"], pressed["MessageType"]) == (
        "project:p-4",
        "Site 4",
        "Site 4",
        "interactive",
    )
    photo = hook.form("+33612345001", "scaffold", media=[("http://x/Media/ME1", "image/jpeg")])
    assert (photo["NumMedia"], photo["MediaUrl0"], photo["MediaContentType0"]) == (
        "1",
        "http://x/Media/ME1",
        "image/jpeg",
    )
    sms = whatsapp._as_sms(hook.form("+33612345001", "2"), "+33612345001")
    assert (sms["From"], sms["To"]) == ("+33612345001", "+14155238887") and "WaId" not in sms


def test_luma_whatsapp_finds_the_assistants_number_or_falls_back() -> None:
    from local import whatsapp

    info = {"twilioNumbers": {"clinic": "+14155238886", "sitework": "+14155238887"}}
    assert whatsapp._our_number(info, "sitework") == "+14155238887"
    assert whatsapp._our_number(info, None) == "+14155238886"
    assert whatsapp._our_number(info, "nope") is None
    assert whatsapp._our_number({}, "sitework") == "+14155238886"  # a stack that lists no numbers yet
