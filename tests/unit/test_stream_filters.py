"""Lambda event filtering (luma.ops.event_filter) against AWS's documented examples and AWS-validated cases.

Sources: the Lambda developer guide ("Control which events Lambda sends to your function", "Using
event filtering with a DynamoDB event source"), EventBridge's comparison operators (which Lambda
shares), and the DynamoDB cases LocalStack validated against AWS (numeric never matches a DynamoDB
``N`` string; ``exists: false`` on a key whose value is an object matches).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from luma.ops.event_filter import MAX_FILTERS, EventFilter, FilterPatternError, Pattern

INFRA = Path(__file__).resolve().parents[2] / "infra"


def matches(pattern: dict[str, Any] | str, event: dict[str, Any]) -> bool:
    return Pattern.compile(pattern).matches(event)


# -- the operator table of the Lambda guide ------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        # Null: UserID is null
        ({"UserID": [None]}, {"UserID": None}, {"UserID": "u1"}),
        # Empty: LastName is empty
        ({"LastName": [""]}, {"LastName": ""}, {"LastName": "Doe"}),
        # Equals: Name is "Alice"
        ({"Name": ["Alice"]}, {"Name": "Alice"}, {"Name": "alice"}),
        # Or: PaymentType is "Credit" or "Debit"
        ({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, {"PaymentType": "Cash"}),
        # Not: Weather is anything but "Raining"
        ({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, {"Weather": "Raining"}),
        # Numeric (equals): Price is 100
        ({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100}, {"Price": 101}),
        # Numeric (range): more than 10, at most 20
        ({"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, {"Price": 10}),
        # Exists / does not exist
        ({"ProductName": [{"exists": True}]}, {"ProductName": "p"}, {"Other": "p"}),
        ({"ProductName": [{"exists": False}]}, {"Other": "p"}, {"ProductName": "p"}),
        # Begins with / ends with
        ({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, {"Region": "eu-west-1"}),
        ({"FileName": [{"suffix": ".png"}]}, {"FileName": "a.png"}, {"FileName": "a.jpg"}),
        # Equals-ignore-case, and the prefix/suffix variants of it
        ({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, {"Name": "alicia"}),
        ({"Svc": [{"prefix": {"equals-ignore-case": "eventb"}}]}, {"Svc": "EventBridge"}, {"Svc": "Lambda"}),
        ({"F": [{"suffix": {"equals-ignore-case": ".PNG"}}]}, {"F": "a.png"}, {"F": "a.gif"}),
        # anything-but with prefix, suffix, equals-ignore-case
        ({"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "eu-west-1"}, {"Region": "us-west-2"}),
        ({"F": [{"anything-but": {"suffix": ".png"}}]}, {"F": "a.jpg"}, {"F": "b.png"}),
        (
            {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "stopped"]}}]},
            {"state": "running"},
            {"state": "INITIALIZING"},
        ),
        # anything-but with a single value (not a list)
        ({"state": [{"anything-but": "initializing"}]}, {"state": "running"}, {"state": "initializing"}),
    ],
)
def test_documented_operators(pattern: dict[str, Any], matching: dict[str, Any], not_matching: dict[str, Any]) -> None:
    assert matches(pattern, matching)
    assert not matches(pattern, not_matching)


def test_and_needs_every_field() -> None:
    pattern = {"Location": ["New York"], "Day": ["Monday"]}
    assert matches(pattern, {"Location": "New York", "Day": "Monday", "Other": 1})
    assert not matches(pattern, {"Location": "New York", "Day": "Tuesday"})
    assert not matches(pattern, {"Location": "New York"})  # a field the pattern names must be there


def test_strings_are_exact_and_numbers_compare_by_their_text() -> None:
    """Lambda: "exact character-by-character matching ... 300, 300.0 and 3.0e2 are not considered equal"."""
    assert not matches({"Name": ["Alice"]}, {"Name": "Alice "})
    assert matches({"n": [300]}, {"n": 300})
    assert not matches({"n": [300]}, {"n": 300.0})
    assert not matches({"n": [1]}, {"n": True})  # a boolean is not the number 1
    assert matches({"b": [True]}, {"b": True})
    assert not matches({"n": ["300"]}, {"n": 300})


def test_an_array_in_the_record_matches_when_any_element_does() -> None:
    assert matches({"tags": ["b"]}, {"tags": ["a", "b"]})
    assert not matches({"tags": ["c"]}, {"tags": ["a", "b"]})
    assert matches({"items": {"sku": [{"prefix": "X"}]}}, {"items": [{"sku": "A1"}, {"sku": "X9"}]})


# -- the guide's filtering examples ----------------------------------------------------------------
KINESIS_RECORD = {
    "partitionKey": "1",
    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
    "data": {"City": "Seattle", "State": "WA", "Temperature": 55, "Location": "Los Angeles", "Month": "December"},
}


def test_metadata_and_data_properties_together() -> None:
    pattern = {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}}
    assert matches(pattern, KINESIS_RECORD)
    assert not matches({"partitionKey": ["2"], "data": {"Location": ["Los Angeles"]}}, KINESIS_RECORD)


def test_temperature_range_example() -> None:
    pattern = {"data": {"Temperature": [{"numeric": [">", 50, "<=", 60]}]}}
    assert matches(pattern, KINESIS_RECORD)
    too_hot = {**KINESIS_RECORD, "data": {**KINESIS_RECORD["data"], "Temperature": 61}}
    assert not matches(pattern, too_hot)


def ddb_record(
    new: dict[str, Any] | None = None,
    *,
    keys: dict[str, Any] | None = None,
    event_name: str = "INSERT",
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stream record as Lambda delivers it."""
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1678831218.0,
        "Keys": keys or {"CustomerName": {"S": "AnyCompany Industries"}},
        "SequenceNumber": "111",
        "SizeBytes": 26,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-01-01T00:00:00.000",
    }


