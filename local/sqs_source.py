"""SQS queues consumed by functions, locally, the way Lambda's SQS event-source mapping consumes them.

The Twilio webhook puts each WhatsApp/SMS message on a FIFO queue (group: the sender's address,
deduplication id: the ``MessageSid``) and ``classify`` consumes it. In AWS that is an event-source
mapping; here :class:`SqsPoller` receives from the emulator's (moto's) queue and invokes the function
through the local runtime with the event Lambda sends (``Records`` of ``eventSource: aws:sqs``). What
it keeps of Lambda's behaviour:

- a batch is up to ``batch_size`` messages in queue order; SQS itself never hands out a message of
  a FIFO group while an earlier one of that group is in flight (received and not yet deleted), so
  one sender's messages are handled one after the other, in order;
- the answer is read as ``ReportBatchItemFailures``: the listed messages stay in the queue and are
  received again later, the others are deleted; an exception or an invalid answer leaves the whole
  batch in the queue;
- after ``maxReceiveCount`` receives the queue's redrive policy moves a message to its dead-letter
  queue (SQS does that, in moto as in AWS);
- up to ``max_concurrency`` batches are in flight at once (Lambda scales FIFO consumers by the number
  of active message groups; ``MaximumConcurrency`` caps it).

Not like AWS: short polls (``WaitTimeSeconds=0``) at a pace of our own, since moto's long poll spins
while the only visible messages belong to groups in flight; one reader thread. In AWS a batch never
outlives the queue's visibility timeout (the function's timeout is shorter); the local runtime does
not stop a slow handler, so the poller keeps its batches in flight invisible until they end (moto
hands out a message whose visibility ran out while it was in flight before the earlier ones of its
group). Lambda leaves a failed
message invisible until the queue's visibility timeout ends; here the poller makes the failed messages
of a batch visible again itself, ``retry_delay_s`` later (``ChangeMessageVisibility`` to 0): moto keeps
a FIFO group's order only for messages made visible that way, not for ones whose timeout ran out.

:func:`start_queue_sources` creates, for every function ``config.FUNCTIONS`` gives a ``queue``, that
queue and its dead-letter queue for ``luma dev`` (named and set as CDK creates them) and starts its
poller; ``sources.env`` holds the settings that point the senders (the Twilio webhook) at the queues.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from local.runtime import LambdaRuntime

log = logging.getLogger(__name__)

REGION = "us-east-1"
INBOUND_FUNCTION = "classify"
MAX_RECEIVE_COUNT = 5  # receives before SQS moves a message to the dead-letter queue (CDK's default)
RETENTION_S = 4 * 24 * 3600
DLQ_RETENTION_S = 14 * 24 * 3600
_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
)


def sqs_event_record(message: Mapping[str, Any], *, queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One ``Records`` entry as Lambda's SQS event source builds it from a received message."""
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items() if k in _SYSTEM_ATTRIBUTES}
    body = str(message.get("Body", ""))
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


