"""The local stack's moto Query patch answers exactly as moto does, without sorting the whole table.

Every query runs twice against the same emulated table — moto's own ``Table.query`` and the
patched one — and the pages must be equal: partitions, index queries, key conditions, order,
limits with pagination and filters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from moto.dynamodb.models.table import Table

from local import moto_patches

TABLE = "items"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "owner", "AttributeType": "S"},
                {"AttributeName": "score", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_owner",
                    "KeySchema": [
                        {"AttributeName": "owner", "KeyType": "HASH"},
                        {"AttributeName": "score", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "by_score",
                    "KeySchema": [{"AttributeName": "score", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
        )
        for p in range(12):
            for s in range(15):
                item: dict[str, Any] = {"pk": {"S": f"P{p:02d}"}, "sk": {"S": f"S#{s:03d}"}, "n": {"N": str(s % 4)}}
                if (p + s) % 3:  # some items are not in the indexes
                    item["owner"] = {"S": f"o{(p * s) % 5}"}
                    item["score"] = {"N": str((p * 7 + s) % 9)}
                client.put_item(TableName=TABLE, Item=item)
        yield client


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P03"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nope"}}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "P05"}, ":s": {"S": "S#01"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "P07"}, ":a": {"S": "S#003"}, ":b": {"S": "S#011"}, ":n": {"N": "1"}},
        "FilterExpression": "n = :n",
        "Limit": 3,
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P00"}}, "Limit": 4},
    {
        "IndexName": "by_owner",
        "KeyConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": "o2"}},
        "Limit": 5,
    },
    {
        "IndexName": "by_owner",
        "KeyConditionExpression": "#o = :o AND score > :s",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": "o0"}, ":s": {"N": "3"}},
        "ScanIndexForward": False,
    },
    {
        "IndexName": "by_score",
        "KeyConditionExpression": "score = :s",
        "ExpressionAttributeValues": {":s": {"N": "4"}},
        "Limit": 6,
    },
]


def _pages(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    pages, start = [], None
    while True:
        page = client.query(TableName=TABLE, **query, **({"ExclusiveStartKey": start} if start else {}))
        page.pop("ResponseMetadata", None)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


@pytest.mark.parametrize("query", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
def test_scoped_query_answers_like_moto(ddb: Any, query: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _pages(ddb, query)
    assert any(page["Items"] for page in expected) or query["ExpressionAttributeValues"].get(":p") == {"S": "nope"}
    calls: list[int] = []
    original_all_items = Table.all_items

    def counting(self: Table) -> list[Any]:
        calls.append(1)
        return original_all_items(self)

    monkeypatch.setattr(Table, "all_items", counting)
    monkeypatch.setattr(Table, "query", moto_patches._query(Table.query))
    monkeypatch.setattr(Table, "all_items", moto_patches._all_items(Table.all_items))
    assert _pages(ddb, query) == expected
    if "IndexName" not in query:  # a partition query no longer lists (and sorts) the whole table
        assert calls == []


def test_scan_keeps_moto_order(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = ddb.scan(TableName=TABLE, Limit=50)["Items"]
    monkeypatch.setattr(Table, "query", moto_patches._query(Table.query))
    monkeypatch.setattr(Table, "all_items", moto_patches._all_items(Table.all_items))
    assert ddb.scan(TableName=TABLE, Limit=50)["Items"] == expected


def test_interpreter_parses_a_definition_once_and_shares_clients() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    parse = moto_patches._cached_parse(AmazonStateLanguageParser.parse)
    definition = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
    first, tree = parse(definition)
    second, same_tree = parse(definition)
    assert same_tree is tree and second is not first  # one parse; fresh components per execution
    assert type(second) is type(first)
    with pytest.raises(ASLParserException):
        parse('{"StartAt": "A", "States": {"A": {"Type": "Nope"}}}')
    assert len(moto_patches._PARSE_TREES) <= moto_patches._PARSE_TREES_MAX

    built: list[tuple[str, str]] = []
    shared = moto_patches._shared_boto_client_for(
        lambda region, service, creds=None: built.append((region, service)) or object()
    )
    assert shared("us-east-1", "lambda") is shared("us-east-1", "lambda")
    assert shared("us-east-1", "lambda") is not shared("eu-west-1", "lambda")
    assert built == [("us-east-1", "lambda"), ("eu-west-1", "lambda")]
