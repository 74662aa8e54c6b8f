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
from luma.assistants.clinic.repo import Appointment, ClinicRepository, DynamoClinicRepository, upcoming
from luma.config import Settings, get_settings
from luma.domain.models import Session, SessionStatus

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

    def __init__(self, repo: ClinicRepository, settings: Settings, *, now: datetime | None = None) -> None:
        self.repo = repo
        self.settings = settings
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
        parsed = parsing.parse_identity(f"{args.full_name}, {args.date_of_birth}")
        patient = None
        if parsed is not None:
            patient = self.repo.find_patient(ctx.principal.tenant_id, parsed[0], parsed[1])
            if patient is not None and patient.user_id not in (None, ctx.principal.user_id):
                patient = None
        if patient is None:
            attempts = int(ctx.state.get("identity_attempts", 0)) + 1
            ctx.state_updates["identity_attempts"] = attempts
            left = self.settings.identity_max_attempts - attempts
            if left <= 0:
                ctx.state_updates["locked"] = True
                raise ToolError(
                    "IDENTITY_LOCKED",
                    "Too many failed attempts: the conversation is now locked. Tell the user to call the clinic on "
                    f"{clinic_data()['clinic']['phone']}.",
                )
            raise ToolError(
                "IDENTITY_MISMATCH", f"No patient matches that name and date of birth. {left} attempt(s) left."
            )
        ctx.state_updates.update(
            verified_patient_id=patient.patient_id, verified_name=patient.name, identity_attempts=0
        )
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
        escalation_id = self.repo.record_escalation(
            ctx.principal.tenant_id, ctx.session.session_id, ctx.principal.user_id, args.reason
        )
        return {"escalation_id": escalation_id, "phone": clinic_data()["clinic"]["phone"]}

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
            Tool("cancel_appointment", "Cancel one of the user's appointments (ask the user first).",
                 AppointmentArgs, tools.cancel_appointment, read_only=False, requires_identity=True),
            Tool("reschedule_appointment", "Move one of the user's appointments to a free slot from "
                 "find_available_slots. The user is asked to approve before it happens.", RescheduleArgs,
                 tools.reschedule_appointment, read_only=False, requires_identity=True, requires_approval=True,
                 approval_prompt=tools.reschedule_prompt),
            Tool("escalate_to_human", "Ask a member of staff to contact the user.", EscalateArgs,
                 tools.escalate_to_human, read_only=False),
        ]
    )  # fmt: skip


def system_prompt(session: Session, *, now: datetime | None = None) -> str:
    """The clinic agent's system prompt for this session (static first, so the cached prefix is long)."""
    info = clinic_data()["clinic"]
    hours = "; ".join(f"{d}: {'–'.join(s) if s else 'closed'}" for d, s in info["hours"].items())
    sites = "; ".join(f"{loc['name']}, {loc['address']}" for loc in info["locations"])
    static = (
        f"You are the assistant of {info['name']}, a medical clinic. You help patients with their appointments "
        "(list, confirm, cancel, reschedule), opening hours and locations, and put them in touch with staff.\n"
        "Rules:\n"
        "- Use the tools for anything about the patient's appointments; never invent appointments, times or ids.\n"
        "- Patient data needs a verified identity: if a tool answers IDENTITY_NOT_VERIFIED, ask for the full name "
        "and date of birth, then call verify_identity.\n"
        "- Before cancelling, make sure the user asked for it. Rescheduling asks the user to approve; if they "
        "decline, keep the appointment and say so.\n"
        "- You give no medical advice or diagnosis. For anything urgent tell them to call the clinic, and 112 in "
        "an emergency; offer escalate_to_human when you can't help.\n"
        "- Be brief: two or three short sentences, plain text, no markdown tables.\n"
        f"Clinic phone: {info['phone']}. Opening hours: {hours}. Sites: {sites}."
    )
    today = (now or datetime.now(timezone())).strftime("%A %d %B %Y, %H:%M")
    language = LANGUAGE_NAMES.get(session.language, "English")
    verified = session.state.get("verified_name")
    dynamic = f"\n\nNow: {today} (clinic time). Answer in {language}."
    dynamic += f" The user is verified as {verified.split()[0]}." if verified else " The user is not verified yet."
    return static + dynamic


def build(settings: Settings | None = None, *, repo: ClinicRepository | None = None) -> ToolRegistry:
    """The clinic agent's tool registry."""
    settings = settings or get_settings()
    return registry(ClinicTools(repo or DynamoClinicRepository(settings), settings))


def apply_state(session: Session, updates: dict[str, Any]) -> tuple[dict[str, Any], SessionStatus | None]:
    """The session state after a tool's updates, and the new status if the tool locked the session."""
    state = {**session.state, **{k: v for k, v in updates.items() if k != "locked"}}
    return state, SessionStatus.LOCKED if updates.get("locked") else None
