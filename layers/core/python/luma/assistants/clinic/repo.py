"""The clinic's own data (patients and their identity index, appointments) in its ``data`` table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel
from pynamodb.exceptions import DoesNotExist

from luma.config import Settings, get_settings
from luma.store.models import PackDataRow
from luma.store.packdata import pack_table


class Patient(BaseModel):
    patient_id: str
    tenant_id: str
    name: str
    dob: date
    user_id: str | None = None
    phone: str | None = None


class Appointment(BaseModel):
    appointment_id: str
    tenant_id: str
    patient_id: str
    doctor_id: str
    start: datetime  # timezone-aware, clinic local time
    minutes: int
    reason: str
    status: str  # scheduled | confirmed | cancelled | completed


class ClinicRepository(Protocol):
    def find_patient(self, tenant_id: str, normalized_name: str, dob: date) -> Patient | None: ...
    def list_appointments(self, tenant_id: str, patient_id: str) -> list[Appointment]: ...
    def set_status(self, appointment: Appointment, status: str) -> Appointment: ...
    def unlink_user(self, tenant_id: str, user_id: str) -> int: ...
    def reschedule(self, appointment: Appointment, start: datetime) -> Appointment: ...


UPCOMING = ("scheduled", "confirmed")


def upcoming(repo: ClinicRepository, tenant_id: str, patient_id: str, now: datetime) -> list[Appointment]:
    """A patient's scheduled or confirmed appointments from 15 minutes ago on, soonest first."""
    cutoff = now - timedelta(minutes=15)
    appts = repo.list_appointments(tenant_id, patient_id)
    return sorted((a for a in appts if a.status in UPCOMING and a.start >= cutoff), key=lambda a: a.start)


def patient_pk(tenant_id: str, patient_id: str) -> str:
    return f"T#{tenant_id}#P#{patient_id}"


def identity_pk(tenant_id: str, normalized_name: str, dob: date) -> str:
    return f"T#{tenant_id}#IDENT#{normalized_name}#{dob.isoformat()}"


def user_link_pk(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#USER#{user_id}"


def appointment_sk(appt: Appointment) -> str:
    return f"APPT#{appt.start.astimezone(UTC).strftime('%Y%m%dT%H%M')}#{appt.appointment_id}"


class DynamoClinicRepository:
    """Key-addressed access: identity lookup is one GetItem, a patient's appointments one Query."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.table: type[PackDataRow] = pack_table("clinic", "data", self.settings)

    def find_patient(self, tenant_id: str, normalized_name: str, dob: date) -> Patient | None:
        try:
            row = self.table.get(identity_pk(tenant_id, normalized_name, dob), "IDENT")
        except DoesNotExist:
            return None
        return Patient.model_validate(row.data)

    def put_patient(self, patient: Patient, normalized_name: str) -> None:
        data = patient.model_dump(mode="json")
        if patient.user_id:  # the account link, so a user's record is found by key (erasure)
            self.table(
                pk=user_link_pk(patient.tenant_id, patient.user_id),
                sk="PATIENT",
                kind="user_link",
                data={"patient_id": patient.patient_id, "normalized_name": normalized_name},
            ).save()
        self.table(pk=patient_pk(patient.tenant_id, patient.patient_id), sk="PROFILE", kind="patient", data=data).save()
        self.table(
            pk=identity_pk(patient.tenant_id, normalized_name, patient.dob), sk="IDENT", kind="identity", data=data
        ).save()

    def put_appointment(self, appt: Appointment) -> None:
        self.table(
            pk=patient_pk(appt.tenant_id, appt.patient_id),
            sk=appointment_sk(appt),
            kind="appointment",
            data=appt.model_dump(mode="json"),
        ).save()

    def list_appointments(self, tenant_id: str, patient_id: str) -> list[Appointment]:
        rows = self.table.query(
            patient_pk(tenant_id, patient_id), range_key_condition=self.table.sk.startswith("APPT#")
        )
        return [Appointment.model_validate(r.data) for r in rows]

    def set_status(self, appointment: Appointment, status: str) -> Appointment:
        updated = appointment.model_copy(update={"status": status})
        row = self.table(pk=patient_pk(appointment.tenant_id, appointment.patient_id), sk=appointment_sk(appointment))
        row.update(actions=[self.table.data.set(updated.model_dump(mode="json"))], condition=self.table.pk.exists())
        return updated

    def reschedule(self, appointment: Appointment, start: datetime) -> Appointment:
        """Move an appointment (its sort key holds the start): delete + put in one transaction."""
        from pynamodb.connection import Connection as DdbConnection
        from pynamodb.transactions import TransactWrite

        moved = appointment.model_copy(update={"start": start, "status": "scheduled"})
        pk = patient_pk(appointment.tenant_id, appointment.patient_id)
        old = self.table(pk=pk, sk=appointment_sk(appointment))
        new = self.table(pk=pk, sk=appointment_sk(moved), kind="appointment", data=moved.model_dump(mode="json"))
        connection = DdbConnection(region=self.settings.region, host=self.settings.dynamodb_endpoint_url)
        with TransactWrite(connection=connection) as tx:
            tx.delete(old, condition=self.table.pk.exists())
            tx.save(new, condition=self.table.pk.does_not_exist())
        return moved

    def unlink_user(self, tenant_id: str, user_id: str) -> int:
        """Remove an account's link to its patient record (the record itself is the practice's); items changed."""
        try:
            link = self.table.get(user_link_pk(tenant_id, user_id), "PATIENT", consistent_read=True)
        except DoesNotExist:
            return 0
        changed = 0
        try:
            profile = self.table.get(patient_pk(tenant_id, link.data["patient_id"]), "PROFILE", consistent_read=True)
        except DoesNotExist:
            profile = None
        if profile is not None and profile.data.get("user_id") == user_id:
            patient = Patient.model_validate({**profile.data, "user_id": None, "phone": None})
            data = patient.model_dump(mode="json")
            profile.update(actions=[self.table.data.set(data)])
            ident = self.table(pk=identity_pk(tenant_id, link.data["normalized_name"], patient.dob), sk="IDENT")
            ident.update(actions=[self.table.data.set(data)], condition=self.table.pk.exists())
            changed += 2
        link.delete()
        return changed + 1
