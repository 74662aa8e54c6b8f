"""Dead-letter queues: async invocations that failed their retries, stream batches given up on, ``luma dlq``.

A real local stack (moto server, gateway with the Lambda Invoke API, runtime) on the fixture
functions; ``async_flaky`` fails its first ``fail_times`` runs, ``stream_flaky`` as its records say.
The CLI runs against the stack the way a developer runs it against ``luma dev``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from luma.ops import dlq  # noqa: E402
from luma.ops.dlq import Target, dlq_name, parse_dlq_name, redrive  # noqa: E402

from local.devstack import LocalStack  # noqa: E402
from local.streams import LocalEventSources, infra_config, start_local_event_sources  # noqa: E402

FUNCTIONS_DIR = REPO / "tests" / "fixtures" / "functions"
SECRET = "test-secret-for-the-dlq-tests-0123456789"
config = infra_config()


@dataclass(frozen=True)
class _StreamSpec(config.StreamSpec):  # type: ignore[misc]
    bisect_batch_on_error: bool = True


FIXTURE_FUNCTIONS = {
    "async_flaky": config.FunctionSpec(async_invoked=True, async_retry_attempts=2, timeout_s=10),
    "stream_flaky": config.FunctionSpec(
        timeout_s=10,
        stream=_StreamSpec(
            table="conversations",
            filters=({"dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "M#"}]}}}},),
            batch_size=10,
            max_batching_window_s=0.3,  # type: ignore[arg-type]
            retry_attempts=0,
            bisect_batch_on_error=False,
        ),
    ),
}


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("records")
    previous = os.environ.get("LUMA_TEST_RECORD_DIR")
    os.environ["LUMA_TEST_RECORD_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("LUMA_TEST_RECORD_DIR", None)
    else:
        os.environ["LUMA_TEST_RECORD_DIR"] = previous


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, record_dir: Path) -> Iterator[LocalStack]:
    with LocalStack(
        0,
        functions_dir=FUNCTIONS_DIR,
        web_dir=tmp_path_factory.mktemp("web"),
        seed=False,
        llm="none",
        extra_env={"LUMA_DEV_JWT_SECRET": SECRET},
    ) as local:
        yield local
    _rebind_luma()


def _rebind_luma() -> None:
    from luma import wiring
    from luma.config import get_settings, reset_settings
    from luma.store.models import bind_models

    reset_settings()
    wiring.reset()
    if os.environ.get("LUMA_DYNAMODB_ENDPOINT_URL"):
        bind_models(get_settings())


@pytest.fixture(scope="module")
def sources(stack: LocalStack) -> Iterator[LocalEventSources]:
    """The fixture functions wired as config wires real ones: async retries, DLQs, a stream mapping."""
    started = start_local_event_sources(
        stack.runtime,  # type: ignore[arg-type]
        stack.moto.endpoint,
        stage="local",
        functions=FIXTURE_FUNCTIONS,
        async_retry_delays_s=(0.05, 0.1),
        poll_interval_s=0.05,
        retry_delay_s=0.01,
    )
    yield started
    started.stop()


def client(stack: LocalStack, service: str, endpoint: str | None = None) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint or stack.moto.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def sqs(stack: LocalStack, sources: LocalEventSources) -> Any:
    """SQS on the stack, the fixture queues emptied before each test."""
    sqs = client(stack, "sqs")
    for urls in sources.dead_letter_queues.values():
        for url in urls.values():  # PurgeQueue is allowed once a minute
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sqs


@pytest.fixture
def target(stack: LocalStack, sources: LocalEventSources) -> Target:
    """What ``luma dlq`` builds for the stack, with the fixture functions' config (timeouts, filters)."""
    return Target(
        stage="local",
        sqs=client(stack, "sqs"),
        streams=client(stack, "dynamodbstreams"),
        lambda_=client(stack, "lambda", stack.url),
        region="us-east-1",
        functions=FIXTURE_FUNCTIONS,
        receive_wait_s=0,
    )


def queue_url(sources: LocalEventSources, function: str, kind: str) -> str:
    return sources.dead_letter_queues[function][kind]


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def runs(record_dir: Path, event_id: str) -> list[dict[str, Any]]:
    path = record_dir / "async_flaky.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["id"] == event_id]


def fail_async(stack: LocalStack, event: dict[str, Any]) -> None:
    """An Event invocation that fails all its attempts (1 + 2 retries), then lands in the DLQ."""
    assert stack.runtime is not None
    stack.runtime.invoke_async("async_flaky", event)
    assert stack.runtime.wait_idle(20)


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = dlq.main([*args, "--port", str(stack.port)])
    out, err = capsys.readouterr()
    return code, out, err


