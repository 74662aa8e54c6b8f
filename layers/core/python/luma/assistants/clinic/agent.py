"""The clinic assistant's agent side: tools, system prompt and limits.

Availability is computed, not stored: opening hours, 30-minute steps, minus the patient's own
appointments and a deterministic share of slots marked as taken (the demo data has no doctor
calendars). A real deployment replaces :meth:`ClinicTools.free_slots` with the practice system.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from luma.agent.tools import Tool, ToolContext, ToolError, ToolRegistry
from luma.assistants.clinic import parsing
from luma.assistants.clinic.info import WEEKDAYS, clinic_data, doctors, locations, timezone
from luma.assistants.clinic.repo import Appointment, ClinicRepository, upcoming
from luma.config import Settings
from luma.domain.models import Session
from luma.errors import LumaError
from luma.identity import IdentityAttempts
from luma.operators.escalations import EscalationRepository

PARTS: dict[str, tuple[int, int]] = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24), "any": (0, 24)}
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "de": "German",
    "it": "Italian",
    "ro": "Romanian",
    "pl": "Polish",
    "ar": "Arabic",
}

# Per-intent limits: rescheduling needs list → slots → reschedule → answer.
LIMITS: dict[str, Any] = {"max_iterations": 6, "intents": {"reschedule_appointment": {"max_iterations": 7}}}


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class VerifyIdentityArgs(_Args):
    full_name: str = Field(min_length=3, max_length=120, description="The patient's full name as they wrote it")
    date_of_birth: str = Field(
        min_length=6, max_length=40, description="Date of birth as the user wrote it (e.g. 14/03/1987)"
    )


Day = date  # the field below is called "date" (what the model sees)


class FindSlotsArgs(_Args):
    date: Day | None = Field(None, description="Day to search (YYYY-MM-DD); default: the appointment's day or today")
    part_of_day: Literal["morning", "afternoon", "evening", "any"] = "any"
    appointment_id: str | None = Field(None, description="Find slots to move this appointment (same doctor)")
    doctor_id: str | None = Field(None, description="Only this doctor's slots")
    days: int = Field(1, ge=1, le=7, description="How many days from `date` to search")


class AppointmentArgs(_Args):
    appointment_id: str = Field(min_length=1, max_length=64)


class RescheduleArgs(_Args):
    appointment_id: str = Field(min_length=1, max_length=64)
    new_start: datetime = Field(description="Start of a free slot returned by find_available_slots (ISO 8601)")


class EscalateArgs(_Args):
    reason: str = Field(min_length=3, max_length=500, description="Why the user needs a person, in a sentence")


def when(start: datetime) -> str:
    """Human form of a start time in the clinic's time zone."""
    return start.astimezone(timezone()).strftime("%A %d %B at %H:%M")


def _view(appt: Appointment) -> dict[str, Any]:
    doc = doctors().get(appt.doctor_id, {"name": appt.doctor_id, "location": ""})
    loc = locations().get(doc.get("location", ""), {"name": "the clinic"})
    local = appt.start.astimezone(timezone())
    return {
        "id": appt.appointment_id,
        "start": local.isoformat(),
        "when": when(local),
        "weekday": WEEKDAYS[local.weekday()].capitalize(),
        "doctor": doc["name"],
        "reason": appt.reason,
        "status": appt.status,
        "location": loc["name"],
    }


