"""Stream consumers run locally like Lambda's event-source mappings (local/streams.py).

A real moto server with a real DynamoDB stream, the fixture consumers ``stream_echo`` and
``stream_flaky`` (tests/fixtures/functions) run by the real local runtime, mappings configured with
config's own ``StreamSpec``/``FunctionSpec``, failures in the emulator's SQS.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local.devstack import MotoServer  # noqa: E402
from local.runtime import LambdaRuntime  # noqa: E402
from local.streams import Consumer, LocalEventSources, StreamPoller, infra_config, start_local_event_sources  # noqa: E402

FUNCTIONS_DIR = REPO / "tests" / "fixtures" / "functions"
TABLE = "luma-conversations"  # config.TABLES["conversations"] with the default settings
STAGE = "test"
config = infra_config()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def _client(service: str, moto: MotoServer) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=moto.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def ddb(moto: MotoServer) -> Any:
    client = _client("dynamodb", moto)
    # Created without a stream, as luma.store.tables creates it today: the local wiring turns it on.
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture(scope="module")
def runtime() -> Iterator[LambdaRuntime]:
    rt = LambdaRuntime(FUNCTIONS_DIR, max_workers=4)
    yield rt
    rt.shutdown(timeout=5)


@pytest.fixture
def record_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LUMA_TEST_RECORD_DIR", str(tmp_path))
    return tmp_path


Start = Callable[..., LocalEventSources]


@pytest.fixture
def start(moto: MotoServer, ddb: Any, runtime: LambdaRuntime, record_dir: Path) -> Iterator[Start]:
    """Start the local event sources for fixture consumers (``name=StreamSpec(...)``, bisect optional)."""
    started: list[LocalEventSources] = []

    def _start(**streams: Any) -> LocalEventSources:
        functions = {name: config.FunctionSpec(stream=spec) for name, spec in streams.items()}
        sources = start_local_event_sources(
            runtime,
            moto.endpoint,
            stage=STAGE,
            functions=functions,
            poll_interval_s=0.05,
            idle_poll_interval_s=0.1,
            retry_delay_s=0.01,
            max_retry_delay_s=0.05,
        )
        started.append(sources)
        return sources

    yield _start
    for sources in started:
        sources.stop()


@dataclass(frozen=True)
class _StreamSpec(config.StreamSpec):  # type: ignore[misc]
    """config.StreamSpec plus the switch CDK hard-codes today (BisectBatchOnFunctionError: true)."""

    bisect_batch_on_error: bool = True


def stream_spec(**overrides: Any) -> Any:
    settings: dict[str, Any] = {"table": "conversations", "batch_size": 5, "max_batching_window_s": 0.3}
    settings.update(overrides)
    return _StreamSpec(**settings)


def put(ddb: Any, pk: str, sk: str, **attributes: Any) -> None:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    for name, value in attributes.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
    ddb.put_item(TableName=TABLE, Item=item)


def invocations(record_dir: Path, function: str) -> list[dict[str, Any]]:
    path = record_dir / f"{function}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def delivered(record_dir: Path, function: str, pk: str) -> list[list[str]]:
    """Per invocation, the sort keys of ``pk``'s records it got."""
    out = []
    for line in invocations(record_dir, function):
        keys = [r["dynamodb"]["Keys"]["sk"]["S"] for r in line["event"]["Records"] if _pk(r) == pk]
        if keys:
            out.append(keys)
    return out


def _pk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def dead_letters(moto: MotoServer, function: str) -> list[dict[str, Any]]:
    sqs = _client("sqs", moto)
    url = sqs.get_queue_url(QueueName=f"luma-{STAGE}-{function.replace('_', '-')}-stream-dlq")["QueueUrl"]
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        fresh = [json.loads(m["Body"]) for m in batch if json.loads(m["Body"]) not in out]
        if not fresh:
            return out
        out += fresh
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def sequence(moto: MotoServer, pk: str, sk: str) -> str:
    """The sequence number of the last stream record of an item (read back from the stream)."""
    streams = _client("dynamodbstreams", moto)
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    keys = [r for r in records if r["dynamodb"]["Keys"] == {"pk": {"S": pk}, "sk": {"S": sk}}]
    return str(keys[-1]["dynamodb"]["SequenceNumber"])