# -- names ---------------------------------------------------------------------------------------
def test_queue_names_are_cdks() -> None:
    for stage in ("local", "dev", "production"):
        stage_config = config.StageConfig(name=stage)
        for name in config.FUNCTIONS:
            for kind in ("async", "stream"):
                expected = f"{stage_config.prefix(name)}-{kind}-dlq"  # constructs/functions.py
                assert dlq_name(stage, name, kind) == expected
                assert parse_dlq_name(stage, expected) == (name, kind)
    assert parse_dlq_name("dev", "luma-dev-fast-path-dlq") is None
    assert parse_dlq_name("dev", "luma-production-fast-path-async-dlq") is None


# -- async invocations ------------------------------------------------------------------------------
def test_a_failed_async_invocation_lands_in_the_dlq_after_its_retries(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path
) -> None:
    event = {"id": "a1", "fail_times": 5, "text": "call me on +33 6 12 34 56 78"}
    fail_async(stack, event)
    attempts = runs(record_dir, "a1")
    assert [r["ok"] for r in attempts] == [False, False, False]  # the first run and Lambda's 2 retries
    assert len({r["requestId"] for r in attempts}) == 1  # one async request, retried

    url = queue_url(sources, "async_flaky", "async")
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestPayload"] == event
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": attempts[0]["requestId"],
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:async_flaky:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "planned failure 3 of a1"


def test_list_shows_depth_age_and_a_masked_sample(
    stack: LocalStack, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_async(stack, {"id": "l1", "fail_times": 5, "text": "I am Alice Martin, alice@example.com"})
    code, out, _ = cli(stack, capsys, "list", "--function", "async_flaky", "--json")
    assert code == 0
    [queue] = json.loads(out)["queues"]
    assert (queue["queue"], queue["function"], queue["kind"]) == (
        "luma-local-async-flaky-async-dlq",
        "async_flaky",
        "async",
    )
    assert queue["messages"] == 1 and queue["oldestAgeS"] is not None and queue["oldestAgeS"] >= 0
    [sample] = queue["sample"]
    assert sample["condition"] == "RetriesExhausted" and sample["error"].startswith("RuntimeError")
    assert sample["event"]["id"] == "l1"
    assert "alice" not in json.dumps(sample).lower()  # the personal text is masked
    assert sample["event"]["text"].startswith("<redacted")
    # Looking does not take: the message is still there and visible.
    code, out, _ = cli(stack, capsys, "list", "--function", "async-flaky")
    assert code == 0 and "luma-local-async-flaky-async-dlq" in out and "1 messages, 0 in flight" in out


def test_redrive_succeeds_once_and_a_second_run_redrives_nothing(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_async(stack, {"id": "r1", "fail_times": 3})  # the 4th run, the redrive, succeeds
    url = queue_url(sources, "async_flaky", "async")
    assert depth(sqs, url) == 1

    code, out, err = cli(stack, capsys, "redrive", "--function", "async_flaky")
    assert code == 0, err
    assert out.strip() == "1 redriven"
    assert "redriven" in err  # progress, message by message
    assert [r["ok"] for r in runs(record_dir, "r1")] == [False, False, False, True]
    assert depth(sqs, url) == 0

    code, out, _ = cli(stack, capsys, "redrive", "--function", "async_flaky")
    assert (code, out.strip()) == (0, "nothing to redrive")
    assert len(runs(record_dir, "r1")) == 4  # not processed again


def test_a_failing_redrive_keeps_the_message_visible(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path, target: Target
) -> None:
    fail_async(stack, {"id": "k1", "fail_times": 4})  # still fails on the first redrive
    url = queue_url(sources, "async_flaky", "async")
    [outcome] = redrive(target, "async_flaky", max_messages=None, dry_run=False)
    assert outcome.status == "failed" and "planned failure 4" in outcome.detail
    assert depth(sqs, url) == 1  # kept, and visible again for the next run
    [outcome] = redrive(target, "async_flaky", max_messages=None, dry_run=False)
    assert outcome.status == "redriven"
    assert depth(sqs, url) == 0


def test_concurrent_redrives_process_each_message_once(
    stack: LocalStack, sqs: Any, record_dir: Path, target: Target
) -> None:
    ids = [f"c{i}" for i in range(4)]
    assert stack.runtime is not None
    for event_id in ids:
        stack.runtime.invoke_async("async_flaky", {"id": event_id, "fail_times": 3, "sleep_s": 0.2})
    assert stack.runtime.wait_idle(20)
    results: list[list[Any]] = []

    def run() -> None:
        results.append(redrive(target, "async_flaky", max_messages=None, dry_run=False))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    outcomes = [o for batch in results for o in batch]
    assert sorted(o.status for o in outcomes) == ["redriven"] * 4
    for event_id in ids:
        assert [r["ok"] for r in runs(record_dir, event_id)] == [False, False, False, True]


def test_dry_run_changes_nothing(stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path) -> None:
    fail_async(stack, {"id": "d1", "fail_times": 3})
    url = queue_url(sources, "async_flaky", "async")
    code = dlq.main(["redrive", "--dry-run", "--function", "async_flaky", "--port", str(stack.port), "--json"])
    assert code == 0
    assert len(runs(record_dir, "d1")) == 3
    assert depth(sqs, url) == 1


def test_classic_dlq_messages_and_unreadable_ones(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path, target: Target
) -> None:
    url = queue_url(sources, "async_flaky", "async")
    # A DeadLetterConfig queue's message: the event itself, the error in message attributes.
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"id": "classic1"}),
        MessageAttributes={
            "RequestID": {"DataType": "String", "StringValue": "req-1"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "boom"},
        },
    )
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    outcomes = {o.status: o for o in redrive(target, "async_flaky", max_messages=None, dry_run=False)}
    assert set(outcomes) == {"redriven", "unreadable"}
    assert [r["ok"] for r in runs(record_dir, "classic1")] == [True]
    assert depth(sqs, url) == 1  # the unreadable one is kept for a person to look at
    code = dlq.main(["redrive", "--function", "async_flaky", "--port", str(stack.port)])
    assert code == 1


