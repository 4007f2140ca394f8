"""Question encoder: the embedding model's ONNX export, embedding questions alone or in micro-batches.

Owns `OnnxQueryEncoder` (questions into L2-normalised float32 vectors exactly as the torch embedder makes them:
word pieces cut to the model window, mean pooling, unit length; fp32 or int8, `RAG_QUERY_ENCODER`) and
`MicroBatcher`, which lets concurrent callers share one model call: a caller's question waits while a batch is
running, and every question queued meanwhile goes into the next call together (a lone question runs at once,
so a quiet server adds no delay), and `token_reader`, which finds what reads texts token by token for late interaction
(`rag.answer.late`). Exporting the model lives in `rag.indexing.onnx_export`. Importing this module
loads nothing.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from rag.errors import ModelError
from rag.indexing.embedding import SentenceTransformerEmbedder
from rag.indexing.onnx_export import VARIANTS, OnnxModel, ensure_export, require_onnxruntime

SETTING = "RAG_QUERY_ENCODER"


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class OnnxQueryEncoder:
    """Encodes questions with an exported model. Thread-safe."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model

    @property
    def onnx_file(self) -> Path:
        return self.model.onnx_file

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """Unit vectors, one row per text; texts of similar length are padded together in batches of `batch_size`
        (one text per call for int8, whose vectors would otherwise depend on their batch)."""
        if not texts:
            return np.zeros((0, self.model.dimension), dtype=np.float32)
        batch_size = batch_size if self.model.batch_invariant else 1
        encodings = self.model.tokenizer.encode_batch(list(texts)) if len(texts) > 1 else [self.model.tokenizer.encode(texts[0])]
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.model.dimension), dtype=np.float32)
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            out[rows] = self.model.run([encodings[i] for i in rows])[0]
            if progress:
                progress(len(rows))
        return out


class MicroBatcher:
    """Encodes each caller's question together with the questions other threads asked meanwhile.

    One worker thread runs the model; a caller queues its question and waits for its vector. The worker takes
    everything queued (at most `max_batch`), encodes it in one call, answers every caller, and repeats; with one
    caller at a time it encodes each question as it comes. `on_batch` sees each batch's size (for metrics)."""

    def __init__(self, encoder: Encoder, max_batch: int = 32, on_batch: Callable[[int], None] | None = None) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._queue: list[tuple[str, Future[np.ndarray]]] = []
        self._ready = threading.Condition()
        self._worker = threading.Thread(target=self._serve, name="rag-question-batcher", daemon=True)
        self._worker.start()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.encoder.encode([])
        futures: list[Future[np.ndarray]] = []
        with self._ready:
            for text in texts:
                futures.append(Future())
                self._queue.append((text, futures[-1]))
            self._ready.notify()
        return np.stack([f.result() for f in futures])

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._run(batch)

    def _run(self, batch: list[tuple[str, Future[np.ndarray]]]) -> None:
        try:
            if self.on_batch:
                self.on_batch(len(batch))
            vectors = self.encoder.encode([text for text, _ in batch])
            if len(vectors) != len(batch):
                raise ModelError(f"the question encoder returned {len(vectors)} vectors for {len(batch)} questions: "
                                 "set RAG_QUERY_ENCODER=torch, or RAG_QUESTION_BATCH=1")
        except BaseException as exc:  # every waiting caller gets the error, and the worker keeps serving
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), vector in zip(batch, vectors):
            future.set_result(vector)


def make_query_encoder(variant: str, embedder: SentenceTransformerEmbedder, cache_root: Path,
                       threads: int) -> OnnxQueryEncoder | None:
    """The chosen question encoder for `embedder`'s model (exported now if needed; its fingerprint names the export),
    or None for `torch` (the embedder encodes questions)."""
    if variant == "torch":
        return None
    if variant not in VARIANTS:
        raise ModelError(f"unknown question encoder {variant!r}: set {SETTING} to torch, {', '.join(VARIANTS)}")
    require_onnxruntime(variant, SETTING)
    onnx_file = ensure_export(embedder, cache_root, variant, SETTING)
    return OnnxQueryEncoder(OnnxModel(embedder.path, onnx_file, embedder.window, threads or 1, variant, SETTING))


TokenStates = Callable[[Sequence[str]], "list[tuple[tuple[str, ...], np.ndarray]]"]
Pieces = Callable[[Sequence[str]], "list[Sequence[str]]"]


def token_reader(encoder: Any, embedder: Any) -> tuple[TokenStates, Pieces] | None:
    """What reads texts token by token for late interaction (`rag.answer.late`): (texts -> each one's word pieces and
    unit last-layer states, texts -> their word pieces), from the question encoder's ONNX model when there is one (a
    micro-batcher's inner encoder included), else from the torch embedder; None for a model that cannot (a test double)."""
    inner = encoder.encoder if isinstance(encoder, MicroBatcher) else encoder
    model = inner.model if isinstance(inner, OnnxQueryEncoder) else embedder
    if not isinstance(model, (OnnxModel, SentenceTransformerEmbedder)):
        return None
    return model.token_states, lambda texts: [e.tokens for e in model.tokenizer.encode_batch(list(texts))]
