"""DynamoDB Streams consumers: one logic call per changed item, partial batch failures reported to Lambda.

A consumer function's ``handler.py`` is one line around its use case (the logic lives in its own module)::

    from luma.memory.extract import on_message_change
    from luma.streams import stream_consumer

    handler = stream_consumer(on_message_change)

``on_message_change(change: Change) -> None`` handles one record; raising marks that record failed.
The handler answers Lambda's partial batch response (``{"batchItemFailures": [{"itemIdentifier":
<SequenceNumber>}]}``; the mapping has ``ReportBatchItemFailures``), so Lambda checkpoints before the
first failed record and retries from it: records after a failed one are delivered again, and streams
deliver at least once anyway, so logic must be idempotent. When every record of a batch fails the
handler raises, and Lambda retries (or bisects) the whole batch.

Images are deserialized as boto3's ``TypeDeserializer`` does (Powertools' copy of it, which needs no
boto3 import at cold start): numbers are ``Decimal``, sets ``set``, maps and lists ``dict`` and
``list``; binary values stay the base64 text the event carries (no table of ours stores binary).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from luma.observability import logger

EventName = Literal["INSERT", "MODIFY", "REMOVE"]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record: what happened to which item, with its images as Python values."""

    event_name: EventName
    keys: Mapping[str, Any]
    new_image: Mapping[str, Any] | None  # None: a REMOVE, or a stream view without new images
    old_image: Mapping[str, Any] | None  # None: an INSERT, or a stream view without old images
    sequence_number: str
    event_id: str
    created_at: datetime | None  # the stream's ApproximateCreationDateTime
    source_arn: str | None

    @property
    def item(self) -> Mapping[str, Any]:
        """The item as it is now (its old image when it was removed; only its keys if the view has no image)."""
        return self.new_image if self.new_image is not None else self.old_image or self.keys

    @classmethod
    def from_record(cls, record: DynamoDBRecord) -> Change:
        """Read one Powertools stream record."""
        stream = record.dynamodb
        if stream is None:
            raise ValueError("a DynamoDB stream record without its 'dynamodb' part")
        raw = stream.raw_event
        created = raw.get("ApproximateCreationDateTime")
        return cls(
            event_name=cast(EventName, record.raw_event["eventName"]),
            keys=stream.keys,
            new_image=stream.new_image if "NewImage" in raw else None,
            old_image=stream.old_image if "OldImage" in raw else None,
            sequence_number=str(raw["SequenceNumber"]),
            event_id=str(record.raw_event.get("eventID", "")),
            created_at=datetime.fromtimestamp(float(created), UTC) if created is not None else None,
            source_arn=record.event_source_arn,
        )


def stream_consumer(logic: Callable[[Change], object]) -> Handler:
    """A Lambda handler that runs ``logic`` once per record and reports the records it raised on."""

    def handle_record(record: DynamoDBRecord) -> None:
        change = Change.from_record(record)
        try:
            logic(change)
        except Exception:
            logger.exception(
                "stream record failed",
                extra={"eventName": change.event_name, "sequenceNumber": change.sequence_number},
            )
            raise

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # A processor keeps one batch's state: one per invocation (the local runtime runs handlers on threads).
        processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        return dict(
            process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
        )

    handler.__name__ = f"stream_consumer({getattr(logic, '__name__', 'logic')})"
    handler.__doc__ = logic.__doc__
    handler.__wrapped__ = logic  # type: ignore[attr-defined]
    return handler
