"""The Twilio channel's edges: signatures (published vectors), URL, form, inbound model, splitting."""

from __future__ import annotations

import base64
import copy
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from luma.channels.twilio import (
    InboundMessage,
    TwilioSignatureError,
    header,
    parse_form,
    public_url,
    require_signature,
    sign,
    split_message,
    validate_signature,
    verify_webhook,
)
from luma.config import Settings
from luma.errors import ErrorCode, LumaError
from pydantic import SecretStr

EVENTS = Path(__file__).parent.parent / "events"
VECTORS = json.loads((EVENTS / "twilio_signature_vectors.json").read_text())["vectors"]
WHATSAPP_EVENT = json.loads((EVENTS / "twilio_whatsapp_inbound.json").read_text())
WHATSAPP_TOKEN = "12345"
WHATSAPP_SIGNATURE = "ajE+w1nnBN3ZvHny9jkoTTel6rw="


def _event(body: str = "", *, b64: bool = False, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(WHATSAPP_EVENT)
    event["body"] = base64.b64encode(body.encode()).decode() if b64 else body
    event["isBase64Encoded"] = b64
    event.update(changes)
    return event


# Signatures --------------------------------------------------------------------------------------


def test_all_vectors_are_present() -> None:
    names = {v["name"] for v in VECTORS}
    assert len(VECTORS) == 8
    assert {"json_body_with_bodySHA256", "tampered_param_rejected", "https_default_port_added"} <= names


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_signature_vectors(vector: dict[str, Any]) -> None:
    params = vector.get("body", vector["params"])
    assert validate_signature(vector["url"], params, vector["signature"], vector["token"]) is vector["expect_valid"]
    assert (
        validate_signature(vector["url"], params, vector["signature"], SecretStr(vector["token"]))
        is vector["expect_valid"]
    )
    assert validate_signature(vector["url"], params, vector["signature"], "54321") is False


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if v["expect_valid"] and "body" not in v], ids=lambda v: v["name"]
)
def test_sign_reproduces_the_signature_over_the_signed_url(vector: dict[str, Any]) -> None:
    assert sign(vector["signed_url"], vector["params"], vector["token"]) == vector["signature"]


def test_json_body_hash_must_match() -> None:
    vector = next(v for v in VECTORS if v["name"] == "json_body_with_bodySHA256")
    assert not validate_signature(vector["url"], vector["body"] + " ", vector["signature"], vector["token"])


def test_missing_signature_or_token_is_invalid() -> None:
    vector = VECTORS[0]
    assert not validate_signature(vector["url"], vector["params"], None, vector["token"])
    assert not validate_signature(vector["url"], vector["params"], "", vector["token"])
    assert not validate_signature(vector["url"], vector["params"], vector["signature"], "")
    with pytest.raises(TwilioSignatureError) as exc:
        require_signature(vector["url"], vector["params"], None, vector["token"])
    assert exc.value.code is ErrorCode.SIGNATURE_INVALID and exc.value.http_status == 403
    assert "X-Twilio-Signature" in exc.value.message
    with pytest.raises(TwilioSignatureError):
        require_signature(vector["url"], vector["params"], "bogus=", vector["token"])
    require_signature(vector["url"], vector["params"], vector["signature"], vector["token"])


def test_whatsapp_event_end_to_end() -> None:
    url = public_url(WHATSAPP_EVENT)
    assert url == "https://example.com/twilio/whatsapp"
    form = parse_form(WHATSAPP_EVENT)
    signature = header(WHATSAPP_EVENT, "X-Twilio-Signature")
    assert signature == WHATSAPP_SIGNATURE
    require_signature(url, form, signature, WHATSAPP_TOKEN)
    assert sign(url, form, WHATSAPP_TOKEN) == WHATSAPP_SIGNATURE
    tampered = {**form, "Body": ["Please transfer everything"]}
    assert not validate_signature(url, tampered, signature, WHATSAPP_TOKEN)
    extra = {**form, "NewTwilioField": ["x"]}  # every received param is signed, known or not
    assert not validate_signature(url, extra, signature, WHATSAPP_TOKEN)


