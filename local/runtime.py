"""An in-process Lambda runtime for ``functions/<name>/handler.py``.

Handlers are imported by file path on first use (a "cold start") under a unique module name, so
two functions may both have a sibling ``utils.py``; they then run with a Lambda-like context object,
each function on its own thread pool (its concurrency, as in Lambda, where functions scale apart:
a burst of one function never queues another behind it, and a function that synchronously invokes
another cannot starve it). Nothing here enforces memory or timeouts: it only reports them.

Local only: :class:`Faults` raises :class:`InjectedFaultError` before or after a function's handler with
a probability, to exercise retries and idempotency (``luma bench load --faults``); off by default.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import random
import re
import sys
import threading
import time
import types
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from local.events import ACCOUNT_ID

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_runtime_ids = itertools.count(1)
# Loading a handler briefly puts its folder on sys.path (for `import sibling`); one at a time.
_IMPORT_LOCK = threading.RLock()


def _give_thread_an_event_loop() -> None:
    """Lambda runs handlers on a main thread, where ``asyncio.get_event_loop()`` works (Mangum uses it)."""
    asyncio.set_event_loop(asyncio.new_event_loop())


class FunctionNotFoundError(KeyError):
    """No ``functions/<name>/handler.py`` for the requested function."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"Function not found: {self.name}"