CUSTOMER = {
    "AccountManager": {"S": "Pat Candella"},
    "PaymentTerms": {"S": "60 days"},
    "CustomerName": {"S": "AnyCompany Industries"},
}


def test_multi_level_dynamodb_key() -> None:
    pattern = '{ "dynamodb": { "Keys": { "Id": { "N": [ "101" ] } } } }'  # as a FilterCriteria Pattern string
    assert matches(pattern, ddb_record({"Id": {"N": "101"}}, keys={"Id": {"N": "101"}}))
    assert not matches(pattern, ddb_record({"Id": {"N": "102"}}, keys={"Id": {"N": "102"}}))


def test_dynamodb_table_keys_and_attributes() -> None:
    by_key = {"dynamodb": {"Keys": {"CustomerName": {"S": ["AnyCompany Industries"]}}}}
    by_manager = {"dynamodb": {"NewImage": {"AccountManager": {"S": ["Pat Candella", "Shirley Rodriguez"]}}}}
    assert matches(by_key, ddb_record(CUSTOMER))
    assert matches(by_manager, ddb_record(CUSTOMER))
    other = {**CUSTOMER, "AccountManager": {"S": "Someone Else"}}
    assert not matches(by_manager, ddb_record(other))


def test_dynamodb_boolean_and_exists() -> None:
    flagged = {"dynamodb": {"NewImage": {"Active": {"BOOL": [True]}}}}
    assert matches(flagged, ddb_record({**CUSTOMER, "Active": {"BOOL": True}}))
    assert not matches(flagged, ddb_record({**CUSTOMER, "Active": {"BOOL": False}}))
    has_terms = {"dynamodb": {"NewImage": {"PaymentTerms": {"S": [{"exists": True}]}}}}
    assert matches(has_terms, ddb_record(CUSTOMER))
    assert not matches(has_terms, ddb_record({"CustomerName": {"S": "x"}}))


# -- cases LocalStack validated against AWS ---------------------------------------------------------
def test_event_name_filter() -> None:
    inserts = {"eventName": ["INSERT"]}
    assert matches(inserts, ddb_record(CUSTOMER))
    assert not matches(inserts, ddb_record(CUSTOMER, event_name="MODIFY", old=CUSTOMER))
    assert matches({"eventName": ["INSERT", "MODIFY"]}, ddb_record(CUSTOMER, event_name="MODIFY"))


