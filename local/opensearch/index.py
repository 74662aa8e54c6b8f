"""One index: settings, mapping, live documents (what GET by id sees) and the searchable snapshot
(what search, count and delete-by-query see), refreshed like OpenSearch's near-real-time reader.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import bad_request
from .mapping import IndexedDoc, Mappings
from .scoring import int_to_byte4

DEFAULT_REFRESH_INTERVAL_S = 1.0
# Index settings this server accepts (after the ``index.`` prefix); others are refused like OpenSearch does.
KNOWN_SETTINGS = {
    "number_of_shards",
    "number_of_replicas",
    "refresh_interval",
    "knn",
    "knn.algo_param.ef_search",
    "search.default_pipeline",
    "max_result_window",
    "mapping.total_fields.limit",
    "auto_expand_replicas",
    "codec",
}
READ_ONLY_SETTINGS = {"creation_date", "uuid", "version.created", "provided_name"}


@dataclass
class StoredDoc:
    """A document as stored: its source and the values it contributes to the index."""

    id: str
    source: dict[str, Any]
    seq_no: int
    version: int
    indexed: IndexedDoc
    primary_term: int = 1


@dataclass
class Segment:
    """A point-in-time, searchable view of an index with the statistics BM25 needs."""

    docs: list[StoredDoc]
    mappings: Mappings
    positions: dict[str, int] = field(default_factory=dict)
    text_postings: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)  # field → term → pos → tf
    text_lengths: dict[str, dict[int, int]] = field(default_factory=dict)  # field → pos → length
    text_norms: dict[str, dict[int, int]] = field(default_factory=dict)  # field → pos → one-byte length norm
    text_stats: dict[str, tuple[int, int]] = field(default_factory=dict)  # field → (doc count, sum of lengths)
    exact_postings: dict[str, dict[Any, set[int]]] = field(default_factory=dict)  # field → value → positions
    exact_stats: dict[str, tuple[int, int]] = field(default_factory=dict)  # field → (doc count, sum of values)
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # field → (positions, matrix)

    @classmethod
    def build(cls, docs: list[StoredDoc], mappings: Mappings) -> Segment:
        ordered = sorted(docs, key=lambda d: d.seq_no)  # index order, like Lucene's doc ids
        seg = cls(docs=ordered, mappings=mappings)
        vector_rows: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        for pos, doc in enumerate(ordered):
            seg.positions[doc.id] = pos
            for path, (counts, length) in doc.indexed.text.items():
                postings = seg.text_postings.setdefault(path, {})
                for term, tf in counts.items():
                    postings.setdefault(term, {})[pos] = tf
                seg.text_lengths.setdefault(path, {})[pos] = length
            for path, values in doc.indexed.exact.items():
                postings_exact = seg.exact_postings.setdefault(path, {})
                for value in set(values):
                    postings_exact.setdefault(value, set()).add(pos)
                count, total = seg.exact_stats.get(path, (0, 0))
                seg.exact_stats[path] = (count + 1, total + len(set(values)))
            for path, vector in doc.indexed.vectors.items():
                collected = vector_rows.setdefault(path, ([], []))
                collected[0].append(pos)
                collected[1].append(vector)
        for path, lengths in seg.text_lengths.items():
            seg.text_stats[path] = (len(lengths), sum(lengths.values()))
            seg.text_norms[path] = {pos: int_to_byte4(length) for pos, length in lengths.items()}
        for path, (positions, rows) in vector_rows.items():
            seg.vectors[path] = (np.asarray(positions, dtype=np.int64), np.vstack(rows).astype(np.float32))
        return seg

    def all_positions(self) -> set[int]:
        return set(range(len(self.docs)))


class Index:
    """An index's state; the engine serializes access to it."""

    def __init__(self, name: str, settings: dict[str, Any], mappings: Mappings) -> None:
        self.name = name
        self.uuid = uuid.uuid4().hex[:22]
        self.created_ms = int(time.time() * 1000)
        self.settings = settings  # flat, without the "index." prefix, values as given
        self.mappings = mappings
        self.docs: dict[str, StoredDoc] = {}
        self.tombstones: dict[str, int] = {}  # version of deleted documents (a re-created one continues it)
        self.seq_no = -1
        self.primary_term = 1
        self.last_refresh = time.monotonic()
        self._segment: Segment | None = Segment.build([], mappings)
        self._dirty = False

    # Settings -----------------------------------------------------------------------------------

    @property
    def shards(self) -> int:
        return int(self.settings.get("number_of_shards", 1))

    @property
    def replicas(self) -> int:
        return int(self.settings.get("number_of_replicas", 1))

    @property
    def refresh_interval_s(self) -> float | None:
        """Seconds between automatic refreshes; None when disabled (``-1``)."""
        return parse_interval(self.settings.get("refresh_interval"), DEFAULT_REFRESH_INTERVAL_S)

    def settings_json(self, flat: bool = False) -> dict[str, Any]:
        values = {
            "creation_date": str(self.created_ms),
            "number_of_shards": str(self.shards),
            "number_of_replicas": str(self.replicas),
            "uuid": self.uuid,
            "version.created": "136407927",
            "provided_name": self.name,
        }
        for key, value in self.settings.items():
            if key not in values:
                values[key] = value if isinstance(value, str) else _setting_text(value)
        if flat:
            return {f"index.{k}": v for k, v in sorted(values.items())}
        tree: dict[str, Any] = {}
        for key, value in sorted(values.items()):
            node = tree
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return {"index": tree}

    # Documents ----------------------------------------------------------------------------------

    def next_seq_no(self) -> int:
        self.seq_no += 1
        self._dirty = True
        return self.seq_no

    def put(self, doc_id: str, source: dict[str, Any], indexed: IndexedDoc) -> StoredDoc:
        previous = self.docs.get(doc_id)
        stored = StoredDoc(
            id=doc_id,
            source=source,  # never mutated: updates build a new source
            seq_no=self.next_seq_no(),
            version=(previous.version if previous else self.tombstones.pop(doc_id, 0)) + 1,
            indexed=indexed,
        )
        self.docs[doc_id] = stored
        return stored

    def remove(self, doc_id: str) -> StoredDoc | None:
        removed = self.docs.pop(doc_id, None)
        if removed is not None:
            self._dirty = True
        return removed

    # Near-real-time search ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Make every write so far searchable."""
        if self._dirty or self._segment is None:
            self._segment = Segment.build(list(self.docs.values()), self.mappings)
            self._dirty = False
        self.last_refresh = time.monotonic()

    def searcher(self) -> Segment:
        """The searchable snapshot, refreshed first when the refresh interval has passed."""
        interval = self.refresh_interval_s
        if self._dirty and interval is not None and time.monotonic() - self.last_refresh >= interval:
            self.refresh()
        assert self._segment is not None
        return self._segment