def test_verify_webhook() -> None:
    form = verify_webhook(WHATSAPP_EVENT, SecretStr(WHATSAPP_TOKEN))
    assert form["MessageSid"] == ["MM00000000000000000000000000000001"]
    with pytest.raises(TwilioSignatureError):
        verify_webhook(WHATSAPP_EVENT, "other-token")
    with pytest.raises(TwilioSignatureError):  # the URL Twilio signed is not the override's
        verify_webhook(WHATSAPP_EVENT, WHATSAPP_TOKEN, base_url="https://elsewhere.example.org")
    assert verify_webhook(WHATSAPP_EVENT, WHATSAPP_TOKEN, base_url="https://example.com") == form
    unsigned = copy.deepcopy(WHATSAPP_EVENT)
    del unsigned["headers"]["x-twilio-signature"]
    unsigned["body"] = "%%%"  # not even parsed
    with pytest.raises(TwilioSignatureError, match="no X-Twilio-Signature"):
        verify_webhook(unsigned, WHATSAPP_TOKEN)
    with pytest.raises(LumaError) as exc:
        verify_webhook(WHATSAPP_EVENT, WHATSAPP_TOKEN, max_bytes=100)
    assert exc.value.code is ErrorCode.FRAME_TOO_LARGE


def test_repeated_keys_are_signed_as_lists() -> None:
    vector = next(v for v in VECTORS if v["name"] == "duplicate_keys_multivalue")
    form = parse_form(_event("Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"))
    assert form["Digits"] == ["5678", "1234", "1234"]
    assert validate_signature(vector["url"], form, vector["signature"], vector["token"])


# public_url ---------------------------------------------------------------------------------------


def _url_event(**ctx: Any) -> dict[str, Any]:
    return {
        "rawPath": ctx.pop("rawPath", "/twilio/whatsapp"),
        "rawQueryString": ctx.pop("rawQueryString", ""),
        "headers": ctx.pop("headers", {"host": "abc.execute-api.us-east-1.amazonaws.com"}),
        "requestContext": {"domainName": "abc.execute-api.us-east-1.amazonaws.com", "stage": "$default", **ctx},
    }


def test_public_url_default_stage() -> None:
    assert public_url(_url_event()) == "https://abc.execute-api.us-east-1.amazonaws.com/twilio/whatsapp"


def test_public_url_named_stage_is_not_doubled() -> None:
    host = "https://abc.execute-api.us-east-1.amazonaws.com"
    # API Gateway puts a named stage at the start of rawPath ...
    assert public_url(_url_event(stage="prod", rawPath="/prod/twilio/whatsapp")) == f"{host}/prod/twilio/whatsapp"
    # ... and an emulator that leaves it out gets it added.
    assert public_url(_url_event(stage="prod")) == f"{host}/prod/twilio/whatsapp"


def test_public_url_query_string_and_domain_fallback() -> None:
    event = _url_event(rawQueryString="tenant=acme&x=1", headers={})
    assert public_url(event) == "https://abc.execute-api.us-east-1.amazonaws.com/twilio/whatsapp?tenant=acme&x=1"


def test_public_url_forwarded_proto_and_port() -> None:
    event = _url_event(headers={"Host": "localhost:8080", "X-Forwarded-Proto": "http"})
    assert public_url(event) == "http://localhost:8080/twilio/whatsapp"


def test_public_url_override() -> None:
    event = _url_event(stage="prod", rawPath="/prod/twilio/whatsapp", rawQueryString="a=1")
    assert public_url(event, "https://bot.example.org/") == "https://bot.example.org/twilio/whatsapp?a=1"
    assert public_url(event, "https://bot.example.org/luma") == "https://bot.example.org/luma/twilio/whatsapp?a=1"
    mapped = _url_event(rawPath="/luma/twilio/whatsapp")  # an API mapping key already in rawPath
    assert public_url(mapped, "https://bot.example.org/luma") == "https://bot.example.org/luma/twilio/whatsapp"


def test_public_url_needs_a_host() -> None:
    event = _url_event(headers={})
    event["requestContext"].pop("domainName")
    with pytest.raises(LumaError) as exc:
        public_url(event)
    assert exc.value.code is ErrorCode.BAD_REQUEST