def test_the_type_key_is_part_of_the_path() -> None:
    """Omitting the "S" does not match: the pattern must follow the DynamoDB JSON down to the value."""
    record = ddb_record({"id": {"S": "1"}, "presentKey": {"S": "presentValue"}})
    assert matches({"dynamodb": {"NewImage": {"presentKey": {"S": ["presentValue"]}}}}, record)
    assert not matches({"dynamodb": {"NewImage": {"presentKey": ["presentValue"]}}}, record)
    assert matches({"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}}, record)


def test_exists_false_on_an_object_valued_key_matches() -> None:
    """``exists`` looks at leaf values: ``presentKey`` holds an object, so there is no leaf there."""
    pattern = {"dynamodb": {"NewImage": {"presentKey": [{"exists": False}]}}}
    assert matches(pattern, ddb_record({"id": {"S": "1"}}))
    assert matches(pattern, ddb_record({"id": {"S": "2"}, "presentKey": {"S": "presentValue"}}))


def test_numeric_never_matches_a_dynamodb_number() -> None:
    """DynamoDB numbers are strings in the record, so only the anything-but alternative can match."""
    pattern = {"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}}}}
    assert matches(pattern, ddb_record({"n": {"N": "42"}}))  # by anything-but
    assert not matches(pattern, ddb_record({"n": {"N": "101"}}))  # 101 > 100, but "101" is a string


def test_creation_time_is_a_number() -> None:
    assert matches({"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}}, ddb_record(CUSTOMER))


# -- the consumers' own filters, from config.FUNCTIONS -------------------------------------------
def _config_filters() -> dict[str, EventFilter]:
    if str(INFRA) not in sys.path:
        sys.path.append(str(INFRA))
    from luma_infra.config import FUNCTIONS

    return {name: EventFilter.compile(spec.stream.filters) for name, spec in FUNCTIONS.items() if spec.stream}


def conversation(sk: str, event_name: str = "INSERT", **attributes: str) -> dict[str, Any]:
    keys = {"pk": {"S": "T#demo#S#s1"}, "sk": {"S": sk}}
    image = {**keys, **{name: {"S": value} for name, value in attributes.items()}}
    return ddb_record(image, keys=keys, event_name=event_name)


def test_memory_extract_sees_new_messages_only() -> None:
    keep = _config_filters()["memory_extract"]
    assert keep.matches(conversation("M#01J0000000000000000000000"))
    assert not keep.matches(conversation("M#01J0000000000000000000000", event_name="MODIFY"))
    assert not keep.matches(conversation("R#01J0000000000000000000000"))
    assert not keep.matches(conversation("META"))


def test_memory_expire_sees_removed_memory_items_only() -> None:
    keep = _config_filters()["memory_expire"]
    removed = conversation("MEM#fact#01J0000000000000000000000", event_name="REMOVE")
    removed["dynamodb"].pop("NewImage", None)  # a REMOVE in a NEW_IMAGE stream carries the keys only
    assert keep.matches(removed)
    assert not keep.matches(conversation("MEM#fact#01J0000000000000000000000"))
    assert not keep.matches(conversation("MEM#fact#01J0000000000000000000000", event_name="MODIFY"))
    assert not keep.matches(conversation("M#01J0000000000000000000000", event_name="REMOVE"))


def test_escalations_see_escalation_items() -> None:
    keep = _config_filters()["escalations"]
    assert keep.matches(conversation("ESC#01J0000000000000000000000"))
    assert keep.matches(conversation("ESC#01J0000000000000000000000", event_name="MODIFY"))
    assert not keep.matches(conversation("M#01J0000000000000000000000"))


def test_session_report_sees_sessions_closing() -> None:
    keep = _config_filters()["session_report"]
    assert keep.matches(conversation("META", event_name="MODIFY", status="closed"))
    assert not keep.matches(conversation("META", event_name="MODIFY", status="active"))
    assert not keep.matches(conversation("META", event_name="INSERT", status="closed"))


# -- several filters, none, and patterns Lambda refuses --------------------------------------------
def test_filters_are_ored_and_none_lets_everything_through() -> None:
    either = EventFilter.compile([{"eventName": ["REMOVE"]}, {"dynamodb": {"Keys": {"Id": {"N": ["1"]}}}}])
    assert either.matches(ddb_record(None, keys={"Id": {"N": "9"}}, event_name="REMOVE"))
    assert either.matches(ddb_record({"Id": {"N": "1"}}, keys={"Id": {"N": "1"}}))
    assert not either.matches(ddb_record({"Id": {"N": "2"}}, keys={"Id": {"N": "2"}}))
    assert EventFilter.compile([]).matches(ddb_record(CUSTOMER))


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("single-string", "not valid JSON"),
        ('[{"eventName": ["INSERT"]}]', "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({"eventName": []}, "empty arrays"),
        ({"eventName": "INSERT"}, "array of rules"),
        ({"dynamodb": {}}, "empty object"),
        ({"f": [{"wildcard": "*.png"}]}, "not supported"),
        ({"f": [{"cidr": "10.0.0.0/24"}]}, "not supported"),
        ({"f": [{"numeric": ["!=", 1]}]}, "not valid"),
        ({"f": [{"numeric": ["<", 5, ">", 1]}]}, "lower bound"),
        ({"f": [{"numeric": [">", "1"]}]}, "not valid"),
        ({"f": [{"exists": "true"}]}, "true or false"),
        ({"f": [["nested"]]}, "nested arrays"),
        ({"f": [{"prefix": 1}]}, "expected a string"),
        ({"f": [{"prefix": "a", "suffix": "b"}]}, "exactly one operator"),
        ({"f": [{"anything-but": []}]}, "at least one value"),
    ],
)
def test_invalid_patterns_are_refused(pattern: Any, reason: str) -> None:
    with pytest.raises(FilterPatternError, match=reason):
        Pattern.compile(pattern)


def test_too_many_filters_are_refused() -> None:
    with pytest.raises(FilterPatternError, match="at most"):
        EventFilter.compile([{"eventName": ["INSERT"]}] * (MAX_FILTERS + 1))


def test_a_pattern_string_and_its_object_behave_alike() -> None:
    pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "active"}]}}}}
    as_text = Pattern.compile(json.dumps(pattern))
    as_object = Pattern.compile(pattern)
    for status in ("closed", "active"):
        record = ddb_record({"status": {"S": status}}, event_name="MODIFY")
        assert as_text.matches(record) == as_object.matches(record) == (status == "closed")