class ClinicTools:
    """The clinic's tools over its repository; ``now`` is injectable for tests."""

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

    # -- helpers -----------------------------------------------------------------------------
    def _upcoming(self, ctx: ToolContext) -> list[Appointment]:
        return upcoming(self.repo, ctx.principal.tenant_id, ctx.state["verified_patient_id"], self.now())

    def _appointment(self, ctx: ToolContext, appointment_id: str) -> Appointment:
        for appt in self._upcoming(ctx):
            if appt.appointment_id == appointment_id:
                return appt
        raise ToolError("NOT_FOUND", "No upcoming appointment with that id; call list_appointments for the ids.")

    def free_slots(
        self, day: date, minutes: int, *, doctor_id: str | None, part: str, taken: list[Appointment]
    ) -> list[datetime]:
        """Free starts on ``day``: opening hours in 30-minute steps, minus taken and demo-booked slots."""
        span = clinic_data()["clinic"]["hours"].get(WEEKDAYS[day.weekday()])
        if not span:
            return []
        tz = timezone()
        open_at = datetime.combine(day, time.fromisoformat(span[0]), tzinfo=tz)
        close_at = datetime.combine(day, time.fromisoformat(span[1]), tzinfo=tz)
        lo, hi = PARTS[part]
        out: list[datetime] = []
        slot = open_at
        while slot + timedelta(minutes=minutes) <= close_at:
            clash = any(
                a.start < slot + timedelta(minutes=minutes) and slot < a.start + timedelta(minutes=a.minutes)
                for a in taken
            )
            digest = hashlib.sha256(f"{doctor_id}|{slot.isoformat()}".encode()).digest()
            booked = digest[0] % 3 == 0  # about a third of the slots are someone else's
            if lo <= slot.hour < hi and slot > self.now() and not clash and not booked:
                out.append(slot)
            slot += timedelta(minutes=30)
        return out

    # -- tools -------------------------------------------------------------------------------
    def verify_identity(self, ctx: ToolContext, args: VerifyIdentityArgs) -> dict[str, Any]:
        tenant, user = ctx.principal.tenant_id, ctx.principal.user_id
        parsed = parsing.parse_identity(f"{args.full_name}, {args.date_of_birth}")
        claim = f"{parsed[0]}|{parsed[1].isoformat()}" if parsed is not None else None
        try:
            left = self.attempts.reserve(tenant, user, claim)  # before any lookup, atomic per attempt
        except LumaError as err:
            minutes = err.text_values.get("minutes", 60)
            raise ToolError(
                "IDENTITY_LOCKED",
                f"Too many failed identity checks: no more attempts for {minutes} minutes. Tell the user to wait "
                f"or to call the clinic on {clinic_data()['clinic']['phone']}; do not ask for their details again.",
            ) from err
        patient = None
        if parsed is not None:
            patient = self.repo.find_patient(tenant, parsed[0], parsed[1])
            if patient is not None and patient.user_id != user:
                patient = None  # only a record linked to this account verifies
        if patient is None:
            if left <= 0:
                raise ToolError(
                    "IDENTITY_LOCKED",
                    "No patient matches, and that was the last attempt: identity checks are now paused. Tell the "
                    f"user to call the clinic on {clinic_data()['clinic']['phone']}.",
                )
            raise ToolError(
                "IDENTITY_MISMATCH", f"No patient matches that name and date of birth. {left} attempt(s) left."
            )
        self.attempts.succeeded(tenant, user, claim)
        ctx.state_updates.update(verified_patient_id=patient.patient_id, verified_name=patient.name)
        return {"verified": True, "first_name": patient.name.split()[0]}

    def list_appointments(self, ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
        return {"appointments": [_view(a) for a in self._upcoming(ctx)]}

    def find_available_slots(self, ctx: ToolContext, args: FindSlotsArgs) -> dict[str, Any]:
        own = self._upcoming(ctx)
        doctor_id, minutes, start_day = args.doctor_id, 30, args.date
        if args.appointment_id:
            appt = self._appointment(ctx, args.appointment_id)
            doctor_id, minutes = appt.doctor_id, appt.minutes
            start_day = start_day or appt.start.astimezone(timezone()).date()
        if doctor_id is not None and doctor_id not in doctors():
            raise ToolError("NOT_FOUND", f"Unknown doctor id. Doctors: {sorted(doctors())}")
        start_day = start_day or self.now().date()
        slots: list[dict[str, Any]] = []
        for offset in range(args.days):
            day = start_day + timedelta(days=offset)
            for slot in self.free_slots(day, minutes, doctor_id=doctor_id, part=args.part_of_day, taken=own):
                slots.append(
                    {
                        "start": slot.isoformat(),
                        "when": when(slot),
                        "doctor": doctors().get(doctor_id or "", {}).get("name", "any doctor"),
                    }
                )
        return {"slots": slots[:6], "more": max(0, len(slots) - 6)}

    def confirm_appointment(self, ctx: ToolContext, args: AppointmentArgs) -> dict[str, Any]:
        appt = self._appointment(ctx, args.appointment_id)
        return {"appointment": _view(self.repo.set_status(appt, "confirmed"))}

    def cancel_appointment(self, ctx: ToolContext, args: AppointmentArgs) -> dict[str, Any]:
        appt = self._appointment(ctx, args.appointment_id)
        return {"appointment": _view(self.repo.set_status(appt, "cancelled"))}

    def reschedule_appointment(self, ctx: ToolContext, args: RescheduleArgs) -> dict[str, Any]:
        appt = self._appointment(ctx, args.appointment_id)
        new_start = args.new_start.astimezone(timezone())
        others = [a for a in self._upcoming(ctx) if a.appointment_id != appt.appointment_id]
        free = self.free_slots(new_start.date(), appt.minutes, doctor_id=appt.doctor_id, part="any", taken=others)
        if new_start not in free:
            raise ToolError("SLOT_UNAVAILABLE", "That time is not free; call find_available_slots again.")
        return {"appointment": _view(self.repo.reschedule(appt, new_start)), "previous": when(appt.start)}

    def escalate_to_human(self, ctx: ToolContext, args: EscalateArgs) -> dict[str, Any]:
        escalation = self.escalations.open(ctx.session, args.reason)
        return {"escalation_id": escalation.escalation_id, "phone": clinic_data()["clinic"]["phone"]}

    def cancel_prompt(self, ctx: ToolContext, args: AppointmentArgs) -> str:
        """What the user is asked to approve before a cancellation."""
        try:
            appt = self._appointment(ctx, args.appointment_id)
        except ToolError:
            return "Cancel this appointment?"
        doctor = doctors().get(appt.doctor_id, {}).get("name", "your doctor")
        return f"Cancel your appointment with {doctor} on {when(appt.start)}?"

    def reschedule_prompt(self, ctx: ToolContext, args: RescheduleArgs) -> str:
        """What the user is asked to approve."""
        try:
            appt = self._appointment(ctx, args.appointment_id)
        except ToolError:
            return f"Move your appointment to {when(args.new_start)}?"
        doctor = doctors().get(appt.doctor_id, {}).get("name", "your doctor")
        return f"Move your appointment with {doctor} from {when(appt.start)} to {when(args.new_start)}?"


def registry(tools: ClinicTools) -> ToolRegistry:
    """The clinic's tool registry."""
    return ToolRegistry(
        [
            Tool("verify_identity", "Check the user's identity with their full name and date of birth. Needed "
                 "before any appointment tool.", VerifyIdentityArgs, tools.verify_identity, read_only=False),
            Tool("list_appointments", "The user's upcoming appointments (ids, times, doctors, status).", NoArgs,
                 tools.list_appointments, requires_identity=True),
            Tool("find_available_slots", "Free appointment slots on a day, optionally for moving a given "
                 "appointment (same doctor) and within a part of the day.", FindSlotsArgs,
                 tools.find_available_slots, requires_identity=True),
            Tool("confirm_appointment", "Confirm one of the user's appointments.", AppointmentArgs,
                 tools.confirm_appointment, read_only=False, requires_identity=True),
            Tool("cancel_appointment", "Cancel one of the user's appointments. The user is asked to approve "
                 "before it happens.", AppointmentArgs, tools.cancel_appointment, read_only=False,
                 requires_identity=True, requires_approval=True, approval_prompt=tools.cancel_prompt),
            Tool("reschedule_appointment", "Move one of the user's appointments to a free slot from "
                 "find_available_slots. The user is asked to approve before it happens.", RescheduleArgs,
                 tools.reschedule_appointment, read_only=False, requires_identity=True, requires_approval=True,
                 approval_prompt=tools.reschedule_prompt),
            Tool("escalate_to_human", "Ask a member of staff to contact the user.", EscalateArgs,
                 tools.escalate_to_human, read_only=False),
        ]
    )  # fmt: skip


def system_prompt() -> str:
    """The clinic agent's instructions (the same for every session: the provider caches them)."""
    info = clinic_data()["clinic"]
    hours = "; ".join(f"{d}: {'–'.join(s) if s else 'closed'}" for d, s in info["hours"].items())
    sites = "; ".join(f"{loc['name']}, {loc['address']}" for loc in info["locations"])
    return (
        f"You are the assistant of {info['name']}, a medical clinic. You help patients with their appointments "
        "(list, confirm, cancel, reschedule), opening hours and locations, and put them in touch with staff.\n"
        "Rules:\n"
        "- Use the tools for anything about the patient's appointments; never invent appointments, times or ids.\n"
        "- Patient data needs a verified identity: if a tool answers IDENTITY_NOT_VERIFIED, ask for the full name "
        "and date of birth, then call verify_identity. Once verified, carry on with what the user asked for "
        "before; don't ask them what they want again.\n"
        "- Cancelling and rescheduling ask the user to approve; if they decline, keep the appointment and say so. "
        "If an approval times out, say nothing was changed and that they can ask again.\n"
        "- You give no medical advice or diagnosis. For anything urgent tell them to call the clinic, and 112 in "
        "an emergency; offer escalate_to_human when you can't help.\n"
        "- Be brief: two or three short sentences, plain text, no markdown tables.\n"
        f"Clinic phone: {info['phone']}. Opening hours: {hours}. Sites: {sites}."
    )


def session_context(session: Session, *, now: datetime | None = None) -> str:
    """What changes per turn: the clinic's time, the session's language, whether the user is verified."""
    today = (now or datetime.now(timezone())).strftime("%A %d %B %Y, %H:%M")
    language = LANGUAGE_NAMES.get(session.language, "English")
    verified = session.state.get("verified_name")
    context = f"Now: {today} (clinic time). Answer in {language}."
    context += f" The user is verified as {verified.split()[0]}." if verified else " The user is not verified yet."
    return context
