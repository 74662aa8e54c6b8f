"""The local OpenSearch-compatible server against OpenSearch's own REST API specification and test stories.

Each story in ``tests/opensearch_api/stories.py`` (``RUN``) runs like the specification project's tool runs
it against a real cluster: status, payload subset, and the response validated against the specification's
schema for that status (undeclared fields fail). The other checks: every route the server serves, and
every query parameter it accepts, exists in the specification; the skip list accounts for every upstream
story (when the upstream copy in ``/work/shared`` is present).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from local.opensearch.server import GLOBAL_PARAMS, ROUTES
from tests.opensearch_api import fixtures
from tests.opensearch_api.runner import STORIES_DIR, VERSION, StoryResult, load_story, run_story
from tests.opensearch_api.spec import Spec, load_spec
from tests.opensearch_api.stories import RUN, SKIPPED, SKIPPED_CHAPTERS, skip_reason

opensearch_server = fixtures.opensearch_server
UPSTREAM = Path("/work/shared/data/opensearch-api/tests")

# Operations whose responses must have been validated against the specification by the stories.
MAIN_OPERATIONS = {
    ("PUT", "/{index}", 200),
    ("GET", "/{index}", 200),
    ("DELETE", "/{index}", 200),
    ("DELETE", "/{index}", 404),
    ("GET", "/{index}/_mapping", 200),
    ("PUT", "/{index}/_mapping", 200),
    ("POST", "/_bulk", 200),
    ("POST", "/{index}/_bulk", 200),
    ("POST", "/{index}/_doc", 201),
    ("PUT", "/{index}/_doc/{id}", 200),
    ("GET", "/{index}/_doc/{id}", 200),
    ("GET", "/{index}/_doc/{id}", 404),
    ("DELETE", "/{index}/_doc/{id}", 200),
    ("DELETE", "/{index}/_doc/{id}", 404),
    ("POST", "/{index}/_update/{id}", 200),
    ("POST", "/{index}/_search", 200),
    ("GET", "/{index}/_count", 200),
    ("POST", "/{index}/_delete_by_query", 200),
    ("POST", "/{index}/_refresh", 200),
    ("PUT", "/_search/pipeline/{id}", 200),
    ("GET", "/_search/pipeline", 200),
}

_results: dict[str, StoryResult] = {}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(VERSION)


def _run(story: str, server: fixtures.OpenSearchServer, spec: Spec) -> StoryResult:
    server.reset()
    result = run_story(STORIES_DIR / story, server.url, spec, skipped_chapters=SKIPPED_CHAPTERS.get(story))
    _results[story] = result
    return result


@pytest.mark.parametrize("story", RUN)
def test_story(story: str, opensearch_server: fixtures.OpenSearchServer, spec: Spec) -> None:
    result = _run(story, opensearch_server, spec)
    assert result.outcome == "passed", f"{story}:\n" + "\n".join(result.failures())
    assert any(c.outcome == "passed" for c in result.chapters), f"{story}: no chapter ran"


def test_main_operations_were_validated_against_the_spec(
    opensearch_server: fixtures.OpenSearchServer, spec: Spec
) -> None:
    validated: set[tuple[str, str, int]] = set()
    for story in RUN:
        result = _results.get(story) or _run(story, opensearch_server, spec)
        validated |= result.validated
    missing = sorted(MAIN_OPERATIONS - validated)
    assert not missing, f"never validated: {missing}"


def test_every_route_exists_in_the_spec(spec: Spec) -> None:
    missing = [f"{r.method} {r.template}" for r in ROUTES if spec.operation(r.method, r.template) is None]
    assert not missing, f"served but not in the specification: {missing}"


def test_every_accepted_parameter_exists_in_the_spec(spec: Spec) -> None:
    problems = []
    for route in ROUTES:
        operation = spec.operation(route.method, route.template)
        assert operation is not None
        unknown = (route.params | GLOBAL_PARAMS) - set(operation.parameters)
        if unknown:
            problems.append(f"{route.method} {route.template}: {sorted(unknown)}")
    assert not problems, problems


def test_the_copy_holds_exactly_the_stories_that_run() -> None:
    copied = {
        str(p.relative_to(STORIES_DIR)) for p in STORIES_DIR.rglob("*.yaml") if p.name != "test_story.schema.yaml"
    }
    assert copied == set(RUN)


def test_skipped_chapters_name_real_chapters() -> None:
    for story, chapters in SKIPPED_CHAPTERS.items():
        synopses = {c.get("synopsis") for c in load_story(STORIES_DIR / story)["chapters"]}
        assert set(chapters) <= synopses, story
        assert all(reason.strip() for reason in chapters.values())


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="the upstream stories (/work/shared) are not on this machine")
def test_every_upstream_story_runs_or_has_a_skip_reason() -> None:
    upstream = {str(p.relative_to(UPSTREAM)) for p in UPSTREAM.rglob("*.yaml") if p.name != "test_story.schema.yaml"}
    unaccounted = sorted(s for s in upstream if s not in RUN and not skip_reason(s))
    assert not unaccounted, unaccounted
    stale = [pattern for pattern in SKIPPED if not any(fnmatch.fnmatchcase(s, pattern) for s in upstream)]
    assert not stale, f"skip patterns matching no upstream story: {stale}"
    assert set(RUN) <= upstream
