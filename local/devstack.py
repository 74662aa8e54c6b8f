"""``luma dev``: moto (DynamoDB) in a subprocess, the gateway emulator, the web chat.

Use :class:`LocalStack` as a context manager in tests (uvicorn in a background thread) or
:func:`main` from the CLI (uvicorn in the foreground; Ctrl-C stops uvicorn, the handler pool
and the moto subprocess, in that order).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import json
import logging
import os
import secrets
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from local.gateway import create_app
from local.runtime import LambdaRuntime
from local.server import AppServer, PortInUseError, bind_socket, free_port
from local.stepfunctions import STATEMACHINES_DIR, deploy_state_machines, enable_execution

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET_FILE = REPO_ROOT / ".luma" / "dev-secret"
STAGE = "local"
MEDIA_BUCKET = "luma-media-local"

# moto's WSGI application, plus a watchdog: it exits when our end of its stdin closes, so it never
# outlives this process (even after SIGKILL). It runs in its own session so a terminal Ctrl-C
# reaches only us, and we stop it after the handlers' last $disconnect calls. moto's own server
# (werkzeug's development server) closes the connection after every response and starts a thread
# per connection, so every AWS call paid a TCP connect and a thread start; waitress keeps clients'
# connections alive and answers on a fixed pool of threads (enough for SQS long polls, which hold one).
_MOTO_BOOT = """\
import logging, os, sys, threading
def _watch():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
logging.getLogger("waitress").setLevel(logging.ERROR)
sys.path.insert(0, os.environ["LUMA_REPO_ROOT"])
import local.moto_patches
local.moto_patches.apply()
import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
host, port = sys.argv[1], int(sys.argv[2])
waitress.serve(
    DomainDispatcherApplication(create_backend_app), host=host, port=port, threads=48,
    connection_limit=4000, channel_timeout=600, backlog=2048, ident="moto", _quiet=True,
)
"""


class StartupError(RuntimeError):
    """The local stack could not start; the message says why and what to do."""


class Progress(Protocol):
    """Receives startup progress (``luma dev`` prints it; tests log it)."""

    def begin(self, label: str) -> None:
        """A step starts."""

    def done(self, detail: str = "") -> None:
        """The current step succeeded."""

    def skip(self, reason: str) -> None:
        """The current step was skipped."""


class _LogProgress:
    def __init__(self) -> None:
        self._label = ""

    def begin(self, label: str) -> None:
        self._label = label

    def done(self, detail: str = "") -> None:
        log.info("%s: ok %s", self._label, detail)

    def skip(self, reason: str) -> None:
        log.warning("%s: skipped (%s)", self._label, reason)


def ensure_dev_secret(path: Path = SECRET_FILE) -> str:
    """``LUMA_DEV_JWT_SECRET`` if set, else the secret in ``.luma/dev-secret`` (created 0600)."""
    if os.environ.get("LUMA_DEV_JWT_SECRET"):
        return os.environ["LUMA_DEV_JWT_SECRET"]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
        path.unlink()
        return ensure_dev_secret(path)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        secret = secrets.token_urlsafe(32)
        fh.write(secret + "\n")
    return secret


class MotoServer:
    """moto's server application (under waitress) on a free loopback port, in its own process (and GIL)."""

    def __init__(self, host: str = "127.0.0.1", *, python: str = sys.executable) -> None:
        self.host = host
        self.python = python
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Extra environment of the subprocess (e.g. LUMA_LAMBDA_ENDPOINT_URL for the Step Functions hook).
        self.env: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start moto and wait until it answers HTTP; StartupError with its output otherwise."""
        self._log = tempfile.NamedTemporaryFile(prefix="luma-moto-", suffix=".log", delete=False)  # noqa: SIM115
        for _attempt in range(3):
            self.port = free_port(self.host)
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [self.python, "-c", _MOTO_BOOT, self.host, str(self.port)],
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=tempfile.gettempdir(),
                env={**os.environ, **self.env, "MOTO_PORT": str(self.port), "LUMA_REPO_ROOT": str(REPO_ROOT)},
            )
            if self._wait_ready(timeout):
                return
            output = self._output()
            self.stop(keep_log=True)
            if "Address already in use" not in output:  # lost a race for the port: try another
                break
        raise StartupError(
            f"the DynamoDB emulator (moto server) did not answer on {self.endpoint} within "
            f"{timeout:.0f} s. Its output:\n{self._output()[-2000:] or '(none)'}\n"
            "Is moto[server] installed in the venv? Try: make install"
        )

    def _wait_ready(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
            try:
                conn.request("GET", "/moto-api/data.json")
                conn.getresponse().read()
                return True
            except OSError:
                time.sleep(0.05)
            finally:
                conn.close()
        return False

    def _output(self) -> str:
        if self._log is None:
            return ""
        try:
            return Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop the subprocess (stdin EOF, then SIGTERM, then SIGKILL) and reap it."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            for action in (None, proc.terminate, proc.kill):
                if action is not None:
                    with contextlib.suppress(OSError):
                        action()
                try:
                    proc.wait(timeout=3)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._log is not None and not keep_log:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None


def _optional(module: str, attr: str) -> Callable[[], Any] | None:
    """``module.attr`` if the module exists (the lead's modules may not be there yet)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise
    fn = getattr(mod, attr, None)
    return fn if callable(fn) else None


LLM_MODES = ("env", "fake", "none")
_LLM_ENV_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "LUMA_LLM_PROVIDER")


