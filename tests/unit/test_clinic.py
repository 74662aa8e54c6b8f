"""The clinic assistant's fast paths and flows, through FastPathService with in-memory adapters."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from luma.assistants.clinic.fastpaths import match_appointments
from luma.assistants.clinic.info import timezone
from luma.assistants.clinic.parsing import find_date, is_no, is_yes, normalize_name, parse_identity
from luma.assistants.clinic.repo import Appointment, Patient
from luma.config import Settings
from luma.domain.models import (
    DeliveryTarget,
    Message,
    Principal,
    Role,
    Route,
    RoutingDecision,
    Session,
    SessionStatus,
    Turn,
)
from luma.ids import new_id
from luma.pipeline.fast_path import FastPathService

from tests.fakes import (
    MemoryAttempts,
    MemoryClinic,
    MemoryConversations,
    MemoryEscalations,
    RecordingAgent,
    RecordingDelivery,
    clinic_pack,
)

TZ = timezone()
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)  # a Monday


def _appt(aid: str, patient: str, doctor: str, days: int, hour: int, status: str = "scheduled") -> Appointment:
    start = (NOW + timedelta(days=days)).replace(hour=hour, minute=30)
    return Appointment(
        appointment_id=aid,
        tenant_id="demo",
        patient_id=patient,
        doctor_id=doctor,
        start=start,
        minutes=20,
        reason="check-up",
        status=status,
    )


class World:
    def __init__(self) -> None:
        self.clinic = MemoryClinic()
        self.clinic.patients[("demo", "alice martin", date(1987, 3, 14))] = Patient(
            patient_id="p-alice", tenant_id="demo", name="Alice Martin", dob=date(1987, 3, 14), user_id="u-alice"
        )
        self.clinic.patients[("demo", "bruno silva", date(1972, 11, 2))] = Patient(
            patient_id="p-bruno", tenant_id="demo", name="Bruno Silva", dob=date(1972, 11, 2), user_id="u-bruno"
        )
        self.clinic.appointments += [
            _appt("a1", "p-alice", "d-patel", 1, 9),  # Tuesday, scheduled
            _appt("a2", "p-alice", "d-kowalski", 3, 15, "confirmed"),  # Thursday, confirmed
            _appt("a0", "p-alice", "d-patel", -5, 9, "completed"),
        ]
        self.repo = MemoryConversations()
        self.delivery = RecordingDelivery()
        self.agent = RecordingAgent()
        self.attempts = MemoryAttempts(3)
        self.escalations = MemoryEscalations()
        self.pack = clinic_pack(
            Settings(identity_max_attempts=3), repo=self.clinic, attempts=self.attempts, escalations=self.escalations
        )
        self.pack.handlers._now = NOW
        self.service = FastPathService(
            packs=lambda _name: self.pack, conversations=self.repo, delivery=self.delivery, agent=self.agent
        )
        self.session = Session(tenant_id="demo", session_id=new_id(), user_id="u-alice", assistant="clinic")
        self.repo.sessions[("demo", self.session.session_id)] = self.session.model_copy(deep=True)

    def say(self, text: str, intent: str, user: str = "u-alice") -> dict[str, Any] | None:
        session = self.repo.get_session("demo", self.session.session_id)
        assert session is not None
        msg = Message(tenant_id="demo", session_id=session.session_id, message_id=new_id(), role=Role.USER, text=text)
        flow = self.pack.pre_route(session, msg)
        route = Route.FLOW if flow else Route.FAST_PATH
        intent = flow.intent if flow else intent
        decision = RoutingDecision(
            tenant_id="demo",
            session_id=session.session_id,
            message_id=msg.message_id,
            intent=intent,
            confidence=0.97,
            margin=0.4,
            route=route,
            reason="t",
            latency_ms=1,
        )
        turn = Turn(
            principal=Principal(tenant_id="demo", user_id=user),
            session=session,
            message=msg,
            decision=decision,
            delivery=DeliveryTarget(connection_id="c1"),
            client_message_id="cm",
        )
        before = len(self.delivery.frames)
        self.service.handle(turn)
        new = self.delivery.frames[before:]
        return new[-1][1] if new else None

    @property
    def state(self) -> dict[str, Any]:
        s = self.repo.get_session("demo", self.session.session_id)
        assert s is not None
        return s.state


@pytest.fixture
def world() -> World:
    return World()


def test_hours_reply_is_persisted_then_delivered(world: World) -> None:
    frame = world.say("when are you open?", "clinic_hours")
    assert frame and frame["type"] == "message" and "Monday: 08:00–19:00" in frame["text"]
    assert "Sunday: closed" in frame["text"] and frame["route"] == "fast_path" and frame["replyTo"] == "cm"
    stored = world.repo.list_messages("demo", world.session.session_id).items
    assert stored[-1].message_id == frame["messageId"] and stored[-1].role is Role.ASSISTANT


def test_locations_and_greeting(world: World) -> None:
    assert "12 Quai des Tanneurs" in world.say("where are you", "clinic_location")["text"]  # type: ignore[index]
    assert "Riverside Family Clinic" in world.say("hi", "greeting")["text"]  # type: ignore[index]


def test_appointments_need_identity_then_are_listed(world: World) -> None:
    ask = world.say("show my appointments", "list_appointments")
    assert ask and "date of birth" in ask["text"] and "Dr." not in ask["text"]
    assert world.state["awaiting"] == "identity"
    listed = world.say("Alice Martin, 14/03/1987", "ignored")
    assert listed and listed["intent"] == "list_appointments"
    assert "you're verified" in listed["text"]
    assert "Dr. Anika Patel" in listed["text"] and "Dr. Ewa Kowalski" in listed["text"]
    assert "not yet confirmed" in listed["text"]
    assert world.state["verified_patient_id"] == "p-alice" and "awaiting" not in world.state
    again = world.say("my appointments?", "list_appointments")
    assert again and again["text"].startswith("Your upcoming appointments")


def test_three_failed_identity_attempts_lock_the_user_out_of_identity_checks(world: World) -> None:
    world.say("list my appointments", "list_appointments")
    first = world.say("Alice Martin 01/01/1990", "x")
    assert first and "2 attempt(s) left" in first["text"]
    world.say("Alice Martim 14/03/1987", "x")
    locked = world.say("Alice Martin 15/03/1987", "x")
    assert locked and "paused for 60 minutes" in locked["text"]
    # The lockout is the user's, not the session's: asking again, even with the right details, is refused.
    refused = world.say("show my appointments", "list_appointments")
    assert refused and refused["type"] == "error" and refused["code"] == "IDENTITY_LOCKED"
    assert refused["details"]["retryAfter"] == 3600 and "verified_patient_id" not in world.state
    stored = world.repo.get_session("demo", world.session.session_id)
    assert stored and stored.status is SessionStatus.ACTIVE


def test_an_unlinked_record_cannot_be_claimed(world: World) -> None:
    world.clinic.patients[("demo", "carla rossi", date(1990, 5, 1))] = Patient(
        patient_id="p-carla", tenant_id="demo", name="Carla Rossi", dob=date(1990, 5, 1), user_id=None
    )
    world.say("list my appointments", "list_appointments")
    reply = world.say("Carla Rossi 01/05/1990", "x")
    assert reply and "couldn't match" in reply["text"] and "verified_patient_id" not in world.state


def test_a_linked_account_cannot_verify_as_another_patient(world: World) -> None:
    world.say("list my appointments", "list_appointments")
    reply = world.say("Bruno Silva 02/11/1972", "x")  # Bruno's details typed into Alice's account
    assert reply and "couldn't match" in reply["text"] and "verified_patient_id" not in world.state


def _verify(world: World) -> None:
    world.say("hello", "list_appointments")
    world.say("Alice Martin 1987-03-14", "x")


def test_confirm_the_only_unconfirmed_appointment(world: World) -> None:
    _verify(world)
    reply = world.say("I want to confirm my appointment", "confirm_appointment")
    assert reply and "confirmed" in reply["text"] and "Dr. Anika Patel" in reply["text"]
    assert next(a for a in world.clinic.appointments if a.appointment_id == "a1").status == "confirmed"
    again = world.say("confirm my appointment", "confirm_appointment")
    assert again and again["text"] == "All your upcoming appointments are already confirmed."


def test_ambiguous_cancel_goes_to_the_agent(world: World) -> None:
    _verify(world)
    assert world.say("cancel my appointment", "cancel_appointment") is None
    ((_, reason),) = world.agent.turns
    assert reason == "ambiguous_appointment"


def test_cancel_asks_then_cancels_on_yes(world: World) -> None:
    _verify(world)
    ask = world.say("cancel my thursday appointment", "cancel_appointment")
    assert ask and "yes or no" in ask["text"] and "Kowalski" in ask["text"]
    done = world.say("yes please", "x")
    assert done and "is cancelled" in done["text"]
    assert next(a for a in world.clinic.appointments if a.appointment_id == "a2").status == "cancelled"
    assert "awaiting" not in world.state


def test_cancel_kept_on_no(world: World) -> None:
    _verify(world)
    world.say("cancel the appointment with dr patel", "cancel_appointment")
    kept = world.say("no", "x")
    assert kept and "kept" in kept["text"]
    assert next(a for a in world.clinic.appointments if a.appointment_id == "a1").status == "scheduled"


def test_escalation_is_recorded(world: World) -> None:
    reply = world.say("I want to talk to a person", "escalate_to_human")
    assert reply and "112" in reply["text"] and world.escalations.opened[0].user_id == "u-alice"


def test_gone_connection_keeps_the_reply(world: World) -> None:
    world.delivery.gone.add("c1")
    assert world.say("hours?", "clinic_hours") is None
    assert world.repo.list_messages("demo", world.session.session_id).items[-1].role is Role.ASSISTANT


def test_handler_fault_is_a_typed_error(world: World) -> None:
    def boom(*_: Any) -> Any:
        raise RuntimeError("db down")

    world.clinic.list_appointments = boom  # type: ignore[method-assign]
    _verify(world)
    frame = world.delivery.frames[-1][1]
    assert frame["type"] == "error" and frame["code"] == "INTERNAL" and "db down" not in frame["message"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alice Martin, 14/03/1987", ("alice martin", date(1987, 3, 14))),
        ("my name is Chloé Dubois born 28 July 1995", ("chloe dubois", date(1995, 7, 28))),
        ("I'm Bruno Silva, dob 1972-11-02", ("bruno silva", date(1972, 11, 2))),
        ("Dariusz Nowak January 9, 1960", ("dariusz nowak", date(1960, 1, 9))),
        ("Alice 14/03/1987", None),
        ("Alice Martin", None),
        ("Alice Martin 31/02/1987", None),
    ],
)
def test_parse_identity(text: str, expected: Any) -> None:
    assert parse_identity(text) == expected


def test_parsing_helpers() -> None:
    assert normalize_name("  Chloé   DUBOIS ") == "chloe dubois"
    assert find_date("on 3.4.2001")[0] == date(2001, 4, 3)  # type: ignore[index]
    assert is_yes("Yes please") and not is_yes("no") and is_no("nope") and not is_no("yes")


def test_match_appointments_by_doctor_day_and_date() -> None:
    appts = [_appt("a1", "p", "d-patel", 1, 9), _appt("a2", "p", "d-kowalski", 3, 15)]
    today = NOW.date()
    assert [a.appointment_id for a in match_appointments(appts, "the one with Dr Kowalski", today=today)] == ["a2"]
    assert [a.appointment_id for a in match_appointments(appts, "my tuesday appointment", today=today)] == ["a1"]
    assert [a.appointment_id for a in match_appointments(appts, "tomorrow's visit", today=today)] == ["a1"]
    day = (NOW + timedelta(days=3)).strftime("%d/%m")
    assert [a.appointment_id for a in match_appointments(appts, f"the one on {day}", today=today)] == ["a2"]
    assert len(match_appointments(appts, "my appointment", today=today)) == 2
    assert match_appointments(appts, "with dr haddad", today=today) == []


# --- other languages ---------------------------------------------------------------------------------


def _in_language(world: World, lang: str) -> World:
    session = world.repo.sessions[("demo", world.session.session_id)]
    world.repo.sessions[("demo", world.session.session_id)] = session.model_copy(update={"language": lang})
    return world


def test_hours_in_french(world: World) -> None:
    frame = _in_language(world, "fr").say("vous ouvrez quand ?", "clinic_hours")
    assert frame and frame["text"].startswith("Nos horaires d'ouverture (Riverside Family Clinic) :")
    assert "• lundi: 08:00–19:00" in frame["text"] and "• dimanche: fermé" in frame["text"]


def test_locations_in_german(world: World) -> None:
    frame = _in_language(world, "de").say("wo sind Sie?", "clinic_location")
    assert frame and frame["text"].startswith("Sie finden uns hier:") and "Parken: " in frame["text"]


def test_identity_and_list_in_spanish(world: World) -> None:
    ask = _in_language(world, "es").say("¿qué citas tengo?", "list_appointments")
    assert ask and "fecha de nacimiento" in ask["text"]
    listed = world.say("Me llamo Alice Martin, nací el 14 de marzo de 1987", "x")
    assert listed and listed["intent"] == "list_appointments" and "su identidad está verificada" in listed["text"]
    assert "Sus próximas citas:" in listed["text"] and "pendiente de confirmar" in listed["text"]
    assert "mar 24 nov a las 09:30" in listed["text"]


def test_failed_identity_in_italian(world: World) -> None:
    _in_language(world, "it").say("i miei appuntamenti", "list_appointments")
    failed = world.say("Mi chiamo Alice Martin, nata il 1 gennaio 1990", "x")
    assert failed and "Tentativi rimasti: 2." in failed["text"]


def test_cancel_in_polish_on_tak(world: World) -> None:
    _verify(world)
    _in_language(world, "pl")
    ask = world.say("odwołaj wizytę w czwartek", "cancel_appointment")
    assert ask and "Czy odwołać wizytę (czw., 26 lis, godz. 15:30)" in ask["text"] and "tak lub nie" in ask["text"]
    done = world.say("tak", "x")
    assert done and "została odwołana" in done["text"]
    assert next(a for a in world.clinic.appointments if a.appointment_id == "a2").status == "cancelled"


def test_cancel_kept_in_arabic_on_la(world: World) -> None:
    _verify(world)
    _in_language(world, "ar")
    ask = world.say("ألغِ موعدي يوم الثلاثاء", "cancel_appointment")
    assert ask and "أجب بنعم أو لا" in ask["text"] and "الثلاثاء 24 نوفمبر" in ask["text"]
    kept = world.say("لا", "x")
    assert kept and "أبقيت موعدك" in kept["text"]
    assert next(a for a in world.clinic.appointments if a.appointment_id == "a1").status == "scheduled"


def test_confirm_in_romanian_and_greeting_in_portuguese(world: World) -> None:
    _verify(world)
    confirmed = _in_language(world, "ro").say("confirm programarea de mâine", "confirm_appointment")
    assert confirmed and "este confirmată" in confirmed["text"] and "mar. 24 nov., ora 09:30" in confirmed["text"]
    hello = _in_language(world, "pt").say("olá", "greeting")
    assert hello and hello["text"].startswith("Olá, Alice! Sou o assistente da Riverside Family Clinic.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Je m'appelle Alice Martin, née le 14 mars 1987", ("alice martin", date(1987, 3, 14))),
        ("Me llamo Bruno Silva, nací el 2 de noviembre de 1972", ("bruno silva", date(1972, 11, 2))),
        ("Chamo-me Chloé Dubois, 28 de julho de 1995", ("chloe dubois", date(1995, 7, 28))),
        ("Ich heiße Dariusz Nowak, geboren am 9. Januar 1960", ("dariusz nowak", date(1960, 1, 9))),
        ("Mi chiamo Alice Martin, nata il 14/03/1987", ("alice martin", date(1987, 3, 14))),
        ("Mă numesc Alice Martin, născută pe 14 martie 1987", ("alice martin", date(1987, 3, 14))),
        ("Nazywam się Dariusz Nowak, urodzony 9 stycznia 1960", ("dariusz nowak", date(1960, 1, 9))),
        ("اسمي Alice Martin، تاريخ ميلادي 14 مارس 1987", ("alice martin", date(1987, 3, 14))),
        ("Alice Martin 14.03.1987", ("alice martin", date(1987, 3, 14))),
        ("Maria de Souza, 1 avril 1990", ("maria de souza", date(1990, 4, 1))),  # particles inside a name stay
        ("Łukasz Strauß 01.02.1990", ("lukasz strauss", date(1990, 2, 1))),
        ("Alice Martin 14 foo 1987", None),
        ("je suis Alice, 14/03/1987", None),
    ],
)
def test_parse_identity_in_other_languages(text: str, expected: Any) -> None:
    assert parse_identity(text) == expected


@pytest.mark.parametrize(
    "text", ["sí", "Sí, por favor", "oui", "Oui merci", "ja", "sim", "sì", "si", "da", "Da, vă rog", "tak", "نعم", "ok"]
)
def test_yes_in_nine_languages(text: str) -> None:
    assert is_yes(text) and not is_no(text)


@pytest.mark.parametrize("text", ["no", "non", "nein", "nie", "nu", "não", "No, grazie", "لا", "nope"])
def test_no_in_nine_languages(text: str) -> None:
    assert is_no(text) and not is_yes(text)


def test_neither_yes_nor_no() -> None:
    assert not is_yes("later") and not is_no("later") and not is_no("لاحقا") and not is_yes("dame un momento")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("annuler le rendez-vous de mardi", ["a1"]),
        ("den Termin am Donnerstag absagen", ["a2"]),
        ("odwołaj wizytę w czwartek", ["a2"]),
        ("cancelar la cita de mañana", ["a1"]),
        ("cancelar la cita del jueves por la mañana", ["a2"]),  # "por la mañana": in the morning, not tomorrow
        ("Termin morgen absagen", ["a1"]),
        ("anulez programarea de joi", ["a2"]),
        ("disdire l'appuntamento di giovedì", ["a2"]),
        ("cancelar a consulta de quinta", ["a2"]),
        ("ألغِ موعد الخميس", ["a2"]),
        ("annuler le rendez-vous du 26 novembre", ["a2"]),
        ("absagen: 24. November", ["a1"]),
        ("annulla l'appuntamento con la dottoressa Kowalski", ["a2"]),
        ("annuler le rendez-vous d'aujourd'hui", []),
    ],
)
def test_match_appointments_in_other_languages(text: str, expected: list[str]) -> None:
    appts = [_appt("a1", "p", "d-patel", 1, 9), _appt("a2", "p", "d-kowalski", 3, 15)]
    assert [a.appointment_id for a in match_appointments(appts, text, today=NOW.date())] == expected
