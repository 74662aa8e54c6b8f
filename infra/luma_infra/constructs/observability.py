"""Operations: one CloudWatch dashboard and alarms to an SNS topic.

Custom metrics come from the code (Powertools Metrics / EMF, namespace ``Luma``) under the names
in ``luma/metrics_names.py``; everything else is a built-in AWS metric (Lambda, API Gateway,
Step Functions, SQS). ``tests/infra/test_dashboard_metrics.py`` checks that every custom metric
the dashboard reads is emitted somewhere in the code.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from luma_infra.config import StageConfig
from luma_infra.constructs.functions import LumaFunction
from luma_infra.discovery import CORE_LAYER_DIR, camel

DASHBOARD_PERIOD = Duration.minutes(1)
ALARM_PERIOD = Duration.minutes(5)
# Turn latency p95 alarm per route (ms): a fast path answers in tens of ms, an agent in seconds.
ROUTE_P95_ALARM_MS = {"fast_path": 1500, "agent": 30_000}
WIDTH = 24


def load_metric_names() -> ModuleType:
    """``luma/metrics_names.py`` loaded by path (stdlib only; the infra does not need luma installed)."""
    path = CORE_LAYER_DIR / "python" / "luma" / "metrics_names.py"
    spec = importlib.util.spec_from_file_location("luma_metrics_names", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


M = load_metric_names()


def luma_metric(name: str, statistic: str = "Sum", label: str | None = None, **dimensions: str) -> cw.Metric:
    """A custom metric exactly as Powertools emits it: service dimension + the listed ones."""
    expected = set(M.DIMENSIONS[name])
    if set(dimensions) != expected:
        raise ValueError(f"{name} is emitted with dimensions {sorted(expected)}, not {sorted(dimensions)}")
    return cw.Metric(
        namespace=M.NAMESPACE,
        metric_name=name,
        dimensions_map={M.DIM_SERVICE: M.SERVICE, **dimensions},
        statistic=statistic,
        period=DASHBOARD_PERIOD,
        label=label,
    )


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        key: kms.IKey,
        functions: dict[str, LumaFunction],
        state_machines: dict[str, sfn.StateMachine],
        ws_api_id: str | None,
        ws_stage: str | None,
        http_api_id: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=stage.prefix("alarms"),
            display_name=f"Luma {stage.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if stage.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(stage.alarm_email))
        self.alarms: list[cw.Alarm] = []
        self._function_alarms(functions)
        self._dlq_alarms({f"{fn.name}-{kind}": q for fn in functions.values() for kind, q in fn.dlqs.items()})
        self._state_machine_alarms(state_machines)
        self._route_alarms()

        self.dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=stage.prefix(),
            default_interval=Duration.hours(3),
        )
        self._dashboard(functions, state_machines, ws_api_id, ws_stage, http_api_id)

    # ---------------------------------------------------------------------------------------
    def _alarm(self, construct_id: str, description: str, **props: object) -> cw.Alarm:
        thresholds = self.stage.alarms
        props.setdefault("evaluation_periods", thresholds.evaluation_periods)
        props.setdefault("datapoints_to_alarm", thresholds.datapoints_to_alarm)
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.stage.prefix()} {construct_id}",
            alarm_description=description,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            **props,  # type: ignore[arg-type]
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _function_alarms(self, functions: dict[str, LumaFunction]) -> None:
        thresholds = self.stage.alarms
        for name, fn in functions.items():
            f = fn.function
            error_rate = cw.MathExpression(
                expression="100 * errors / MAX([invocations, 1])",
                using_metrics={
                    "errors": f.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                    "invocations": f.metric_invocations(period=ALARM_PERIOD, statistic="Sum"),
                },
                label=f"{name} error rate (%)",
                period=ALARM_PERIOD,
            )
            self._alarm(
                f"{camel(name)}ErrorRate",
                f"{name}: more than {thresholds.error_rate_percent} % of invocations failed",
                metric=error_rate,
                threshold=thresholds.error_rate_percent,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            p95_ms = fn.spec.p95_alarm_ms or int(fn.spec.timeout_s * 1000 * 0.8)
            self._alarm(
                f"{camel(name)}P95Latency",
                f"{name}: p95 duration above {p95_ms} ms",
                metric=f.metric_duration(period=ALARM_PERIOD, statistic="p95"),
                threshold=p95_ms,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            self._alarm(
                f"{camel(name)}Throttles",
                f"{name}: invocations throttled (reserved concurrency or account limit reached)",
                metric=f.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
                threshold=thresholds.throttles,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
            )

    def _dlq_alarms(self, queues: dict[str, sqs.Queue]) -> None:
        for name, queue in queues.items():
            self._alarm(
                f"{camel(name.replace('-', '_'))}DlqDepth",
                f"{name}: failed events are waiting in the dead-letter queue",
                metric=queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic="Maximum"),
                threshold=self.stage.alarms.dlq_messages,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
            )
            if name.endswith("-stream"):
                age_s = self.stage.alarms.stream_dlq_age_s
                self._alarm(
                    f"{camel(name.replace('-', '_'))}DlqAge",
                    f"{name}: a failed stream batch has waited {age_s // 3600} h or more; DynamoDB Streams "
                    "keeps its records 24 h, after which `luma dlq redrive` can no longer re-read them",
                    metric=queue.metric_approximate_age_of_oldest_message(period=ALARM_PERIOD, statistic="Maximum"),
                    threshold=age_s,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                )

    def _state_machine_alarms(self, machines: dict[str, sfn.StateMachine]) -> None:
        for name, machine in machines.items():
            failed = cw.MathExpression(
                expression="failed + timedout + aborted",
                using_metrics={
                    "failed": machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
                    "timedout": machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
                    "aborted": machine.metric_aborted(period=ALARM_PERIOD, statistic="Sum"),
                },
                label=f"{name} failed executions",
                period=ALARM_PERIOD,
            )
            self._alarm(
                f"{camel(name)}FailedExecutions",
                f"{name}: executions failed, timed out or were aborted",
                metric=failed,
                threshold=self.stage.alarms.failed_executions,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                datapoints_to_alarm=1,
            )

    def _route_alarms(self) -> None:
        for route, ms in ROUTE_P95_ALARM_MS.items():
            metric = luma_metric(M.TURN_LATENCY_MS, "p95", route=route).with_(period=ALARM_PERIOD)
            self._alarm(
                f"Route{camel(route)}TurnP95Latency",
                f"{route} turns: p95 latency (ingress to reply persisted) above {ms} ms",
                metric=metric,
                threshold=ms,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

    # ---------------------------------------------------------------------------------------
    def _dashboard(
        self,
        functions: dict[str, LumaFunction],
        machines: dict[str, sfn.StateMachine],
        ws_api_id: str | None,
        ws_stage: str | None,
        http_api_id: str | None,
    ) -> None:
        d = self.dashboard
        graph = _graph
        routes = M.ROUTES
        turns = {route: luma_metric(M.TURNS, route=route, label=route) for route in routes}

        d.add_widgets(
            cw.TextWidget(
                markdown=f"# Luma {self.stage.name}\nTurns, latency, cost and failures. "
                "Custom metrics: namespace `Luma` (Powertools EMF); the rest are AWS metrics.",
                width=WIDTH,
                height=2,
            )
        )
        # --- Turns and routing ------------------------------------------------------------
        share = cw.MathExpression(
            expression="100 * FILL(fp, 0) / MAX([FILL(fp, 0) + FILL(ag, 0) + FILL(fl, 0), 1])",
            using_metrics={"fp": turns["fast_path"], "ag": turns["agent"], "fl": turns["flow"]},
            label="fast-path share (%)",
            period=DASHBOARD_PERIOD,
        )
        d.add_widgets(
            graph("Turns by route", list(turns.values()), width=9, stacked=True),
            graph("Fast-path share (%)", [share], width=6, left_max=100),
            cw.SingleValueWidget(
                title="Turns (range)",
                metrics=[m.with_(period=Duration.days(1)) for m in turns.values()],
                width=9,
                height=6,
                set_period_to_time_range=True,
            ),
        )
        # --- Latency per route and per stage ------------------------------------------------
        percentiles = ("p50", "p95", "p99")
        d.add_widgets(
            *[
                graph(
                    f"Turn latency: {route} (ms)",
                    [luma_metric(M.TURN_LATENCY_MS, p, label=p, route=route) for p in percentiles],
                    width=8,
                )
                for route in routes
            ]
        )
        d.add_widgets(
            graph(
                "Classify latency (ms)",
                [luma_metric(M.CLASSIFY_LATENCY_MS, p, label=p) for p in percentiles],
                width=8,
            ),
            graph(
                "Fast-path handler latency (ms)",
                [luma_metric(M.FAST_PATH_LATENCY_MS, p, label=p) for p in percentiles],
                width=8,
            ),
            graph(
                "Deliveries to gone connections",
                [luma_metric(M.DELIVERY_GONE, label="gone (410)")],
                width=8,
            ),
        )
        # --- Lambda duration per function ---------------------------------------------------
        d.add_widgets(
            *[
                graph(
                    f"Lambda duration {p} per function (ms)",
                    [
                        fn.function.metric_duration(statistic=p, period=DASHBOARD_PERIOD, label=name)
                        for name, fn in functions.items()
                    ],
                    width=8,
                )
                for p in percentiles
            ]
        )
        # --- LLM usage ------------------------------------------------------------------------
        d.add_widgets(
            graph(
                "LLM tokens",
                [
                    luma_metric(M.LLM_INPUT_TOKENS, label="input tokens"),
                    luma_metric(M.LLM_OUTPUT_TOKENS, label="output tokens"),
                ],
                width=12,
                stacked=True,
            ),
            graph("LLM cost (USD)", [luma_metric(M.LLM_COST_USD, label="cost (USD)")], width=6),
            cw.SingleValueWidget(
                title="LLM cost (USD, range)",
                metrics=[luma_metric(M.LLM_COST_USD, label="cost (USD)")],
                width=6,
                height=6,
                set_period_to_time_range=True,
            ),
        )

        # --- Agent runs --------------------------------------------------------------------------
        def search(metric: str, dims: tuple[str, ...]) -> cw.MathExpression:
            keys = ",".join((M.NAMESPACE, *dims, M.DIM_SERVICE))
            return cw.MathExpression(
                expression=(f"SEARCH('{{{keys}}} MetricName=\"{metric}\" {M.DIM_SERVICE}=\"{M.SERVICE}\"', 'Sum', 60)"),
                label="",
                period=DASHBOARD_PERIOD,
            )

        d.add_widgets(
            graph(
                "LLM time to first token (ms)",
                [luma_metric(M.LLM_TTFT_MS, statistic=s, label=s) for s in ("p50", "p95")],
                width=6,
            ),
            graph("Agent steps per run", [luma_metric(M.AGENT_ITERATIONS, statistic="Average", label="avg")], width=6),
            graph("Tool calls by tool and outcome", [search(M.TOOL_CALLS, (M.DIM_TOOL, M.DIM_OUTCOME))], width=6),
            graph("Agent run failures by kind", [search(M.AGENT_FAILURES, (M.DIM_KIND,))], width=6, stacked=True),
        )
        # --- Channels and sessions -----------------------------------------------------------------
        d.add_widgets(
            graph(
                "Twilio sends",
                [
                    luma_metric(M.TWILIO_SEND_FAILED, label="failed (redelivered)"),
                    luma_metric(M.TWILIO_REPLY_DROPPED, label="refused by Twilio (kept, not delivered)"),
                ],
                width=12,
            ),
            graph("Sessions closed when idle", [luma_metric(M.SESSIONS_CLOSED_IDLE, label="closed")], width=12),
        )
        # --- Errors and throttles ---------------------------------------------------------------
        errors_by_code = cw.MathExpression(
            expression=(
                f"SEARCH('{{{M.NAMESPACE},{M.DIM_CODE},{M.DIM_SERVICE}}} "
                f'MetricName="{M.ERRORS}" {M.DIM_SERVICE}="{M.SERVICE}"\', \'Sum\', 60)'
            ),
            label="",
            period=DASHBOARD_PERIOD,
        )
        d.add_widgets(
            graph("Errors told to clients, by code", [errors_by_code], width=8, stacked=True),
            graph(
                "Lambda errors per function",
                [
                    fn.function.metric_errors(statistic="Sum", period=DASHBOARD_PERIOD, label=name)
                    for name, fn in functions.items()
                ],
                width=8,
            ),
            graph(
                "Lambda throttles per function",
                [
                    fn.function.metric_throttles(statistic="Sum", period=DASHBOARD_PERIOD, label=name)
                    for name, fn in functions.items()
                ],
                width=8,
            ),
        )
        # --- State machines, connections, queues -------------------------------------------------
        sm_metrics: list[cw.IMetric] = []
        for name, machine in machines.items():
            sm_metrics += [
                machine.metric_started(period=DASHBOARD_PERIOD, label=f"{name} started"),
                machine.metric_succeeded(period=DASHBOARD_PERIOD, label=f"{name} succeeded"),
                machine.metric_failed(period=DASHBOARD_PERIOD, label=f"{name} failed"),
                machine.metric_timed_out(period=DASHBOARD_PERIOD, label=f"{name} timed out"),
                machine.metric_aborted(period=DASHBOARD_PERIOD, label=f"{name} aborted"),
            ]
        opened = luma_metric(M.CONNECTIONS_OPENED)
        closed = luma_metric(M.CONNECTIONS_CLOSED)
        open_now = cw.MathExpression(
            expression="RUNNING_SUM(FILL(opened, 0) - FILL(closed, 0))",
            using_metrics={"opened": opened, "closed": closed},
            label="open connections (counted from the start of the range; connections last <= 2 h)",
            period=DASHBOARD_PERIOD,
        )
        connection_metrics: list[cw.IMetric] = [open_now]
        if ws_api_id and ws_stage:
            connection_metrics.append(
                cw.Metric(
                    namespace="AWS/ApiGateway",
                    metric_name="ConnectCount",
                    dimensions_map={"ApiId": ws_api_id, "Stage": ws_stage},
                    statistic="Sum",
                    period=DASHBOARD_PERIOD,
                    label="$connect requests",
                )
            )
        d.add_widgets(
            graph("Agent runs (Step Functions)", sm_metrics or [_placeholder_metric()], width=8),
            graph("Open WebSocket connections", connection_metrics, width=8),
            graph(
                "Dead-letter queues (messages visible)",
                [
                    q.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=DASHBOARD_PERIOD, label=f"{fn.name} {kind}"
                    )
                    for fn in functions.values()
                    for kind, q in fn.dlqs.items()
                ]
                or [_placeholder_metric()],
                width=8,
            ),
        )
        # --- API Gateway ---------------------------------------------------------------------------
        api_metrics: list[cw.IMetric] = []
        if ws_api_id and ws_stage:
            for metric_name in ("MessageCount", "ClientError", "IntegrationError", "ExecutionError"):
                api_metrics.append(
                    cw.Metric(
                        namespace="AWS/ApiGateway",
                        metric_name=metric_name,
                        dimensions_map={"ApiId": ws_api_id, "Stage": ws_stage},
                        statistic="Sum",
                        period=DASHBOARD_PERIOD,
                        label=f"ws {metric_name}",
                    )
                )
        if http_api_id:
            for metric_name in ("Count", "4xx", "5xx"):
                api_metrics.append(
                    cw.Metric(
                        namespace="AWS/ApiGateway",
                        metric_name=metric_name,
                        dimensions_map={"ApiId": http_api_id, "Stage": "$default"},
                        statistic="Sum",
                        period=DASHBOARD_PERIOD,
                        label=f"http {metric_name}",
                    )
                )
        d.add_widgets(
            graph("API Gateway requests and errors", api_metrics or [_placeholder_metric()], width=12),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12, height=6),
        )


def _graph(
    title: str, metrics: list, width: int = 8, *, stacked: bool = False, left_max: float | None = None
) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=title,
        left=metrics,
        width=width,
        height=6,
        stacked=stacked,
        left_y_axis=cw.YAxisProps(min=0, max=left_max, show_units=False),
        legend_position=cw.LegendPosition.BOTTOM,
    )


def _placeholder_metric() -> cw.IMetric:
    """Graph widgets need one series: an empty expression until the resource exists."""
    return cw.MathExpression(expression="TIME_SERIES(0)", label="(not deployed yet)", period=DASHBOARD_PERIOD)