class LocalStack:
    """moto + Lambda runtime + gateway on ``host:port``; a context manager.

    Attributes once started: ``url``, ``ws_url``, ``dynamodb_endpoint``, ``runtime``, ``app``,
    ``port`` (the real one when 0 was asked), ``moto`` (the :class:`MotoServer`),
    ``state_machines`` (``{stem: ARN}`` of ``statemachines_dir/*.asl.json``, run by moto's
    interpreter), ``fake_llm`` (with ``llm="fake"``), ``dev_info`` (what ``GET /dev/info`` shows).

    ``llm``: ``"env"`` uses whatever provider keys are in the environment, ``"fake"`` starts the
    scripted demo model (:mod:`local.fake_llm_demo`) and points Anthropic at it, ``"none"`` clears
    the provider keys (agent turns answer "no model configured").
    """

    def __init__(
        self,
        port: int = 8787,
        host: str = "127.0.0.1",
        *,
        functions_dir: Path | None = None,
        web_dir: Path | None = None,
        seed: bool = True,
        extra_env: Mapping[str, str | None] | None = None,
        max_workers: int = 16,
        preload: bool = False,
        progress: Progress | None = None,
        llm: str = "env",
        statemachines_dir: Path | None = None,
        on_twilio_message: Callable[[Any], None] | None = None,
        sweep_every_s: float | None = None,
        stream_consumers: bool = True,
    ) -> None:
        if llm not in LLM_MODES:
            raise ValueError(f"llm={llm!r}: expected one of {', '.join(LLM_MODES)}")
        self.host = host
        self.port = port
        self.functions_dir = Path(functions_dir or REPO_ROOT / "functions")
        self.web_dir = Path(web_dir or REPO_ROOT / "web")
        self.seed = seed
        self.extra_env = dict(extra_env or {})
        self.max_workers = max_workers
        self.preload = preload
        self.stream_consumers = stream_consumers
        self.progress: Progress = progress or _LogProgress()
        self.moto = MotoServer(host)
        self.runtime: LambdaRuntime | None = None
        self.app: Any = None
        self.server: AppServer | None = None
        self.llm = llm
        self.fake_llm: Any = None
        self._llm_env: dict[str, str | None] = {}
        self.statemachines_dir = Path(statemachines_dir or STATEMACHINES_DIR)
        self.state_machines: dict[str, str] = {}
        self.dev_info: dict[str, Any] = {
            "fakeLlmUrl": None,
            "fakeTwilioUrl": None,
            "openSearchUrl": None,
            "stateMachines": {},
        }
        self.event_sources: Any = None  # stream consumers and DLQs (local/streams.py), once started
        # The local OpenSearch-compatible server (long-term memory's search index).
        self.opensearch: Any = None
        self._opensearch_env: dict[str, str | None] = {}
        # The fake Twilio REST API (replies to WhatsApp/SMS land there; ``on_twilio_message`` sees each),
        # and the idle-session sweeper run every ``sweep_every_s`` (None: only on demand, through the
        # Lambda Invoke API: POST /2015-03-31/functions/session_sweeper/invocations).
        self.fake_twilio: Any = None
        self.on_twilio_message = on_twilio_message
        self.sweep_every_s = sweep_every_s
        self._sweep_stop = threading.Event()
        self._twilio_env: dict[str, str | None] = {}
        self._saved_env: dict[str, str | None] = {}
        self._prepared = False
        self._preload: tuple[threading.Thread, threading.Event] | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/ws`` (add ``?token=...``)."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def dynamodb_endpoint(self) -> str:
        """The moto server's URL (every AWS service moto emulates answers there)."""
        return self.moto.endpoint

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start everything, with uvicorn in a background thread."""
        self.prepare()
        assert self.server is not None
        self.server.start()
        if self.preload:
            self._preload_in_background()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C/SIGTERM, then stop everything."""
        try:
            if not self._prepared:
                self.prepare()
            assert self.server is not None
            if self.preload:
                self._preload_in_background()
            self.server.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def prepare(self) -> None:
        """Bind the port, start moto, set the environment, create/seed tables, deploy state machines; no serving."""
        sock = None
        try:
            sock = bind_socket(self.host, self.port)  # first: a busy port fails fast
            self.port = sock.getsockname()[1]
            self.moto.env["LUMA_LAMBDA_ENDPOINT_URL"] = self.url  # Step Functions lambda:invoke -> our handlers
            self.progress.begin("starting DynamoDB emulator")
            self.moto.start()
            self.progress.done(f"(port {self.moto.port})")
            self._start_llm()
            self._start_twilio()
            self._start_opensearch()
            self._apply_env()
            self._create_media_bucket()
            self._create_and_seed()
            self._deploy_state_machines()
            self.runtime = LambdaRuntime(self.functions_dir, max_workers=self.max_workers)
            self.app = create_app(self.runtime, web_dir=self.web_dir, stage=STAGE, dev_info=self.dev_info)
            self.server = AppServer(self.app, sock)
            self._start_sweeper()
            self._start_streams()
            self._prepared = True
        except BaseException:
            if sock is not None and self.server is None:
                sock.close()
            self.stop()
            raise

    def _apply_env(self) -> None:
        secret = self.extra_env.get("LUMA_DEV_JWT_SECRET") or ensure_dev_secret()
        forced: dict[str, str | None] = {
            "LUMA_ENV": "local",
            "LUMA_DYNAMODB_ENDPOINT_URL": self.moto.endpoint,
            "LUMA_LAMBDA_ENDPOINT_URL": self.url,
            "LUMA_WS_MANAGEMENT_ENDPOINT": f"{self.url}/{STAGE}",
            "LUMA_HTTP_ROOT_PATH": "/api",
            "LUMA_DEV_JWT_SECRET": secret,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        defaults = {
            "POWERTOOLS_SERVICE_NAME": "luma",
            "POWERTOOLS_METRICS_NAMESPACE": "Luma",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # The limiter runs locally too (its cost is in the benchmarks), with limits a developer
            # and `luma bench` don't hit; set these (or LUMA_RATE_LIMITS per tenant) to try real ones.
            "LUMA_RATE_LIMIT_USER_PER_MINUTE": "100000",
            "LUMA_RATE_LIMIT_IP_PER_MINUTE": "100000",
            # Every function's threads share this process's AWS clients: enough pooled connections
            # that none is opened (and one of moto's threads started) per request under load.
            "LUMA_AWS_MAX_POOL_CONNECTIONS": "128",
        }
        for key, default in defaults.items():
            if key not in os.environ:
                forced[key] = default
        forced.update(self._llm_env)
        forced.update(self._twilio_env)
        forced.update(self._opensearch_env)
        forced.update(self.extra_env)
        self._set_env(forced)

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        """Set (None: unset) variables, remembering their old values for stop(); rebind settings."""
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._reset_settings()

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_env:
            self._reset_settings()
        self._saved_env.clear()

    @staticmethod
    def _reset_settings() -> None:
        from luma.assistants import registry
        from luma.config import reset_settings

        reset_settings()
        registry.reset()

    def _create_and_seed(self) -> None:
        """Create every table (the core's and the assistant packs'), then seed each pack's demo data."""
        from luma.assistants.registry import available, get_pack
        from luma.config import get_settings
        from luma.store.tables import create_tables

        settings = get_settings()
        self.progress.begin("creating tables and the memory index")
        create_tables()
        from luma.memory.vectors import OpenSearchVectorStore

        OpenSearchVectorStore(settings).ensure_ready()
        self.progress.done()
        self.dev_info["assistants"] = list(available())
        self.dev_info["dynamodbEndpoint"] = self.moto.endpoint
        if not self.seed:
            return
        for name in available():
            self.progress.begin(f"seeding the {name} demo data")
            written = get_pack(name).seed(settings)
            self.progress.done(f"({written} items)")

    def _start_llm(self) -> None:
        """``llm="fake"``: start the demo model and point Anthropic at it; ``"none"``: no provider keys."""
        self._llm_env = {}
        if self.llm == "none":
            self._llm_env = dict.fromkeys(_LLM_ENV_VARS)
        if self.llm != "fake":
            return
        self.progress.begin("starting the fake LLM")
        start_demo_llm = _optional("local.fake_llm_demo", "start_demo_llm")
        if start_demo_llm is None:
            raise StartupError("--llm fake needs local/fake_llm_demo.py (start_demo_llm), which is not there")
        self.fake_llm = start_demo_llm()
        self._llm_env = {
            **dict.fromkeys(_LLM_ENV_VARS),
            "ANTHROPIC_API_KEY": self.fake_llm.api_key,
            "ANTHROPIC_BASE_URL": self.fake_llm.url,
        }
        self.dev_info["fakeLlmUrl"] = self.fake_llm.url
        self.progress.done(f"({self.fake_llm.url})")

    @property
    def twilio_numbers(self) -> dict[str, str]:
        """One demo WhatsApp number per served assistant (+14155238886, +14155238887, ... in name order)."""
        from luma.assistants.registry import installed

        return {name: f"+1415523{8886 + i}" for i, name in enumerate(sorted(installed()))}

    def _start_twilio(self) -> None:
        """The fake Twilio REST API on loopback, and the settings that make the stack use it.

        Webhooks are verified against ``{url}/api/twilio/...`` (the public URL behind the gateway's
        ``/api`` prefix) with the fake account's token; the demo tenant serves every number; images
        go to a bucket in moto's S3. Nothing here is a secret: the account exists only on loopback.
        """
        from local.fake_twilio import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, DEV_WHATSAPP_NUMBER, FakeTwilioServer

        self.progress.begin("starting the fake Twilio API")
        self.fake_twilio = FakeTwilioServer(
            DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, host=self.host, on_message=self.on_twilio_message
        ).start()
        self._twilio_env = {
            "LUMA_TWILIO_ACCOUNT_SID": DEV_ACCOUNT_SID,
            "LUMA_TWILIO_AUTH_TOKEN": DEV_AUTH_TOKEN,
            "LUMA_TWILIO_FROM_NUMBER": DEV_WHATSAPP_NUMBER,
            "LUMA_TWILIO_API_BASE_URL": self.fake_twilio.url,
            "LUMA_TWILIO_PUBLIC_BASE_URL": f"{self.url}/api",
            "LUMA_TWILIO_DEFAULT_TENANT": "demo",
            "LUMA_TWILIO_NUMBERS": json.dumps(
                {number: {"tenant": "demo", "assistant": name} for name, number in self.twilio_numbers.items()}
            ),
            "LUMA_TWILIO_SECRET_ARN": None,
            "LUMA_MEDIA_BUCKET": MEDIA_BUCKET,
            "LUMA_S3_ENDPOINT_URL": self.moto.endpoint,
        }
        self.dev_info["fakeTwilioUrl"] = self.fake_twilio.url
        self.dev_info["twilioNumbers"] = dict(self.twilio_numbers)
        self.progress.done(f"({self.fake_twilio.url})")

    def _start_opensearch(self) -> None:
        """The local OpenSearch-compatible server (memory's search index) and the settings that point at it."""
        from local.opensearch import start_opensearch

        self.progress.begin("starting the local OpenSearch")
        self.opensearch = start_opensearch(host=self.host)
        self._opensearch_env = {
            "LUMA_OPENSEARCH_URL": self.opensearch.url,
            "LUMA_OPENSEARCH_SERVICE": "es",
            "LUMA_OPENSEARCH_SIGV4": "false",
        }
        self.dev_info["openSearchUrl"] = self.opensearch.url
        self.progress.done(f"({self.opensearch.url})")

    def _create_media_bucket(self) -> None:
        """The media bucket (WhatsApp/SMS images) in moto's S3."""
        from luma.aws import client

        s3 = client("s3", region="us-east-1", endpoint_url=self.moto.endpoint)
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=MEDIA_BUCKET)

    def _start_sweeper(self) -> None:
        """Run the idle-session sweeper function every ``sweep_every_s`` seconds (like its schedule in AWS)."""
        interval, runtime = self.sweep_every_s, self.runtime
        if not interval or runtime is None or not runtime.has("session_sweeper"):
            return
        self._sweep_stop.clear()

        def loop() -> None:
            while not self._sweep_stop.wait(interval):
                try:
                    runtime.submit("session_sweeper", {})
                except RuntimeError:  # the pool is shut down: stopping
                    return

        threading.Thread(target=loop, name="session-sweeper", daemon=True).start()

    def _start_streams(self) -> None:
        """Stream consumers and dead-letter queues as CDK wires them (local/streams.py); ``self.event_sources``.

        Tests wait for the consumers with ``stack.event_sources.wait_idle()``.
        """
        from local.streams import start_local_event_sources

        assert self.runtime is not None
        self.progress.begin("starting stream consumers")
        self.event_sources = start_local_event_sources(
            self.runtime, self.moto.endpoint, stage=STAGE, stream_consumers=self.stream_consumers
        )
        self.dev_info["streams"] = self.event_sources.info()
        self.progress.done(f"({', '.join(self.event_sources.info()['consumers']) or 'none yet'})")

    def _deploy_state_machines(self) -> None:
        """Switch moto's Step Functions to its interpreter and deploy ``statemachines/*.asl.json``."""
        enable_execution(self.moto.endpoint)
        env: dict[str, str | None] = {"LUMA_STEPFUNCTIONS_ENDPOINT_URL": self.moto.endpoint}
        if any(self.statemachines_dir.glob("*.asl.json")):
            self.progress.begin("deploying state machines")
            try:
                self.state_machines = deploy_state_machines(
                    self.moto.endpoint, statemachines_dir=self.statemachines_dir
                )
            except Exception as exc:  # a placeholder without a value, a definition moto rejects
                raise StartupError(f"could not deploy {self.statemachines_dir}/*.asl.json: {exc}") from exc
            self.progress.done(f"({', '.join(self.state_machines)})")
        self.dev_info["stateMachines"] = dict(self.state_machines)
        env["LUMA_AGENT_RUN_STATE_MACHINE_ARN"] = self.state_machines.get("agent_run")
        self._set_env(env)

    def _preload_in_background(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        stop = threading.Event()

        def preload() -> None:  # one function at a time, so stop() waits for one cold start at most
            for name in runtime.names():
                if stop.is_set():
                    return
                runtime.preload([name])

        thread = threading.Thread(target=preload, name="preload", daemon=True)
        self._preload = (thread, stop)
        thread.start()

    def stop(self) -> None:
        """Stop uvicorn, then the handler pool, then moto; restore the environment. Idempotent."""
        event_sources, self.event_sources = self.event_sources, None
        if event_sources is not None:  # stream consumers first: they invoke through the runtime
            event_sources.stop()
        server, self.server = self.server, None
        if server is not None:
            server.stop()
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.shutdown(timeout=5)
        preload, self._preload = self._preload, None
        if preload is not None:  # exiting mid-import (onnxruntime's session init) can abort the interpreter
            preload[1].set()
            if preload[0].ident is not None:  # Ctrl-C can land inside start(), before the thread ran
                preload[0].join(timeout=10)
        fake_llm, self.fake_llm = self.fake_llm, None
        if fake_llm is not None:
            fake_llm.stop()
        self.dev_info["fakeLlmUrl"] = None
        self._sweep_stop.set()
        fake_twilio, self.fake_twilio = self.fake_twilio, None
        if fake_twilio is not None:
            fake_twilio.stop()
        self.dev_info["fakeTwilioUrl"] = None
        opensearch, self.opensearch = self.opensearch, None
        if opensearch is not None:
            opensearch.stop()
        self.dev_info["openSearchUrl"] = None
        self.moto.stop()
        self._restore_env()
        self._prepared = False


# -- CLI -----------------------------------------------------------------------------------
def _fancy() -> bool:
    try:
        "…╭─╮│╰╯".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class _PrintProgress:
    def __init__(self) -> None:
        self.ellipsis = "…" if _fancy() else "..."

    def begin(self, label: str) -> None:
        print(f"{label}{self.ellipsis} ", end="", flush=True)

    def done(self, detail: str = "") -> None:
        print(f"ok {detail}".rstrip(), flush=True)

    def skip(self, reason: str) -> None:
        print(f"skipped ({reason})", flush=True)


def _box(lines: list[str]) -> str:
    fancy = _fancy()
    tl, tr, bl, br, h, v = ("╭", "╮", "╰", "╯", "─", "│") if fancy else ("+", "+", "+", "+", "-", "|")
    width = max(len(line) for line in lines) + 2
    out = [f"  {tl}{h * width}{tr}"]
    out += [f"  {v} {line.ljust(width - 1)}{v}" for line in lines]
    out.append(f"  {bl}{h * width}{br}")
    return "\n".join(out)


def _demo_user() -> tuple[str, str]:
    try:
        from luma.devtools import demo_users

        first = demo_users()[0]
        return str(first["userId"]), str(first["tenantId"])
    except Exception:
        return "u-alice", "demo"


@contextlib.contextmanager
def _quiet_uvicorn() -> Iterator[None]:
    logger = logging.getLogger("uvicorn.error")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _llm_line(stack: LocalStack) -> str:
    if stack.fake_llm is not None:
        return f"fake demo model at {stack.fake_llm.url}"
    found = [name for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL") if os.environ.get(name)]
    if found:
        return "from the environment (" + ", ".join(found) + ")"
    hint = "" if stack.llm == "none" else "; try --llm fake"
    return f'none: agent turns answer "no model configured"{hint}'


def _print_twilio_message(message: Any) -> None:
    """``luma dev`` shows every WhatsApp/SMS reply the fake Twilio API receives (local data only)."""
    text = getattr(message, "summary", None) or message.body
    body = text if len(text) <= 400 else text[:400] + "…"
    print(f"[twilio] to {message.to} from {message.from_}: {body}", flush=True)


def _banner(stack: LocalStack) -> str:
    user, tenant = _demo_user()
    return _box(
        [
            "Luma local stack is running",
            "",
            f"web chat   {stack.url}/",
            f"websocket  {stack.ws_url}?token=<JWT>",
            f"HTTP API   {stack.url}/api/",
            f"DynamoDB   {stack.dynamodb_endpoint} (moto)",
            f"OpenSearch {stack.opensearch.url if stack.opensearch is not None else '-'} (memory index, in memory)",
            f"LLM        {_llm_line(stack)}",
            f"agent runs {', '.join(stack.state_machines) or 'none (no statemachines/*.asl.json)'}"
            + (" (Step Functions in moto)" if stack.state_machines else ""),
            "assistants " + ", ".join(f"{name} (WhatsApp {number})" for name, number in stack.twilio_numbers.items()),
            f"WhatsApp   {stack.url}/api/twilio/whatsapp (SMS: /sms); replies: fake Twilio "
            + (stack.fake_twilio.url if stack.fake_twilio is not None else "-"),
            "",
            f"get a token:  luma token --user {user} --tenant {tenant}",
            "Ctrl-C to stop",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """``luma dev [--port 8787] [--host 127.0.0.1] [--no-seed] [--open] [--llm env|fake|none]``."""
    parser = argparse.ArgumentParser(prog="luma dev", description="Run the Luma local stack.")
    parser.add_argument("--port", type=int, default=8787, help="gateway port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--no-seed", action="store_true", help="do not seed the demo data")
    parser.add_argument("--open", action="store_true", help="open the web chat in a browser")
    parser.add_argument(
        "--llm",
        choices=LLM_MODES,
        default="env",
        help="env: the provider keys in the environment (default); fake: a scripted local demo model; "
        "none: no model (agent turns answer 'no model configured')",
    )
    parser.add_argument(
        "--no-stream-consumers",
        action="store_true",
        help="do not run the table stream consumers (memory extraction, session recaps, escalation notices): "
        "to measure turns without the after-turn work, which runs in functions of its own in AWS",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("local").setLevel(logging.INFO)  # one line per event: route, function, status, ms
    stack = LocalStack(
        args.port,
        args.host,
        seed=not args.no_seed,
        preload=True,
        progress=_PrintProgress(),
        llm=args.llm,
        on_twilio_message=_print_twilio_message,
        sweep_every_s=300.0,
        stream_consumers=not args.no_stream_consumers,
    )
    with _quiet_uvicorn():
        try:
            stack.prepare()
        except PortInUseError:
            print(
                f"port {args.port} is busy (is another `luma dev` running?). "
                f"Try another one: luma dev --port {args.port + 1}",
                file=sys.stderr,
            )
            return 1
        except StartupError as exc:
            print(f"failed\n{exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        except Exception:
            print("failed", file=sys.stderr)
            traceback.print_exc()
            return 1
        try:
            print(_banner(stack), flush=True)
            if args.host not in ("127.0.0.1", "localhost", "::1"):
                print(
                    f"warning: listening on {args.host}: anyone who can reach it can mint dev tokens (/dev/token)",
                    file=sys.stderr,
                )
            if args.open:
                import webbrowser

                webbrowser.open(f"{stack.url}/")
            stack.serve_forever()
        except KeyboardInterrupt:  # Ctrl-C before uvicorn took over the signal
            pass
        finally:
            stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
