"""Powertools Logger/Metrics (and a lazily created Tracer) with PII masking in every log line.

Creating a Tracer imports the X-Ray SDK (~250 ms of cold start), so it is built on first use by
the functions that want subsegments; the connect path relies on Lambda's own active-tracing
segment instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

from luma.metrics_names import NAMESPACE, SERVICE

F = TypeVar("F", bound=Callable[..., Any])

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w])(?:whatsapp:)?\+?\d[\d ().-]{6,}\d(?![\w])")
_DATE = re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})\b")
_BEARER = re.compile(r"(?i)(bearer\s+|token=)[A-Za-z0-9._~+/=-]{8,}")
# Keys whose values are free text or personal data: always masked whatever they contain.
_SENSITIVE_KEYS = frozenset(
    {
        "text",
        "body",
        "name",
        "full_name",
        "dob",
        "date_of_birth",
        "phone",
        "email",
        "token",
        "authorization",
        "Authorization",
        "password",
        "secret",
    }
)


def mask_pii(text: str) -> str:
    """Replace e-mail addresses, phone numbers, dates and bearer tokens with placeholders."""
    text = _BEARER.sub(r"\1***", text)
    text = _EMAIL.sub("<email>", text)
    text = _DATE.sub("<date>", text)
    return _PHONE.sub("<phone>", text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask a structured log value recursively; sensitive keys lose their value entirely."""
    if key in _SENSITIVE_KEYS and value not in (None, ""):
        return f"<redacted:{len(str(value))}>"
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_value(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return value


class PiiMaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools JSON formatter that masks personal data before a line is written."""

    def serialize(self, log: Any) -> str:
        return super().serialize(mask_value(log) if isinstance(log, dict) else log)


logger = Logger(service=SERVICE, logger_formatter=PiiMaskingFormatter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """The shared X-Ray tracer, created (and the SDK imported) on first use."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def capture_handler(handler: F) -> F:
    """Wrap a handler with X-Ray subsegments when ``LUMA_XRAY_SDK=true``; else return it unchanged.

    Lambda's active tracing records every invocation either way; the SDK adds subsegments for each
    AWS call at ~135 ms of cold start, which the latency-critical functions skip by default.
    """
    from luma.config import get_settings

    if not get_settings().xray_sdk:
        return handler
    return cast(F, get_tracer().capture_lambda_handler(handler, capture_response=False))


@lru_cache(maxsize=1)
def _metrics_disabled() -> bool:
    from luma.config import get_settings

    return get_settings().metrics_disabled


def emit(
    name: str, value: float, unit: MetricUnit = MetricUnit.Count, *, dimensions: dict[str, str] | None = None
) -> None:
    """Emit one metric; with dimensions it is flushed as its own EMF document (``single_metric``).

    A dimensioned metric must not share the invocation's dimension set, or every other metric of
    that invocation would carry its dimensions too and the dashboard's series would not match.
    """
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    if _metrics_disabled():
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dim_value in dimensions.items():
            metric.add_dimension(name=key, value=dim_value)
