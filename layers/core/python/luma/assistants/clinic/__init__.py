"""The clinic assistant: identity verification, appointments, hours, locations, escalation."""

from luma.assistants.clinic.pack import ClinicPack

__all__ = ["ClinicPack"]
