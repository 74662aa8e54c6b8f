"""A small on-disk cache for the classifier: exemplar embeddings and fitted states.

Cold start fits the classifier from the assistant pack. With a warm cache that costs two file
reads instead of a few hundred ONNX runs and a cross-validation:

* ``<fingerprint>.npz`` — vectors of texts, keyed by the model fingerprint (sha256 of the model
  and tokenizer files) and the sha1 of each text;
* ``fit-<key>.npz`` — a fitted classifier, keyed by a hash of everything the fit depends on.

The writable directory is ``~/.cache/luma/classify`` (``/tmp/luma/classify`` in AWS, the only
writable place in Lambda). Read-only directories are searched too: ``luma/classify/prebuilt``
if it exists, which a build step can fill (``python -m luma.classify warm --all --dir ...``)
so that even the first cold start of a Lambda finds a fitted classifier. A cache that cannot
be read or written is skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from luma.config import get_settings

PREBUILT_DIR = Path(__file__).resolve().parent / "prebuilt"
# Past this many vectors a file is rewritten with only the texts of the current call.
MAX_ENTRIES = 200_000


class FingerprintedEmbedder(Protocol):
    """An embedder whose vectors can be cached: it names the model that made them."""

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


def default_cache_dir() -> Path:
    """``LUMA_CLASSIFIER_CACHE_DIR``, else ``/tmp/luma/classify`` in AWS Lambda, else ``~/.cache/luma/classify``."""
    settings = get_settings()
    if settings.classifier_cache_dir:
        return Path(settings.classifier_cache_dir)
    if settings.env == "aws":
        return Path(tempfile.gettempdir()) / "luma" / "classify"
    return Path.home() / ".cache" / "luma" / "classify"


def text_key(text: str) -> str:
    """The cache key of one text (sha1 of its UTF-8 bytes)."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


class EmbeddingCache:
    """Vectors and fitted states on disk; :meth:`embed` only runs the model for unseen texts."""

    def __init__(
        self, directory: str | Path | None = None, *, read_only: Sequence[str | Path] = (PREBUILT_DIR,)
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.read_only = [Path(d) for d in read_only]
        self.hits = 0
        self.misses = 0

    def _paths(self, name: str) -> list[Path]:
        return [self.directory / name, *(d / name for d in self.read_only)]

    def load_arrays(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays saved under ``name`` (writable directory first), or None."""
        for path in self._paths(f"{name}.npz"):
            if path.is_file():
                arrays = _read_npz(path)
                if arrays is not None:
                    return arrays
        return None

    def save_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> bool:
        """Atomically write ``arrays`` under ``name`` in the writable directory; False on failure."""
        path = self.directory / f"{name}.npz"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, **arrays)  # type: ignore[arg-type]
                os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a prebuilt file must be readable in Lambda
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            return False  # read-only or full disk: the cache is an optimisation only
        return True

    def embed(self, embedder: FingerprintedEmbedder, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts`` (rows in order), from the cache where possible."""
        if not texts:
            return embedder.embed([])
        name = embedder.fingerprint[:32]
        stored: dict[str, np.ndarray] = {}
        for path in reversed(self._paths(f"{name}.npz")):  # the writable directory wins
            arrays = _read_npz(path) if path.is_file() else None
            if arrays and "keys" in arrays and "vectors" in arrays:
                stored.update({str(k): arrays["vectors"][i] for i, k in enumerate(arrays["keys"])})
        keys = [text_key(t) for t in texts]
        missing = dict(sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in stored}.items()))
        n_missing = sum(1 for k in keys if k not in stored)
        self.hits += len(keys) - n_missing
        self.misses += n_missing
        if missing:
            fresh = embedder.embed(list(missing.values()))
            if len(stored) + len(missing) > MAX_ENTRIES:
                stored = {k: stored[k] for k in keys if k in stored}
            stored.update({k: fresh[i] for i, k in enumerate(missing)})
            self.save_arrays(name, {"keys": np.array(list(stored)), "vectors": np.stack(list(stored.values()))})
        return np.stack([stored[k] for k in keys]).astype(np.float32, copy=False)
