"""A small runner for OpenSearch's API test stories (``tests/**/*.yaml``, see ``test_story.schema.yaml``).

It does what the specification project's TypeScript tool does for each story: run the prologues, then each
chapter (request → expected status, the response payload validated against the specification's response
schema for that status, the expected payload compared as a subset, outputs saved for later chapters), then
the epilogues. Stories and chapters outside the target version or distribution are skipped like there.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml

from .spec import Spec, satisfies

STORIES_DIR = Path(__file__).resolve().parent / "tests"
VERSION = "2.19.0"
DISTRIBUTION = "opensearch.org"


@dataclass
class ChapterResult:
    title: str
    method: str
    path: str
    outcome: str  # passed, failed, skipped
    message: str = ""
    status: int | None = None


@dataclass
class StoryResult:
    path: str
    outcome: str  # passed, failed, skipped
    message: str = ""
    chapters: list[ChapterResult] = field(default_factory=list)
    validated: set[tuple[str, str, int]] = field(default_factory=set)  # (method, path, status) schema-checked

    def failures(self) -> list[str]:
        lines = [f"{c.method} {c.path} — {c.title}: {c.message}" for c in self.chapters if c.outcome == "failed"]
        if self.outcome == "failed" and not lines:
            lines.append(self.message)
        return lines


@dataclass
class Response:
    status: int
    content_type: str | None
    payload: Any


def load_story(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        story = yaml.safe_load(handle)
    if not isinstance(story, dict) or "chapters" not in story:
        raise ValueError(f"{path} is not a test story")
    return story


# Outputs ---------------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")


class Outputs:
    """Values saved by chapters with an ``id`` and an ``output`` map."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = _REFERENCE.fullmatch(value)
            if whole:
                return self._value(whole.group(1), whole.group(2))
            return _REFERENCE.sub(lambda m: str(self._value(m.group(1), m.group(2))), value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def _value(self, chapter_id: str, name: str) -> Any:
        try:
            return self.values[chapter_id][name]
        except KeyError:
            raise ValueError(f"no output {name} from chapter {chapter_id}") from None

    def save(self, chapter: dict[str, Any], response: Response) -> str | None:
        spec = chapter.get("output")
        if not spec or "id" not in chapter:
            return None
        saved: dict[str, Any] = {}
        for name, where in spec.items():
            default = None
            if isinstance(where, dict):
                default, where = where.get("default"), where["path"]
            kind, _, rest = str(where).partition(".")
            source = response.payload if kind == "payload" else {}
            value = _get_path(source, rest)
            if value is None:
                if default is None:
                    return f"output {name}: nothing at {where}"
                value = default
            saved[name] = value
        self.values[chapter["id"]] = saved
        return None


def _get_path(node: Any, path: str) -> Any:
    for part in [p for p in re.split(r"\.|\[|\]", path) if p]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


# HTTP ----------------------------------------------------------------------------------------------


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_param_text(v) for v in value)
    return str(value)


def send(base_url: str, chapter: dict[str, Any], outputs: Outputs) -> Response:
    """Send one chapter's request the way the tool does (path parameters substituted, the rest in the query)."""
    params = outputs.resolve(chapter.get("parameters") or {})
    used: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        used.add(match.group(1))
        return quote(_param_text(params[match.group(1)]), safe=",*")

    path = re.sub(r"\{(\w+)\}", substitute, chapter["path"])
    query = {k: _param_text(v) for k, v in params.items() if k not in used}
    target = path + ("?" + urlencode(query) if query else "")
    request = chapter.get("request") or {}
    content_type = request.get("content_type", "application/json")
    headers = {"Content-Type": content_type}
    for name, value in (request.get("headers") or {}).items():
        if name.lower() == "content-type":
            headers["Content-Type"] = content_type = str(value)
        else:
            headers[name] = str(value)
    body: bytes | None = None
    if "payload" in request:
        payload = outputs.resolve(request["payload"])
        if content_type == "application/x-ndjson":
            body = "".join(json.dumps(line) + "\n" for line in payload).encode()
        else:
            body = json.dumps(payload).encode()
    split = urlsplit(base_url)
    connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
    try:
        connection.request(chapter["method"], target, body=body, headers=headers)
        raw = connection.getresponse()
        data = raw.read()
        response_type = (raw.getheader("Content-Type") or "").split(";")[0] or None
        status = raw.status
    finally:
        connection.close()
    payload_out: Any = None
    if response_type == "application/json":
        payload_out = json.loads(data) if data else {}
    elif data:
        payload_out = data.decode("utf-8", "replace")
    return Response(status, response_type, payload_out)


# Comparison ------------------------------------------------------------------------------------------


