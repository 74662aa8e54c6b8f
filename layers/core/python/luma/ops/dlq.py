"""The functions' dead-letter queues: their names, and ``luma dlq list|redrive``.

CDK (``infra/luma_infra/constructs/functions.py``) gives every async-invoked function an on-failure
queue ``luma-<stage>-<function>-async-dlq`` and every stream consumer ``luma-<stage>-<function>-stream-dlq``
(function names with hyphens); the local stack creates the same queues in its emulator. ``luma dlq``
finds them by that name prefix (``ListQueues``): no stack outputs or CloudFormation permissions
needed, and the same code serves AWS and ``luma dev``.

Redrive re-sends each message to its function, synchronously: an async failure's original event, or
for a stream failure the records re-read from the stream by the sequence range it names, filtered as
the mapping filters them (records the stream no longer has are reported as expired). A message is
deleted only after its function succeeded. It is received with a visibility timeout longer than the
function's timeout, so no other ``luma dlq`` run can receive it while it is being redriven, and once
deleted no run sees it again: running redrive twice never re-processes a redriven message. The one
gap is a ``DeleteMessage`` that fails after a successful invocation (it is reported with the message
id); consumers are idempotent anyway, since Lambda itself delivers at least once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from luma.ops.event_filter import EventFilter
from luma.ops.lambda_records import (
    FailedInvocation,
    StreamBatch,
    UnknownFailureRecordError,
    parse_failure,
    stream_event_record,
)

Kind = Literal["async", "stream"]
KINDS: tuple[Kind, ...] = ("async", "stream")
PROJECT = "luma"
LOCAL_STAGE = "local"
RETENTION_S = 14 * 24 * 3600  # as CDK creates them
_MAX_VISIBILITY_S = 12 * 3600
_DEFAULT_TIMEOUT_S = 900  # Lambda's maximum, for a function the config does not know


def dlq_name(stage: str, function: str, kind: Kind) -> str:
    """A function's dead-letter queue name, exactly as CDK names it."""
    return f"{PROJECT}-{stage}-{function.replace('_', '-')}-{kind}-dlq"


def parse_dlq_name(stage: str, queue_name: str) -> tuple[str, Kind] | None:
    """``(function, kind)`` of one of the stage's dead-letter queues, or None for any other queue."""
    prefix = f"{PROJECT}-{stage}-"
    if not queue_name.startswith(prefix):
        return None
    for kind in KINDS:
        suffix = f"-{kind}-dlq"
        if queue_name.endswith(suffix) and len(queue_name) > len(prefix) + len(suffix):
            return queue_name[len(prefix) : -len(suffix)].replace("-", "_"), kind
    return None


@dataclass(frozen=True)
class Queue:
    """One dead-letter queue of a function."""

    name: str
    url: str
    function: str
    kind: Kind


class DeadLetterQueues:
    """The stage's dead-letter queues in one SQS endpoint (AWS, or the local emulator)."""

    def __init__(self, sqs: Any, stage: str) -> None:
        self.sqs = sqs
        self.stage = stage
        self._urls: dict[tuple[str, Kind], str] = {}

    def ensure(self, function: str, kind: Kind) -> str:
        """Create the queue if it is missing (the local stack; CDK does it in AWS); returns its URL."""
        name = dlq_name(self.stage, function, kind)
        url = str(
            self.sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": str(RETENTION_S)})["QueueUrl"]
        )
        self._urls[(function, kind)] = url
        return url

    def send(self, function: str, kind: Kind, record: Mapping[str, Any]) -> None:
        """Put an on-failure record in the function's queue, as Lambda does."""
        url = self._urls.get((function, kind))
        if url is None:
            url = str(self.sqs.get_queue_url(QueueName=dlq_name(self.stage, function, kind))["QueueUrl"])
            self._urls[(function, kind)] = url
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    def discover(self, function: str | None = None) -> list[Queue]:
        """The stage's dead-letter queues (of one function if given), sorted by name."""
        wanted = function.replace("-", "_") if function else None
        found: list[Queue] = []
        kwargs: dict[str, Any] = {"QueueNamePrefix": f"{PROJECT}-{self.stage}-", "MaxResults": 1000}
        while True:
            page = self.sqs.list_queues(**kwargs)
            for url in page.get("QueueUrls", []):
                name = url.rsplit("/", 1)[-1]
                parsed = parse_dlq_name(self.stage, name)
                if parsed and (wanted is None or parsed[0] == wanted):
                    found.append(Queue(name, url, parsed[0], parsed[1]))
            if not page.get("NextToken"):
                return sorted(found, key=lambda q: q.name)
            kwargs["NextToken"] = page["NextToken"]


