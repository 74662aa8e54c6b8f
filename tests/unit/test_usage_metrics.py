"""Per-turn metrics: what a turn adds to its hour, the percentiles of the fixed histogram, the summary,
and the hourly counters on a moto server (one BatchGetItem per read, tenants apart)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from luma.config import Settings
from luma.usage.metrics import (
    BOUNDS_MS,
    DynamoTurnMetrics,
    NoTurnMetrics,
    TurnRecord,
    bucket_of,
    histogram,
    metrics_pk,
    percentile,
    summarize,
)

from local.devstack import MotoServer

HOUR = datetime(2026, 9, 21, 10, tzinfo=UTC)


def test_buckets_are_upper_bounds_and_the_last_one_is_open() -> None:
    assert bucket_of(0) == 0 and bucket_of(25) == 0 and bucket_of(25.1) == 1
    assert bucket_of(BOUNDS_MS[-1]) == len(BOUNDS_MS) - 1 and bucket_of(10**7) == len(BOUNDS_MS)


def test_percentiles_interpolate_within_the_bucket() -> None:
    counts = [0] * (len(BOUNDS_MS) + 1)
    counts[bucket_of(20)] = 50  # (0, 25]
    counts[bucket_of(60)] = 50  # (50, 75]
    assert percentile(counts, 0.5) == 25.0  # the 50th of 100 is the top of the first bucket
    assert percentile(counts, 0.95) == pytest.approx(50 + 25 * 45 / 50, abs=0.1)
    assert percentile([0] * len(counts), 0.95) is None
    slow = [0] * len(counts)
    slow[-1] = 3
    assert percentile(slow, 0.95) == float(BOUNDS_MS[-1])  # past the last bound: its lower edge


def test_a_turn_adds_its_counters() -> None:
    fast = TurnRecord("demo", "fast_path", "hours", ok=True, response_ms=18.4).adds()
    assert fast == {"n": 1, "ok": 1, "ms": 18, "h0": 1, "i_hours": 1, "r_fast_path": 1}
    agent = TurnRecord(
        "demo",
        "agent",
        None,
        ok=False,
        response_ms=1200,
        code="AGENT_TIMEOUT",
        input_tokens=900,
        output_tokens=100,
        generation_ms=2000,
        credits=4200,
        model="claude-haiku-4-5",
    ).adds()
    assert agent["err"] == 1 and agent["e_AGENT_TIMEOUT"] == 1 and agent["i_none"] == 1 and agent["agent"] == 1
    assert agent["tin"] == 900 and agent["tout"] == 100 and agent["gen_ms"] == 2000 and agent["cred"] == 4200
    assert agent["m_claude-haiku-4-5"] == 1 and agent["c_claude-haiku-4-5"] == 4200
    assert TurnRecord("demo", None, "odd intent/name", False, 5, "X").adds()["i_odd_intent_name"] == 1


def added(*turns: TurnRecord) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in turns:
        for k, v in t.adds().items():
            out[k] = out.get(k, 0) + v
    return out


def test_the_summary_from_hourly_counters() -> None:
    first = added(
        TurnRecord("demo", "fast_path", "hours", True, 20),
        TurnRecord("demo", "flow", "verify", True, 30),
        TurnRecord("demo", None, "hours", False, 10, code="RATE_LIMITED"),
    )
    second = added(
        TurnRecord("demo", "agent", None, True, 900, input_tokens=1000, output_tokens=200, generation_ms=4000,
                   credits=1500, model="m1"),
    )  # fmt: skip
    out = summarize([(HOUR, first), (HOUR.replace(hour=11), second), (HOUR.replace(hour=12), {})])
    assert out["totalRequests"] == 4 and out["hours"] == 3 and out["from"] == "2026-09-21T10:00:00Z"
    assert out["successRate"] == 0.75 and out["errorRate"] == 0.25
    assert out["errorCounts"] == {"RATE_LIMITED": 1}
    assert out["intentDistribution"] == {"hours": 2, "none": 1, "verify": 1}
    assert out["fastPathShare"] == 0.5 and out["routes"] == {"agent": 1, "fast_path": 1, "flow": 1}
    assert out["avgResponseMs"] == 240.0 and out["p95ResponseMs"] == 920.0  # rank 3.8 of 4: 0.8 into (600, 1000]
    assert out["avgTokensPerRequest"] == 300.0 and out["avgTokensPerAgentTurn"] == 1200.0
    assert out["tokensPerSecond"] == 50.0  # 200 output tokens over 4 s of streaming
    assert out["cost"] == 0.0015 and out["costCredits"] == 1500 and out["costByModel"] == {"m1": 0.0015}
    assert [h["totalRequests"] for h in out["hourly"]] == [3, 1, 0]
    assert out["hourly"][2]["errorRate"] is None and sum(out["latencyHistogram"]) == 4


def test_nothing_counted_reads_as_empty_hours() -> None:
    out = summarize(NoTurnMetrics().read("demo", 5))
    assert out["totalRequests"] == 0 and out["successRate"] is None and out["hours"] == 5


@pytest.fixture(scope="module")
def store() -> Iterator[Settings]:
    server = MotoServer()
    server.start()
    try:
        table = f"usage-{uuid.uuid4().hex[:8]}"
        boto3.client(
            "dynamodb",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Settings(_env_file=None, dynamodb_endpoint_url=server.endpoint, usage_table=table)  # type: ignore[call-arg]
    finally:
        server.stop()


class Counting:
    """A DynamoDB client that counts the calls it forwards."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def __getattr__(self, name: str) -> Any:
        def call(**kw: Any) -> Any:
            self.calls.append(name)
            return getattr(self.inner, name)(**kw)

        return call


