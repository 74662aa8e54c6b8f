"""Powertools Logger/Metrics (and a lazily created Tracer) with PII masking in every log line.

Creating a Tracer imports the X-Ray SDK (~250 ms of cold start), so it is built on first use by
the functions that want subsegments; the connect path relies on Lambda's own active-tracing
segment instead.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

from luma.guard.pii import mask as _mask_text
from luma.metrics_names import NAMESPACE, SERVICE

F = TypeVar("F", bound=Callable[..., Any])

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
        "birth_date",
        "address",
        "iban",
        "card_number",
        "api_key",
        "access_token",
        "refresh_token",
        "cookie",
    }
)
# Powertools' own fields (and AWS identifiers): never personal data, so never scanned.
_SAFE_KEYS = frozenset(
    {
        "level",
        "location",
        "timestamp",
        "service",
        "sampling_rate",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
    }
)


def mask_pii(text: str) -> str:
    """Replace personal data (``luma.guard.pii``: e-mails, phones, cards, IBANs, ids, dates of birth,
    public IPs, secrets) with placeholders; timestamps and AWS identifiers stay readable."""
    return _mask_text(text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask a structured log value recursively; sensitive keys lose their value entirely."""
    if key in _SENSITIVE_KEYS and value not in (None, ""):
        return f"<redacted:{len(str(value))}>"
    if key in _SAFE_KEYS:
        return value
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
