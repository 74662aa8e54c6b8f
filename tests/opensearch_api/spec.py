"""OpenSearch's REST API specification, merged and checked the way its own test tool does it.

A Python rendering of ``tools/src/merger/OpenApiMerger.ts``, ``OpenApiVersionExtractor.ts`` and
``tester/MergedOpenApiSpec.ts`` (opensearch-api-specification): namespaces and schema files merged into
one document, elements added after / removed before the target version or excluded for the target
distribution dropped, and every object schema used in place (not a component, not inside ``allOf``) closed
with ``unevaluatedProperties: false``, so a response field the specification does not declare fails.
The tool validates with AJV's draft 2019-09 mode; this uses jsonschema's draft 2020-12 validator, because
jsonschema's 2019-09 ``unevaluatedProperties`` ignores properties evaluated by an ``additionalProperties``
schema. The specification uses no keyword on which the two drafts differ (tuple ``items``,
``additionalItems``, ``$recursiveRef``), so the results are those of 2019-09.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

ROOT = Path(__file__).resolve().parent
SPEC_DIR = ROOT / "spec"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# Versions ---------------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", str(text))[:3]]
    while len(numbers) < 3:
        numbers.append(0)
    return (numbers[0], numbers[1], numbers[2])


def satisfies(version: str, spec: str) -> bool:
    """semver range check for the forms the stories use: ``>= 2.9``, ``<2.0``, ``>=2.12 <3``, ``a || b``."""
    current = _version_tuple(version)
    for alternative in str(spec).split("||"):
        comparators = re.findall(r"(>=|<=|>|<|=)?\s*v?(\d+(?:\.\d+){0,2})", alternative)
        if all(_compare(current, op or "=", _version_tuple(v)) for op, v in comparators):
            return True
    return False


def _compare(current: tuple[int, int, int], op: str, other: tuple[int, int, int]) -> bool:
    return {
        ">=": current >= other,
        "<=": current <= other,
        ">": current > other,
        "<": current < other,
        "=": current == other,
    }[op]


# Merging ----------------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _walk(node: Any, visit: Any) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def merge(spec_dir: Path = SPEC_DIR) -> dict[str, Any]:
    """One OpenAPI document from ``namespaces/*.yaml`` and ``schemas/*.yaml``."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": _load(spec_dir / "_info.yaml"),
        "paths": {},
        "components": {"parameters": {}, "requestBodies": {}, "responses": {}, "schemas": {}},
    }
    for path in sorted((spec_dir / "schemas").glob("*.yaml")):
        category = path.name[: -len(".yaml")]
        doc = _load(path)

        def redirect_schema(node: dict[str, Any], category: str = category) -> None:
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref.startswith("#/components/schemas"):
                    node["$ref"] = f"#/components/schemas/{category}:{ref.split('/')[-1]}"
                else:
                    other = re.match(r"(.*)\.yaml", ref)
                    if not other:
                        raise ValueError(f"invalid schema reference {ref}")
                    node["$ref"] = f"#/components/schemas/{other.group(1)}:{ref.split('/')[-1]}"

        _walk(doc, redirect_schema)
        for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
            spec["components"]["schemas"][f"{category}:{name}"] = schema
    for path in sorted((spec_dir / "namespaces").glob("*.yaml")):
        doc = _load(path)

        def redirect_namespace(node: dict[str, Any]) -> None:
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("../schemas/"):
                node["$ref"] = ref.replace("../schemas/", "#/components/schemas/").replace(
                    ".yaml#/components/schemas/", ":"
                )

        _walk(doc, redirect_namespace)
        spec["paths"].update(doc.get("paths") or {})
        for kind in ("parameters", "responses", "requestBodies"):
            spec["components"][kind].update((doc.get("components") or {}).get(kind) or {})
    _add_global_params(spec, spec_dir)
    return spec


def _add_global_params(spec: dict[str, Any], spec_dir: Path) -> None:
    doc = _load(spec_dir / "_global_parameters.yaml")
    params = {}
    for param in ((doc.get("components") or {}).get("parameters") or {}).values():

        def rewrite(node: dict[str, Any]) -> None:
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("schemas/"):
                node["$ref"] = ref.replace("schemas/", "#/components/schemas/").replace(
                    ".yaml#/components/schemas/", ":"
                )

        _walk(param, rewrite)
        param["x-global"] = True
        params[f"_global::{param['in']}.{param['name']}"] = param
    spec["components"]["parameters"] = {**params, **spec["components"]["parameters"]}
    refs = [{"$ref": f"#/components/parameters/{name}"} for name in params]
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                operation["parameters"] = list(operation.get("parameters") or []) + copy.deepcopy(refs)


# Version and distribution extraction ---------------------------------------------------------------


def _delete_matching(node: Any, condition: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            item = node[key]
            if isinstance(item, dict | list):
                if isinstance(item, dict) and condition(item):
                    del node[key]
                else:
                    _delete_matching(item, condition)
    elif isinstance(node, list):
        keep = []
        for item in node:
            if isinstance(item, dict) and condition(item):
                continue
            _delete_matching(item, condition)
            keep.append(item)
        node[:] = keep


def extract(spec: dict[str, Any], version: str | None, distribution: str | None) -> dict[str, Any]:
    """Drop what the target version or distribution does not have, and references to what is gone."""
    spec = copy.deepcopy(spec)
    if version is not None:
        target = _version_tuple(version)

        def by_version(obj: dict[str, Any]) -> bool:
            added, removed = obj.get("x-version-added"), obj.get("x-version-removed")
            if added is not None and not target >= _version_tuple(added):
                return True
            return removed is not None and not target < _version_tuple(removed)

        _delete_matching(spec, by_version)
    if distribution is not None:

        def by_distribution(obj: dict[str, Any]) -> bool:
            included = obj.get("x-distributions-included") or []
            excluded = obj.get("x-distributions-excluded") or []
            return bool((included and distribution not in included) or (excluded and distribution in excluded))

        _delete_matching(spec, by_distribution)
    remaining = {
        f"#/components/{kind}/{name}"
        for kind in ("schemas", "parameters", "responses", "requestBodies")
        for name in spec["components"].get(kind, {})
    }
    _delete_matching(spec, lambda obj: isinstance(obj.get("$ref"), str) and obj["$ref"] not in remaining)
    spec["paths"] = {path: item for path, item in spec["paths"].items() if item}
    return spec


# unevaluatedProperties: false ------------------------------------------------------------------------


def _resolve_schema(spec: dict[str, Any], schema: Any) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        key = schema["$ref"].split("/")[-1]
        schema = spec["components"]["schemas"].get(key)
        seen += 1
        if seen > 50:
            raise ValueError("reference loop")
    return schema


ALL_TYPES = frozenset({"array", "boolean", "object", "number", "string", "integer"})


def possible_types(spec: dict[str, Any], schema: Any) -> frozenset[str]:
    """The JSON types a schema can validate (the tool's ``determine_possible_schema_types``)."""
    schema = _resolve_schema(spec, schema)
    if isinstance(schema, dict) and "type" in schema:
        kind = schema["type"]
        return frozenset(kind if isinstance(kind, list) else [kind])
    if isinstance(schema, dict):
        for key, combine in (("allOf", frozenset.intersection), ("anyOf", frozenset.union), ("oneOf", frozenset.union)):
            if key in schema:
                parts = [possible_types(spec, s) for s in schema[key]]
                result = parts[0]
                for part in parts[1:]:
                    result = combine(result, part)
                return result
    if schema is None or not [k for k in schema if k not in ("description", "title") and not k.startswith("x-")]:
        return ALL_TYPES
    raise ValueError(f"unable to determine the types of {schema}")


def _close_objects(spec: dict[str, Any]) -> None:
    def visit_schema(schema: Any, location: tuple[str, ...]) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" not in schema:
            if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
                visit_schema(schema["items"], (*location, "items"))
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                visit_schema(extra, (*location, "additionalProperties"))
            for name, sub in (schema.get("properties") or {}).items():
                visit_schema(sub, (*location, "properties", name))
            for key in ("allOf", "anyOf", "oneOf"):
                for i, sub in enumerate(schema.get(key) or []):
                    visit_schema(sub, (*location, key, str(i)))
            if isinstance(schema.get("not"), dict):
                visit_schema(schema["not"], (*location, "not"))
        # The callback, after the children (the tool's SchemaVisitor order).
        if "unevaluatedProperties" in schema:
            return
        if location[:-1] == ("components", "schemas") or "allOf" in location[:-1]:
            return
        try:
            types = possible_types(spec, schema)
        except ValueError:
            return
        if len(types) > 1 or "object" not in types:
            return
        if not [k for k in schema if k not in ("type", "description")]:
            return
        schema["type"] = "object"
        schema["unevaluatedProperties"] = {"not": True}

    def visit_media(content: Any, location: tuple[str, ...]) -> None:
        for media, body in (content or {}).items():
            if isinstance(body, dict) and "schema" in body:
                visit_schema(body["schema"], (*location, media, "schema"))

    def visit_parameter(param: Any, location: tuple[str, ...]) -> None:
        if isinstance(param, dict) and "$ref" not in param and "schema" in param:
            visit_schema(param["schema"], (*location, "schema"))

    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            base = ("paths", path, method)
            for i, param in enumerate(operation.get("parameters") or []):
                visit_parameter(param, (*base, "parameters", str(i)))
            body = operation.get("requestBody")
            if isinstance(body, dict) and "$ref" not in body:
                visit_media(body.get("content"), (*base, "requestBody", "content"))
            for status, response in (operation.get("responses") or {}).items():
                if isinstance(response, dict) and "$ref" not in response:
                    visit_media(response.get("content"), (*base, "responses", status, "content"))
    components = spec["components"]
    for name, param in components["parameters"].items():
        visit_parameter(param, ("components", "parameters", name))
    for name, body in components["requestBodies"].items():
        if isinstance(body, dict) and "$ref" not in body:
            visit_media(body.get("content"), ("components", "requestBodies", name, "content"))
    for name, response in components["responses"].items():
        if isinstance(response, dict) and "$ref" not in response:
            visit_media(response.get("content"), ("components", "responses", name, "content"))
    for name, schema in components["schemas"].items():
        visit_schema(schema, ("components", "schemas", name))


# The merged specification ------------------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    raw: dict[str, Any]
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


class Spec:
    """A merged, version-extracted, closed specification with validators."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[int, Draft202012Validator] = {}

    @property
    def paths(self) -> dict[str, Any]:
        return self.document["paths"]

    def _deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node and not node["$ref"].startswith("#/components/schemas/"):
            _, kind, name = node["$ref"].rsplit("/", 2)
            node = self.document["components"][kind][name]
        return node

    def operation(self, method: str, path: str) -> Operation | None:
        item = self.paths.get(path)
        raw = item.get(method.lower()) if isinstance(item, dict) else None
        if raw is None:
            return None
        params = {}
        for param in raw.get("parameters") or []:
            resolved = self._deref(param)
            params[resolved["name"]] = resolved
        return Operation(method.upper(), path, raw, params)

    def response_schema(self, operation: Operation, status: int, content_type: str) -> tuple[bool, Any]:
        """``(declared, schema)``: whether the specification declares this status and content type."""
        response = self._deref((operation.raw.get("responses") or {}).get(str(status)))
        if not isinstance(response, dict):
            return False, None
        content = (response.get("content") or {}).get(content_type)
        if content is None:
            return False, None
        return True, content.get("schema")

    def request_schema(self, operation: Operation, content_type: str) -> tuple[bool, Any]:
        body = self._deref(operation.raw.get("requestBody"))
        if not isinstance(body, dict):
            return False, None
        content = (body.get("content") or {}).get(content_type)
        if content is None:
            return False, None
        return True, content.get("schema")

    def validate(self, schema: Any, data: Any) -> str | None:
        """None when ``data`` is valid, else the most relevant error."""
        if schema is None:
            return None
        key = id(schema)
        validator = self._validators.get(key)
        if validator is None:
            wrapper = {"allOf": [schema], "components": self.document["components"]}
            validator = Draft202012Validator(wrapper, format_checker=FormatChecker())
            self._validators[key] = validator
        error = best_match(validator.iter_errors(data))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"{where}: {error.message[:300]}"


@lru_cache(maxsize=4)
def load_spec(version: str, distribution: str | None = "opensearch.org") -> Spec:
    """The specification as the test tool sees it for ``version`` and ``distribution``."""
    document = extract(merge(), version, distribution)
    _close_objects(document)
    return Spec(document)
