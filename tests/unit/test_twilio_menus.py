"""What menus and approvals become on WhatsApp and SMS: buttons, list pickers, numbered text, truncation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from luma import texts
from luma.channels.delivery import TwilioReply, render
from luma.channels.twilio import (
    Interactive,
    Option,
    _template_shape,
    template_definition,
    template_name,
    truncate,
)


def menu(n: int, *, text: str = "Which project?", label: str = "Site {i}", **extra: Any) -> dict[str, Any]:
    choices = [{"id": f"project:p-{i}", "label": label.format(i=i)} for i in range(1, n + 1)]
    return {"type": "message", "text": text, "choices": choices, "messageId": "m1", **extra}


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fill(template: Any, variables: dict[str, str]) -> Any:
    """A template's types with its variables filled (what Twilio renders)."""
    if isinstance(template, dict):
        return {k: fill(v, variables) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, variables) for v in template]
    return (
        re.sub(r"\{\{(\w+)\}\}", lambda m: variables[m.group(1)], template) if isinstance(template, str) else template
    )


# -- truncation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Riverside tower", 20, "Riverside tower"),
        ("Exactly twenty chars", 20, "Exactly twenty chars"),
        ("Riverside tower, block B", 20, "Riverside tower, bl…"),
        ("Riverside   tower\nblock B", 24, "Riverside tower block B"),
        ("Supercalifragilisticexpialidocious", 10, "Supercali…"),
        ("Word word word word", 10, "Word word…"),  # no space before the ellipsis
    ],
)
def test_labels_are_cut_to_the_limit_with_an_ellipsis(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert utf16(truncate(text, limit)) <= limit


def test_truncation_counts_emoji_twice_and_never_splits_a_character() -> None:
    cut = truncate("🏗️🏗️🏗️🏗️🏗️🏗️🏗️🏗️ crane", 9)
    assert cut == "🏗️🏗️…"  # each crane is 3 UTF-16 units with its variation selector: never half of one
    accented = truncate("Cafe\u0301 de la gare, terrasse", 5)  # an "e" and its combining acute stay together
    assert accented == "Caf…"


# -- WhatsApp menus -----------------------------------------------------------------------------


def test_up_to_three_choices_are_quick_reply_buttons() -> None:
    reply = render(menu(3), "whatsapp")
    assert reply is not None and reply.parts == [] and reply.interactive is not None
    message = reply.interactive
    assert message.kind == "quick_reply" and message.template == "luma_quick_reply_3"
    assert message.body == "Which project?"
    assert [(o.id, o.title) for o in message.options] == [(f"project:p-{i}", f"Site {i}") for i in (1, 2, 3)]
    assert reply.fallback == [
        "Which project?\n\n1. Site 1\n2. Site 2\n3. Site 3\n\nReply with the number of your choice."
    ]


@pytest.mark.parametrize("n", [4, 7, 10])
def test_four_to_ten_choices_are_a_list_picker(n: int) -> None:
    long = "Harbour bridge refurbishment phase {i}, north approach"
    reply = render(menu(n, label=long), "whatsapp")
    assert reply is not None and reply.interactive is not None
    message = reply.interactive
    assert message.kind == "list_picker" and message.template == f"luma_list_picker_{n}"
    assert message.button == "Options"
    assert len(message.options) == n and all(utf16(o.title) <= 24 for o in message.options)
    assert all(o.title.endswith("…") for o in message.options)
    # The description carries the rest of a long label (at most 72).
    assert message.options[0].description == "Harbour bridge refurbishment phase 1, north approach"
    assert f"{n}. Harbour bridge refurbishment phase {n}, north approach" in reply.fallback[-1]


def test_titles_that_read_the_same_once_cut_are_numbered() -> None:
    frame = menu(2, label="Riverside tower, block {i}")  # both cut to "Riverside tower, bl…"
    reply = render(frame, "whatsapp")
    assert reply is not None and reply.interactive is not None
    titles = [o.title for o in reply.interactive.options]
    assert titles == ["1. Riverside tower,…", "2. Riverside tower,…"]
    assert all(utf16(t) <= 20 for t in titles)


def test_more_than_ten_choices_are_numbered_text_so_every_option_stays_reachable() -> None:
    reply = render(menu(12), "whatsapp")
    assert reply is not None and reply.interactive is None
    (part,) = reply.parts
    assert part.startswith("Which project?\n\n1. Site 1\n") and "\n12. Site 12\n" in part
    assert part.endswith("Reply with the number of your choice.")


@pytest.mark.parametrize(
    "choices",
    [
        [{"id": "a", "label": "A"}, {"id": "a", "label": "B"}],  # the same id twice
        [{"id": "x" * 129, "label": "A"}, {"id": "b", "label": "B"}],  # an id the webhook cannot hand back
    ],
)
def test_ids_that_could_not_come_back_from_a_button_give_numbered_text(choices: list[dict[str, str]]) -> None:
    reply = render({"type": "message", "text": "Pick one", "choices": choices}, "whatsapp")
    assert reply is not None and reply.interactive is None
    assert reply.parts == ["Pick one\n\n1. A\n2. B\n\nReply with the number of your choice."]


def test_a_long_body_goes_first_as_text_and_its_last_part_carries_the_buttons() -> None:
    text = " ".join(f"Sentence number {i} of a long answer." for i in range(120))  # ~4,200 characters
    reply = render(menu(2, text=text), "whatsapp")
    assert reply is not None and reply.interactive is not None
    assert reply.parts and all(len(p) <= 1600 for p in reply.parts)
    assert 0 < utf16(reply.interactive.body) <= 1024
    assert " ".join([*reply.parts, reply.interactive.body]) == text
    # The text form of the interactive message repeats its body, never the parts before it.
    assert reply.fallback[0].startswith(reply.interactive.body) and "\n1. Site 1\n" in reply.fallback[-1]


def test_a_choice_without_a_label_shows_its_id_and_malformed_choices_are_skipped() -> None:
    frame = {"type": "message", "text": "Pick", "choices": [{"id": "menu:tasks"}, {"label": "no id"}, "junk"]}
    reply = render(frame, "whatsapp")
    assert reply is not None and reply.interactive is not None
    assert [(o.id, o.title) for o in reply.interactive.options] == [("menu:tasks", "menu:tasks")]


# -- SMS -----------------------------------------------------------------------------------------


def test_sms_gets_numbered_options_and_the_hint_in_the_frames_language() -> None:
    reply = render(menu(2, language="fr"), "sms")
    hint = texts.text("choices.reply_with_number", "fr")
    assert reply == TwilioReply([f"Which project?\n\n1. Site 1\n2. Site 2\n\n{hint}"])


def test_a_frame_without_a_language_is_answered_in_english() -> None:
    reply = render(menu(1), "sms")
    assert reply is not None and reply.parts[0].endswith(texts.text("choices.reply_with_number", "en"))


def test_a_message_without_choices_is_its_text() -> None:
    assert render({"type": "message", "text": "Done."}, "whatsapp") == TwilioReply(["Done."])
    assert render({"type": "token", "delta": "x"}, "whatsapp") is None


# -- approvals -----------------------------------------------------------------------------------


def test_an_approval_on_whatsapp_is_approve_and_decline_buttons() -> None:
    frame = {"type": "approval_request", "prompt": "Move it to 3 pm?", "approvalId": "01J9ABC", "language": "es"}
    reply = render(frame, "whatsapp")
    assert reply is not None and reply.interactive is not None
    message = reply.interactive
    assert message.kind == "quick_reply" and message.body == "Move it to 3 pm?"
    assert [o.id for o in message.options] == ["approval:01J9ABC:yes", "approval:01J9ABC:no"]
    expected = [truncate(texts.text(k, "es"), 20) for k in ("approval.approve", "approval.decline")]
    assert [o.title for o in message.options] == expected
    assert reply.fallback == [f"Move it to 3 pm?\n\n{texts.text('approval.sms_hint', 'es')}"]


def test_an_approval_on_sms_is_the_prompt_and_the_yes_no_hint() -> None:
    frame = {"type": "approval_request", "prompt": "Move it to 3 pm?", "approvalId": "01J9ABC"}
    assert render(frame, "sms") == TwilioReply(["Move it to 3 pm?\n\nReply YES to approve or NO to decline."])


def test_an_approval_with_an_odd_id_is_text_not_buttons() -> None:
    frame = {"type": "approval_request", "prompt": "Go?", "approvalId": "a:b"}
    reply = render(frame, "whatsapp")
    assert reply is not None and reply.interactive is None and reply.parts[0].startswith("Go?\n\n")


# -- generic templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n"), [("quick_reply", 1), ("quick_reply", 3), ("list_picker", 1), ("list_picker", 10)]
)
def test_the_variables_fill_the_generic_template_of_the_same_shape(kind: Any, n: int) -> None:
    options = tuple(Option(f"id-{i}", f"Title {i}", f"Description {i}") for i in range(n))
    message = Interactive(kind, "Body text", options, button="Options" if kind == "list_picker" else "")
    definition = template_definition(kind, n)
    assert definition["friendly_name"] == template_name(kind, n) == message.template
    assert set(message.variables()) == set(definition["variables"])  # every variable has a sample
    filled = fill(definition["types"], message.variables())
    if kind == "quick_reply":
        assert filled == {
            "twilio/quick-reply": {
                "body": "Body text",
                "actions": [{"type": "QUICK_REPLY", "title": o.title, "id": o.id} for o in options],
            }
        }
    else:
        items = [{"item": o.title, "id": o.id, "description": o.description} for o in options]
        assert filled == {"twilio/list-picker": {"body": "Body text", "button": "Options", "items": items}}
    assert _template_shape(definition["friendly_name"], definition["types"]) == (kind, n)


def test_a_template_is_recognised_only_by_its_name_and_shape() -> None:
    quick = template_definition("quick_reply", 2)["types"]
    assert _template_shape("luma_quick_reply_3", quick) is None  # the name says 3 buttons
    assert _template_shape("someone_elses", quick) is None
    assert _template_shape("luma_list_picker_2", quick) is None


@pytest.mark.parametrize(("kind", "n"), [("quick_reply", 0), ("quick_reply", 4), ("list_picker", 11)])
def test_shapes_beyond_whatsapps_limits_are_refused(kind: Any, n: int) -> None:
    with pytest.raises(ValueError):
        template_definition(kind, n)
    with pytest.raises(ValueError):
        Interactive(kind, "Body", tuple(Option(str(i), str(i)) for i in range(n)), button="Options")
