"""Index mappings: field types, dynamic mapping, and turning a document's ``_source`` into indexed values.

Supported field types: ``text``, ``keyword``, numeric types, ``date``, ``boolean``, ``ip``, ``object`` and
``knn_vector`` (engines ``faiss`` and ``lucene``; ``nmslib`` is refused). Anything else is refused with
OpenSearch's ``mapper_parsing_exception``.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

from .analysis import ANALYZERS, analyze
from .errors import OpenSearchError, bad_request, mapper_parsing

INTEGER_TYPES = {"long": 2**63, "integer": 2**31, "short": 2**15, "byte": 2**7}
FLOAT_TYPES = {"double", "float", "half_float", "scaled_float"}
NUMERIC_TYPES = set(INTEGER_TYPES) | FLOAT_TYPES | {"unsigned_long"}
KNN_SPACES = {"faiss": {"l2", "innerproduct", "cosinesimil"}, "lucene": {"l2", "cosinesimil", "innerproduct"}}
MAX_DIMENSION = 16000

_COMMON = {"type", "index", "store", "doc_values", "fields", "meta", "boost", "null_value"}
_PARAMS: dict[str, set[str]] = {
    "text": _COMMON
    | {
        "analyzer",
        "search_analyzer",
        "search_quote_analyzer",
        "index_options",
        "norms",
        "position_increment_gap",
        "fielddata",
        "term_vector",
        "index_phrases",
    },
    "keyword": _COMMON | {"ignore_above", "norms", "eager_global_ordinals", "index_options"},
    "date": _COMMON | {"format", "locale", "ignore_malformed"},
    "boolean": _COMMON,
    "ip": _COMMON | {"ignore_malformed"},
    "knn_vector": {"type", "dimension", "method", "space_type", "mode", "compression_level", "data_type", "doc_values"},
    "object": {"type", "properties", "dynamic", "enabled"},
}
for _numeric in NUMERIC_TYPES:
    _PARAMS[_numeric] = _COMMON | {"ignore_malformed", "coerce", "scaling_factor"}


@dataclass
class Field:
    """One indexed field (multi-fields like ``title.keyword`` are fields of their own)."""

    path: str
    type: str
    analyzer: str = "standard"
    search_analyzer: str = "standard"
    ignore_above: int | None = None
    indexed: bool = True
    ignore_malformed: bool = False
    dimension: int = 0
    space_type: str = "l2"
    engine: str = "faiss"
    parent_text: bool = False  # a keyword multi-field of a text field (values come from the parent)


@dataclass
class IndexedDoc:
    """What a document contributes to the index, per field path."""

    text: dict[str, tuple[Counter[str], int]] = field(default_factory=dict)  # term frequencies, length
    exact: dict[str, list[Any]] = field(default_factory=dict)  # keyword/numeric/date/boolean/ip values
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # fields with at least one value (exists query)


# Dates ------------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>[+-]?\d{4,9})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:[T ](?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def parse_date(value: Any, field_path: str = "") -> int:
    """Epoch milliseconds of an ISO-8601 date (``strict_date_optional_time``) or of epoch millis."""
    if isinstance(value, bool):
        raise mapper_parsing(f"failed to parse field [{field_path}] of type [date]")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text) and len(text) > 4:
        return int(text)
    match = _DATE.match(text)
    if not match:
        raise mapper_parsing(
            f"failed to parse field [{field_path}] of type [date] in document. Preview of field's value: '{text[:32]}'"
        )
    parts = match.groupdict()
    tz = UTC
    if parts["z"] and parts["z"] != "Z":
        sign = -1 if parts["z"][0] == "-" else 1
        digits = parts["z"][1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    try:
        moment = datetime(
            int(parts["y"]),
            int(parts["m"] or 1),
            int(parts["d"] or 1),
            int(parts["H"] or 0),
            int(parts["M"] or 0),
            int(parts["S"] or 0),
            int((parts["f"] or "0").ljust(6, "0")[:6]),
            tzinfo=tz,
        )
    except ValueError:
        raise mapper_parsing(f"failed to parse field [{field_path}] of type [date]: [{text[:32]}]") from None
    return int(moment.timestamp() * 1000)


def _looks_like_date(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?", value)) and _parses(value)


def _parses(value: str) -> bool:
    try:
        parse_date(value)
    except OpenSearchError:
        return False
    return True


# Mappings ---------------------------------------------------------------------------------------


class Mappings:
    """An index's mapping: the JSON tree (for GET) and the flat field table (for indexing and queries)."""

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        body = copy.deepcopy(body or {})
        if not isinstance(body, dict):
            raise mapper_parsing("Failed to parse mapping: mappings must be an object")
        unknown = set(body) - {"properties", "dynamic", "_source", "_meta", "date_detection", "numeric_detection"}
        if unknown:
            raise mapper_parsing(f"Root mapping definition has unsupported parameters:  [{sorted(unknown)[0]}]")
        self.dynamic: str = _dynamic(body.get("dynamic", True))
        self.date_detection = bool(body.get("date_detection", True))
        self.meta = body.get("_meta")
        self.source = body.get("_source")
        self.properties: dict[str, Any] = {}
        self.fields: dict[str, Field] = {}
        self._object_dynamic: dict[str, str] = {}
        self._disabled: set[str] = set()
        self.add_properties(body.get("properties") or {})

    def to_json(self) -> dict[str, Any]:
        """The mapping as GET ``_mapping`` shows it."""
        out: dict[str, Any] = {}
        if self.dynamic != "true":
            out["dynamic"] = self.dynamic
        if self.meta is not None:
            out["_meta"] = self.meta
        if self.source is not None:
            out["_source"] = self.source
        if self.properties:
            out["properties"] = copy.deepcopy(self.properties)
        return out

    def update(self, body: dict[str, Any]) -> None:
        """PUT ``_mapping``: add fields, change ``dynamic``; existing field types cannot change."""
        if not isinstance(body, dict):
            raise mapper_parsing("Failed to parse mapping: mappings must be an object")
        unknown = set(body) - {"properties", "dynamic", "_source", "_meta", "date_detection", "numeric_detection"}
        if unknown:
            raise mapper_parsing(f"Root mapping definition has unsupported parameters:  [{sorted(unknown)[0]}]")
        if "dynamic" in body:
            self.dynamic = _dynamic(body["dynamic"])
        if "_meta" in body:
            self.meta = body["_meta"]
        self.add_properties(body.get("properties") or {})

    def add_properties(self, properties: dict[str, Any], prefix: str = "") -> None:
        """Merge ``properties`` (validated first, so a bad mapping changes nothing)."""
        staged = Mappings.__new__(Mappings)
        staged.fields = dict(self.fields)
        staged._object_dynamic = dict(self._object_dynamic)
        staged._disabled = set(self._disabled)
        tree = _subtree(copy.deepcopy(self.properties), prefix)
        staged._parse_properties(properties, prefix, tree)
        self.fields = staged.fields
        self._object_dynamic = staged._object_dynamic
        self._disabled = staged._disabled
        if prefix:
            _set_subtree(self.properties, prefix, tree)
        else:
            self.properties = tree

    def _parse_properties(self, properties: Any, prefix: str, tree: dict[str, Any]) -> None:
        if not isinstance(properties, dict):
            raise mapper_parsing(f"Expected map for property [properties] on field [{prefix or '_doc'}]")
        for name, spec in properties.items():
            if not name or name.startswith(".") or name.endswith("."):
                raise mapper_parsing(f"field name cannot be an empty string or start/end with a dot: [{name}]")
            path = f"{prefix}{name}"
            if not isinstance(spec, dict):
                raise mapper_parsing(
                    f"Expected map for property [fields] on field [{path}] but got a class java.lang.String"
                )
            kind = spec.get("type", "object" if "properties" in spec or not spec else None)
            if kind is None:
                raise mapper_parsing(f"No type specified for field [{path}]")
            if kind == "object" or "properties" in spec:
                existing = self.fields.get(path)
                if existing is not None:
                    raise bad_request(f"can't merge a non object mapping [{path}] with an object mapping")
                unknown = set(spec) - _PARAMS["object"]
                if unknown:
                    raise mapper_parsing(
                        f"unknown parameter [{sorted(unknown)[0]}] on mapper [{path}] of type [object]"
                    )
                node = tree.setdefault(name, {})
                if "dynamic" in spec:
                    node["dynamic"] = spec["dynamic"]
                    self._object_dynamic[path] = _dynamic(spec["dynamic"])
                if spec.get("enabled") is False:
                    node["enabled"] = False
                    self._disabled.add(path)
                node.setdefault("properties", {})
                self._parse_properties(spec.get("properties") or {}, path + ".", node["properties"])
                if not node["properties"]:
                    node.pop("properties")
                continue
            parsed = self._parse_field(path, kind, spec)
            existing = self.fields.get(path)
            if existing is not None and existing.type != parsed.type:
                raise bad_request(f"mapper [{path}] cannot be changed from type [{existing.type}] to [{parsed.type}]")
            if existing is None and any(
                path.startswith(p + ".") for p in self.fields if not self.fields[p].parent_text
            ):
                raise bad_request(f"can't merge a non object mapping [{path}] with an object mapping")
            self.fields[path] = parsed
            tree[name] = copy.deepcopy(spec)
            for sub_name, sub_spec in (spec.get("fields") or {}).items():
                if not isinstance(sub_spec, dict) or "type" not in sub_spec:
                    raise mapper_parsing(f"No type specified for field [{path}.{sub_name}]")
                sub = self._parse_field(f"{path}.{sub_name}", sub_spec["type"], sub_spec)
                sub.parent_text = True
                self.fields[sub.path] = sub

    def _parse_field(self, path: str, kind: str, spec: dict[str, Any]) -> Field:
        if kind not in _PARAMS:
            raise mapper_parsing(f"No handler for type [{kind}] declared on field [{path}]")
        unknown = set(spec) - _PARAMS[kind]
        if unknown:
            raise mapper_parsing(f"unknown parameter [{sorted(unknown)[0]}] on mapper [{path}] of type [{kind}]")
        out = Field(path=path, type=kind, indexed=spec.get("index", True) not in (False, "false"))
        out.ignore_malformed = bool(spec.get("ignore_malformed", False))
        if kind == "text":
            out.analyzer = spec.get("analyzer", "standard")
            out.search_analyzer = spec.get("search_analyzer", out.analyzer)
            for name in (out.analyzer, out.search_analyzer):
                if name not in ANALYZERS:
                    raise mapper_parsing(f"analyzer [{name}] has not been configured in mappings")
        if kind == "keyword" and "ignore_above" in spec:
            out.ignore_above = int(spec["ignore_above"])
        if kind == "knn_vector":
            self._parse_knn(out, spec)
        return out

    @staticmethod
    def _parse_knn(out: Field, spec: dict[str, Any]) -> None:
        dimension = spec.get("dimension")
        if isinstance(dimension, bool) or not isinstance(dimension, int):
            raise mapper_parsing(f"Dimension value missing for vector: {out.path}")
        if not 0 < dimension <= MAX_DIMENSION:
            raise mapper_parsing(f"Dimension value cannot be greater than {MAX_DIMENSION} for vector: {out.path}")
        if spec.get("data_type", "float") != "float":
            raise mapper_parsing(f"data_type [{spec['data_type']}] is not supported by this server (float only)")
        if "model_id" in spec:
            raise mapper_parsing("trained models (model_id) are not supported by this server")
        method = spec.get("method") or {}
        if not isinstance(method, dict):
            raise mapper_parsing(f"Unable to parse [method] for [{out.path}]")
        engine = method.get("engine", "faiss")
        if engine == "nmslib":
            raise mapper_parsing("nmslib engine is deprecated in OpenSearch and is not supported by this server")
        if engine not in KNN_SPACES:
            raise mapper_parsing(f"Invalid engine: {engine}")
        name = method.get("name", "hnsw")
        if name != "hnsw":
            raise mapper_parsing(f"method [{name}] is not supported by this server (hnsw only, searched exactly)")
        space = method.get("space_type", spec.get("space_type", "l2"))
        if space not in KNN_SPACES[engine]:
            raise mapper_parsing(f"{engine} engine does not support space type: {space}")
        out.dimension = dimension
        out.engine = engine
        out.space_type = space

    # Documents --------------------------------------------------------------------------------

    def index_document(self, source: dict[str, Any]) -> IndexedDoc:
        """Indexed values of ``source``; unmapped fields are mapped dynamically (or refused if strict)."""
        if not isinstance(source, dict):
            raise mapper_parsing("failed to parse: the document must be a JSON object")
        doc = IndexedDoc()
        self._walk(source, "", doc, self.dynamic)
        return doc

    def _walk(self, obj: dict[str, Any], prefix: str, doc: IndexedDoc, dynamic: str) -> None:
        for raw_key, value in obj.items():
            if not isinstance(raw_key, str) or not raw_key.strip("."):
                raise mapper_parsing("field name cannot be an empty string")
            path = prefix + raw_key
            if path in self._disabled:
                continue
            if "." in raw_key and path not in self.fields:
                # {"a.b": 1} is the same as {"a": {"b": 1}}.
                head, _, rest = raw_key.partition(".")
                self._walk({head: {rest: value}}, prefix, doc, dynamic)
                continue
            local_dynamic = self._object_dynamic.get(prefix.rstrip("."), dynamic) if prefix else dynamic
            self._value(path, value, doc, local_dynamic)

    def _value(self, path: str, value: Any, doc: IndexedDoc, dynamic: str) -> None:
        mapped = self.fields.get(path)
        if value is None:
            return
        if mapped is not None and mapped.type == "knn_vector":
            self._vector(mapped, value, doc)
            return
        if isinstance(value, list):
            for item in value:
                self._value(path, item, doc, dynamic)
            return
        if isinstance(value, dict):
            if mapped is not None:
                raise mapper_parsing(
                    f"failed to parse field [{path}] of type [{mapped.type}]. Preview of field's value: '{value}'"
                )
            if not self._is_object(path):
                if not self._dynamic_allowed(path, dynamic):
                    return
                self.add_properties({path.rsplit(".", 1)[-1]: {"properties": {}}}, _parent(path))
            self._walk(value, path + ".", doc, self._object_dynamic.get(path, dynamic))
            return
        if mapped is None:
            if not self._dynamic_allowed(path, dynamic):
                return
            self.add_properties({path.rsplit(".", 1)[-1]: self._dynamic_spec(value)}, _parent(path))
            mapped = self.fields[path]
        self._scalar(mapped, value, doc)
        for sub in self._subfields(path):
            self._scalar(sub, value, doc)

    def _subfields(self, path: str) -> list[Field]:
        return [f for p, f in self.fields.items() if f.parent_text and p.rsplit(".", 1)[0] == path]

    def _is_object(self, path: str) -> bool:
        node: Any = self.properties
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            entry = node[part]
            if "type" in entry and entry["type"] != "object":
                return False
            node = entry.get("properties", {})
        return True

    def _dynamic_allowed(self, path: str, dynamic: str) -> bool:
        if dynamic == "strict":
            parent = _parent(path).rstrip(".") or "_doc"
            raise OpenSearchError(
                400,
                "strict_dynamic_mapping_exception",
                f"mapping set to strict, dynamic introduction of [{path.rsplit('.', 1)[-1]}] within [{parent}] "
                "is not allowed",
            )
        return dynamic == "true"

    def _dynamic_spec(self, value: Any) -> dict[str, Any]:
        if isinstance(value, bool):
            return {"type": "boolean"}
        if isinstance(value, int):
            return {"type": "long"}
        if isinstance(value, float):
            return {"type": "float"}
        if isinstance(value, str) and self.date_detection and _looks_like_date(value):
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}

    def _scalar(self, mapped: Field, value: Any, doc: IndexedDoc) -> None:
        if not mapped.indexed:
            return
        kind, path = mapped.type, mapped.path
        try:
            if kind == "text":
                tokens = analyze(_as_text(value), mapped.analyzer)
                counts, length = doc.text.get(path, (Counter(), 0))
                counts.update(t.term for t in tokens)
                doc.text[path] = (counts, length + len(tokens))
            elif kind == "keyword":
                text = _as_text(value)
                if mapped.ignore_above is not None and len(text) > mapped.ignore_above:
                    return
                doc.exact.setdefault(path, []).append(text)
            elif kind in NUMERIC_TYPES:
                doc.exact.setdefault(path, []).append(parse_number(value, mapped))
            elif kind == "date":
                doc.exact.setdefault(path, []).append(parse_date(value, path))
            elif kind == "boolean":
                doc.exact.setdefault(path, []).append(parse_boolean(value, path))
            elif kind == "ip":
                doc.exact.setdefault(path, []).append(_as_text(value))
            else:  # a field type that holds no scalar
                raise mapper_parsing(f"failed to parse field [{path}] of type [{kind}]")
        except OpenSearchError:
            if mapped.ignore_malformed:
                return
            raise
        doc.present.add(path)

    @staticmethod
    def _vector(mapped: Field, value: Any, doc: IndexedDoc) -> None:
        vector = np.array(value, dtype=None) if isinstance(value, list) and value else None
        if vector is None or vector.ndim != 1 or vector.dtype.kind not in "iuf":
            raise mapper_parsing(
                f"failed to parse field [{mapped.path}] of type [knn_vector]: expected an array of numbers"
            )
        if len(vector) != mapped.dimension:
            raise mapper_parsing(f"Vector dimension mismatch. Expected: {mapped.dimension}, Given: {len(vector)}")
        vector = vector.astype(np.float32)
        if not np.all(np.isfinite(vector)):
            raise mapper_parsing("KNN vector values cannot be NaN or Infinity")
        if mapped.space_type == "cosinesimil" and not np.any(vector):
            raise mapper_parsing(f"zero vector is not supported when space type is [{mapped.space_type}]")
        doc.vectors[mapped.path] = vector
        doc.present.add(mapped.path)


