"""DynamoDB Streams consumers, run locally the way Lambda's event-source mappings run them in AWS.

Every function of ``config.FUNCTIONS`` with a ``stream`` (and a folder) is a consumer; its mapping
reads the table's stream in the emulator (moto), keeps the records its filter criteria match (the
others are dropped, as in AWS), batches them (``batch_size`` within ``max_batching_window_s``, one
shard per batch, in order) and invokes the function through the local runtime with the event Lambda
sends. The function's answer is read the way ``ReportBatchItemFailures`` reads it:

- ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}, ...]}``: checkpoint before the
  lowest failed record and retry from it (the records before it are never delivered again);
- an exception: the whole batch failed; with ``bisect_batch_on_error`` (CDK turns it on) a batch of
  several records is split in two and each half delivered in turn, so one bad record ends up alone;
- an invalid answer (an identifier missing, empty, or not in the batch): the whole batch failed;
- anything else (``None``, ``{}``, an empty list): success.

After ``retry_attempts`` retries, or once the oldest record is older than ``max_record_age_s``, the
batch's on-failure record (shard, sequence range, batch size; not the records) goes to the function's
stream dead-letter queue in the emulator's SQS, and the mapping moves on.

:func:`start_local_event_sources` wires it all for ``luma dev``: the dead-letter queues CDK creates
(also for async invocations, whose retries the runtime runs), the tables' streams as config.TABLES
declares them, and a started :class:`StreamPoller`. Tests wait for it with
:meth:`StreamPoller.wait_idle`.

Not like AWS: one reader thread for every stream and one worker per mapping (so the shards of a
stream are not processed in parallel), checkpoints live in memory (a restart starts at ``LATEST``
again), a retried batch is the same records again (AWS may re-read more up to the batch size), and
retries wait ``retry_delay_s`` doubling up to ``max_retry_delay_s`` instead of Lambda's own pace.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from luma.ops.event_filter import EventFilter
from luma.ops.lambda_records import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    async_failure_record,
    stream_event_record,
    stream_failure_record,
)

from local.runtime import AsyncRetries, LambdaRuntime

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
STARTING_POSITIONS = ("LATEST", "TRIM_HORIZON")
# Describe the streams again this often: new shards, a stream re-created with its table.
_RESOLVE_EVERY_S = 2.0

DeadLetterSink = Callable[[str, dict[str, Any]], None]  # (function, on-failure record)


def infra_config() -> ModuleType:
    """``infra/luma_infra/config.py``: the single source of functions, tables and their settings (stdlib only)."""
    infra = str(REPO_ROOT / "infra")
    if infra not in sys.path:
        sys.path.append(infra)
    import luma_infra.config as config

    return config


@dataclass(frozen=True)
class Consumer:
    """One event-source mapping: a function on a table's stream, with the settings CDK gives it."""

    function: str
    table_name: str  # the physical table
    filters: EventFilter = field(default_factory=EventFilter)
    batch_size: int = 25
    max_batching_window_s: float = 1.0
    retry_attempts: int = 3  # -1: until the record is too old
    max_record_age_s: float = 3600.0  # -1: no limit
    bisect_batch_on_error: bool = True

    @classmethod
    def from_spec(cls, function: str, stream: Any, table_name: str) -> Consumer:
        """From a ``config.StreamSpec``; CDK sets ``bisect_batch_on_error`` for every mapping unless the spec says."""
        return cls(
            function=function,
            table_name=table_name,
            filters=EventFilter.compile(stream.filters),
            batch_size=stream.batch_size,
            max_batching_window_s=stream.max_batching_window_s,
            retry_attempts=stream.retry_attempts,
            max_record_age_s=stream.max_record_age_s,
            bisect_batch_on_error=getattr(stream, "bisect_batch_on_error", True),
        )


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    start: str  # where a new iterator starts when there is no checkpoint: LATEST or TRIM_HORIZON
    iterator: str | None = None
    last_sequence: str | None = None
    closed: bool = False
    errors: int = 0  # GetRecords failures in a row