# -- delivery ------------------------------------------------------------------------------------
def test_only_matching_records_arrive_in_aws_shaped_batches(start: Start, ddb: Any, record_dir: Path) -> None:
    filters = ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "M#"}]}}}},)
    sources = start(stream_echo=stream_spec(filters=filters, batch_size=2))
    pk = "T#demo#S#deliver"
    put(ddb, pk, "M#1", text="hello", count=5)
    put(ddb, pk, "R#1", route="fast_path")  # another kind of item: dropped
    put(ddb, pk, "M#2", text="again")
    put(ddb, pk, "M#1", text="edited")  # MODIFY: dropped
    put(ddb, pk, "M#3", text="third")
    assert sources.wait_idle(10)

    assert delivered(record_dir, "stream_echo", pk) == [["M#1", "M#2"], ["M#3"]]  # batch_size 2, in order
    first = invocations(record_dir, "stream_echo")[0]
    record = first["event"]["Records"][0]
    description = ddb.describe_table(TableName=TABLE)["Table"]
    assert description["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert (record["eventName"], record["eventVersion"], record["eventSource"]) == ("INSERT", "1.1", "aws:dynamodb")
    assert record["eventSourceARN"] == description["LatestStreamArn"]
    dynamodb = record["dynamodb"]
    assert set(dynamodb) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert abs(dynamodb["ApproximateCreationDateTime"] - time.time()) < 60
    assert dynamodb["Keys"] == {"pk": {"S": pk}, "sk": {"S": "M#1"}}
    assert dynamodb["NewImage"]["count"] == {"N": "5"}
    assert dynamodb["StreamViewType"] == "NEW_IMAGE"
    # luma.streams hands the logic deserialized images; the function answered "no failures".
    change = first["changes"][0]
    assert change["newImage"]["text"] == "hello" and change["oldImage"] is None
    assert change["types"]["count"] == Decimal.__name__
    assert change["sequenceNumber"] == dynamodb["SequenceNumber"]
    assert first["response"] == {"batchItemFailures": []}


def test_a_consumer_sees_an_item_within_a_second(start: Start, ddb: Any, record_dir: Path) -> None:
    sources = start(stream_echo=stream_spec(max_batching_window_s=0.2))
    pk = "T#demo#S#latency"
    written = time.monotonic()
    put(ddb, pk, "M#1")
    while not delivered(record_dir, "stream_echo", pk) and time.monotonic() - written < 5:
        time.sleep(0.02)
    assert delivered(record_dir, "stream_echo", pk) == [["M#1"]]
    assert time.monotonic() - written < 1.0
    assert sources.wait_idle(5)


def test_records_of_a_shard_stay_in_order_without_duplicates(start: Start, ddb: Any, record_dir: Path) -> None:
    sources = start(stream_echo=stream_spec(batch_size=7, max_batching_window_s=0.05))
    pk = "T#demo#S#order"
    keys = [f"M#{i:03d}" for i in range(40)]
    for key in keys:
        put(ddb, pk, key)
    assert sources.wait_idle(15)
    batches = delivered(record_dir, "stream_echo", pk)
    assert [k for batch in batches for k in batch] == keys
    assert all(len(batch) <= 7 for batch in batches)
    sequences = [
        int(r["dynamodb"]["SequenceNumber"])
        for line in invocations(record_dir, "stream_echo")
        for r in line["event"]["Records"]
    ]
    assert sequences == sorted(sequences)


# -- failures ------------------------------------------------------------------------------------
def test_partial_failure_is_retried_from_the_failed_record(start: Start, ddb: Any, record_dir: Path) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=3))
    pk = "T#demo#S#partial"
    put(ddb, pk, "A", mode="ok")
    put(ddb, pk, "B", mode="fail-1")
    put(ddb, pk, "C", mode="ok")
    assert sources.wait_idle(10)
    # B failed once: Lambda checkpoints after A and retries from B (C comes again, A never does).
    assert delivered(record_dir, "stream_flaky", pk) == [["A", "B", "C"], ["B", "C"]]
    assert sources.poller.stats()["stream_flaky"] == {"batches": 2, "records": 5, "deadLettered": 0}


def test_an_exception_retries_the_whole_batch(start: Start, ddb: Any, record_dir: Path) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=3, bisect_batch_on_error=False))
    pk = "T#demo#S#crash"
    put(ddb, pk, "A", mode="ok")
    put(ddb, pk, "B", mode="crash-1")
    put(ddb, pk, "C", mode="ok")
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_flaky", pk) == [["A", "B", "C"], ["A", "B", "C"]]
    lines = invocations(record_dir, "stream_flaky")
    assert lines[0]["event"] == lines[1]["event"]  # the same records, byte for byte
    assert lines[0]["requestId"] != lines[1]["requestId"]


