"""WebSocket ``sendMessage`` and ``$default`` routes, and WhatsApp/SMS turns handed over by the Twilio
webhook: validate, persist, classify, route.

A WhatsApp/SMS turn comes as an SQS batch from the inbound FIFO queue (``Records``; the event-source
mapping reports batch item failures) or, with no queue configured, as one async-invoked
``ChannelMessage``. In a batch, a message that fails is reported with every later message of its
conversation (its FIFO group), so none of them is handled before it; other conversations go on. Once
the time left is less than one message may need (its fast path may be waited for), the rest of the
batch is reported too, untouched: it comes back later, in order, rather than timing the batch out.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from luma import wiring
from luma.config import get_settings
from luma.domain.models import ChannelMessage
from luma.events import WsEvent, management_endpoint
from luma.observability import capture_handler, logger, metrics
from luma.pipeline.classify import WsRequest

# The most one queued message may take: its classification, then its fast path run to its timeout.
RECORD_RESERVE_MS = 15_000

# Cold start: validate config, load the model and fit the router before the first message.
wiring.classify_service().warm_up()


@logger.inject_lambda_context(clear_state=True)
@capture_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    if "Records" in event:  # Twilio turns from the inbound queue
        return _channel_batch(event["Records"], context)
    if event.get("kind") == "channel_message":  # a Twilio turn; a fault raises: Lambda retries, then the DLQ
        wiring.classify_service().handle_channel(ChannelMessage.model_validate(event))
        return None
    parsed = WsEvent.model_validate(event)
    ctx = parsed.request_context
    wiring.classify_service().handle(
        WsRequest(
            connection_id=ctx.connection_id,
            principal=parsed.principal(),
            body=parsed.body,
            endpoint=get_settings().ws_management_endpoint or management_endpoint(ctx.domain_name, ctx.stage),
            source_ip=parsed.source_ip(),
            assistant=parsed.assistant(),
        )
    )
    return {"statusCode": 200}


def _channel_batch(records: list[dict[str, Any]], context: LambdaContext) -> dict[str, Any]:
    """Each record in order; a failed one and the later records of its group are reported as failures."""
    failed_groups: set[str] = set()
    failures: list[dict[str, str]] = []
    for n, record in enumerate(records):
        group = str((record.get("attributes") or {}).get("MessageGroupId", ""))
        if n and context.get_remaining_time_in_millis() < RECORD_RESERVE_MS:
            logger.info("channel batch out of time: the rest comes back", extra={"left": len(records) - n})
            failures += [{"itemIdentifier": r["messageId"]} for r in records[n:]]
            break
        if group in failed_groups:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            message = ChannelMessage.model_validate_json(record["body"])
        except ValueError:  # not ours: retrying cannot help, the queue's redrive policy moves it aside
            logger.error("inbound queue record is not a channel message", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
            failed_groups.add(group)
            continue
        try:
            wiring.classify_service().handle_channel(message)
        except Exception:
            logger.exception("channel turn failed: retried from the queue", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
            failed_groups.add(group)
    return {"batchItemFailures": failures}
