"""The custom CloudWatch metrics the operations dashboard and alarms read (namespace ``Luma``).

One contract between the code that emits (Powertools Metrics / EMF, through
``luma.observability.metrics``) and the CDK app that draws the dashboard
(``infra/luma_infra/constructs/observability.py``). Emit with exactly these names and dimensions::

    from luma import metrics_names as M
    metrics.add_dimension(name=M.DIM_ROUTE, value=decision.route)
    metrics.add_metric(name=M.TURNS, unit=MetricUnit.Count, value=1)

Powertools adds the ``service`` dimension (``luma``) to every metric; a dashboard series is
one exact dimension set, so add no other dimension to these metrics (use a separate metric
set, ``metrics.single_metric``, for anything else). ``tests/infra/test_dashboard_metrics.py``
checks that every name the dashboard reads is emitted by ``add_metric(name=...)`` somewhere in
``layers/core/python/luma`` or ``functions/``. Stdlib only: the layer and the infra import it.
"""

from __future__ import annotations

NAMESPACE = "Luma"
SERVICE = "luma"

# Dimension names and the values the dashboard draws.
DIM_SERVICE = "service"
DIM_ROUTE = "route"  # luma.domain.models.Route values
DIM_CODE = "code"  # luma.errors.ErrorCode values
ROUTES = ("fast_path", "agent", "flow")
DIM_TOOL = "tool"  # a tool name
DIM_OUTCOME = "outcome"  # ok | error
DIM_KIND = "kind"  # luma.agent.failures.FailureKind values

# Turns (dimension: route). One per inbound message that got an answer route.
TURNS = "Turns"  # Count
TURN_LATENCY_MS = "TurnLatencyMs"  # Milliseconds, ingress -> reply persisted (dimension: route)
CLASSIFY_LATENCY_MS = "ClassifyLatencyMs"  # Milliseconds, intent classification alone
FAST_PATH_LATENCY_MS = "FastPathLatencyMs"  # Milliseconds, fast-path handler alone

# Errors told to a client (dimension: code).
ERRORS = "Errors"  # Count

# Delivery.
DELIVERY_GONE = "DeliveryGone"  # Count, post_to_connection answered 410 (client catches up later)
TWILIO_SEND_FAILED = "TwilioSendFailed"  # Count, a Twilio REST send failed (retried by a redelivery event)
TWILIO_REPLY_DROPPED = "TwilioReplyDropped"  # Count, a reply Twilio refused for good (persisted, never delivered)

# Sessions closed by the idle sweeper (functions/session_sweeper), each with its report.
SESSIONS_CLOSED_IDLE = "SessionsClosedIdle"  # Count

# LLM usage (agent runs).
LLM_INPUT_TOKENS = "LlmInputTokens"  # Count
LLM_OUTPUT_TOKENS = "LlmOutputTokens"  # Count
LLM_COST_USD = "LlmCostUsd"  # None (a USD amount)
LLM_TTFT_MS = "LlmTtftMs"  # Milliseconds, request sent -> first text token (first step of a run)
AGENT_ITERATIONS = "AgentIterations"  # Count, LLM steps per run
TOOL_CALLS = "ToolCalls"  # Count (dimensions: tool, outcome)
AGENT_FAILURES = "AgentFailures"  # Count, runs caught by the failure handler (dimension: kind)

# WebSocket connections ($connect accepted / $disconnect handled).
CONNECTIONS_OPENED = "ConnectionsOpened"  # Count
CONNECTIONS_CLOSED = "ConnectionsClosed"  # Count

# Which dimensions (besides service) each metric carries: the dashboard draws exactly these.
DIMENSIONS: dict[str, tuple[str, ...]] = {
    TURNS: (DIM_ROUTE,),
    TURN_LATENCY_MS: (DIM_ROUTE,),
    CLASSIFY_LATENCY_MS: (),
    FAST_PATH_LATENCY_MS: (),
    ERRORS: (DIM_CODE,),
    DELIVERY_GONE: (),
    TWILIO_SEND_FAILED: (),
    TWILIO_REPLY_DROPPED: (),
    SESSIONS_CLOSED_IDLE: (),
    LLM_INPUT_TOKENS: (),
    LLM_OUTPUT_TOKENS: (),
    LLM_COST_USD: (),
    LLM_TTFT_MS: (),
    AGENT_ITERATIONS: (),
    TOOL_CALLS: (DIM_TOOL, DIM_OUTCOME),
    AGENT_FAILURES: (DIM_KIND,),
    CONNECTIONS_OPENED: (),
    CONNECTIONS_CLOSED: (),
}

ALL = frozenset(DIMENSIONS)