def test_settings_twilio_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMA_TWILIO_AUTH_TOKEN", "s3cr3t-twilio-token")
    monkeypatch.setenv("LUMA_TWILIO_PUBLIC_BASE_URL", "https://bot.example.org")
    settings = Settings()
    assert (
        settings.twilio_auth_token is not None
        and settings.twilio_auth_token.get_secret_value() == "s3cr3t-twilio-token"
    )
    assert "s3cr3t-twilio-token" not in repr(settings)
    assert settings.twilio_public_base_url == "https://bot.example.org"
    assert settings.twilio_max_body_bytes == 64 * 1024


# parse_form ---------------------------------------------------------------------------------------


def test_parse_form_whatsapp_example() -> None:
    form = parse_form(WHATSAPP_EVENT)
    assert form["From"] == ["whatsapp:+14155550123"]
    assert form["Body"] == ["Hi, I lost my card - can you block it?"]
    assert form["NumMedia"] == ["1"]
    assert len(form) == 17


def test_parse_form_plain_body_plus_and_blank_values() -> None:
    form = parse_form(_event("Body=hello+world%21&Empty=&From=%2B1415"))
    assert form == {"Body": ["hello world!"], "Empty": [""], "From": ["+1415"]}
    assert parse_form(_event("")) == {}


@pytest.mark.parametrize(
    "body",
    ["Body=%zz", "Body=100%", "Body=%4", "Body=%ff%fe", "Body=hi&junk", "Body=caf\u00e9"],
    ids=["bad-hex", "trailing-percent", "short-escape", "bad-utf8", "field-without-equals", "raw-non-ascii"],
)
def test_parse_form_rejects_broken_encoding(body: str) -> None:
    with pytest.raises(LumaError) as exc:
        parse_form(_event(body))
    assert exc.value.code is ErrorCode.BAD_REQUEST
    assert exc.value.http_status == 400


def test_parse_form_rejects_bad_base64_and_content_type() -> None:
    with pytest.raises(LumaError, match="base64"):
        parse_form(_event("not base64!", b64=False) | {"isBase64Encoded": True})
    event = _event("{}")
    event["headers"]["content-type"] = "application/json"
    with pytest.raises(LumaError, match="application/x-www-form-urlencoded"):
        parse_form(event)
    event["headers"]["content-type"] = "application/x-www-form-urlencoded; charset=utf-8"
    assert parse_form(event | {"body": "a=1"}) == {"a": ["1"]}


def test_parse_form_size_limit() -> None:
    body = "Body=" + "a" * 995  # 1000 bytes
    assert parse_form(_event(body, b64=True), max_bytes=1000)["Body"] == ["a" * 995]
    for b64 in (False, True):
        with pytest.raises(LumaError) as exc:
            parse_form(_event(body + "a", b64=b64), max_bytes=1000)
        assert exc.value.code is ErrorCode.FRAME_TOO_LARGE
        assert exc.value.http_status == 413
        assert "1000 bytes" in exc.value.message
    with pytest.raises(LumaError) as exc:  # huge base64 is refused before decoding
        parse_form(_event("x" * 10_000) | {"isBase64Encoded": True}, max_bytes=1000)
    assert exc.value.code is ErrorCode.FRAME_TOO_LARGE


# InboundMessage -----------------------------------------------------------------------------------


def test_inbound_whatsapp_with_media_and_unknown_fields() -> None:
    message = InboundMessage.from_form(parse_form(WHATSAPP_EVENT))
    assert message.channel == "whatsapp"
    assert message.sender == "+14155550123"
    assert message.message_sid == "MM00000000000000000000000000000001"
    assert message.account_sid == "AC00000000000000000000000000000000"
    assert message.to == "whatsapp:+14155238886"
    assert message.body == "Hi, I lost my card - can you block it?"
    assert message.num_media == 1
    assert message.media[0].content_type == "image/jpeg"
    assert message.media[0].url.endswith("/Media/ME00000000000000000000000000000001")
    assert message.profile_name == "Test User" and message.wa_id == "14155550123"
    assert not hasattr(message, "SmsStatus") and "ApiVersion" not in message.model_dump(by_alias=True)


def _sms_form(**extra: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": "AC" + "b" * 32,
        "From": "+14155550100",
        "To": "+14155550199",
        "Body": "hello",
        **extra,
    }