def test_hourly_counters_on_dynamodb_one_batch_read_per_request(store: Settings) -> None:
    clock_t = [HOUR.timestamp() + 60]
    metrics = DynamoTurnMetrics(store, clock=lambda: clock_t[0])
    tenant, other = f"t{uuid.uuid4().hex[:6]}", f"t{uuid.uuid4().hex[:6]}"
    metrics.record(TurnRecord(tenant, "fast_path", "hours", True, 22))
    metrics.record(TurnRecord(other, "fast_path", "hours", True, 22))
    clock_t[0] += 3600  # the next hour
    for _ in range(3):
        metrics.record(TurnRecord(tenant, "agent", None, True, 700, input_tokens=10, output_tokens=5, credits=9))
    item = metrics.client.get_item(
        TableName=store.usage_table, Key={"pk": {"S": metrics_pk(tenant, HOUR.replace(hour=11))}, "sk": {"S": "MET"}}
    )["Item"]
    assert item["n"]["N"] == "3" and int(item["ttl"]["N"]) > clock_t[0]
    counting = Counting(metrics.client)
    reader = DynamoTurnMetrics(store, clock=lambda: clock_t[0], client=counting)
    hours = reader.read(tenant, 3)
    assert counting.calls == ["batch_get_item"]
    assert [h.hour for h, _ in hours] == [9, 10, 11]
    out = summarize(hours)
    assert out["totalRequests"] == 4 and out["agentTurns"] == 3 and out["costCredits"] == 27
    assert summarize(reader.read(other, 3))["totalRequests"] == 1  # tenants apart
    assert len(reader.read(tenant, 150)) == 150 and counting.calls.count("batch_get_item") == 4  # 100 keys a call


def test_a_failing_store_never_reaches_the_turn() -> None:
    class Down:
        def update_item(self, **_: Any) -> Any:
            raise ConnectionError("down")

    DynamoTurnMetrics(Settings(_env_file=None), client=Down()).record(TurnRecord("demo", "flow", None, True, 1))  # type: ignore[call-arg]


def test_histogram_reads_missing_buckets_as_zero() -> None:
    assert histogram({"h3": 2}) == [0, 0, 0, 2] + [0] * (len(BOUNDS_MS) - 3)