# -- reaching the functions ----------------------------------------------------------------------
@dataclass
class Target:
    """Where the queues, streams and functions of a stage are, and what the config says of each function."""

    stage: str
    sqs: Any
    streams: Any
    lambda_: Any
    region: str
    functions: Mapping[str, Any] = field(default_factory=dict)  # config.FUNCTIONS, when the checkout has it
    # Long polling asks every SQS server, so one empty answer means empty; the local emulator answers exactly.
    receive_wait_s: int = 1

    def function_name(self, function: str) -> tuple[str, str | None]:
        """``(FunctionName, Qualifier)``: the folder name locally; ``luma-<stage>-<name>`` (alias ``live``) in AWS."""
        if self.stage == LOCAL_STAGE:
            return function, None
        spec = self.functions.get(function)
        qualifier = "live" if spec is not None and getattr(spec, "snap_start", False) else None
        return f"{PROJECT}-{self.stage}-{function.replace('_', '-')}", qualifier

    def timeout_s(self, function: str) -> int:
        spec = self.functions.get(function)
        return int(getattr(spec, "timeout_s", _DEFAULT_TIMEOUT_S))

    def stream_filter(self, function: str) -> EventFilter:
        """The mapping's filter criteria (records it never delivered are not redriven either)."""
        spec = self.functions.get(function)
        stream = getattr(spec, "stream", None)
        return EventFilter.compile(stream.filters) if stream is not None else EventFilter()


# -- reading messages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """A received dead-letter message."""

    message_id: str
    receipt: str
    body: str
    attributes: Mapping[str, Any]
    sent_at: float | None  # epoch seconds
    receive_count: int

    @classmethod
    def from_sqs(cls, raw: Mapping[str, Any]) -> Message:
        system = raw.get("Attributes", {})
        sent = system.get("SentTimestamp")
        return cls(
            message_id=raw["MessageId"],
            receipt=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            attributes=raw.get("MessageAttributes", {}),
            sent_at=int(sent) / 1000 if sent else None,
            receive_count=int(system.get("ApproximateReceiveCount", 0)),
        )


def _receive(sqs: Any, url: str, count: int, visibility_s: int, wait_s: int) -> list[Message]:
    response = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max(1, min(10, count)),
        VisibilityTimeout=visibility_s,
        WaitTimeSeconds=wait_s,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return [Message.from_sqs(raw) for raw in response.get("Messages", [])]


