"""luma.streams: what a stream consumer's logic receives, and the partial batch response Lambda reads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from luma.streams import Change, stream_consumer

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/luma-conversations/stream/2026-01-01T00:00:00.000"


def record(seq: str, event_name: str = "INSERT", **dynamodb: Any) -> dict[str, Any]:
    return {
        "eventID": f"id-{seq}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600.0,
            "Keys": {"pk": {"S": "T#demo#S#1"}, "sk": {"S": f"M#{seq}"}},
            "SequenceNumber": seq,
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            **dynamodb,
        },
        "eventSourceARN": ARN,
    }


def changes_of(event: dict[str, Any]) -> list[Change]:
    seen: list[Change] = []
    response = stream_consumer(seen.append)(event, None)
    assert response == {"batchItemFailures": []}
    return seen


def test_images_are_python_values() -> None:
    image = {
        "pk": {"S": "T#demo#S#1"},
        "count": {"N": "3"},
        "price": {"N": "2.50"},
        "tags": {"SS": ["a", "b"]},
        "blob": {"B": base64.b64encode(b"\x00\x01").decode()},
        "done": {"BOOL": True},
        "nothing": {"NULL": True},
        "meta": {"M": {"route": {"S": "fast_path"}, "steps": {"L": [{"N": "1"}, {"S": "x"}]}}},
    }
    [change] = changes_of({"Records": [record("100", NewImage=image)]})
    assert change.event_name == "INSERT" and change.old_image is None
    assert change.new_image == {
        "pk": "T#demo#S#1",
        "count": Decimal(3),
        "price": Decimal("2.50"),
        "tags": {"a", "b"},
        "blob": base64.b64encode(b"\x00\x01").decode(),  # as the event carries it
        "done": True,
        "nothing": None,
        "meta": {"route": "fast_path", "steps": [Decimal(1), "x"]},
    }
    assert change.keys == {"pk": "T#demo#S#1", "sk": "M#100"}
    assert change.sequence_number == "100" and change.event_id == "id-100" and change.source_arn == ARN
    assert change.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert change.item is change.new_image


def test_a_removal_carries_the_old_image_and_keys_only_views_the_keys() -> None:
    old = {"pk": {"S": "T#demo#S#1"}, "text": {"S": "bye"}}
    removed, keys_only = changes_of(
        {"Records": [record("1", "REMOVE", OldImage=old), record("2", "MODIFY", StreamViewType="KEYS_ONLY")]}
    )
    assert removed.event_name == "REMOVE" and removed.new_image is None
    assert removed.item == {"pk": "T#demo#S#1", "text": "bye"}
    assert keys_only.new_image is None and keys_only.old_image is None
    assert keys_only.item == {"pk": "T#demo#S#1", "sk": "M#2"}


def test_records_the_logic_raised_on_are_reported_by_sequence_number() -> None:
    handled: list[str] = []

    def logic(change: Change) -> None:
        if change.sequence_number in ("11", "13"):
            raise ValueError("cannot")
        handled.append(change.sequence_number)

    event = {"Records": [record(seq) for seq in ("10", "11", "12", "13")]}
    response = stream_consumer(logic)(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "11"}, {"itemIdentifier": "13"}]}
    assert handled == ["10", "12"]  # the records after a failure are processed (Lambda delivers them again)


def test_a_batch_that_fails_entirely_raises_so_lambda_retries_or_bisects_it() -> None:
    def logic(change: Change) -> None:
        raise RuntimeError("down")

    with pytest.raises(BatchProcessingError):
        stream_consumer(logic)({"Records": [record("1"), record("2")]}, None)


def test_an_event_that_is_not_a_stream_batch_is_refused() -> None:
    with pytest.raises(BatchProcessingError, match="Unexpected batch event type"):
        stream_consumer(lambda change: None)({"detail": {}}, None)


def test_the_handler_names_its_logic() -> None:
    def on_message(change: Change) -> None:
        """Extract memories."""

    handler = stream_consumer(on_message)
    assert handler.__name__ == "stream_consumer(on_message)" and handler.__doc__ == "Extract memories."