def test_inbound_sms_and_several_media() -> None:
    form = _sms_form(
        NumMedia="2",
        MediaUrl0="https://api.twilio.com/m0",
        MediaContentType0="image/png",
        MediaUrl1="https://api.twilio.com/m1",
        MediaContentType1="audio/ogg",
        ButtonPayload="yes",
        FlowData='{"a": 1}',
        Latitude="52.5",
    )
    message = InboundMessage.from_form(form)
    assert message.channel == "sms" and message.sender == "+14155550100"
    assert [m.content_type for m in message.media] == ["image/png", "audio/ogg"]
    assert message.button_payload == "yes" and message.latitude == 52.5
    assert InboundMessage.from_form(_sms_form(Body="")).body == ""
    assert InboundMessage.from_form({k: [v] for k, v in _sms_form().items()}).body == "hello"


def test_inbound_validation_errors_name_fields_not_values() -> None:
    with pytest.raises(LumaError) as exc:
        InboundMessage.from_form(_sms_form(NumMedia="1"))  # MediaUrl0 missing
    assert exc.value.code is ErrorCode.VALIDATION_FAILED
    assert any(f.startswith("media") for f in exc.value.details["fields"])
    with pytest.raises(LumaError) as exc:
        InboundMessage.from_form({"Body": "secret text"})
    assert {"MessageSid", "AccountSid", "From", "To"} <= set(exc.value.details["fields"])
    assert "secret" not in str(exc.value.to_dict())
    with pytest.raises(LumaError) as exc:
        InboundMessage.from_form(_sms_form(Body="x" * 1601))
    assert exc.value.code is ErrorCode.TEXT_TOO_LONG
    assert len(InboundMessage.from_form(_sms_form(Body="x" * 1600)).body) == 1600


# split_message ------------------------------------------------------------------------------------


def _words(parts: list[str]) -> list[str]:
    return " ".join(parts).split()


def test_split_short_and_blank() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("  \n ") == []
    assert split_message("x" * 1600) == ["x" * 1600]


def test_split_1601_at_a_word() -> None:
    text = "a" * 800 + " " + "b" * 800  # 1601 characters
    assert split_message(text) == ["a" * 800, "b" * 800]


def test_split_exact_limit_followed_by_space() -> None:
    text = ("word " * 320).strip() + " tail"  # 1599 + 5
    parts = split_message(text)
    assert all(len(p) <= 1600 for p in parts)
    assert _words(parts) == text.split()
    assert split_message("a" * 1600 + " b") == ["a" * 1600, "b"]


def test_split_prefers_paragraphs_then_sentences() -> None:
    para1, para2 = "First sentence. " * 60, "Second paragraph here. " * 50
    parts = split_message(para1.strip() + "\n\n" + para2.strip())
    assert parts == [para1.strip(), para2.strip()]
    sentences = "This is one sentence. " * 100  # 2200 characters, no newlines
    parts = split_message(sentences)
    assert all(p.endswith(".") and len(p) <= 1600 for p in parts)
    assert _words(parts) == sentences.split()


def test_split_long_word_is_cut_only_when_needed() -> None:
    word = "x" * 4000
    assert split_message(word) == ["x" * 1600, "x" * 1600, "x" * 800]
    parts = split_message("hi " + "x" * 250 + " bye", limit=100)
    assert parts == ["hi", "x" * 100, "x" * 100, "x" * 50 + " bye"]


def test_split_never_breaks_words_in_prose() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    for limit in (1600, 160, 37):
        parts = split_message(text, limit=limit)
        assert all(len(p) <= limit for p in parts)
        assert _words(parts) == text.split()


def test_split_unicode_counts_utf16_units_and_keeps_graphemes() -> None:
    emoji = "😀" * 900  # 1800 UTF-16 units
    parts = split_message(emoji)
    assert parts == ["😀" * 800, "😀" * 100]
    accented = unicodedata.normalize("NFD", "é") * 1000  # e + combining accent, 2000 code points
    parts = split_message(accented, limit=999)
    assert all(len(p) <= 999 and not unicodedata.combining(p[0]) for p in parts)
    assert "".join(parts) == accented
    family = "👨\u200d👩\u200d👧"
    parts = split_message(family * 10, limit=16)
    assert "".join(parts) == family * 10
    assert all(p.startswith("👨") for p in parts)
    cjk = "这是一个句子。" * 300
    assert all(p.endswith("。") for p in split_message(cjk))


def test_split_rejects_tiny_limit() -> None:
    with pytest.raises(ValueError):
        split_message("abc", limit=1)