def _release(sqs: Any, url: str, messages: Sequence[Message]) -> None:
    """Make messages visible again at once (those looked at, kept, or not redriven)."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m.receipt, "VisibilityTimeout": 0} for i, m in enumerate(chunk)],
        )


def _messages(sqs: Any, url: str, limit: int | None, visibility_s: int, wait_s: int) -> Iterator[Message]:
    """Receive up to ``limit`` distinct messages, each hidden for ``visibility_s`` from other readers."""
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        batch = _receive(sqs, url, 10 if limit is None else limit - len(seen), visibility_s, wait_s)
        fresh = [m for m in batch if m.message_id not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message.message_id)
            yield message


def peek(sqs: Any, url: str, limit: int, wait_s: int = 1) -> list[Message]:
    """Up to ``limit`` messages, looked at and released (visible again) at once."""
    messages = list(_messages(sqs, url, limit, 30, wait_s))
    _release(sqs, url, messages)
    return messages


# -- listing -------------------------------------------------------------------------------------
def _summary(message: Message, now: float) -> dict[str, Any]:
    """One sampled message, personal data masked."""
    from luma.observability import mask_value

    out: dict[str, Any] = {
        "messageId": message.message_id,
        "ageS": round(now - message.sent_at, 1) if message.sent_at else None,
        "receiveCount": message.receive_count,
    }
    try:
        failure = parse_failure(message.body, message.attributes)
    except UnknownFailureRecordError as exc:
        out.update(kind="unknown", problem=str(exc), body=mask_value(message.body[:500]))
        return out
    out.update(
        kind=failure.kind, condition=failure.condition, error=mask_value(failure.error), failedAt=failure.failed_at
    )
    if failure.batch is not None:
        b = failure.batch
        out["batch"] = {
            "shardId": b.shard_id,
            "from": b.start_sequence_number,
            "to": b.end_sequence_number,
            "size": b.batch_size,
        }
    else:
        out["event"] = mask_value(failure.event)
    return out


def list_queues(target: Target, function: str | None, sample: int, scan: int) -> list[dict[str, Any]]:
    """Each queue's depth, oldest message (among the first ``scan``) and a masked sample."""
    now = time.time()
    out: list[dict[str, Any]] = []
    for queue in DeadLetterQueues(target.sqs, target.stage).discover(function):
        attrs = target.sqs.get_queue_attributes(
            QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        depth = int(attrs.get("ApproximateNumberOfMessages", 0))
        messages = peek(target.sqs, queue.url, scan, target.receive_wait_s) if depth else []
        sent = [m.sent_at for m in messages if m.sent_at]
        out.append(
            {
                "queue": queue.name,
                "url": queue.url,
                "function": queue.function,
                "kind": queue.kind,
                "messages": depth,
                "inFlight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "oldestAgeS": round(now - min(sent), 1) if sent else None,
                "scanned": len(messages),
                "sample": [_summary(m, now) for m in sorted(messages, key=lambda m: m.sent_at or 0)[:sample]],
            }
        )
    return out


# -- redriving -----------------------------------------------------------------------------------
class RecordsExpiredError(Exception):
    """The stream no longer has the records a failure names (DynamoDB keeps them 24 hours)."""


def read_stream_batch(streams: Any, batch: StreamBatch, keep: EventFilter, region: str) -> list[dict[str, Any]]:
    """The failed batch's records again, from the stream, as Lambda delivered them (filtered the same way)."""
    start, end = int(batch.start_sequence_number), int(batch.end_sequence_number)
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start_sequence_number,
        ).get("ShardIterator")
    except (streams.exceptions.TrimmedDataAccessException, streams.exceptions.ResourceNotFoundException) as exc:
        raise RecordsExpiredError(f"{type(exc).__name__}: {exc}") from None
    records: list[dict[str, Any]] = []
    first = True
    empty_pages = 0
    while iterator and empty_pages < 10:  # an open shard answers empty pages once it has nothing newer
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        raws = page.get("Records", [])
        empty_pages = 0 if raws else empty_pages + 1
        for raw in raws:
            seq = int(raw["dynamodb"]["SequenceNumber"])
            if first and seq != start:
                raise RecordsExpiredError(f"the stream starts at {seq} now, after {start}")
            first = False
            if seq > end:
                return records
            record = stream_event_record(raw, stream_arn=batch.stream_arn, region=region)
            if keep.matches(record):
                records.append(record)
            if seq == end:
                return records
        iterator = page.get("NextShardIterator")
    if first:
        raise RecordsExpiredError("the stream has no record at the start of the range")
    return records


@dataclass
class Outcome:
    """What happened to one message."""

    queue: str
    message_id: str
    status: Literal["redriven", "failed", "expired", "unreadable", "would-redrive"]
    detail: str = ""
    ms: float = 0.0


def _invoke(target: Target, function: str, event: Any) -> str | None:
    """Run the function synchronously; None when it succeeded, else why not."""
    name, qualifier = target.function_name(function)
    kwargs: dict[str, Any] = {"FunctionName": name, "InvocationType": "RequestResponse", "Payload": json.dumps(event)}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    response = target.lambda_.invoke(**kwargs)
    payload_bytes = response["Payload"].read()
    try:
        payload = json.loads(payload_bytes) if payload_bytes else None
    except ValueError:
        payload = None
    if response.get("FunctionError"):
        if isinstance(payload, Mapping):
            return f"{payload.get('errorType', response['FunctionError'])}: {payload.get('errorMessage', '')}"
        return str(response["FunctionError"])
    failures = payload.get("batchItemFailures") if isinstance(payload, Mapping) else None
    if failures:
        return f"{len(failures)} records reported as failed (batchItemFailures)"
    return None