def parse_interval(value: Any, default: float) -> float | None:
    """A time value (``1s``, ``500ms``, ``-1``) in seconds; None for ``-1``."""
    if value is None:
        return default
    text = str(value).strip()
    if text == "-1":
        return None
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    raise bad_request(f"failed to parse setting [index.refresh_interval] with value [{text}] as a time value")


def flatten_settings(settings: Any) -> dict[str, Any]:
    """``{"index": {"knn": true}}`` and ``{"index.knn": true}`` alike → ``{"knn": True}``."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise bad_request("settings must be an object", "settings_exception")
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            else:
                flat[path] = value

    walk(settings, "")
    out: dict[str, Any] = {}
    for key, value in flat.items():
        name = key[len("index.") :] if key.startswith("index.") else key
        if name.startswith("analysis."):
            raise bad_request("custom analysis settings are not supported by this server")
        if name in READ_ONLY_SETTINGS:
            continue
        if name not in KNOWN_SETTINGS:
            raise bad_request(f"unknown setting [index.{name}] please check that any required plugins are installed")
        out[name] = value
    for name in ("number_of_shards", "number_of_replicas"):
        if name in out:
            try:
                number = int(str(out[name]))
            except ValueError:
                raise bad_request(f"Failed to parse value [{out[name]}] for setting [index.{name}]") from None
            if number < (1 if name == "number_of_shards" else 0):
                raise bad_request(f"Failed to parse value [{number}] for setting [index.{name}]")
    if "refresh_interval" in out:
        parse_interval(out["refresh_interval"], DEFAULT_REFRESH_INTERVAL_S)
    return out


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
