"""Operator settings: defaults here, overridden by ``luma.config.Settings`` fields of the same names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class OperatorSettings:
    """Every knob of the operators' side (``LUMA_OPERATOR_*`` once the settings model carries them)."""

    # Seconds an escalation may wait for its first response (takeover or close) before it is late; the
    # console warns before that. Per tenant: ``operator_first_response_tenants`` ({"<tenant>": seconds}).
    operator_first_response_s: int = 300
    operator_first_response_tenants: Mapping[str, int] = field(default_factory=dict)
    # Days an inbox notice is kept (the escalation itself lives as long as its session).
    operator_notice_ttl_days: int = 14
    # Days an audit item of an operator action is kept.
    operator_audit_retention_days: int = 365
    # Longest operator reply and closing note (characters).
    operator_max_text_chars: int = 2000
    operator_max_note_chars: int = 1000

    def first_response_s(self, tenant_id: str) -> int:
        """The first-response limit of a tenant (its own, else the default)."""
        return int(self.operator_first_response_tenants.get(tenant_id, self.operator_first_response_s))

    @classmethod
    def from_settings(cls, settings: Any) -> OperatorSettings:
        """These settings with every field ``settings`` defines of the same name."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)})
