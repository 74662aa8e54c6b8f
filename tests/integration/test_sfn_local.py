"""Step Functions in the local stack: moto 5.2.5's interpreter running ASL with Lambda tasks on our handlers.

The state machines are ``tests/fixtures/sfn/*.asl.json`` (deployed by the stack as it deploys
``statemachines/``), their functions ``tests/fixtures/sfn/functions``. Retry intervals and
TimeoutSeconds are real seconds in moto: the two tests that use them take about 1 s each.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local import stepfunctions as sfn_local  # noqa: E402
from local.devstack import LocalStack  # noqa: E402

SFN_FIXTURES = REPO / "tests" / "fixtures" / "sfn"
SECRET = "test-secret-for-the-sfn-tests-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack on the fixture functions and state machines, with the fake LLM."""
    web = tmp_path_factory.mktemp("web")
    with LocalStack(
        0,
        functions_dir=SFN_FIXTURES / "functions",
        statemachines_dir=SFN_FIXTURES,
        web_dir=web,
        seed=False,
        llm="fake",
        extra_env={"LUMA_DEV_JWT_SECRET": SECRET},
    ) as local:
        yield local
    _rebind_luma()


def _rebind_luma() -> None:
    """Point luma's settings and store back at whatever stack the environment names now."""
    from luma import wiring
    from luma.config import get_settings, reset_settings
    from luma.store.models import bind_models

    reset_settings()
    wiring.reset()
    if os.environ.get("LUMA_DYNAMODB_ENDPOINT_URL"):
        bind_models(get_settings())


@pytest.fixture(scope="module")
def sfn(stack: LocalStack) -> Any:
    return sfn_local.client(stack.moto.endpoint)


def _run(sfn: Any, stack: LocalStack, machine: str, payload: Any, timeout: float = 20) -> dict[str, Any]:
    arn = sfn_local.start_execution(sfn, stack.state_machines[machine], payload)
    done = sfn_local.wait_for_execution(sfn, arn, timeout=timeout)
    done["history"] = sfn_local.execution_history(sfn, arn)
    return done


# -- the emulator itself -----------------------------------------------------------------------
def test_moto_is_the_pinned_version() -> None:
    import moto

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = [d for group in project["optional-dependencies"].values() for d in group] + project["dependencies"]
    pins = [m.group(1) for d in deps if (m := re.match(r"^moto\[[^\]]*\]==(\S+)$", d))]
    assert pins == [moto.__version__] == ["5.2.5"]  # the hook and the fixes below target this version


