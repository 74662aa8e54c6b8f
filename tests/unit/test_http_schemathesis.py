"""Property-based bad input against the HTTP API's own OpenAPI spec (schemathesis): never a 5xx, and
every response conforms to the spec (status code, schema, content type, headers).

The ASGI app runs in process with the in-memory store behind the repository port and fake status
checks; requests carry a valid bearer token (schemathesis also sends its own values for the
documented ``authorization`` header, so invalid tokens are covered too). Bounded: a few dozen
examples per operation.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from luma.auth import issue_dev_token  # noqa: E402
from luma.http.app import create_app  # noqa: E402
from luma.http.me import erasure_invoker, erasure_jobs  # noqa: E402
from luma.http.status import Check  # noqa: E402
from schemathesis.checks import negative_data_rejection, positive_data_acceptance  # noqa: E402

from tests.fakes import MemorySessionStore  # noqa: E402
from tests.unit.test_erasure_router import MemoryJobs, RecordingInvoker  # noqa: E402
from tests.unit.test_http_sessions import seed  # noqa: E402

STORE = MemorySessionStore()
SESSION = seed(STORE)
APP = create_app(lambda: STORE, status_checks=lambda: [Check("dynamodb", lambda: "fine")])
# Erasure jobs in memory: the fuzzer's DELETE /me must never reach a real invoke.
APP.dependency_overrides[erasure_jobs] = lambda: MemoryJobs()
APP.dependency_overrides[erasure_invoker] = lambda: RecordingInvoker()
VALID_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("LUMA_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_input_makes_the_api_fail_with_a_5xx(case: Any) -> None:
    headers = {"Authorization": f"Bearer {issue_dev_token('u-alice', 'demo')}"}
    sid = (case.path_parameters or {}).get("session_id")
    if isinstance(sid, str) and VALID_ID.fullmatch(sid):  # valid ids hit the seeded session: 200s are checked too
        case.path_parameters["session_id"] = SESSION.session_id
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
    # POST /events answers 202 to anything by design (it never breaks a client): the one exception.
    excluded = [negative_data_rejection] if case.path == "/events" else []
    # A page cursor is signed by the API: any other string is a 422, however well-formed.
    if case.path == "/sessions" and (case.query or {}).get("cursor"):
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded)