def test_exhausted_retries_send_the_batch_range_to_the_dlq(
    start: Start, ddb: Any, record_dir: Path, moto: MotoServer
) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=2))
    pk = "T#demo#S#exhausted"
    put(ddb, pk, "A", mode="ok")
    put(ddb, pk, "B", mode="fail")
    put(ddb, pk, "C", mode="ok")
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_flaky", pk) == [["A", "B", "C"], ["B", "C"], ["B", "C"]]

    [failure] = dead_letters(moto, "stream_flaky")
    info = failure["DDBStreamBatchInfo"]
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    assert info["streamArn"] == arn
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (
        sequence(moto, pk, "B"),
        sequence(moto, pk, "C"),
    )
    assert info["batchSize"] == 2 and info["shardId"].startswith("shardId-")
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    context = failure["requestContext"]
    assert context["condition"] == "RetryAttemptsExhausted" and context["approximateInvokeCount"] == 3
    assert context["functionArn"].endswith(":function:stream_flaky")
    assert context["requestId"] == invocations(record_dir, "stream_flaky")[-1]["requestId"]
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}  # it answered, not raised
    assert failure["version"] == "1.0" and "Records" not in json.dumps(failure)

    put(ddb, pk, "D", mode="ok")  # the mapping moved on
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_flaky", pk)[-1] == ["D"]


def test_bisect_isolates_a_poison_record(start: Start, ddb: Any, record_dir: Path, moto: MotoServer) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=1, bisect_batch_on_error=True))
    pk = "T#demo#S#bisect"
    for key, mode in (("A", "ok"), ("B", "crash"), ("C", "ok"), ("D", "ok")):
        put(ddb, pk, key, mode=mode)
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_flaky", pk) == [
        ["A", "B", "C", "D"],
        ["A", "B"],
        ["A"],
        ["B"],
        ["B"],
        ["C", "D"],
    ]
    [failure] = dead_letters(moto, "stream_flaky")
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence(moto, pk, "B")
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["requestContext"]["approximateInvokeCount"] == 2


def test_an_invalid_failure_report_fails_the_whole_batch(
    start: Start, ddb: Any, record_dir: Path, moto: MotoServer
) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=1))
    pk = "T#demo#S#invalid"
    put(ddb, pk, "A", mode="ok")
    put(ddb, pk, "B", mode="bad-response")
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_flaky", pk) == [["A", "B"], ["A", "B"]]
    [failure] = dead_letters(moto, "stream_flaky")
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 2


def test_records_older_than_the_limit_are_given_up(start: Start, ddb: Any, record_dir: Path, moto: MotoServer) -> None:
    sources = start(stream_flaky=stream_spec(retry_attempts=-1, max_record_age_s=1, batch_size=1))
    pk = "T#demo#S#old"
    put(ddb, pk, "A", mode="crash")
    assert sources.wait_idle(10)
    [failure] = dead_letters(moto, "stream_flaky")
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == len(delivered(record_dir, "stream_flaky", pk)) > 1


# -- lifecycle -----------------------------------------------------------------------------------
def test_stop_is_prompt_and_nothing_is_delivered_after(start: Start, ddb: Any, record_dir: Path) -> None:
    sources = start(stream_echo=stream_spec(batch_size=100, max_batching_window_s=30))
    pk = "T#demo#S#stop"
    put(ddb, pk, "M#1")
    deadline = time.monotonic() + 5
    while not sources.poller.mappings[0].queue and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sources.poller.mappings[0].queue  # read, waiting for its batching window
    threads = sources.poller.threads
    began = time.monotonic()
    sources.stop()
    assert time.monotonic() - began < 1.0
    assert len(threads) == 2 and not any(t.is_alive() for t in threads)
    assert delivered(record_dir, "stream_echo", pk) == []
    assert not sources.wait_idle(0.2)  # a stopped poller is never idle-and-caught-up


def test_records_written_before_start_are_not_delivered(start: Start, ddb: Any, record_dir: Path) -> None:
    pk = "T#demo#S#latest"
    put(ddb, pk, "M#before")
    sources = start(stream_echo=stream_spec(max_batching_window_s=0.05))  # LATEST, as CDK's mappings
    put(ddb, pk, "M#after")
    assert sources.wait_idle(10)
    assert delivered(record_dir, "stream_echo", pk) == [["M#after"]]


def test_a_recreated_table_is_followed_to_its_new_stream(
    moto: MotoServer, runtime: LambdaRuntime, record_dir: Path
) -> None:
    """Tests drop and create tables: the poller finds the new stream and reads it from its start."""
    ddb = _client("dynamodb", moto)
    table = "luma-streams-recreated"

    def create() -> None:
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )

    def write(sk: str) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": "T#demo#S#recreated"}, "sk": {"S": sk}})

    create()
    consumer = Consumer("stream_echo", table, max_batching_window_s=0.05)
    poller = StreamPoller(runtime, moto.endpoint, [consumer], poll_interval_s=0.05, idle_poll_interval_s=0.1).start()
    try:
        write("M#1")
        assert poller.wait_idle(10)
        ddb.delete_table(TableName=table)
        create()
        write("M#2")
        deadline = time.monotonic() + 15
        while len(delivered(record_dir, "stream_echo", "T#demo#S#recreated")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert delivered(record_dir, "stream_echo", "T#demo#S#recreated") == [["M#1"], ["M#2"]]
    finally:
        poller.stop()