@dataclass(frozen=True)
class QueueSource:
    """One event-source mapping: ``function`` consumes ``queue_url``."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    max_concurrency: int = 8
    visibility_timeout_s: int = 30  # the queue's: a batch in flight is kept invisible that long, again and again


@dataclass
class _Stats:
    batches: int = 0
    messages: int = 0
    failed: int = 0  # messages left in the queue after an invocation (retried later)
    deleted: int = 0
    in_flight: int = 0


class SqsPoller:
    """Receives batches from one queue and invokes its function; ``start()``, ``stop()``, ``wait_idle()``."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        sqs: Any,
        source: QueueSource,
        *,
        region: str = REGION,
        poll_interval_s: float = 0.02,
        idle_poll_interval_s: float = 0.25,
        retry_delay_s: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.sqs = sqs
        self.source = source
        self.region = region
        self.poll_interval_s = poll_interval_s
        self.idle_poll_interval_s = max(poll_interval_s, idle_poll_interval_s)
        self.retry_delay_s = retry_delay_s
        self.stats = _Stats()
        self._inflight: dict[int, list[str]] = {}  # batch -> receipt handles, kept invisible while it runs
        self._batch_ids = iter(range(1, 1 << 62))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SqsPoller:
        """Start the reader thread."""
        if self._thread is not None:
            raise RuntimeError("a poller starts once")
        self._thread = threading.Thread(target=self._read, name=f"sqs-{self.source.function}", daemon=True)
        self._thread.start()
        threading.Thread(target=self._keep_invisible, name=f"sqs-{self.source.function}-inflight", daemon=True).start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving and wait up to ``timeout`` s for the batches in flight. Idempotent."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            while self.stats.in_flight and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the queue holds no message and no batch is in flight; False on timeout.

        Messages waiting for their visibility timeout after a failure count as held.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                busy = self.stats.in_flight > 0
            if not busy and self._queue_empty():
                with self._cond:
                    if self.stats.in_flight == 0:
                        return True
            self._wake.set()
            time.sleep(0.05)
        return False

    def _queue_empty(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.source.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0

    def info(self) -> dict[str, Any]:
        """The mapping's settings and counters (for ``/dev/info``)."""
        s = self.stats
        return {
            "function": self.source.function,
            "queueUrl": self.source.queue_url,
            "batchSize": self.source.batch_size,
            "maxConcurrency": self.source.max_concurrency,
            "batches": s.batches,
            "messages": s.messages,
            "failed": s.failed,
        }

    # -- reading -------------------------------------------------------------------------------
    def _read(self) -> None:
        interval = self.poll_interval_s
        while not self._stop.is_set():
            with self._cond:
                while self.stats.in_flight >= self.source.max_concurrency and not self._stop.is_set():
                    self._cond.wait(0.5)
            if self._stop.is_set():
                return
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.source.queue_url,
                    MaxNumberOfMessages=self.source.batch_size,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # the emulator stopping or restarting: try again later
                if self._stop.is_set():
                    return
                log.warning("receiving from %s failed: %s: %s", self.source.queue_url, type(exc).__name__, exc)
                messages = []
                interval = self.idle_poll_interval_s
            if messages:
                self._dispatch(messages)
                interval = self.poll_interval_s
                continue
            self._wake.wait(interval)
            self._wake.clear()
            interval = min(interval * 2, self.idle_poll_interval_s)

    def _dispatch(self, messages: list[dict[str, Any]]) -> None:
        records = [sqs_event_record(m, queue_arn=self.source.queue_arn, region=self.region) for m in messages]
        batch = next(self._batch_ids)
        with self._cond:
            self.stats.in_flight += 1
            self.stats.batches += 1
            self.stats.messages += len(records)
            self._inflight[batch] = [r["receiptHandle"] for r in records]
        try:
            future = self.runtime.submit(self.source.function, {"Records": records}, request_id=str(uuid.uuid4()))
        except RuntimeError:  # the runtime is shutting down: the messages come back after their timeout
            self._done(batch)
            return
        future.add_done_callback(lambda f: self._finish(batch, records, f))

    def _keep_invisible(self) -> None:
        """Every third of the visibility timeout, extend the batches still running by a whole one."""
        every = max(1.0, self.source.visibility_timeout_s / 3)
        while not self._stop.wait(every):
            with self._cond:
                handles = [h for batch in self._inflight.values() for h in batch]
            for start in range(0, len(handles), 10):
                entries = [
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self.source.visibility_timeout_s}
                    for i, h in enumerate(handles[start : start + 10])
                ]
                try:
                    self.sqs.change_message_visibility_batch(QueueUrl=self.source.queue_url, Entries=entries)
                except Exception as exc:  # a batch that ended meanwhile, the emulator stopping
                    log.info("could not extend messages in flight: %s", type(exc).__name__)

    def _finish(self, batch: int, records: list[dict[str, Any]], future: Future[Any]) -> None:
        try:
            failed = self._failed_ids(records, future)
            done = [r for r in records if r["messageId"] not in failed]
            if failed:
                log.info(
                    "%s: %d of %d messages failed, left in the queue", self.source.function, len(failed), len(records)
                )
            self._delete(done)
            with self._cond:
                self.stats.failed += len(failed)
                self.stats.deleted += len(done)
            if failed:
                self._release_later([r for r in records if r["messageId"] in failed])
        except Exception:  # a bug here must not stop the mapping
            log.exception("sqs mapping %s failed finishing a batch", self.source.function)
        finally:
            self._done(batch)

    def _done(self, batch: int) -> None:
        with self._cond:
            self._inflight.pop(batch, None)
            self.stats.in_flight -= 1
            self._cond.notify_all()
        self._wake.set()  # a group may be free again: poll now

    @staticmethod
    def _failed_ids(records: list[dict[str, Any]], future: Future[Any]) -> set[str]:
        """``ReportBatchItemFailures``: the ids listed; every id on an exception or an invalid answer."""
        every = {r["messageId"] for r in records}
        if future.exception() is not None:
            return every
        response = future.result()
        failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
        if not failures:
            return set()
        if not isinstance(failures, list):
            return every
        ids: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not isinstance(identifier, str) or identifier not in every:
                return every
            ids.add(identifier)
        return ids

    def _release_later(self, records: list[dict[str, Any]]) -> None:
        """Make failed messages visible again after ``retry_delay_s`` (their group stays blocked until then)."""

        def release() -> None:
            if self._stop.is_set():
                return  # they come back when their visibility timeout ends
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                for i, r in enumerate(records)
            ]
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.source.queue_url, Entries=entries)
            except Exception as exc:  # they come back when their visibility timeout ends
                log.warning("could not release failed messages: %s: %s", type(exc).__name__, exc)
            self._wake.set()

        timer = threading.Timer(self.retry_delay_s, release)
        timer.daemon = True
        timer.start()

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            answer = self.sqs.delete_message_batch(QueueUrl=self.source.queue_url, Entries=entries)
            for failure in answer.get("Failed", []):
                log.warning("could not delete a processed message: %s", failure.get("Code"))


def queue_name(stage: str, spec: Any) -> str:
    """A consumer's FIFO queue, as CDK names it (``luma-<stage>-<name>.fifo``)."""
    return f"luma-{stage}-{spec.name.replace('_', '-')}.fifo"