def _redrive_one(target: Target, queue: Queue, message: Message, *, dry_run: bool) -> Outcome:
    started = time.perf_counter()

    def done(status: Any, detail: str = "") -> Outcome:
        return Outcome(queue.name, message.message_id, status, detail, (time.perf_counter() - started) * 1000)

    try:
        failure: FailedInvocation = parse_failure(message.body, message.attributes)
    except UnknownFailureRecordError as exc:
        return done("unreadable", str(exc))
    if failure.batch is not None:
        try:
            records = read_stream_batch(
                target.streams, failure.batch, target.stream_filter(queue.function), target.region
            )
        except RecordsExpiredError as exc:
            return done("expired", str(exc))
        event: Any = {"Records": records}
        what = f"{len(records)} records of {failure.batch.batch_size}"
    else:
        event, what = failure.event, "its event"
    if dry_run:
        return done("would-redrive", what)
    problem = _invoke(target, queue.function, event)
    return done("failed", problem) if problem else done("redriven", what)


def redrive(
    target: Target,
    function: str | None,
    *,
    max_messages: int | None,
    dry_run: bool,
    drop_expired: bool = False,
    progress: Any = None,
) -> list[Outcome]:
    """Redrive up to ``max_messages`` per queue; only messages whose function succeeded are deleted."""
    outcomes: list[Outcome] = []
    for queue in DeadLetterQueues(target.sqs, target.stage).discover(function):
        hide_s = min(_MAX_VISIBILITY_S, target.timeout_s(queue.function) + 60)
        kept: list[Message] = []
        try:
            for message in _messages(target.sqs, queue.url, max_messages, hide_s, target.receive_wait_s):
                outcome = _redrive_one(target, queue, message, dry_run=dry_run)
                if outcome.status == "redriven" or (outcome.status == "expired" and drop_expired):
                    _delete(target.sqs, queue.url, message, outcome)
                else:
                    kept.append(message)
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
        finally:
            _release(target.sqs, queue.url, kept)  # failed, expired or dry-run: visible again for the next run
    return outcomes


def _delete(sqs: Any, url: str, message: Message, outcome: Outcome) -> None:
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt)
    except Exception as exc:  # redriven but still queued: a next run would redrive it again
        outcome.detail += f" (NOT deleted: {type(exc).__name__}: {exc}; delete message {message.message_id} by hand)"


# -- command line --------------------------------------------------------------------------------
DESCRIPTION = """\
The functions' dead-letter queues (async invocations that failed all retries, stream batches a
mapping gave up on). Queues are found by name: luma-<stage>-<function>-{async,stream}-dlq.

  luma dlq list                       depth, oldest message and a masked sample of every queue
  luma dlq redrive --dry-run          what would be redriven
  luma dlq redrive --function F --max 10

Redrive invokes the function synchronously with the original event (stream failures: the records
re-read from the stream by sequence range) and deletes a message only after the function succeeded,
so running it twice never redrives a message twice. --stage local (the default) talks to a running
`luma dev`; any other stage to AWS with the environment's credentials and region.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luma dlq", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--function", help="only this function's queues (e.g. memory_extract)")
    common.add_argument(
        "--stage", default=LOCAL_STAGE, help="local (a running `luma dev`, default) or a deployed stage"
    )
    common.add_argument("--port", type=int, default=8787, help="the `luma dev` gateway port (stage local)")
    common.add_argument("--region", help="AWS region (default: the environment's)")
    common.add_argument(
        "--aws-endpoint", help="SQS and DynamoDB Streams endpoint (default: AWS, or luma dev's emulator)"
    )
    common.add_argument("--lambda-endpoint", help="Lambda Invoke API endpoint (default: AWS, or luma dev's gateway)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = sub.add_parser("list", parents=[common], help="queues, depth, oldest message, a masked sample")
    lst.add_argument("--sample", type=int, default=3, help="messages shown per queue (default 3)")
    lst.add_argument("--scan", type=int, default=100, help="messages looked at to find the oldest (default 100)")
    red = sub.add_parser("redrive", parents=[common], help="re-invoke the functions with their failed events")
    red.add_argument("--max", type=int, default=None, help="at most this many messages per queue")
    red.add_argument("--dry-run", action="store_true", help="show what would be redriven; change nothing")
    red.add_argument(
        "--drop-expired", action="store_true", help="delete stream failures whose records the stream no longer has"
    )
    return parser


class TargetError(RuntimeError):
    """The stage's endpoints could not be found or reached."""


