"""Passages embedded on an accelerator: the torch model in float16 on a GPU (`RAG_EMBED_DEVICE=cuda`), checked against float32.

Owns `HalfPrecisionEmbedder` (an `Embedder` running the sentence-transformers model in float16 on a torch device;
device-agnostic, so the same code runs on CPU in the tests), `agreement` and `check_agreement` (the lowest cosine
between its vectors and the float32 CPU model's, refused below 0.999 on a sample of every build's first texts), and
`require_device` (a clear error when the device is not there). Leaves the CPU encoders to
`rag.indexing.passage_encoder` and the model files to `rag.indexing.embedding`.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Sequence

import numpy as np

from rag.errors import ModelError
from rag.indexing.embedding import ProgressFn, SentenceTransformerEmbedder, encode_by_length

MIN_COSINE = 0.999  # float16 vectors must stay this close to the float32 ones
SAMPLE = 8  # texts of the first batch embedded both ways and compared


def require_device(device: str) -> None:
    """Refuse a device torch cannot use here, saying what to do instead."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("RAG_EMBED_DEVICE=cuda, but torch sees no CUDA GPU here (no GPU, no driver, or a CPU-only torch): "
                         "set RAG_EMBED_DEVICE=cpu, or build on a machine with a GPU and a CUDA build of torch")


def agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The lowest cosine between matching rows of two sets of vectors (1.0 for none)."""
    if not len(reference):
        return 1.0
    a = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    b = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def check_agreement(reference: np.ndarray, candidate: np.ndarray, where: str) -> float:
    """`agreement`, or a `ModelError` when it is below MIN_COSINE."""
    lowest = agreement(reference, candidate)
    if lowest < MIN_COSINE:
        raise ModelError(f"passage vectors in float16 on {where} differ from the float32 CPU ones (lowest cosine "
                         f"{lowest:.5f}, below {MIN_COSINE}): set RAG_EMBED_DEVICE=cpu")
    return lowest


class HalfPrecisionEmbedder:
    """The torch model in float16 on `device`; its first batch's first texts are checked against the float32 CPU model."""

    variant = "torch-fp16"

    def __init__(self, source: SentenceTransformerEmbedder, device: str) -> None:
        self.source = source  # the float32 CPU model: the reference, and what questions are embedded with
        self.device = device
        self.name = source.name
        self.lowest_cosine: float | None = None  # set by the first encode
        self._lock = threading.Lock()

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(str(self.source.path), device=self.device).half()
        except Exception as exc:  # the library raises many types; all mean the same to the user
            raise ModelError(f"cannot load the embedding model on {self.device} in float16: {exc}; set RAG_EMBED_DEVICE=cpu") from exc

    @cached_property
    def fingerprint(self) -> str:
        """Another identity than the float32 model's: cached float32 vectors are not taken for float16 ones."""
        return f"{self.source.fingerprint}+{self.variant}"

    @property
    def tokenizer_identity(self) -> str:
        return self.source.tokenizer_identity

    @property
    def dimension(self) -> int:
        return self.source.dimension

    @property
    def window(self) -> int:
        return self.source.window

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self.source.token_counts(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray:
        with self._lock:
            out = encode_by_length(self.model, texts, self.dimension, batch_size, progress)
        if self.lowest_cosine is None and len(texts):
            sample = list(range(min(SAMPLE, len(texts))))
            self.lowest_cosine = check_agreement(self.source.encode([texts[i] for i in sample]), out[sample], self.device)
        return out
