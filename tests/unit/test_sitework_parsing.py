"""The field-work pack's deterministic parsing, state and session policy (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from luma.assistants.sitework import parsing
from luma.assistants.sitework.pack import SiteworkPack
from luma.assistants.sitework.state import STEP_TTL, Option, SiteworkState, load
from luma.domain.models import Message, Role, Session


@pytest.mark.parametrize(
    ("text", "percent"),
    [
        ("set the scaffolding to 60%", 60),
        ("progress on the slab is 50 percent", 50),
        ("l'étanchéité est à 45 %", 45),
        ("avance al 70 por ciento", 70),
        ("Trockenbau 80 Prozent", 80),
        ("الجبس منجز بنسبة ٨٠٪", 80),
        ("the railings are finished", 100),
        ("j'ai terminé", 100),
        ("I'm halfway through", 50),
        ("set it to 150%", None),
        ("level 3 railings", None),
    ],
)
def test_percentages_in_nine_languages(text: str, percent: int | None) -> None:
    assert parsing.parse_percent(text) == percent


def test_a_bare_number_is_a_percentage_only_when_one_is_awaited() -> None:
    assert parsing.parse_percent("75") is None
    assert parsing.parse_percent("75", bare=True) == 75
    assert parsing.parse_percent("between 20 and 30", bare=True) is None  # two numbers: unclear


@pytest.mark.parametrize("text", ["yes", "Oui", "sí", "ja", "tak", "نعم", "go ahead", "da", "sim, pode ser"])
def test_yes(text: str) -> None:
    assert parsing.is_yes(text) and not parsing.is_no(text)


@pytest.mark.parametrize("text", ["no", "non", "nein", "nie", "لا", "don't", "não"])
def test_no(text: str) -> None:
    assert parsing.is_no(text) and not parsing.is_yes(text)


def test_a_long_sentence_is_neither_yes_nor_cancel() -> None:
    text = "yes the crane operator said we should cancel the lift because of the wind"
    assert not parsing.is_yes(text) and not parsing.is_cancel(text)
    assert parsing.is_cancel("annuler") and parsing.is_cancel("stop please") and parsing.is_cancel("إلغاء")


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("high", "high"),
        ("Élevée", "high"),
        ("critique", "critical"),
        ("it's minor", "low"),
        ("średnia", "medium"),
        ("grave", "high"),
        ("حرجة", "critical"),
        ("I don't know", None),
    ],
)
def test_severity_words(text: str, level: str | None) -> None:
    assert parsing.parse_severity(text) == level


def test_skip_words() -> None:
    assert parsing.is_skip("skip") and parsing.is_skip("pas de photo") and parsing.is_skip("pomiń")
    assert not parsing.is_skip("the skip is full of rubble near the gate, it's overflowing onto the road")


def test_options_by_number_or_label() -> None:
    options = [
        Option(id="project:p-1", label="Riverside Apartments"),
        Option(id="project:p-2", label="Gare Nord Offices"),
    ]
    assert parsing.pick_option("2", options) == options[1]
    assert parsing.pick_option("riverside", options) == options[0]
    assert parsing.pick_option("gare nord offices", options) == options[1]
    assert parsing.pick_option("7", options) is None
    assert parsing.pick_option("the other one", options) is None


def test_best_match_needs_a_unique_winner() -> None:
    names = [("a", "Scaffolding east façade"), ("b", "Basement waterproofing"), ("c", "Roof insulation")]
    assert parsing.best_match("the scaffolding is at 60%", names) == "a"
    assert parsing.best_match("set the facade scaffolding", names) == "a"  # accents folded
    assert parsing.best_match("the old one", names) is None  # no word of four letters or more in common
    assert parsing.best_match("waterproofing and insulation", names) is None  # a tie


def test_state_keeps_other_keys_and_expires_steps() -> None:
    state = load({"summary": "core's", "current_project": "p-1"})
    state.wait_for("incident_severity", options=[Option(id="severity:low", label="Low")])
    dumped = state.dump()
    assert dumped["summary"] == "core's" and dumped["awaiting"] == "incident_severity"
    again = load(dumped)
    assert again.pending() == "incident_severity"
    assert again.pending(datetime.now(UTC) + STEP_TTL + timedelta(seconds=1)) is None
    again.clear_step()
    assert again.dump() == {"summary": "core's", "current_project": "p-1"}
    assert load({"awaiting": "nonsense", "current_project": "p-2"}).dump() == {"current_project": "p-2"}
    SiteworkPack().apply_state(Session(tenant_id="t", session_id="s", user_id="u", assistant="sitework"), dumped)


def test_session_policy_restarts_after_seven_hours_or_outside_working_hours() -> None:
    policy = SiteworkPack.session_policy
    paris = ZoneInfo("Europe/Paris")
    at = datetime(2026, 12, 2, 10, 0, tzinfo=paris)
    assert not policy.expired(at, at + timedelta(hours=6, minutes=59), default_inactivity_s=60)
    assert policy.expired(at, at + timedelta(hours=7, minutes=1), default_inactivity_s=60)
    late = datetime(2026, 12, 2, 20, 30, tzinfo=paris)
    assert policy.expired(late, late + timedelta(minutes=10), default_inactivity_s=25200)
    early = datetime(2026, 12, 2, 5, 45, tzinfo=paris)
    assert policy.expired(early, early + timedelta(minutes=20), default_inactivity_s=25200)


def _message(text: str, **meta: object) -> Message:
    return Message(tenant_id="t", session_id="s", message_id="m", role=Role.USER, text=text, meta=dict(meta))


def test_pre_route_claims_menu_choices_and_pending_steps_only() -> None:
    pack = SiteworkPack()
    idle = Session(tenant_id="t", session_id="s", user_id="u", assistant="sitework")
    decision = pack.pre_route(idle, _message("My projects", choice="menu:projects"))
    assert decision is not None and (decision.intent, decision.reason) == ("list_projects", "menu_choice")
    assert pack.pre_route(idle, _message("yes")) is None
    assert pack.pre_route(idle, _message("cancel")) is None  # nothing pending: classified as usual
    state = SiteworkState(incident={"project_id": "p-1"})
    state.wait_for("incident_description")
    waiting = idle.model_copy(update={"state": state.dump()})
    assert pack.pre_route(waiting, _message("what are my tasks")).intent == "incident_step"  # type: ignore[union-attr]
    assert pack.pre_route(waiting, _message("cancel")).intent == "cancel_flow"  # type: ignore[union-attr]
    stale = dict(waiting.state, awaiting_at=(datetime.now(UTC) - STEP_TTL - timedelta(minutes=1)).isoformat())
    assert pack.pre_route(waiting.model_copy(update={"state": stale}), _message("a leak")) is None
    state = SiteworkState()
    state.wait_for("progress_confirm")
    confirming = idle.model_copy(update={"state": state.dump()})
    assert pack.pre_route(confirming, _message("oui")).intent == "progress_step"  # type: ignore[union-attr]
    assert pack.pre_route(confirming, _message("show me the drawings")) is None


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("mes chantiers", "fr"),
        ("mis tareas", "es"),
        ("as minhas tarefas", "pt"),
        ("Baustelle wechseln", "de"),
        ("cantiere", "it"),
        ("șantierele mele", "ro"),
        ("moje zadania", "pl"),
        ("my tasks", "en"),
    ],
)
def test_the_domain_words_tell_the_language_of_short_messages(text: str, lang: str) -> None:
    from luma.language import detect_language, with_domain_words

    assert detect_language(text, lexicon=with_domain_words(dict(SiteworkPack.lexicon))) == lang