def test_the_lambda_hook_runs_in_the_moto_process(stack: LocalStack, tmp_path: Path) -> None:
    """moto's own Lambda Invoke (what the interpreter calls) reaches the handlers; errors keep their type."""
    lam = boto3.client(
        "lambda",
        endpoint_url=stack.moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    out = lam.invoke(FunctionName=sfn_local.local_function_arn("echo"), Payload=b'{"x": 1}')
    assert "FunctionError" not in out
    assert json.loads(out["Payload"].read()) == {"echo": {"x": 1}, "function": "echo"}

    payload = {"counterFile": str(tmp_path / "attempts"), "failTimes": 9}
    out = lam.invoke(FunctionName="flaky", Payload=json.dumps(payload).encode())
    assert out["FunctionError"] == "Unhandled"
    error = json.loads(out["Payload"].read())
    assert error["errorType"] == "LlmRateLimited" and error["errorMessage"] == "attempt 1 failed"
    # As Lambda's Python runtime reports it: the handler's frames, not the emulator's.
    assert error["stackTrace"] and all("fixtures/sfn/functions/flaky" in line for line in error["stackTrace"])

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no_such_function", Payload=b"{}")


def test_state_machines_are_deployed_with_local_arns(stack: LocalStack, sfn: Any) -> None:
    assert set(stack.state_machines) == {
        "agent_run",
        "approval",
        "loop",
        "map",
        "map_approval",
        "plain",
        "retry_catch",
        "timeout",
    }
    described = sfn.describe_state_machine(stateMachineArn=stack.state_machines["plain"])
    assert described["name"] == "luma-plain"
    definition = json.loads(described["definition"])
    assert definition["States"]["Echo"]["Parameters"]["FunctionName"] == stack.runtime.arn("echo")  # type: ignore[union-attr]
    agent_run = json.loads(sfn.describe_state_machine(stateMachineArn=stack.state_machines["agent_run"])["definition"])
    assert agent_run["States"]["Echo"]["Parameters"]["FunctionName"] == "echo"  # ${EchoFunctionName}
    # Deploying again updates in place.
    assert sfn_local.deploy_state_machines(sfn, statemachines_dir=SFN_FIXTURES) == stack.state_machines


def test_placeholders_follow_the_cdk_convention() -> None:
    text = json.dumps(
        {
            "a": "${AgentTurnFunctionArn}",
            "b": "${AgentTurnFunctionName}",
            "c": "${ConversationsTableName}",
            "d": "${ConversationsTableArn}",
        }
    )
    rendered = json.loads(sfn_local.render_definition(text, function_arn=sfn_local.local_function_arn))
    assert rendered == {
        "a": "arn:aws:lambda:us-east-1:000000000000:function:agent_turn",
        "b": "agent_turn",
        "c": "luma-conversations",
        "d": "arn:aws:dynamodb:us-east-1:000000000000:table/luma-conversations",
    }
    with pytest.raises(ValueError, match=r"\$\{Nonsense\}"):
        sfn_local.render_definition('{"x": "${Nonsense}"}', function_arn=sfn_local.local_function_arn)


def test_the_stack_exports_the_endpoint_the_agent_run_arn_and_dev_info(stack: LocalStack) -> None:
    from luma.config import get_settings

    assert os.environ["LUMA_STEPFUNCTIONS_ENDPOINT_URL"] == stack.moto.endpoint
    assert os.environ["LUMA_AGENT_RUN_STATE_MACHINE_ARN"] == stack.state_machines["agent_run"]
    settings = get_settings()
    assert settings.stepfunctions_endpoint_url == stack.moto.endpoint
    assert settings.agent_run_state_machine_arn == stack.state_machines["agent_run"]
    assert stack.fake_llm is not None
    assert os.environ["ANTHROPIC_BASE_URL"] == stack.fake_llm.url
    assert os.environ["ANTHROPIC_API_KEY"] == stack.fake_llm.api_key
    assert "OPENAI_API_KEY" not in os.environ and "OPENAI_BASE_URL" not in os.environ

    with urllib.request.urlopen(f"{stack.url}/dev/info", timeout=5) as response:
        info = json.loads(response.read())
    assert info["fakeLlmUrl"] == stack.fake_llm.url and info["stateMachines"] == stack.state_machines
    assert info["fakeTwilioUrl"] == stack.dev_info["fakeTwilioUrl"]  # filled in by the Twilio wiring


def test_llm_mode_is_validated() -> None:
    with pytest.raises(ValueError, match="llm="):
        LocalStack(0, llm="real")


def test_unnamed_executions_get_distinct_arns(stack: LocalStack, sfn: Any) -> None:
    arns = {sfn_local.start_execution(sfn, stack.state_machines["agent_run"], {"n": i}) for i in range(2)}
    assert len(arns) == 2  # moto alone names both "...:None"
    outputs = [sfn_local.wait_for_execution(sfn, arn)["output"]["echo"] for arn in sorted(arns)]
    assert sorted(o["n"] for o in outputs) == [0, 1]


# -- ASL features the agent run uses -------------------------------------------------------------
def test_a_lambda_task_with_payload_result_selector_and_output_path(stack: LocalStack, sfn: Any) -> None:
    done = _run(sfn, stack, "plain", {"text": "hi"})
    assert done["status"] == "SUCCEEDED"
    assert done["output"] == {"result": {"echo": {"text": "hi"}, "function": "echo"}, "status": 200}
    assert [e["type"] for e in done["history"]] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]


def test_a_choice_loop_runs_until_the_iteration_limit(stack: LocalStack, sfn: Any) -> None:
    done = _run(sfn, stack, "loop", {"count": 0, "limit": 4})
    assert done["status"] == "SUCCEEDED" and done["output"] == {"count": 4, "limit": 4}
    assert sfn_local.states_entered(done["history"]) == ["Step", "Limit reached?"] * 4 + ["Done"]


def test_a_map_over_items(stack: LocalStack, sfn: Any) -> None:
    done = _run(sfn, stack, "map", {"items": [1, 2, 3, 4, 5]})
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["results"] == [{"n": n, "square": n * n} for n in range(1, 6)]  # in item order
    assert sfn_local.states_entered(done["history"]).count("Square") == 5


def test_timeout_seconds_is_states_timeout(stack: LocalStack, sfn: Any) -> None:
    done = _run(sfn, stack, "timeout", {"seconds": 2})  # the function runs on after the timeout, as in AWS
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["route"] == "timed-out"
    assert done["output"]["error"] == {"Error": "States.Timeout", "Cause": ""}
    assert ("TaskTimedOut", "States.Timeout", "") in sfn_local.failures(done["history"])


