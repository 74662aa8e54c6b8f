"""The clinic's fast paths: deterministic answers with no LLM.

Appointment data is shown only after identity verification: name + date of birth of a patient
record linked to the caller's account, with attempts limited per user and per claimed identity
(:class:`luma.identity.IdentityAttempts`, checked before any lookup). Confirm and cancel run here
only when the target appointment is unambiguous; otherwise the turn is handed to the agent.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from luma.assistants.clinic import parsing
from luma.assistants.clinic.info import WEEKDAYS, clinic_data, doctors, locations, timezone
from luma.assistants.clinic.repo import Appointment, ClinicRepository, upcoming
from luma.assistants.clinic.templates import format_when, name_suffix, render, weekday_name
from luma.assistants.contract import FastPathResult
from luma.config import Settings
from luma.domain.models import Turn
from luma.identity import IdentityAttempts
from luma.operators.escalations import EscalationRepository

NEEDS_IDENTITY = frozenset({"list_appointments", "confirm_appointment", "cancel_appointment"})


def _lang(turn: Turn) -> str:
    return turn.session.language


def _first_name(turn: Turn) -> str:
    name = turn.session.state.get("verified_name") or turn.principal.display_name or ""
    return name_suffix(name.split()[0] if name.strip() else "", _lang(turn))


def _when(start: datetime, lang: str = "en") -> str:
    return format_when(start, lang)


class ClinicFastPaths:
    """Handlers keyed by intent; each takes a turn and returns a :class:`FastPathResult`."""

    def __init__(
        self,
        repo: ClinicRepository,
        settings: Settings,
        *,
        attempts: IdentityAttempts | None = None,
        escalations: EscalationRepository | None = None,
        now: datetime | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.attempts = attempts or IdentityAttempts(settings)
        self.escalations = escalations or EscalationRepository(settings)
        self._now = now

    def now(self) -> datetime:
        return self._now or datetime.now(timezone())

    # -- informational ------------------------------------------------------------------------
    def greeting(self, turn: Turn) -> FastPathResult:
        clinic = clinic_data()["clinic"]["name"]
        return FastPathResult(render("greeting", _lang(turn), name=_first_name(turn), clinic=clinic))

    def goodbye(self, turn: Turn) -> FastPathResult:
        return FastPathResult(render("goodbye", _lang(turn), name=_first_name(turn)))

    def clinic_hours(self, turn: Turn) -> FastPathResult:
        clinic = clinic_data()["clinic"]
        lines = [render("hours_header", _lang(turn), clinic=clinic["name"])]
        for index, day in enumerate(WEEKDAYS):
            span = clinic["hours"].get(day)
            hours = f"{span[0]}–{span[1]}" if span else render("closed", _lang(turn))
            lines.append(f"• {weekday_name(index, _lang(turn))}: {hours}")
        return FastPathResult("\n".join(lines))

    def clinic_location(self, turn: Turn) -> FastPathResult:
        lines = [render("locations_header", _lang(turn))]
        parking = render("parking", _lang(turn))
        for loc in locations().values():
            lines.append(f"• {loc['name']}: {loc['address']}. {loc['directions']} {parking}: {loc['parking']}")
        return FastPathResult("\n".join(lines))

    def escalate_to_human(self, turn: Turn) -> FastPathResult:
        escalation = self.escalations.open(turn.session, "user_request")
        phone = clinic_data()["clinic"]["phone"]
        return FastPathResult(
            render("escalated", _lang(turn), phone=phone), meta={"escalationId": escalation.escalation_id}
        )

    # -- identity -----------------------------------------------------------------------------
    def _ask_identity(self, turn: Turn, intent: str) -> FastPathResult:
        self.attempts.check(turn.principal.tenant_id, turn.principal.user_id)  # locked: IDENTITY_LOCKED
        state = dict(turn.session.state)
        state.update(awaiting="identity", pending_intent=intent, pending_text=turn.message.text)
        return FastPathResult(render("ask_identity", _lang(turn)), state=state, meta={"awaiting": "identity"})

    def verify_identity(self, turn: Turn) -> FastPathResult:
        state = dict(turn.session.state)
        tenant, user = turn.principal.tenant_id, turn.principal.user_id
        parsed = parsing.parse_identity(turn.message.text)
        claim = f"{parsed[0]}|{parsed[1].isoformat()}" if parsed is not None else None
        left = self.attempts.reserve(tenant, user, claim)  # before any lookup; IDENTITY_LOCKED when locked
        patient = None
        if parsed is not None:
            patient = self.repo.find_patient(tenant, parsed[0], parsed[1])
            # Only a record linked to the caller's account verifies (an unlinked record is nobody's to claim).
            if patient is not None and patient.user_id != user:
                patient = None
        if patient is None:
            if left <= 0:
                state.pop("awaiting", None)
                phone = clinic_data()["clinic"]["phone"]
                minutes = max(1, self.settings.identity_lockout_s // 60)
                return FastPathResult(
                    render(
                        "identity_locked",
                        _lang(turn),
                        max=self.settings.identity_max_attempts,
                        phone=phone,
                        minutes=minutes,
                    ),
                    state=state,
                    meta={"identity": "locked"},
                )
            return FastPathResult(
                render("identity_failed", _lang(turn), left=left),
                state=state,
                meta={"identity": "failed"},
            )
        self.attempts.succeeded(tenant, user, claim)
        pending_intent = state.pop("pending_intent", None)
        pending_text = state.pop("pending_text", None)
        state.pop("awaiting", None)
        state.update(verified_patient_id=patient.patient_id, verified_name=patient.name)
        verified = turn.model_copy(update={"session": turn.session.model_copy(update={"state": state})})
        intro = render("identity_ok", _lang(turn), first=patient.name.split()[0])
        if pending_intent in NEEDS_IDENTITY:
            if pending_text:
                message = verified.message.model_copy(update={"text": pending_text})
                verified = verified.model_copy(update={"message": message})
            follow = self.handle(pending_intent, verified)
            follow.text = f"{intro}\n\n{follow.text}" if follow.text else intro
            follow.state = follow.state if follow.state is not None else state
            follow.intent = pending_intent
            follow.meta.setdefault("identity", "verified")
            return follow
        return FastPathResult(intro, state=state, meta={"identity": "verified"})

    # -- appointments ---------------------------------------------------------------------------
    def _upcoming(self, turn: Turn) -> list[Appointment]:
        return upcoming(self.repo, turn.principal.tenant_id, turn.session.state["verified_patient_id"], self.now())

    def _line(self, appt: Appointment, lang: str) -> str:
        doc = doctors().get(appt.doctor_id, {"name": appt.doctor_id, "location": ""})
        loc = locations().get(doc.get("location", ""), {"name": "the clinic"})
        return render(
            "appointment_line",
            lang,
            when=_when(appt.start.astimezone(timezone()), lang),
            doctor=doc["name"],
            reason=appt.reason,
            location=loc["name"],
            status=render(f"status_{appt.status}", lang),
        )

    def list_appointments(self, turn: Turn) -> FastPathResult:
        if "verified_patient_id" not in turn.session.state:
            return self._ask_identity(turn, "list_appointments")
        appts = self._upcoming(turn)
        if not appts:
            return FastPathResult(render("no_appointments", _lang(turn)))
        lines = [render("appointments_header", _lang(turn))] + [self._line(a, _lang(turn)) for a in appts]
        return FastPathResult("\n".join(lines), meta={"appointments": [a.appointment_id for a in appts]})

    def confirm_appointment(self, turn: Turn) -> FastPathResult:
        if "verified_patient_id" not in turn.session.state:
            return self._ask_identity(turn, "confirm_appointment")
        upcoming = self._upcoming(turn)
        candidates = match_appointments(
            [a for a in upcoming if a.status == "scheduled"], turn.message.text, today=self.now().date()
        )
        if len(candidates) == 1:
            appt = self.repo.set_status(candidates[0], "confirmed")
            doc = doctors().get(appt.doctor_id, {"name": appt.doctor_id})["name"]
            return FastPathResult(
                render("confirmed", _lang(turn), when=_when(appt.start, _lang(turn)), doctor=doc),
                meta={"appointmentId": appt.appointment_id},
            )
        if upcoming and not any(a.status == "scheduled" for a in upcoming):
            return FastPathResult(render("all_confirmed", _lang(turn)))
        if not upcoming:
            return FastPathResult(render("no_appointments", _lang(turn)))
        return FastPathResult(handoff="ambiguous_appointment", meta={"candidates": len(candidates)})

    def cancel_appointment(self, turn: Turn) -> FastPathResult:
        if "verified_patient_id" not in turn.session.state:
            return self._ask_identity(turn, "cancel_appointment")
        upcoming = self._upcoming(turn)
        if not upcoming:
            return FastPathResult(render("nothing_to_cancel", _lang(turn)))
        candidates = match_appointments(upcoming, turn.message.text, today=self.now().date())
        if len(candidates) != 1:
            return FastPathResult(handoff="ambiguous_appointment", meta={"candidates": len(candidates)})
        appt = candidates[0]
        state = dict(turn.session.state)
        state.update(awaiting="cancel_confirm", cancel_appointment=appt.model_dump(mode="json"))
        doc = doctors().get(appt.doctor_id, {"name": appt.doctor_id})["name"]
        return FastPathResult(
            render("cancel_ask", _lang(turn), when=_when(appt.start, _lang(turn)), doctor=doc),
            state=state,
            meta={"awaiting": "cancel_confirm", "appointmentId": appt.appointment_id},
        )

    def cancel_confirm(self, turn: Turn) -> FastPathResult:
        state = dict(turn.session.state)
        state.pop("awaiting", None)
        raw: dict[str, Any] | None = state.pop("cancel_appointment", None)
        if raw is None:
            return FastPathResult(handoff="no_pending_cancellation", state=state)
        appt = Appointment.model_validate(raw)
        doc = doctors().get(appt.doctor_id, {"name": appt.doctor_id})["name"]
        when = _when(appt.start.astimezone(timezone()), _lang(turn))
        if parsing.is_yes(turn.message.text):
            self.repo.set_status(appt, "cancelled")
            return FastPathResult(
                render("cancelled", _lang(turn), when=when, doctor=doc),
                state=state,
                meta={"appointmentId": appt.appointment_id, "cancelled": True},
            )
        return FastPathResult(
            render("cancel_kept", _lang(turn), when=when, doctor=doc),
            state=state,
            meta={"appointmentId": appt.appointment_id, "cancelled": False},
        )

    # -- dispatch -------------------------------------------------------------------------------
    HANDLERS = frozenset(
        {
            "greeting",
            "goodbye",
            "clinic_hours",
            "clinic_location",
            "escalate_to_human",
            "list_appointments",
            "confirm_appointment",
            "cancel_appointment",
            "verify_identity",
            "cancel_confirm",
        }
    )

    def handle(self, intent: str, turn: Turn) -> FastPathResult:
        if intent not in self.HANDLERS:
            return FastPathResult(handoff="no_fast_path")
        result: FastPathResult = getattr(self, intent)(turn)
        return result


_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+|del\s+)?([^\W\d_]{3,12})", re.I)
_NUM_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})\b")
# Weekday names (folded: lower-case, no accents) by the start of the word, Monday first, in the nine
# languages; stems cover inflections ("w środę", "dienstags", "lunedì").
_WEEKDAY_STEMS: tuple[tuple[str, ...], ...] = tuple(
    tuple(parsing.fold(stem) for stem in stems.split())
    for stems in (
        "monday lundi lunes segunda montag lunedi luni poniedzial الاثنين",
        "tuesday mardi martes terca dienstag martedi marti wtor الثلاثاء",
        "wednesday mercredi miercoles quarta mittwoch mercoledi miercuri srod الاربعاء",
        "thursday jeudi jueves quinta donnerstag giovedi joi czwart الخميس",
        "friday vendredi viernes sexta freitag venerdi vineri piat الجمعة",
        "saturday samedi sabado samstag sabato sambata sobot السبت",
        "sunday dimanche domingo sonntag domenica duminica niedziel الاحد",
    )
)
_WEEKDAY_RES = tuple(re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + ")") for stems in _WEEKDAY_STEMS)
_TOMORROW = re.compile(
    r"\b(?:tomorrow|demain|(?<!la )manana|amanha|(?<!am )(?<!guten )morgen|domani|maine|jutro)\b|غدا|بكرة"
)
_TODAY = re.compile(r"\b(?:today|aujourd'hui|aujourdhui|hoy|hoje|heute|oggi|azi|astazi|dzis|dzisiaj)\b|اليوم")


def match_appointments(appts: list[Appointment], text: str, *, today: date) -> list[Appointment]:
    """The appointments consistent with every constraint the text mentions (doctor, day, date, time).

    Weekdays, "today"/"tomorrow" and month names are understood in the nine languages.
    """
    lowered = parsing.fold(text)
    tz = timezone()
    docs = doctors()
    days = {i for i, pattern in enumerate(_WEEKDAY_RES) if pattern.search(lowered)}
    tomorrow = bool(_TOMORROW.search(lowered))
    today_only = bool(_TODAY.search(lowered))
    num = _NUM_DATE.search(lowered)
    day_month = None
    for m in _DAY_MONTH.finditer(lowered):
        month = parsing.month_number(m.group(2))
        if month is not None:
            day_month = (int(m.group(1)), month)
            break
    result = []
    for appt in appts:
        local = appt.start.astimezone(tz)
        doc_name = docs.get(appt.doctor_id, {}).get("name", "").lower()
        surnames = {w for w in re.findall(r"[a-z]+", doc_name) if w not in {"dr"}}
        mentioned_docs = {w for d in docs.values() for w in re.findall(r"[a-z]+", d["name"].lower())[2:]}
        named = {w for w in mentioned_docs if re.search(rf"\b{w}\b", lowered)}
        if named and not named & surnames:
            continue
        if days and local.weekday() not in days:
            continue
        if tomorrow and local.date() != today + timedelta(days=1):
            continue
        if today_only and local.date() != today:
            continue
        if num and (int(num.group(1)), int(num.group(2))) != (local.day, local.month):
            continue
        if day_month and day_month != (local.day, local.month):
            continue
        result.append(appt)
    return result
