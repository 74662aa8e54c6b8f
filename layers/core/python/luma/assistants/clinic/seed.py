"""Demo data for the local stack: patients, their identity index and appointments."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from luma.assistants.clinic.info import clinic_data, timezone
from luma.assistants.clinic.parsing import normalize_name
from luma.assistants.clinic.repo import Appointment, DynamoClinicRepository, Patient
from luma.config import Settings, get_settings
from luma.domain.models import PhoneLink
from luma.store.repos import DynamoPhoneRepository


def seed_demo_data(settings: Settings | None = None, *, today: date | None = None) -> int:
    """Write the demo clinic's patients, their phone links (WhatsApp/SMS senders) and appointments
    (relative to ``today``); returns items written."""
    settings = settings or get_settings()
    repo = DynamoClinicRepository(settings)
    phones = DynamoPhoneRepository(settings)
    data = clinic_data()
    tenant = data["demo_tenant"]
    tz = timezone()
    today = today or datetime.now(tz).date()
    count = 0
    for p in data["patients"]:
        patient = Patient(
            patient_id=p["id"],
            tenant_id=tenant,
            name=p["name"],
            dob=date.fromisoformat(p["dob"]),
            user_id=p.get("user_id"),
            phone=p.get("phone"),
        )
        repo.put_patient(patient, normalize_name(p["name"]))
        count += 2
        if patient.phone and patient.user_id:
            phones.put(
                PhoneLink(tenant_id=tenant, phone=patient.phone, user_id=patient.user_id, display_name=patient.name)
            )
            count += 1
    for i, a in enumerate(data["appointments"]):
        hh, mm = (int(x) for x in a["time"].split(":"))
        start = datetime.combine(today + timedelta(days=a["day_offset"]), time(hh, mm), tzinfo=tz)
        repo.put_appointment(
            Appointment(
                appointment_id=f"a-{i + 1:03d}",
                tenant_id=tenant,
                patient_id=a["patient"],
                doctor_id=a["doctor"],
                start=start,
                minutes=a["minutes"],
                reason=a["reason"],
                status=a["status"],
            )
        )
        count += 1
    return count