def test_retry_after_a_named_lambda_error(stack: LocalStack, sfn: Any, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    started = time.monotonic()
    done = _run(sfn, stack, "retry_catch", {"counterFile": str(counter), "failTimes": 1})
    assert done["status"] == "SUCCEEDED"
    assert counter.read_text() == "2"
    assert done["output"]["result"] == {"attempts": 2}
    assert time.monotonic() - started >= 1.0  # IntervalSeconds is a real sleep in moto
    assert [f[:2] for f in sfn_local.failures(done["history"])] == [("TaskFailed", "LlmRateLimited")]


def test_catch_routes_a_named_error_with_error_and_cause(stack: LocalStack, sfn: Any, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    done = _run(sfn, stack, "retry_catch", {"counterFile": str(counter), "failTimes": 9, "error": "ToolBroken"})
    assert done["status"] == "SUCCEEDED"
    assert counter.read_text() == "1"  # not retried
    output = done["output"]
    assert output["route"] == "fallback"
    assert output["error"]["Error"] == "ToolBroken"
    cause = json.loads(output["error"]["Cause"])  # the Lambda error payload, as in AWS
    assert cause["errorType"] == "ToolBroken" and cause["errorMessage"] == "attempt 1 failed"
    assert sfn_local.states_entered(done["history"]) == ["Call", "Fallback"]


def test_states_task_failed_catches_any_lambda_error(stack: LocalStack, sfn: Any, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    done = _run(sfn, stack, "retry_catch", {"counterFile": str(counter), "failTimes": 9, "error": "ValueError"})
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["route"] == "task-failed" and done["output"]["error"]["Error"] == "ValueError"


def test_wait_for_task_token_resumed_by_send_task_success(stack: LocalStack, sfn: Any) -> None:
    arn = sfn_local.start_execution(sfn, stack.state_machines["approval"], {"question": "move it?"})
    token = sfn_local.wait_for_task_token(sfn, arn)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    done = sfn_local.wait_for_execution(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["output"] == {"question": "move it?", "approval": {"approved": True}}
    submitted = [e for e in sfn_local.execution_history(sfn, arn) if e["type"] == "TaskSubmitted"]
    assert submitted[0]["output"]["Payload"] == {"asked": "move it?", "hasToken": True}  # the function ran


def test_wait_for_task_token_failure_is_caught(stack: LocalStack, sfn: Any) -> None:
    arn = sfn_local.start_execution(sfn, stack.state_machines["approval"], {"question": "cancel it?"})
    token = sfn_local.wait_for_task_token(sfn, arn)
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="the patient said no")
    done = sfn_local.wait_for_execution(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["route"] == "rejected"
    assert done["output"]["error"] == {"Error": "Rejected", "Cause": "the patient said no"}


def test_task_tokens_inside_a_map(stack: LocalStack, sfn: Any) -> None:
    calls = [{"q": "a", "approve": True}, {"q": "b", "approve": False}, {"q": "c", "approve": True}]
    arn = sfn_local.start_execution(sfn, stack.state_machines["map_approval"], {"calls": calls})
    answered: list[str] = []
    for _ in range(2):  # "a" and "c" wait, in any order
        token = sfn_local.wait_for_task_token(sfn, arn, skip=answered)
        answered.append(token)
        payloads = [
            e["parameters"]["Payload"] for e in sfn_local.execution_history(sfn, arn) if e["type"] == "TaskScheduled"
        ]
        question = next(p["question"] for p in payloads if p.get("taskToken") == token)
        if question == "a":
            sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
        else:
            sfn.send_task_failure(taskToken=token, error="Rejected")
    done = sfn_local.wait_for_execution(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert done["output"] == [
        {"call": calls[0], "approval": {"approved": True}},
        {"call": calls[1]},
        {"call": calls[2], "approval": {"approved": False}},
    ]


def test_dev_info_reports_what_the_stack_fills_in(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from local.gateway import create_app
    from local.runtime import LambdaRuntime

    runtime = LambdaRuntime(tmp_path)
    try:
        app = create_app(runtime)
        with TestClient(app) as client:
            assert client.get("/dev/info").json() == {"fakeLlmUrl": None, "fakeTwilioUrl": None, "stateMachines": {}}
            app.state.dev_info["fakeTwilioUrl"] = "http://127.0.0.1:9/"  # a stack fills the dict in later
            assert client.get("/dev/info").json()["fakeTwilioUrl"] == "http://127.0.0.1:9/"
    finally:
        runtime.shutdown()


def test_moto_batch_still_works_behind_the_lazy_package(stack: LocalStack) -> None:
    """moto.batch's __init__ (EC2 models, ~0.65 s) is deferred off the interpreter's import; Batch still answers."""
    batch = boto3.client(
        "batch",
        endpoint_url=stack.moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert batch.describe_compute_environments()["computeEnvironments"] == []