def _local_endpoints(port: int) -> str:
    url = f"http://127.0.0.1:{port}/dev/info"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=3) as response:  # loopback, our own gateway
            info = json.loads(response.read())
    except OSError as exc:
        raise TargetError(f"no `luma dev` answers on port {port} ({exc}); start it, or pass --port") from None
    endpoint = (info.get("streams") or {}).get("awsEndpoint")
    if not endpoint:
        raise TargetError(f"the `luma dev` on port {port} does not report its emulator endpoint (no dev_info.streams)")
    return str(endpoint)


def _functions_config() -> Mapping[str, Any]:
    """config.FUNCTIONS from the checkout's infra/ (timeouts, filters, aliases); empty if not there."""
    try:
        from luma.devtools import repo_root

        infra = str(repo_root() / "infra")
        if infra not in sys.path:
            sys.path.append(infra)
        import luma_infra.config as config
    except ImportError:
        return {}
    return dict(config.FUNCTIONS)


def build_target(args: argparse.Namespace) -> Target:
    """Clients for the stage: AWS with the environment's credentials, or a running `luma dev`."""
    from botocore.config import Config

    from luma.aws import boto_session

    local = args.stage == LOCAL_STAGE
    region = args.region or ("us-east-1" if local else boto_session().region_name)
    if not region:
        raise TargetError("no AWS region: pass --region or set AWS_REGION")
    aws_endpoint = args.aws_endpoint or (_local_endpoints(args.port) if local else None)
    lambda_endpoint = args.lambda_endpoint or (f"http://127.0.0.1:{args.port}" if local else None)
    functions = _functions_config()
    longest = max([int(getattr(s, "timeout_s", 0)) for s in functions.values()] or [_DEFAULT_TIMEOUT_S])
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"} if local else {}

    def make(service: str, endpoint: str | None, config: Config) -> Any:
        return boto_session().client(service, region_name=region, endpoint_url=endpoint, config=config, **credentials)

    quick = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
    # An invocation is never retried by the SDK (that would run the function twice) and may run its whole timeout.
    invoke = Config(connect_timeout=5, read_timeout=longest + 30, retries={"total_max_attempts": 1})
    return Target(
        stage=args.stage,
        sqs=make("sqs", aws_endpoint, quick),
        streams=make("dynamodbstreams", aws_endpoint, quick),
        lambda_=make("lambda", lambda_endpoint, invoke),
        region=region,
        functions=functions,
        receive_wait_s=0 if local else 1,
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _print_list(queues: list[dict[str, Any]]) -> None:
    if not queues:
        print("no dead-letter queues found")
        return
    for q in queues:
        print(
            f"{q['queue']}  {q['function']} ({q['kind']})  {q['messages']} messages, {q['inFlight']} in flight, "
            f"oldest {_age(q['oldestAgeS'])}"
        )
        for s in q["sample"]:
            detail = s.get("batch") or s.get("event") or s.get("body")
            what = json.dumps(detail, default=str)
            print(
                f"  {s['messageId']}  {_age(s['ageS'])} ago  {s.get('condition') or '-'}  {s.get('error') or '-'}  "
                f"{what[:200]}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """``luma dlq list|redrive``; 1 when a message had to stay queued (or the stage is unreachable), 2 for bad usage."""
    args = _parser().parse_args(argv)
    try:
        target = build_target(args)
        if args.action == "list":
            queues = list_queues(target, args.function, max(0, args.sample), max(args.sample, args.scan))
            print(json.dumps({"queues": queues}, indent=2, default=str)) if args.json else _print_list(queues)
            return 0

        def progress(outcome: Outcome) -> None:
            print(f"{outcome.queue}: {outcome.message_id} {outcome.status} {outcome.detail}".rstrip(), file=sys.stderr)

        outcomes = redrive(
            target,
            args.function,
            max_messages=args.max,
            dry_run=args.dry_run,
            drop_expired=args.drop_expired,
            progress=progress,
        )
    except TargetError as exc:
        print(f"luma dlq: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # botocore's errors name the call and the reason
        print(f"luma dlq: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    if args.json:
        print(json.dumps({"counts": counts, "messages": [o.__dict__ for o in outcomes]}, indent=2))
    else:
        print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to redrive")
    left = ("failed", "unreadable") if args.drop_expired else ("failed", "unreadable", "expired")
    return 1 if any(o.status in left for o in outcomes) else 0
