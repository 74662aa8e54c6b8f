"""The ``approve`` WebSocket action: ``{"action": "approve", "approvalId": ..., "approved": true|false}``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from luma import metrics_names as mn
from luma.channels.websocket import Delivery
from luma.domain.models import DeliveryTarget, Principal
from luma.errors import ErrorCode, LumaError
from luma.observability import emit, logger
from luma.pipeline.frames import error_frame, load_object, status_frame, validation_failed


class ApproveFrame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str
    approval_id: str = Field(alias="approvalId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    approved: bool


@dataclass(frozen=True)
class ApproveRequest:
    connection_id: str
    principal: Principal | None
    body: str | None
    endpoint: str | None = None


def parse_approve(body: str | None) -> ApproveFrame:
    """Validate the frame; failures are typed errors."""
    data = load_object(body)
    try:
        return ApproveFrame.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


def handle_approve(request: ApproveRequest, *, agent: Callable[[], Any], delivery: Delivery) -> None:
    """Resume the run waiting for this approval; errors become ``error`` frames."""
    target = DeliveryTarget(connection_id=request.connection_id, endpoint=request.endpoint)
    approval_id: str | None = None
    try:
        if request.principal is None:
            raise LumaError(ErrorCode.AUTH_REQUIRED)
        frame = parse_approve(request.body)
        approval_id = frame.approval_id
        result = agent().answer_approval(request.principal, frame.approval_id, frame.approved)
        delivery.send(
            target,
            status_frame(
                "approval_recorded",
                result["sessionId"],
                approvalId=frame.approval_id,
                approved=frame.approved,
                runId=result["runId"],
                label=result.get("label") if frame.approved else None,
            ),
        )
    except Exception as exc:
        err = exc if isinstance(exc, LumaError) else LumaError(ErrorCode.INTERNAL)
        if not isinstance(exc, LumaError):
            logger.exception("approve failed")
        emit(mn.ERRORS, 1, dimensions={mn.DIM_CODE: err.code.value})
        frame_out = error_frame(err)
        if approval_id:
            frame_out["approvalId"] = approval_id
        delivery.send(target, frame_out)