# -- stream failures -----------------------------------------------------------------------------
def put(stack: LocalStack, pk: str, sk: str, mode: str) -> None:
    client(stack, "dynamodb").put_item(
        TableName="luma-conversations", Item={"pk": {"S": pk}, "sk": {"S": sk}, "mode": {"S": mode}}
    )


def flaky_events(record_dir: Path, pk: str) -> list[dict[str, Any]]:
    path = record_dir / "stream_flaky.jsonl"
    lines = [json.loads(line)["event"] for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in lines if e["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] == pk]


def test_a_stream_failure_is_redriven_from_the_stream(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, record_dir: Path, target: Target
) -> None:
    pk = "T#demo#S#redrive"
    put(stack, pk, "M#1", "fail-1")
    put(stack, pk, "X#1", "ok")  # between them in the stream, but not for this mapping
    put(stack, pk, "M#2", "fail-1")
    assert sources.wait_idle(10)
    [delivered] = flaky_events(record_dir, pk)  # one batch, no retries, then the DLQ
    url = queue_url(sources, "stream_flaky", "stream")
    [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2

    [outcome] = redrive(target, "stream_flaky", max_messages=None, dry_run=False)
    assert (outcome.status, outcome.detail) == ("redriven", "2 records of 2")
    first, again = flaky_events(record_dir, pk)
    assert again == first == delivered  # the same records, filtered as the mapping filters them
    assert depth(sqs, url) == 0


def test_a_stream_failure_whose_records_are_gone_is_reported_expired(
    stack: LocalStack, sqs: Any, sources: LocalEventSources, target: Target
) -> None:
    streams = client(stack, "dynamodbstreams")
    arn = streams.list_streams(TableName="luma-conversations")["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    far = str(10**30)  # beyond anything the stream holds
    record = {
        "requestContext": {"requestId": "r", "functionArn": "f", "condition": "RetryAttemptsExhausted"},
        "responseContext": {"statusCode": 200},
        "version": "1.0",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": far,
            "endSequenceNumber": far,
            "batchSize": 1,
            "streamArn": arn,
        },
    }
    url = queue_url(sources, "stream_flaky", "stream")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    [outcome] = redrive(target, "stream_flaky", max_messages=None, dry_run=False)
    assert outcome.status == "expired"
    assert depth(sqs, url) == 1
    [outcome] = redrive(target, "stream_flaky", max_messages=None, dry_run=False, drop_expired=True)
    assert outcome.status == "expired"
    assert depth(sqs, url) == 0


def test_list_without_a_running_stack_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from local.server import free_port

    code = dlq.main(["list", "--port", str(free_port("127.0.0.1"))])
    _, err = capsys.readouterr()
    assert code == 1 and "no `luma dev` answers" in err


def test_without_stream_consumers_the_dead_letter_queues_and_retries_stay(stack: LocalStack) -> None:
    started = start_local_event_sources(
        stack.runtime,  # type: ignore[arg-type]
        stack.moto.endpoint,
        stage="local",
        functions=FIXTURE_FUNCTIONS,
        stream_consumers=False,
    )
    try:
        assert started.info()["consumers"] == {}
        assert any("stream" in kinds for kinds in started.dead_letter_queues.values())
        assert stack.runtime is not None and stack.runtime.async_retries is not None
    finally:
        started.stop()
