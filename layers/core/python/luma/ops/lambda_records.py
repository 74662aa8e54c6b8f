"""What Lambda itself writes: DynamoDB Streams event records and on-failure invocation records.

The local stream poller and async runtime build these exactly as Lambda does in AWS; ``luma dlq``
reads them back from a dead-letter queue, in AWS and locally. Three failure shapes exist:

- a stream mapping's on-failure record: ``DDBStreamBatchInfo`` (shard, sequence range, batch size),
  not the records themselves, which must be re-read from the stream while it still has them;
- an async invocation's on-failure destination record: the event under ``requestPayload``;
- a classic dead-letter queue message (``DeadLetterConfig``): the event itself as the body, with the
  ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` message attributes.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

EVENT_VERSION = "1.1"  # what Lambda puts in DynamoDB Streams events (the stream API itself says 1.0)
RECORD_VERSION = "1.0"  # on-failure invocation records
EXECUTED_VERSION = "$LATEST"

# requestContext.condition values
RETRIES_EXHAUSTED = "RetriesExhausted"  # async invocations
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"  # stream mappings
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


class UnknownFailureRecordError(ValueError):
    """A dead-letter message in none of the shapes Lambda writes."""


def _iso(moment: datetime, *, millis: bool) -> str:
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def _attribute_json(value: Any) -> Any:
    """A DynamoDB attribute value as boto3 returns it, back in the JSON wire form (binary as base64)."""
    if isinstance(value, Mapping):
        return {key: _attribute_json(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_attribute_json(inner) for inner in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def stream_event_record(raw: Mapping[str, Any], *, stream_arn: str, region: str) -> dict[str, Any]:
    """One ``GetRecords`` record (as boto3 parses it) as Lambda puts it in a function's event."""
    dynamodb = {key: _attribute_json(value) for key, value in raw["dynamodb"].items()}
    created = raw["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion") or region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = dict(raw["userIdentity"])
    return record


def _arrival(record: Mapping[str, Any]) -> str:
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    moment = datetime.fromtimestamp(float(created), UTC) if created is not None else datetime.now(UTC)
    return _iso(moment, millis=False)


def stream_failure_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    function_error: str | None,
    shard_id: str,
    records: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """What a stream mapping sends its on-failure destination for a batch it gave up on."""
    if not records:
        raise ValueError("a failure record describes at least one stream record")
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": EXECUTED_VERSION}
    if function_error:
        response["functionError"] = function_error
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": RECORD_VERSION,
        "timestamp": _iso(now or datetime.now(UTC), millis=True),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _arrival(records[0]),
            "approximateArrivalOfLastRecord": _arrival(records[-1]),
            "batchSize": len(records),
            "streamArn": records[0]["eventSourceARN"],
        },
    }


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The Python runtime's answer for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def async_failure_record(
    *,
    request_id: str,
    function_arn: str,
    event: Any,
    invoke_count: int,
    error: BaseException,
    condition: str = RETRIES_EXHAUSTED,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What an async invocation's on-failure destination receives once Lambda stops retrying."""
    return {
        "version": RECORD_VERSION,
        "timestamp": _iso(now or datetime.now(UTC), millis=True),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function_arn}:{EXECUTED_VERSION}",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": EXECUTED_VERSION, "functionError": "Unhandled"},
        "responsePayload": error_payload(error, request_id),
    }


@dataclass(frozen=True)
class StreamBatch:
    """Where a failed stream batch was: re-read it from the stream by this range."""

    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int


@dataclass(frozen=True)
class FailedInvocation:
    """A dead-letter message, whichever shape: the original event (async) or the stream range (stream)."""

    kind: Literal["async", "stream"]
    event: Any = None
    batch: StreamBatch | None = None
    request_id: str | None = None
    condition: str | None = None
    error: str | None = None  # "ErrorType: message", as much as the record says
    failed_at: str | None = None


def _error_text(payload: Any) -> str | None:
    if isinstance(payload, Mapping) and payload.get("errorMessage") is not None:
        kind = payload.get("errorType")
        return f"{kind}: {payload['errorMessage']}" if kind else str(payload["errorMessage"])
    return None


def parse_failure(body: str, attributes: Mapping[str, Any] | None = None) -> FailedInvocation:
    """Read a dead-letter message (its body and SQS message attributes) in any of Lambda's shapes."""
    try:
        data = json.loads(body)
    except ValueError:
        raise UnknownFailureRecordError("the message body is not JSON") from None
    context = data.get("requestContext") if isinstance(data, Mapping) else None
    if isinstance(data, Mapping) and isinstance(data.get("DDBStreamBatchInfo"), Mapping):
        info = data["DDBStreamBatchInfo"]
        try:
            batch = StreamBatch(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start_sequence_number=str(info["startSequenceNumber"]),
                end_sequence_number=str(info["endSequenceNumber"]),
                batch_size=int(info["batchSize"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnknownFailureRecordError(f"DDBStreamBatchInfo without {exc}") from None
        context = context if isinstance(context, Mapping) else {}
        response = data.get("responseContext")
        response = response if isinstance(response, Mapping) else {}
        return FailedInvocation(
            kind="stream",
            batch=batch,
            request_id=context.get("requestId"),
            condition=context.get("condition"),
            error=response.get("functionError"),
            failed_at=data.get("timestamp"),
        )
    if isinstance(data, Mapping) and "requestPayload" in data and isinstance(context, Mapping):
        return FailedInvocation(
            kind="async",
            event=data["requestPayload"],
            request_id=context.get("requestId"),
            condition=context.get("condition"),
            error=_error_text(data.get("responsePayload")),
            failed_at=data.get("timestamp"),
        )
    attrs = {key: _attribute_text(value) for key, value in (attributes or {}).items()}
    if "RequestID" in attrs:  # a classic DLQ message: the event as it was
        message = attrs.get("ErrorMessage")
        return FailedInvocation(
            kind="async",
            event=data,
            request_id=attrs["RequestID"],
            error=f"{attrs.get('ErrorCode', '')}: {message}".strip(": ") if message else attrs.get("ErrorCode"),
        )
    raise UnknownFailureRecordError("neither an on-failure record nor a dead-letter message with a RequestID")


def _attribute_text(value: Any) -> str:
    """An SQS message attribute (``{"StringValue": ..., "DataType": ...}``) or a plain value, as text."""
    if isinstance(value, Mapping):
        return str(value.get("StringValue", value.get("stringValue", "")))
    return str(value)