@dataclass
class _Stream:
    table_name: str
    consumers: list[_Mapping]
    arn: str | None = None
    shards: dict[str, _Shard] = field(default_factory=dict)
    resolved_at: float = float("-inf")
    warned: str | None = None

    def readable(self) -> list[_Shard]:
        """Open shards whose parent is gone or read to its end (a child's records come after its parent's)."""
        return [
            s
            for s in self.shards.values()
            if not s.closed and (s.parent_id not in self.shards or self.shards[s.parent_id].closed)
        ]


@dataclass
class _Pending:
    shard_id: str
    record: dict[str, Any]
    arrived: float


@dataclass
class _Outcome:
    ok: bool
    failed_from: int | None = None  # index of the lowest failed record (a valid partial response)
    function_error: str | None = None  # "Unhandled" when the handler raised
    detail: str = ""


class _Mapping:
    """A consumer's state: the records its filters kept, waiting for a batch, and its worker thread."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.queue: deque[_Pending] = deque()
        self.delivering = False
        self.thread: threading.Thread | None = None
        self.batches = 0
        self.records = 0
        self.dead_lettered = 0

    @property
    def idle(self) -> bool:
        return not self.queue and not self.delivering


class StreamPoller:
    """Reads the streams of the consumers' tables and delivers their batches; ``start()``/``stop()``."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        endpoint_url: str,
        consumers: Sequence[Consumer],
        *,
        dead_letters: DeadLetterSink | None = None,
        region: str = REGION,
        starting_position: str = "LATEST",
        poll_interval_s: float = 0.1,
        idle_poll_interval_s: float = 1.0,
        retry_delay_s: float = 0.2,
        max_retry_delay_s: float = 2.0,
    ) -> None:
        if starting_position not in STARTING_POSITIONS:
            raise ValueError(f"starting_position={starting_position!r}: expected one of {STARTING_POSITIONS}")
        self.runtime = runtime
        self.endpoint_url = endpoint_url
        self.region = region
        self.dead_letters = dead_letters
        self.starting_position = starting_position
        self.poll_interval_s = poll_interval_s
        self.idle_poll_interval_s = max(poll_interval_s, idle_poll_interval_s)
        self.retry_delay_s = retry_delay_s
        self.max_retry_delay_s = max_retry_delay_s
        self.mappings = [_Mapping(c) for c in consumers]
        self._streams: dict[str, _Stream] = {}
        for mapping in self.mappings:
            table = mapping.consumer.table_name
            self._streams.setdefault(table, _Stream(table, [])).consumers.append(mapping)
        self._client: Any = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reader: threading.Thread | None = None
        self._rounds_started = 0
        self._last_empty_round = 0
        self._settled_after = 0  # the round in progress when a delivery last ended
        self._waiters = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def consumers(self) -> list[Consumer]:
        """The mappings this poller serves."""
        return [m.consumer for m in self.mappings]

    @property
    def threads(self) -> list[threading.Thread]:
        """The reader and the mappings' workers (alive until :meth:`stop` returns)."""
        return [t for t in (self._reader, *(m.thread for m in self.mappings)) if t is not None]

    def start(self) -> StreamPoller:
        """Find the streams (iterators at the starting position, so later writes are delivered), then poll."""
        if self._reader is not None:
            raise RuntimeError("a poller starts once")
        from luma.aws import client

        if not self.mappings:  # no consumer folder yet: nothing to read
            return self
        self._client = client("dynamodbstreams", region=self.region, endpoint_url=self.endpoint_url)
        for stream in self._streams.values():
            try:
                self._resolve(stream, first=True)
            except Exception as exc:  # found later, from its beginning
                stream.arn = None
                self._warn(stream, f"the stream of {stream.table_name} is not readable: {type(exc).__name__}: {exc}")
        for mapping in self.mappings:
            mapping.thread = threading.Thread(
                target=self._work, args=(mapping,), name=f"stream-{mapping.consumer.function}", daemon=True
            )
            mapping.thread.start()
        self._reader = threading.Thread(target=self._read, name="stream-reader", daemon=True)
        self._reader.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and delivering; a batch being delivered gets ``timeout`` s to end. Idempotent."""
        self._stop.set()
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every record written before the call was delivered (or dropped); False on timeout.

        Idle means: a poll round that started after the call, and after the last delivery ended, found
        nothing new, and no mapping holds or delivers records.
        """
        if not self.mappings:
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            mark = self._rounds_started
            self._waiters += 1
        self._wake.set()
        try:
            with self._cond:
                while True:
                    settled = self._last_empty_round > max(mark, self._settled_after)
                    if settled and all(m.idle for m in self.mappings):
                        return True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._reader is None or self._stop.is_set():
                        return False
                    self._cond.wait(min(remaining, self.poll_interval_s))
        finally:
            with self._cond:
                self._waiters -= 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Per mapping: invocations, records delivered (retries included), records given up on."""
        return {
            m.consumer.function: {"batches": m.batches, "records": m.records, "deadLettered": m.dead_lettered}
            for m in self.mappings
        }

    def info(self) -> dict[str, Any]:
        """The mappings' settings (for ``/dev/info``)."""
        out: dict[str, Any] = {}
        for mapping in self.mappings:
            c = mapping.consumer
            stream = self._streams[c.table_name]
            out[c.function] = {
                "table": c.table_name,
                "streamArn": stream.arn,
                "filters": [json.loads(p.source) for p in c.filters.patterns],
                "batchSize": c.batch_size,
                "maxBatchingWindowS": c.max_batching_window_s,
                "retryAttempts": c.retry_attempts,
                "maxRecordAgeS": c.max_record_age_s,
                "bisectBatchOnError": c.bisect_batch_on_error,
            }
        return out

    # -- reading ---------------------------------------------------------------------------
    def _read(self) -> None:
        interval = self.poll_interval_s
        while not self._stop.is_set():
            found = self._poll_round()
            hurry = found or self._waiters > 0
            interval = self.poll_interval_s if hurry else min(interval * 2, self.idle_poll_interval_s)
            self._wake.wait(interval)
            self._wake.clear()

    def _poll_round(self) -> int:
        with self._cond:
            self._rounds_started += 1
            round_no = self._rounds_started
        found, failed = 0, False
        for stream in self._streams.values():
            try:
                found += self._poll_stream(stream)
            except Exception as exc:  # the emulator restarting, a table dropped by a test: retry next round
                failed = True
                stream.resolved_at = float("-inf")  # describe it again; a new stream starts afresh
                self._warn(stream, f"reading the stream of {stream.table_name} failed: {type(exc).__name__}: {exc}")
        with self._cond:
            if not found and not failed:
                self._last_empty_round = round_no
            self._cond.notify_all()
        return found

    def _warn(self, stream: _Stream, message: str) -> None:
        if stream.warned != message:  # once per distinct problem, not every 100 ms
            log.warning("%s", message)
            stream.warned = message

    def _resolve(self, stream: _Stream, *, first: bool = False) -> None:
        """Find the table's stream and its shards; new shards start at their beginning (the first time: as asked)."""
        stream.resolved_at = time.monotonic()
        listed = self._client.list_streams(TableName=stream.table_name).get("Streams", [])
        arn = listed[0]["StreamArn"] if listed else None
        if arn is None:
            self._warn(stream, f"table {stream.table_name} has no stream (yet): its consumers wait for one")
            stream.arn, stream.shards = None, {}
            return
        if arn != stream.arn:
            if stream.arn is not None:
                log.info("stream of %s is now %s", stream.table_name, arn)
            stream.arn, stream.shards = arn, {}
        start = self.starting_position if first else "TRIM_HORIZON"
        for described in self._describe_shards(arn):
            shard_id = described["ShardId"]
            if shard_id not in stream.shards:
                stream.shards[shard_id] = _Shard(shard_id, described.get("ParentShardId"), start)
        if first:  # pin the starting position now: records written after start() are delivered
            for shard in stream.readable():
                shard.iterator = self._iterator(arn, shard)
        stream.warned = None

    def _describe_shards(self, arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = self._client.describe_stream(**kwargs)["StreamDescription"]
            shards += description.get("Shards", [])
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _iterator(self, arn: str, shard: _Shard) -> str:
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard.shard_id}
        if shard.last_sequence is not None:  # a checkpoint: resume right after it
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.last_sequence)
        else:
            kwargs["ShardIteratorType"] = shard.start
        return str(self._client.get_shard_iterator(**kwargs)["ShardIterator"])

    def _poll_stream(self, stream: _Stream) -> int:
        if stream.arn is None or time.monotonic() - stream.resolved_at > _RESOLVE_EVERY_S:
            self._resolve(stream)
        arn = stream.arn
        if arn is None:
            return 0
        found = 0
        for shard in stream.readable():
            if shard.iterator is None:
                shard.iterator = self._iterator(arn, shard)
            try:
                page = self._client.get_records(ShardIterator=shard.iterator, Limit=1000)
            except self._client.exceptions.ExpiredIteratorException:
                shard.iterator = None  # AWS iterators live 15 minutes: a new one from the checkpoint
                continue
            except self._client.exceptions.TrimmedDataAccessException:
                log.warning("%s: records of %s expired before they were read", stream.table_name, shard.shard_id)
                shard.iterator, shard.last_sequence, shard.start = None, None, "TRIM_HORIZON"
                continue
            except Exception:
                shard.errors += 1
                if shard.errors > 1:  # not a passing hiccup: a new iterator from the checkpoint
                    shard.iterator = None
                raise
            shard.errors = 0
            records = page.get("Records", [])
            for raw in records:
                self._dispatch(stream, shard.shard_id, stream_event_record(raw, stream_arn=arn, region=self.region))
            if records:
                shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
                found += len(records)
            shard.iterator = page.get("NextShardIterator")
            if shard.iterator is None:  # the shard is closed and read to its end: its children are next
                shard.closed = True
                stream.resolved_at = float("-inf")
        return found

    def _dispatch(self, stream: _Stream, shard_id: str, record: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._cond:
            for mapping in stream.consumers:
                if mapping.consumer.filters.matches(record):  # not matched: dropped for good, as in AWS
                    mapping.queue.append(_Pending(shard_id, record, now))
            self._cond.notify_all()

    # -- delivering ------------------------------------------------------------------------
    def _work(self, mapping: _Mapping) -> None:
        while True:
            batch = self._next_batch(mapping)
            if batch is None:
                return
            shard_id, records = batch
            try:
                self._deliver(mapping, shard_id, records)
            except Exception:  # a bug here must not silently stop the mapping
                log.exception("stream mapping %s failed delivering a batch", mapping.consumer.function)
            finally:
                with self._cond:
                    mapping.delivering = False
                    self._settled_after = self._rounds_started
                    self._cond.notify_all()

    def _next_batch(self, mapping: _Mapping) -> tuple[str, list[dict[str, Any]]] | None:
        """Wait for records, then up to ``batch_size`` of one shard, or fewer once the batching window has passed."""
        consumer = mapping.consumer
        with self._cond:
            while not mapping.queue:
                if self._stop.is_set():
                    return None
                self._cond.wait()
            deadline = mapping.queue[0].arrived + consumer.max_batching_window_s
            while not self._stop.is_set():
                shard_id = mapping.queue[0].shard_id
                ready = 0
                for pending in mapping.queue:
                    if pending.shard_id != shard_id or ready == consumer.batch_size:
                        break
                    ready += 1
                remaining = deadline - time.monotonic()
                if ready == consumer.batch_size or ready < len(mapping.queue) or remaining <= 0:
                    mapping.delivering = True
                    return shard_id, [mapping.queue.popleft().record for _ in range(ready)]
                self._cond.wait(remaining)
            return None

    def _deliver(self, mapping: _Mapping, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Invoke until the batch succeeds, is split, or is given up on (then its on-failure record is sent)."""
        consumer = mapping.consumer
        attempts = 0
        request_id = ""
        function_error: str | None = None
        while records and not self._stop.is_set():
            if self._too_old(consumer, records[0]):
                self._give_up(mapping, shard_id, records, RECORD_AGE_EXCEEDED, attempts, request_id, function_error)
                return
            attempts += 1
            request_id = str(uuid.uuid4())
            outcome = self._invoke(mapping, records, request_id)
            if outcome.ok:
                return
            function_error = outcome.function_error
            if outcome.failed_from is not None:
                records = records[outcome.failed_from :]  # checkpoint: what came before succeeded
            elif outcome.function_error and consumer.bisect_batch_on_error and len(records) > 1:
                middle = (len(records) + 1) // 2
                log.info("%s: splitting a failed batch of %d records", consumer.function, len(records))
                self._deliver(mapping, shard_id, records[:middle])
                self._deliver(mapping, shard_id, records[middle:])
                return
            if 0 <= consumer.retry_attempts < attempts:
                condition = RETRY_ATTEMPTS_EXHAUSTED
                self._give_up(mapping, shard_id, records, condition, attempts, request_id, function_error)
                return
            delay = min(self.retry_delay_s * 2 ** (attempts - 1), self.max_retry_delay_s)
            log.info("%s: batch failed (%s), retry %d in %.2f s", consumer.function, outcome.detail, attempts, delay)
            self._stop.wait(delay)

    @staticmethod
    def _too_old(consumer: Consumer, record: Mapping[str, Any]) -> bool:
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if consumer.max_record_age_s < 0 or created is None:
            return False
        return time.time() - float(created) > consumer.max_record_age_s

    def _invoke(self, mapping: _Mapping, records: list[dict[str, Any]], request_id: str) -> _Outcome:
        name = mapping.consumer.function
        event = json.loads(json.dumps({"Records": records}))  # a copy, JSON as Lambda sends it
        started = time.perf_counter()
        mapping.batches += 1
        mapping.records += len(records)
        try:
            response = self.runtime.submit(name, event, request_id=request_id).result()
        except Exception as exc:
            log.info("stream -> %s %d records: Unhandled (%s)", name, len(records), type(exc).__name__)
            return _Outcome(False, function_error="Unhandled", detail=f"{type(exc).__name__}: {exc}")
        outcome = self._read_response(response, records)
        log.info(
            "stream -> %s %d records: %s %.1f ms",
            name,
            len(records),
            "ok" if outcome.ok else outcome.detail,
            (time.perf_counter() - started) * 1000,
        )
        return outcome

    @staticmethod
    def _read_response(response: Any, records: list[dict[str, Any]]) -> _Outcome:
        """``ReportBatchItemFailures``: no failures is success; a bad identifier fails the whole batch."""
        failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
        if not failures:
            return _Outcome(True)
        if not isinstance(failures, list):
            return _Outcome(False, detail="batchItemFailures is not a list")
        position = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
        indexes: list[int] = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not isinstance(identifier, str) or identifier not in position:
                return _Outcome(False, detail=f"invalid batch item failure {json.dumps(failure, default=str)}")
            indexes.append(position[identifier])
        first = min(indexes)
        detail = f"{len(indexes)} failed from {records[first]['dynamodb']['SequenceNumber']}"
        return _Outcome(False, failed_from=first, detail=detail)

    def _give_up(
        self,
        mapping: _Mapping,
        shard_id: str,
        records: list[dict[str, Any]],
        condition: str,
        attempts: int,
        request_id: str,
        function_error: str | None,
    ) -> None:
        name = mapping.consumer.function
        failure = stream_failure_record(
            request_id=request_id or str(uuid.uuid4()),
            function_arn=self.runtime.arn(name),
            condition=condition,
            invoke_count=attempts,
            function_error=function_error,
            shard_id=shard_id,
            records=records,
        )
        mapping.dead_lettered += len(records)
        log.warning(
            "%s: gave up on %d records (%s, %d invocations) from %s",
            name,
            len(records),
            condition,
            attempts,
            records[0]["dynamodb"]["SequenceNumber"],
        )
        if self.dead_letters is None:
            return
        try:
            self.dead_letters(name, failure)
        except Exception as exc:  # as Lambda does when it cannot write its destination: logged, then dropped
            log.error("%s: could not send the on-failure record: %s: %s", name, type(exc).__name__, exc)


# -- luma dev wiring ---------------------------------------------------------------------------
@dataclass
class LocalEventSources:
    """What :func:`start_local_event_sources` started: the poller and the dead-letter queues."""

    poller: StreamPoller
    dead_letter_queues: dict[str, dict[str, str]]  # function -> {"async"|"stream": queue URL}
    endpoint_url: str

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the poller (the runtime's async retries keep their sink until the runtime shuts down)."""
        self.poller.stop(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """See :meth:`StreamPoller.wait_idle`."""
        return self.poller.wait_idle(timeout)

    def info(self) -> dict[str, Any]:
        """``dev_info["streams"]``: consumers, dead-letter queues, and the endpoint ``luma dlq`` uses."""
        return {
            "awsEndpoint": self.endpoint_url,
            "consumers": self.poller.info(),
            "deadLetterQueues": self.dead_letter_queues,
        }


def table_name(logical: str, tables: Mapping[str, Any]) -> str:
    """The physical name of a config.TABLES table in this environment (its ``LUMA_*_TABLE`` setting)."""
    from luma.config import get_settings

    env_var = tables[logical].env_var
    value = getattr(get_settings(), env_var.removeprefix("LUMA_").lower(), None)
    if not isinstance(value, str) or not value:
        raise KeyError(f"no setting for {env_var} (table {logical!r})")
    return value


def ensure_table_streams(endpoint_url: str, tables: Mapping[str, str], *, region: str = REGION) -> list[str]:
    """Turn on the stream of each table (physical name -> view type) that has none, as CDK creates it; returns them."""
    from luma.aws import client

    ddb = client("dynamodb", region=region, endpoint_url=endpoint_url)
    enabled: list[str] = []
    for name, view in tables.items():
        try:
            description = ddb.describe_table(TableName=name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            log.warning("table %s does not exist: its stream consumers wait for it", name)
            continue
        spec = description.get("StreamSpecification") or {}
        if spec.get("StreamEnabled"):
            if spec.get("StreamViewType") != view:
                log.warning("table %s streams %s, config.TABLES says %s", name, spec.get("StreamViewType"), view)
            continue
        ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
        enabled.append(name)
    return enabled


def start_local_event_sources(
    runtime: LambdaRuntime,
    endpoint_url: str,
    *,
    stage: str = "local",
    functions: Mapping[str, Any] | None = None,
    starting_position: str = "LATEST",
    async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
    stream_consumers: bool = True,
    **poller_options: Any,
) -> LocalEventSources:
    """Dead-letter queues, async retries, table streams and a started poller, for the functions that exist.

    ``functions`` defaults to ``config.FUNCTIONS``; the queues are named as CDK names them. Lambda
    retries a failed async invocation about 1 and 2 minutes later; here ``async_retry_delays_s``.
    ``stream_consumers=False`` leaves the stream consumers out (the after-turn work: memory, recaps,
    escalation notices), e.g. to measure a turn without it competing in this one process.
    """
    from luma.aws import client
    from luma.ops.dlq import DeadLetterQueues, Kind

    config = infra_config()
    specs = dict(config.FUNCTIONS if functions is None else functions)
    present = {name: spec for name, spec in specs.items() if runtime.has(name)}
    queues = DeadLetterQueues(client("sqs", region=REGION, endpoint_url=endpoint_url), stage)
    urls: dict[str, dict[str, str]] = {}
    for name, spec in present.items():
        kinds: list[Kind] = []
        if spec.async_invoked:
            kinds.append("async")
        if spec.stream is not None:
            kinds.append("stream")
        for kind in kinds:
            urls.setdefault(name, {})[kind] = queues.ensure(name, kind)

    def async_failed(name: str, event: Any, request_id: str, attempts: int, error: BaseException) -> None:
        if "async" in urls.get(name, {}):
            record = async_failure_record(
                request_id=request_id, function_arn=runtime.arn(name), event=event, invoke_count=attempts, error=error
            )
            queues.send(name, "async", record)

    default = config.DEFAULT_FUNCTION
    runtime.async_retries = AsyncRetries(
        retries={name: spec.async_retry_attempts for name, spec in specs.items()},
        default_retries=default.async_retry_attempts,
        delays_s=async_retry_delays_s,
        on_exhausted=async_failed,
    )

    consumers: list[Consumer] = []
    views: dict[str, str] = {}
    for name, spec in present.items():
        if spec.stream is None or not stream_consumers:
            continue
        physical = table_name(spec.stream.table, config.TABLES)
        consumers.append(Consumer.from_spec(name, spec.stream, physical))
        view = config.TABLES[spec.stream.table].stream
        if view:
            views[physical] = view
    for name in ensure_table_streams(endpoint_url, views):
        log.info("enabled the %s stream of %s (config.TABLES)", views[name], name)

    def stream_failed(name: str, record: dict[str, Any]) -> None:
        queues.send(name, "stream", record)

    poller = StreamPoller(
        runtime,
        endpoint_url,
        consumers,
        dead_letters=stream_failed,
        starting_position=starting_position,
        **poller_options,
    )
    poller.start()
    return LocalEventSources(poller=poller, dead_letter_queues=urls, endpoint_url=endpoint_url)