def parse_number(value: Any, mapped: Field) -> float | int:
    """A numeric field value (numbers and numeric strings, like OpenSearch's ``coerce``)."""
    if isinstance(value, bool):
        raise mapper_parsing(f"failed to parse field [{mapped.path}] of type [{mapped.type}]")
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise mapper_parsing(
            f"failed to parse field [{mapped.path}] of type [{mapped.type}] in document. "
            f"Preview of field's value: '{str(value)[:32]}'"
        ) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise mapper_parsing(f"[{mapped.type}] supports only finite values, but got [{number}]")
    if mapped.type in INTEGER_TYPES:
        whole = int(number)
        limit = INTEGER_TYPES[mapped.type]
        if not -limit <= whole < limit:
            raise mapper_parsing(f"Value [{value}] is out of range for {mapped.type}")
        return whole
    if mapped.type == "float":
        return float(np.float32(number))
    return float(number)


def parse_boolean(value: Any, path: str = "") -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    if value == "":
        return False
    raise mapper_parsing(f"failed to parse field [{path}] of type [boolean]: only [true] or [false] are allowed")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dynamic(value: Any) -> str:
    text = str(value).lower()
    if text not in ("true", "false", "strict", "strict_allow_templates"):
        raise mapper_parsing(f"Could not convert [dynamic] to boolean: [{value}]")
    return "strict" if text == "strict_allow_templates" else text


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] + "." if "." in path else ""


def _subtree(properties: dict[str, Any], prefix: str) -> dict[str, Any]:
    node = properties
    for part in prefix.rstrip(".").split(".") if prefix else []:
        node = node.setdefault(part, {}).setdefault("properties", {})
    return node


def _set_subtree(properties: dict[str, Any], prefix: str, tree: dict[str, Any]) -> None:
    parts = prefix.rstrip(".").split(".")
    node = properties
    for part in parts[:-1]:
        node = node.setdefault(part, {}).setdefault("properties", {})
    node.setdefault(parts[-1], {})["properties"] = tree