def queue_dlq_name(stage: str, function: str) -> str:
    """The dead-letter queue of ``function``'s FIFO queue, as CDK names it (a FIFO queue's DLQ is FIFO too)."""
    return f"luma-{stage}-{function.replace('_', '-')}-queue-dlq.fifo"


@dataclass
class QueueSources:
    """What :func:`start_queue_sources` started: one poller per consuming function, and their queues."""

    pollers: dict[str, SqsPoller]  # function -> its mapping
    dead_letter_queues: dict[str, str]  # function -> the URL of its queue's DLQ
    endpoint_url: str
    env: dict[str, str] = field(default_factory=dict)  # the settings that point senders at the queues

    def queue_url(self, function: str = INBOUND_FUNCTION) -> str:
        """The URL of the queue ``function`` consumes."""
        return self.pollers[function].source.queue_url

    def dlq_url(self, function: str = INBOUND_FUNCTION) -> str:
        """The URL of that queue's dead-letter queue."""
        return self.dead_letter_queues[function]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every poller (before the runtime: they invoke through it)."""
        for poller in self.pollers.values():
            poller.stop(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Every queue empty and nothing in flight (see :meth:`SqsPoller.wait_idle`); False on timeout."""
        deadline = time.monotonic() + timeout
        return all(p.wait_idle(max(0.0, deadline - time.monotonic())) for p in self.pollers.values())

    def info(self) -> dict[str, Any]:
        """``dev_info["queues"]``: each mapping's settings and counters, and its dead-letter queue."""
        return {f: {**p.info(), "deadLetterQueueUrl": self.dead_letter_queues[f]} for f, p in self.pollers.items()}


def ensure_fifo_queue(
    sqs: Any, name: str, dlq_name: str, *, visibility_timeout_s: int, max_receive_count: int = MAX_RECEIVE_COUNT
) -> tuple[str, str, str]:
    """Create the FIFO queue and its dead-letter queue as CDK does (idempotent); ``(url, arn, dlq_url)``."""
    fifo = {"FifoQueue": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    dlq_url = str(
        sqs.create_queue(QueueName=dlq_name, Attributes={**fifo, "MessageRetentionPeriod": str(DLQ_RETENTION_S)})[
            "QueueUrl"
        ]
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    url = str(
        sqs.create_queue(
            QueueName=name,
            Attributes={
                **fifo,
                "ContentBasedDeduplication": "false",
                "VisibilityTimeout": str(visibility_timeout_s),
                "MessageRetentionPeriod": str(RETENTION_S),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
    )
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, str(arn), dlq_url


def start_queue_sources(
    runtime: LambdaRuntime,
    endpoint_url: str,
    *,
    stage: str = "local",
    functions: Mapping[str, Any] | None = None,
    max_concurrency: int = 8,
    **poller_options: Any,
) -> QueueSources:
    """For each function of ``config.FUNCTIONS`` (or ``functions``) with a ``queue`` and a folder: its FIFO
    queue and dead-letter queue in the emulator, named and set as CDK does, and a started poller.

    A failed message is received again ``retry_delay_s`` (a poller option, 1 s) later; one whose batch
    never ended, after the queue's visibility timeout (6 x the function's timeout unless the spec says).
    ``sources.env`` holds each queue's URL under its ``env_var`` and ``LUMA_SQS_ENDPOINT_URL``.
    """
    from botocore.config import Config
    from luma.aws import boto_session
    from luma.config import get_settings

    from local.streams import infra_config

    specs = dict(infra_config().FUNCTIONS if functions is None else functions)
    # A receive answered after the client gave up (or retried) leaves its messages in flight unseen until
    # their visibility ends: long timeouts, no retries (the poller polls again anyway).
    config = Config(
        connect_timeout=5,
        read_timeout=120,
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=get_settings().aws_max_pool_connections,  # one long poll holds one each
    )
    sqs = boto_session().client("sqs", region_name=REGION, endpoint_url=endpoint_url, config=config)
    pollers: dict[str, SqsPoller] = {}
    dlqs: dict[str, str] = {}
    env = {"LUMA_SQS_ENDPOINT_URL": endpoint_url}
    for function, spec in specs.items():
        queue = getattr(spec, "queue", None)
        if queue is None or not runtime.has(function):
            continue
        visibility = queue.visibility_timeout_s or 6 * spec.timeout_s
        url, arn, dlqs[function] = ensure_fifo_queue(
            sqs,
            queue_name(stage, queue),
            queue_dlq_name(stage, function),
            visibility_timeout_s=visibility,
            max_receive_count=queue.max_receive_count,
        )
        source = QueueSource(
            function,
            url,
            arn,
            batch_size=queue.batch_size,
            max_concurrency=max_concurrency,
            visibility_timeout_s=visibility,
        )
        pollers[function] = SqsPoller(runtime, sqs, source, **poller_options).start()
        env[queue.env_var] = url
    return QueueSources(pollers=pollers, dead_letter_queues=dlqs, endpoint_url=endpoint_url, env=env)