def payload_differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """What the tool's ``json-diff-ts`` comparison reports: changed or missing values (extra ones are fine)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"expected {where or '(root)'} to be an object, got {actual!r}"]
        out: list[str] = []
        for key, value in expected.items():
            path = f"{where}.{key}" if where else key
            if key not in actual:
                out.append(f"missing {path}={value!r}")
            else:
                out.extend(payload_differences(value, actual[key], path))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"expected {where} to be an array, got {actual!r}"]
        out = []
        for i, value in enumerate(expected):
            path = f"{where}[{i}]"
            if i >= len(actual):
                out.append(f"missing {path}={value!r}")
            else:
                out.extend(payload_differences(value, actual[i], path))
        return out
    if type(expected) is bool or type(actual) is bool:
        same = type(expected) is type(actual) and expected == actual
    elif isinstance(expected, int | float) and isinstance(actual, int | float):
        same = float(expected) == float(actual)
    else:
        same = expected == actual
    return [] if same else [f"expected {where}={expected!r}, got {actual!r}"]


# Stories ---------------------------------------------------------------------------------------------


def _methods(chapter: dict[str, Any]) -> list[str]:
    method = chapter["method"]
    return list(method) if isinstance(method, list) else [method]


def _excluded(node: dict[str, Any], distribution: str) -> bool:
    spec = node.get("distributions") or {}
    included, excluded = spec.get("included") or [], spec.get("excluded") or []
    return bool((included and distribution not in included) or (excluded and distribution in excluded))


def run_story(
    path: Path,
    base_url: str,
    spec: Spec,
    *,
    skipped_chapters: dict[str, str] | None = None,
    version: str = VERSION,
    distribution: str = DISTRIBUTION,
) -> StoryResult:
    """Run one story file against ``base_url``."""
    story = load_story(path)
    result = StoryResult(str(path), "passed")
    skipped_chapters = skipped_chapters or {}
    if _excluded(story, distribution):
        return StoryResult(str(path), "skipped", f"not for distribution {distribution}")
    if story.get("version") and not satisfies(version, story["version"]):
        return StoryResult(str(path), "skipped", f"version {version} does not satisfy {story['version']}")
    outputs = Outputs()
    setup_failed = False
    for prologue in story.get("prologues") or []:
        problem = _supplemental(base_url, prologue, outputs)
        if problem:
            setup_failed = True
            result.outcome, result.message = "failed", f"prologue {prologue['method']} {prologue['path']}: {problem}"
            break
    for chapter in story["chapters"]:
        for method in _methods(chapter):
            one = {**chapter, "method": method}
            title = chapter.get("synopsis", f"{method} {chapter['path']}")
            record = ChapterResult(title, method, chapter["path"], "passed")
            result.chapters.append(record)
            reason = skipped_chapters.get(title)
            if setup_failed:
                record.outcome, record.message = "skipped", "prologue failed"
            elif reason is not None:
                record.outcome, record.message = "skipped", reason
            elif _excluded(chapter, distribution):
                record.outcome, record.message = "skipped", f"not for distribution {distribution}"
            elif chapter.get("version") and not satisfies(version, chapter["version"]):
                record.outcome, record.message = "skipped", f"version {version} does not satisfy {chapter['version']}"
            elif chapter.get("pending"):
                record.outcome, record.message = "skipped", f"pending: {chapter['pending']}"
            else:
                _chapter(base_url, spec, one, outputs, record, result)
    for epilogue in story.get("epilogues") or []:
        problem = _supplemental(base_url, epilogue, outputs)
        if problem and result.outcome == "passed":
            result.outcome, result.message = "failed", f"epilogue {epilogue['method']} {epilogue['path']}: {problem}"
    if any(c.outcome == "failed" for c in result.chapters):
        result.outcome = "failed"
    return result


def _supplemental(base_url: str, chapter: dict[str, Any], outputs: Outputs) -> str | None:
    try:
        response = send(base_url, chapter, outputs)
    except ValueError as exc:
        return str(exc)
    allowed = chapter.get("status", [200, 201])
    if response.status not in allowed:
        return f"status {response.status} not in {allowed}: {str(response.payload)[:300]}"
    expected = (chapter.get("response") or {}).get("payload")
    if expected is not None:
        diffs = payload_differences(outputs.resolve(expected), response.payload)
        if diffs:
            return "; ".join(diffs)
    return outputs.save(chapter, response)


def _chapter(
    base_url: str, spec: Spec, chapter: dict[str, Any], outputs: Outputs, record: ChapterResult, result: StoryResult
) -> None:
    operation = spec.operation(chapter["method"], chapter["path"])
    if operation is None:
        record.outcome, record.message = (
            "failed",
            f'Operation "{chapter["method"]} {chapter["path"]}" not found in the spec.',
        )
        return
    expected = chapter.get("response") or {}
    attempts = 1 + int((chapter.get("retry") or {}).get("count", 0))
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(int((chapter.get("retry") or {}).get("wait", 1000)), 5000) / 1000)
        problems = _evaluate(base_url, spec, operation, chapter, expected, outputs, record, result)
        if not problems:
            record.outcome, record.message = "passed", ""
            return
        record.outcome, record.message = "failed", "; ".join(problems)


def _evaluate(
    base_url: str,
    spec: Spec,
    operation: Any,
    chapter: dict[str, Any],
    expected: dict[str, Any],
    outputs: Outputs,
    record: ChapterResult,
    result: StoryResult,
) -> list[str]:
    try:
        response = send(base_url, chapter, outputs)
    except ValueError as exc:
        return [str(exc)]
    record.status = response.status
    want = expected.get("status", 200)
    allowed = want if isinstance(want, list) else [want]
    if response.status not in allowed:
        return [f"expected status {want}, got {response.status}: {str(response.payload)[:300]}"]
    problems: list[str] = []
    content_type = expected.get("content_type", "application/json")
    if response.content_type != content_type:
        problems.append(f"expected content type {content_type}, got {response.content_type}")
    else:
        declared, schema = spec.response_schema(operation, response.status, content_type)
        if not declared:
            problems.append(f'Schema for "{response.status}: {content_type}" response not found in the spec.')
        else:
            error = spec.validate(schema, response.payload)
            if error:
                problems.append(f"response does not match the spec: {error}")
            else:
                result.validated.add((operation.method, operation.path, response.status))
    payload = expected.get("payload")
    if payload is not None:
        problems.extend(payload_differences(outputs.resolve(payload), response.payload))
    problem = outputs.save(chapter, response)
    if problem:
        problems.append(problem)
    return problems