@dataclass
class LambdaContext:
    """The subset of Lambda's context object handlers and Powertools use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    client_context: Any = None
    identity: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's configured timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class FunctionStats:
    """Invocation counters and recent durations of one function."""

    invocations: int = 0
    errors: int = 0
    init_ms: float | None = None
    durations_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    def summary(self) -> dict[str, Any]:
        """Counts plus p50/p95/last of the recent durations, in milliseconds."""
        recent = sorted(self.durations_ms)
        out: dict[str, Any] = {"invocations": self.invocations, "errors": self.errors, "initMs": _round(self.init_ms)}
        if recent:
            out["p50Ms"] = _round(recent[len(recent) // 2])
            out["p95Ms"] = _round(recent[min(len(recent) - 1, int(len(recent) * 0.95))])
            out["lastMs"] = _round(self.durations_ms[-1])
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class AsyncRetries:
    """What Lambda does with an Event invocation whose handler raised: retry later, then hand it on.

    Lambda retries twice by default (about 1 then 2 minutes later), each function as configured;
    ``on_exhausted(function, event, request_id, attempts, error)`` then gets the event (the local
    stack sends it to the function's dead-letter queue). Every attempt keeps the same request id.
    """

    retries: Mapping[str, int] = field(default_factory=dict)
    default_retries: int = 2
    delays_s: tuple[float, ...] = (1.0, 2.0)
    on_exhausted: Callable[[str, Any, str, int, BaseException], None] | None = None

    def retries_for(self, name: str) -> int:
        """How many times a failed Event invocation of ``name`` is tried again."""
        return self.retries.get(name, self.default_retries)

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        return self.delays_s[min(retry, len(self.delays_s)) - 1] if self.delays_s else 0.0


Phase = Literal["before", "after"]
PHASES: tuple[Phase, ...] = ("before", "after")


class InjectedFaultError(RuntimeError):
    """A failure :class:`Faults` injected into an invocation (its class name is the Lambda ``errorType``)."""


class Faults:
    """Injected handler failures: ``{function: {"before": p, "after": p}}`` (``"*"``: every function).

    ``before`` fails the invocation before its handler runs (nothing was done); ``after`` runs the
    handler to its end, then fails the invocation (everything was done, the caller sees a failure
    and retries). Thread-safe; counts what it injected. Off until :meth:`configure` is called.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rates: dict[str, dict[Phase, float]] = {}
        self._random = random.Random(seed)
        self._injected: dict[str, dict[Phase, int]] = {}

    def configure(self, rates: Mapping[str, Mapping[str, float]], *, seed: int | None = None) -> None:
        """Replace the rates (an empty mapping turns faults off); ValueError on a bad phase or probability."""
        parsed: dict[str, dict[Phase, float]] = {}
        for function, phases in rates.items():
            if not isinstance(function, str) or not (function == "*" or _NAME.match(function)):
                raise ValueError(f"not a function name: {function!r}")
            if not isinstance(phases, Mapping):
                raise ValueError(f"{function}: expected {{'before': p, 'after': p}}")
            entry: dict[Phase, float] = {}
            for phase, p in phases.items():
                if phase not in PHASES:
                    raise ValueError(f"{function}: unknown phase {phase!r} (before, after)")
                if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
                    raise ValueError(f"{function}.{phase}: probability must be between 0 and 1")
                entry[phase] = float(p)
            parsed[function] = entry
        with self._lock:
            self._rates = parsed
            if seed is not None:
                self._random.seed(seed)

    def clear(self) -> None:
        """No more faults (the counts stay)."""
        self.configure({})

    def maybe_fail(self, function: str, phase: Phase) -> None:
        """Raise :class:`InjectedFaultError` with the configured probability."""
        rates = self._rates
        if not rates:
            return
        p = (rates.get(function) or rates.get("*") or {}).get(phase, 0.0)
        if p <= 0.0:
            return
        with self._lock:
            hit = self._random.random() < p
            if hit:
                counts = self._injected.setdefault(function, {"before": 0, "after": 0})
                counts[phase] += 1
        if hit:
            raise InjectedFaultError(f"injected fault {phase} the handler of {function}")

    def snapshot(self) -> dict[str, Any]:
        """``{"rates": ..., "injected": {function: {"before": n, "after": n}}}``."""
        with self._lock:
            return {
                "rates": {f: dict(p) for f, p in self._rates.items()},
                "injected": {f: dict(c) for f, c in self._injected.items()},
            }


@dataclass
class _Loaded:
    handler: Handler
    log_stream: str


class LambdaRuntime:
    """Runs Lambda handlers from ``functions_dir`` in this process, each function on its own thread pool.

    ``max_workers`` is every function's concurrency; ``concurrency`` overrides it per function.
    """

    def __init__(
        self,
        functions_dir: Path,
        *,
        max_workers: int = 16,
        region: str = "us-east-1",
        memory_mb: int = 1024,
        default_timeout_s: float = 30.0,
        timeouts: Mapping[str, float] | None = None,
        handler_attr: str = "handler",
        concurrency: Mapping[str, int] | None = None,
    ) -> None:
        self.functions_dir = Path(functions_dir).resolve()
        self.region = region
        self.memory_mb = memory_mb
        self.default_timeout_s = default_timeout_s
        self.timeouts = dict(timeouts or {})
        self.handler_attr = handler_attr
        self.max_workers = max_workers
        self.concurrency = dict(concurrency or {})
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._closed = False
        self._uid = next(_runtime_ids)
        self._loaded: dict[str, _Loaded] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stats: dict[str, FunctionStats] = {}
        self._stages: dict[str, dict[str, deque[float]]] = {}  # scope -> stage -> recent ms (luma.timing)
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        # None: a failed Event invocation is only logged (set by the local stack: retries, dead-letter queue).
        self.async_retries: AsyncRetries | None = None
        self.faults = Faults()

    # -- discovery -------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.functions_dir / name / "handler.py"

    def has(self, name: str) -> bool:
        """Whether ``functions/<name>/handler.py`` exists."""
        return bool(_NAME.match(name)) and self._path(name).is_file()

    def names(self) -> list[str]:
        """The available function names, sorted."""
        if not self.functions_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.functions_dir.glob("*/handler.py") if self.has(p.parent.name))

    def arn(self, name: str) -> str:
        """The function's (fake) ARN."""
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"

    # -- loading ---------------------------------------------------------------------------
    def _handler(self, name: str) -> _Loaded:
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        if not self.has(name):
            raise FunctionNotFoundError(name)
        with self._lock:
            lock = self._load_locks.setdefault(name, threading.Lock())
        with lock:
            loaded = self._loaded.get(name)
            if loaded is None:
                loaded = self._load(name)
                self._loaded[name] = loaded
        return loaded

    def _load(self, name: str) -> _Loaded:
        """Import ``handler.py`` as ``_luma_fn<uid>_<name>.handler`` (relative imports work)."""
        folder = self._path(name).parent
        package = f"_luma_fn{self._uid}_{name}"
        started = time.perf_counter()
        with _IMPORT_LOCK:
            pkg = types.ModuleType(package)
            pkg.__path__ = [str(folder)]
            pkg.__package__ = package
            spec = importlib.util.spec_from_file_location(f"{package}.handler", self._path(name))
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            before = set(sys.modules)
            sys.modules[package] = pkg
            sys.modules[spec.name] = module
            sys.path.insert(0, str(folder))
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(spec.name, None)
                sys.modules.pop(package, None)
                raise
            finally:
                sys.path.remove(str(folder))
                self._rehome_siblings(folder, package, before)
        handler = getattr(module, self.handler_attr, None)
        if not callable(handler):
            raise AttributeError(f"functions/{name}/handler.py has no callable '{self.handler_attr}'")
        init_ms = (time.perf_counter() - started) * 1000
        self._stats_for(name).init_ms = init_ms
        log.info("cold start %s (init %.0f ms)", name, init_ms)
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        return _Loaded(handler=handler, log_stream=stream)

    @staticmethod
    def _rehome_siblings(folder: Path, package: str, before: set[str]) -> None:
        """Move sibling modules imported as top-level names under the function's package.

        This keeps ``functions/a/utils.py`` and ``functions/b/utils.py`` apart.
        """
        for mod_name in set(sys.modules) - before:
            if mod_name.startswith(package):
                continue
            origin = getattr(sys.modules.get(mod_name), "__file__", None)
            if origin and Path(origin).resolve().is_relative_to(folder):
                sys.modules[f"{package}.{mod_name}"] = sys.modules.pop(mod_name)

    def preload(self, names: list[str] | None = None) -> None:
        """Import handlers ahead of their first invocation; failures are logged, not raised."""
        for name in names if names is not None else self.names():
            try:
                self._handler(name)
            except Exception as exc:
                log.warning("could not preload %s: %s: %s", name, type(exc).__name__, exc)

    def redeploy(self, *names: str) -> None:
        """Drop the loaded handlers of ``names``: their next invocation cold-starts (after a settings change,
        as a new environment does in Lambda). Invocations already running finish with the old code."""
        with self._lock:
            for name in names:
                self._loaded.pop(name, None)

    # -- invocation ------------------------------------------------------------------------
    def _pool(self, name: str) -> ThreadPoolExecutor:
        pool = self._pools.get(name)
        if pool is not None:
            return pool
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            pool = self._pools.get(name)
            if pool is None:
                pool = ThreadPoolExecutor(
                    max_workers=self.concurrency.get(name, self.max_workers),
                    thread_name_prefix=f"lambda-{name}",
                    initializer=self._init_thread,
                )
                self._pools[name] = pool
        return pool

    def _init_thread(self) -> None:
        """A handler thread: an event loop (as on Lambda), and the turns' stage timings kept here."""
        _give_thread_an_event_loop()
        from luma import timing

        timing.set_sink(self.record_stages)

    def _stats_for(self, name: str) -> FunctionStats:
        stats = self._stats.get(name)
        if stats is None:
            with self._lock:
                stats = self._stats.setdefault(name, FunctionStats())
        return stats

    def context(self, name: str, log_stream: str = "local", request_id: str | None = None) -> LambdaContext:
        """A fresh context object for one invocation of ``name``."""
        return LambdaContext(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=self.arn(name),
            memory_limit_in_mb=self.memory_mb,
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=log_stream,
            deadline=time.monotonic() + self.timeouts.get(name, self.default_timeout_s),
        )

    def invoke(self, name: str, event: Any, *, request_id: str | None = None) -> Any:
        """Run ``name`` synchronously (RequestResponse); the handler's exception propagates."""
        loaded = self._handler(name)
        ctx = self.context(name, loaded.log_stream, request_id)
        stats = self._stats_for(name)
        started = time.perf_counter()
        ok = False
        try:
            self.faults.maybe_fail(name, "before")
            result = loaded.handler(event, ctx)
            self.faults.maybe_fail(name, "after")
            ok = True
            return result
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            stats.invocations += 1
            stats.durations_ms.append(elapsed)
            if not ok:
                stats.errors += 1
            if elapsed > self.timeouts.get(name, self.default_timeout_s) * 1000:
                log.warning("%s ran %.0f ms, longer than its timeout", name, elapsed)

    def submit(self, name: str, event: Any, *, request_id: str | None = None) -> Future[Any]:
        """Run ``name`` on its pool; the future carries its result or exception."""
        return self._pool(name).submit(self.invoke, name, event, request_id=request_id)

    def invoke_async(self, name: str, event: Any) -> Future[None]:
        """Event invocation: queue ``name`` on the pool; handler errors are logged, never raised.

        An unknown function still raises :class:`FunctionNotFoundError` at once, as Lambda does.
        """
        if not self.has(name):
            raise FunctionNotFoundError(name)
        with self._lock:
            self._pending += 1
        try:
            return self._pool(name).submit(self._run_async, name, event, str(uuid.uuid4()), 1)
        except BaseException:
            self._done_pending()
            raise

    def _run_async(self, name: str, event: Any, request_id: str, attempt: int) -> None:
        """One attempt; a failure is retried later (still pending) or handed to ``async_retries.on_exhausted``."""
        try:
            self.invoke(name, event, request_id=request_id)
        except Exception as exc:
            policy = self.async_retries
            if policy is not None and attempt <= policy.retries_for(name):
                delay = policy.delay(attempt)
                error = type(exc).__name__
                log.warning("async invocation of %s failed (%s), retry %d in %.1f s", name, error, attempt, delay)
                timer = threading.Timer(delay, self._retry_async, (name, event, request_id, attempt + 1))
                timer.daemon = True
                timer.start()
                return
            log.exception("async invocation of %s failed", name)
            if policy is not None and policy.on_exhausted is not None:
                try:
                    policy.on_exhausted(name, event, request_id, attempt, exc)
                except Exception:
                    log.exception("could not hand on the failed async invocation of %s", name)
        self._done_pending()

    def _retry_async(self, name: str, event: Any, request_id: str, attempt: int) -> None:
        try:
            self._pool(name).submit(self._run_async, name, event, request_id, attempt)
        except RuntimeError:  # the pool is shut down: the stack is stopping
            log.warning("async retry of %s dropped: the runtime is shutting down", name)
            self._done_pending()

    def _done_pending(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no Event invocation is queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-function invocation counts and durations (for debug output)."""
        return {name: s.summary() for name, s in sorted(self._stats.items())}

    def record_stages(self, scope: str, stages: Mapping[str, float]) -> None:
        """One turn's stage timings (the sink of ``luma.timing``), kept per scope."""
        with self._lock:
            kept = self._stages.setdefault(scope, {})
            for stage, ms in stages.items():
                kept.setdefault(stage, deque(maxlen=2000)).append(ms)

    def stage_stats(self, *, clear: bool = False) -> dict[str, dict[str, Any]]:
        """Per scope: the turns counted and each stage's median and p95 in ms, in the order they run."""
        with self._lock:
            snapshot = {scope: {k: sorted(v) for k, v in stages.items()} for scope, stages in self._stages.items()}
            if clear:
                self._stages.clear()
        out: dict[str, dict[str, Any]] = {}
        for scope, stages in sorted(snapshot.items()):
            turns = len(stages.get("total", []))
            out[scope] = {
                "turns": turns,
                "p50Ms": {k: _round(v[len(v) // 2]) for k, v in stages.items() if v},
                "p95Ms": {k: _round(v[min(len(v) - 1, int(len(v) * 0.95))]) for k, v in stages.items() if v},
            }
        return out

    def shutdown(self, *, timeout: float | None = None) -> None:
        """Stop the pools: queued invocations are dropped, running ones get ``timeout`` s to end."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if timeout is None:
            for pool in pools:
                pool.shutdown(wait=True)
            return
        deadline = time.monotonic() + timeout
        for pool in pools:
            for thread in list(getattr(pool, "_threads", ())):
                thread.join(max(0.0, deadline - time.monotonic()))
