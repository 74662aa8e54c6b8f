"""``LocalStack`` and ``luma dev`` with real parts: a moto server subprocess, uvicorn, clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local.devstack import LocalStack, ensure_dev_secret  # noqa: E402
from local.runtime import LambdaRuntime  # noqa: E402
from local.server import PortInUseError  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "functions"
SECRET = "test-secret-for-the-devstack-tests-0123456789"


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_localstack_runs_moto_in_a_subprocess_and_cleans_up(tmp_path: Path) -> None:
    before = {k: os.environ.get(k) for k in ("LUMA_DYNAMODB_ENDPOINT_URL", "LUMA_LAMBDA_ENDPOINT_URL")}
    records = tmp_path / "records"
    records.mkdir()
    stack = LocalStack(
        0,
        functions_dir=FIXTURES,
        web_dir=tmp_path,
        seed=False,
        extra_env={"LUMA_DEV_JWT_SECRET": SECRET, "LUMA_TEST_RECORD_DIR": str(records)},
    )
    with stack:
        moto = stack.moto.process
        assert moto is not None and moto.poll() is None
        assert stack.url == f"http://127.0.0.1:{stack.port}" and stack.port != 0
        assert stack.ws_url == f"ws://127.0.0.1:{stack.port}/ws"
        assert os.environ["LUMA_DYNAMODB_ENDPOINT_URL"] == stack.dynamodb_endpoint
        assert os.environ["LUMA_LAMBDA_ENDPOINT_URL"] == stack.url
        assert os.environ["LUMA_WS_MANAGEMENT_ENDPOINT"] == f"{stack.url}/local"
        assert os.environ["LUMA_ENV"] == "local" and os.environ["LUMA_DEV_JWT_SECRET"] == SECRET

        ddb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1")
        assert "TableNames" in ddb.list_tables()

        with connect(f"{stack.ws_url}?token=good", open_timeout=5) as ws:  # the env points handlers here
            ws.send(json.dumps({"action": "sendMessage"}))
            assert json.loads(ws.recv(timeout=5))["routeKey"] == "sendMessage"

        lam = boto3.client("lambda", endpoint_url=os.environ["LUMA_LAMBDA_ENDPOINT_URL"], region_name="us-east-1")
        assert json.loads(lam.invoke(FunctionName="echo", Payload=b"{}")["Payload"].read())["tag"] == "echo"
        with urllib.request.urlopen(f"{stack.url}/dev/stats", timeout=5) as response:
            assert json.loads(response.read())["functions"]["echo"]["invocations"] == 1
        port = stack.port
        left_open = connect(f"{stack.ws_url}?token=good", open_timeout=5)  # closed by the shutdown
        left_open.send(json.dumps({"action": "sendMessage"}))
        open_id = json.loads(left_open.recv(timeout=5))["connectionId"]

    assert moto.poll() is not None  # stopped and reaped
    left_open.close()
    disconnects = [json.loads(line)["requestContext"] for line in (records / "ws_disconnect.jsonl").open()]
    assert {"connectionId": open_id, "code": 1012} in [
        {"connectionId": d["connectionId"], "code": d["disconnectStatusCode"]} for d in disconnects
    ]
    assert not _port_open(port)
    assert {k: os.environ.get(k) for k in before} == before
    assert stack.runtime is None and stack.server is None


def test_a_busy_port_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = LocalStack(port, functions_dir=FIXTURES, web_dir=tmp_path, extra_env={"LUMA_DEV_JWT_SECRET": SECRET})
        with pytest.raises(PortInUseError):
            stack.start()
    assert stack.moto.process is None


def test_dev_secret_file_is_created_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMA_DEV_JWT_SECRET", raising=False)
    path = tmp_path / ".luma" / "dev-secret"
    first = ensure_dev_secret(path)
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_dev_secret(path) == first
    monkeypatch.setenv("LUMA_DEV_JWT_SECRET", "from-env")
    assert ensure_dev_secret(path) == "from-env"


def test_luma_dev_stops_cleanly_on_ctrl_c() -> None:
    """Ctrl-C right after the banner: ``luma dev`` is then starting its handler preload thread, the
    window the test below pins down (this one was flaky when the signal landed inside it)."""
    env = {**os.environ, "LUMA_DEV_JWT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.devstack", "--port", "0", "--no-seed"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # SIGINT goes only where the test sends it
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        output = "".join(lines)
        assert "starting DynamoDB emulator" in output and "Ctrl-C to stop" in output, output
        assert "luma token --user" in output
        children = _children(proc.pid)
        assert children and all(_alive(c) for c in children)  # the moto server

        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, errors
    assert "stopped" in rest
    assert "Traceback" not in errors, errors
    for child in children:
        assert not _alive(child)


def test_ctrl_c_while_the_preload_thread_starts_still_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack(0, functions_dir=FIXTURES, web_dir=tmp_path, seed=False, preload=True)
    stack.runtime = LambdaRuntime(FIXTURES)

    def interrupted(self: threading.Thread) -> None:  # SIGINT's KeyboardInterrupt, raised inside start()
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", interrupted)
        with pytest.raises(KeyboardInterrupt):
            stack._preload_in_background()
    stack.stop()  # what serve_forever's finally does next
    assert stack.runtime is None
