"""Step Functions in the local stack: moto's interpreter runs ``statemachines/*.asl.json``.

moto 5.2.5 runs executions only after ``POST /moto-api/config {"stepfunctions":
{"execute_state_machine": true}}`` (:func:`enable_execution`); its ``lambda:invoke`` tasks reach the
local handlers through the hook in :mod:`local.moto_patches`. :func:`deploy_state_machines` creates
(or updates) one state machine per ASL file with the placeholders the CDK app substitutes
(``infra/luma_infra/constructs/orchestration.py``); the other helpers are for tests and tools:
start an execution, wait for it, read its history compactly.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from local.events import ACCOUNT_ID

# Loopback calls never go through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))

REPO_ROOT = Path(__file__).resolve().parents[1]
STATEMACHINES_DIR = REPO_ROOT / "statemachines"
REGION = "us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/luma-local-stepfunctions"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_KINDS = re.compile(r"^([A-Za-z0-9]+?)(FunctionArn|FunctionName|TableName|TableArn)$")
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

# A history event carries its details under ``<eventType>EventDetails``.
_DETAILS = re.compile(r"EventDetails$")


def local_name(stem: str) -> str:
    """``agent_run`` -> ``luma-agent-run`` (the local state machine name)."""
    return "luma-" + stem.replace("_", "-")


def snake(camel: str) -> str:
    """``AgentTurn`` -> ``agent_turn`` (the inverse of the CDK app's ``camel``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def local_function_arn(name: str) -> str:
    """``arn:aws:lambda:us-east-1:000000000000:function:<name>``, as ``LambdaRuntime.arn`` (the gateway's account)."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def local_table_name(name: str) -> str:
    """The local physical name of the ``<name>`` table: ``Settings.<name>_table`` (``luma-<name>``)."""
    try:
        from luma.config import get_settings

        value = getattr(get_settings(), f"{name}_table", None)
    except Exception:  # settings not importable/valid here: the convention
        value = None
    return str(value) if value else "luma-" + name.replace("_", "-")


def client(endpoint: str, region: str = REGION) -> Any:
    """A boto3 ``stepfunctions`` client for the moto server at ``endpoint`` (fake credentials)."""
    import boto3

    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _client(sfn_client_or_endpoint: Any) -> Any:
    return client(sfn_client_or_endpoint) if isinstance(sfn_client_or_endpoint, str) else sfn_client_or_endpoint


def enable_execution(endpoint: str, timeout: float = 5.0) -> None:
    """Switch moto's Step Functions to its interpreter, with Lambda invokes that reach the local handlers.

    Do it before creating state machines: moto keeps executing and non-executing machines in
    two different backends.
    """
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    request = urllib.request.Request(  # noqa: S310 - loopback moto endpoint
        endpoint.rstrip("/") + "/moto-api/config",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with _LOOPBACK.open(request, timeout=timeout) as response:
        response.read()


def render_definition(
    text: str,
    *,
    function_arn: Callable[[str], str],
    function_name: Callable[[str], str] | None = None,
    table_name: Callable[[str], str] | None = None,
    table_arn: Callable[[str], str] | None = None,
    extra: Mapping[str, str] | None = None,
    source: str = "definition",
) -> str:
    """Substitute ``${<Camel>FunctionArn|FunctionName|TableName|TableArn}`` as the CDK app does.

    The callables get the snake_case name (``${AgentTurnFunctionArn}`` -> ``function_arn("agent_turn")``);
    ``extra`` maps whole placeholder names to values and wins. An unknown placeholder raises ValueError.
    """
    tname = table_name or local_table_name
    resolvers: dict[str, Callable[[str], str]] = {
        "FunctionArn": function_arn,
        "FunctionName": function_name or (lambda n: n),
        "TableName": tname,
        "TableArn": table_arn or (lambda n: f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{tname(n)}"),
    }
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        placeholder = match.group(1)
        if extra and placeholder in extra:
            return extra[placeholder]
        kind = _KINDS.match(placeholder)
        if kind is None:
            unknown.append(placeholder)
            return match.group(0)
        return resolvers[kind.group(2)](snake(kind.group(1)))

    rendered = PLACEHOLDER.sub(replace, text)
    if unknown:
        raise ValueError(
            f"{source}: no value for placeholder(s) "
            + ", ".join("${" + u + "}" for u in sorted(set(unknown)))
            + " (expected ${<Function>FunctionArn|Name} or ${<Table>TableName|Arn})"
        )
    return rendered


def _existing(sfn: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            found[machine["name"]] = machine["stateMachineArn"]
    return found


def deploy_state_machines(
    sfn_client_or_endpoint: Any,
    *,
    statemachines_dir: Path = STATEMACHINES_DIR,
    function_arn: Callable[[str], str] = local_function_arn,
    function_name: Callable[[str], str] | None = None,
    table_name: Callable[[str], str] | None = None,
    extra: Mapping[str, str] | None = None,
    role_arn: str = ROLE_ARN,
) -> dict[str, str]:
    """Create or update one STANDARD state machine per ``<stem>.asl.json``; returns ``{stem: arn}``.

    The machine is named ``luma-<stem with - for _>``; placeholders are substituted by
    :func:`render_definition`. moto validates the definition (``InvalidDefinition`` otherwise).
    A missing or empty folder deploys nothing.
    """
    files = sorted(Path(statemachines_dir).glob("*.asl.json"))
    if not files:
        return {}
    sfn = _client(sfn_client_or_endpoint)
    existing = _existing(sfn)
    deployed: dict[str, str] = {}
    for path in files:
        stem = path.name.removesuffix(".asl.json")
        definition = render_definition(
            path.read_text(encoding="utf-8"),
            function_arn=function_arn,
            function_name=function_name,
            table_name=table_name,
            extra=extra,
            source=str(path),
        )
        name = local_name(stem)
        if name in existing:
            sfn.update_state_machine(stateMachineArn=existing[name], definition=definition, roleArn=role_arn)
            deployed[stem] = existing[name]
        else:
            created = sfn.create_state_machine(name=name, definition=definition, roleArn=role_arn, type="STANDARD")
            deployed[stem] = created["stateMachineArn"]
    return deployed


def start_execution(
    sfn_client_or_endpoint: Any, state_machine_arn: str, payload: Any = None, name: str | None = None
) -> str:
    """Start an execution with ``payload`` as JSON input; returns the execution ARN."""
    sfn = _client(sfn_client_or_endpoint)
    kwargs: dict[str, Any] = {
        "stateMachineArn": state_machine_arn,
        "input": json.dumps({} if payload is None else payload),
    }
    if name:
        kwargs["name"] = name
    return str(sfn.start_execution(**kwargs)["executionArn"])


def wait_for_execution(
    sfn_client_or_endpoint: Any, execution_arn: str, *, timeout: float = 30.0, poll: float = 0.05
) -> dict[str, Any]:
    """Poll ``describe_execution`` until the execution ends; its answer, with ``output`` parsed.

    TimeoutError (with the history so far) if it is still running after ``timeout`` seconds.
    """
    sfn = _client(sfn_client_or_endpoint)
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in FINISHED:
            if isinstance(described.get("output"), str):
                described["output"] = _maybe_json(described["output"])
            return described
        if time.monotonic() > deadline:
            steps = " -> ".join(states_entered(execution_history(sfn, execution_arn)))
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout:.0f} s: {steps}")
        time.sleep(poll)


def run_execution(
    sfn_client_or_endpoint: Any, state_machine_arn: str, payload: Any = None, *, timeout: float = 30.0
) -> dict[str, Any]:
    """:func:`start_execution` then :func:`wait_for_execution`."""
    sfn = _client(sfn_client_or_endpoint)
    return wait_for_execution(sfn, start_execution(sfn, state_machine_arn, payload), timeout=timeout)


def _maybe_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def execution_history(sfn_client_or_endpoint: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's events, oldest first, flattened: ``{"id", "type", **details}``.

    The details (``name`` of a state, ``error``, ``cause``, ``input``, ``output``, ``parameters``,
    ``resource``...) are lifted out of their ``<type>EventDetails`` key; JSON strings in
    ``input``/``output``/``parameters`` are parsed.
    """
    sfn = _client(sfn_client_or_endpoint)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page["events"]:
            flat: dict[str, Any] = {"id": event["id"], "type": event["type"]}
            for key, value in event.items():
                if _DETAILS.search(key) and isinstance(value, dict):
                    for detail, item in value.items():
                        if detail.endswith("Details"):  # inputDetails/outputDetails: truncation flags
                            continue
                        flat[detail] = _maybe_json(item) if detail in ("input", "output", "parameters") else item
            events.append(flat)
    return events


def _find_key(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for item in value.values():
            found = _find_key(item, key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_key(item, key)
            if found is not None:
                return found
    return None


def task_tokens(history: list[dict[str, Any]], key: str = "taskToken") -> list[str]:
    """The tokens ``.waitForTaskToken`` tasks passed on as ``key`` (anywhere in their parameters), oldest first."""
    tokens: list[str] = []
    for event in history:
        if event["type"] == "TaskScheduled" and str(event.get("resource", "")).endswith(".waitForTaskToken"):
            token = _find_key(event.get("parameters"), key)
            if isinstance(token, str):
                tokens.append(token)
    return tokens


def wait_for_task_token(
    sfn_client_or_endpoint: Any,
    execution_arn: str,
    *,
    key: str = "taskToken",
    skip: Collection[str] = (),
    timeout: float = 10.0,
    poll: float = 0.05,
) -> str:
    """The oldest task token (see :func:`task_tokens`) not in ``skip``, once a waiting task has one.

    TimeoutError if none appears within ``timeout`` seconds or the execution ends first.
    """
    sfn = _client(sfn_client_or_endpoint)
    deadline = time.monotonic() + timeout
    while True:
        history = execution_history(sfn, execution_arn)
        fresh = [t for t in task_tokens(history, key) if t not in skip]
        if fresh:
            return fresh[0]
        ended = any(e["type"] in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted") for e in history)
        if ended or time.monotonic() > deadline:
            steps = " -> ".join(states_entered(history))
            raise TimeoutError(f"no {key!r} from a .waitForTaskToken task in {execution_arn}: {steps}")
        time.sleep(poll)


def states_entered(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states entered, in order (``Map`` iterations included)."""
    return [e["name"] for e in history if e["type"].endswith("StateEntered") and "name" in e]


def failures(history: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """``(event type, error, cause)`` of every failure event (``TaskFailed``, ``ExecutionFailed``...)."""
    return [(e["type"], e.get("error", ""), e.get("cause", "")) for e in history if "error" in e]
