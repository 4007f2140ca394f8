"""Passage encoder: chunks embedded by the ONNX export in one pass that also yields their sentences' vectors.

Owns `OnnxPassageEncoder`, an `Embedder` for builds (`RAG_PASSAGE_ENCODER=onnx|onnx-int8`): texts are tokenised
once (in Rust, all at once), sorted by length and cut into batches of about `RAG_EMBED_BATCH_TOKENS` padded tokens,
so short texts run in large batches and long ones waste no padding. `encode_with_spans` returns, besides each
text's vector, one vector per requested character span of it: the mean of the span's token states in the
text's last layer, unit length (pooled the way the model pools a whole text, but with the chunk as context).
That is how a build gets every answer sentence's vector from the chunk pass, with no second model pass
(`RAG_SENTENCE_VECTORS=pooled`). `make_passage_embedder` chooses between it and the torch model. Leaves which spans
to pool, and the cache, to `rag.indexing.builds` and `rag.indexing.embed_cache`.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from rag.config import Settings
from rag.indexing.embedding import ProgressFn, SentenceTransformerEmbedder, make_embedder
from rag.indexing.onnx_export import OnnxModel, ensure_export, require_onnxruntime

SETTING = "RAG_PASSAGE_ENCODER"
POOLING_VERSION = 1  # bump when `pool_spans` changes what it computes: cached sentence vectors are then not reused
Span = tuple[int, int]


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """Unit mean of the token states whose characters overlap each span (a row of NaN where no token does).

    `tokens` is one text's (n, d) last hidden state, `offsets` its (n, 2) character offsets, (0, 0) for the
    special tokens; only word pieces inside the window have states, so a span cut off by truncation is NaN."""
    out = np.full((len(spans), tokens.shape[1]), np.nan, dtype=np.float32)
    real = offsets[:, 1] > offsets[:, 0]
    starts, ends = offsets[:, 0], offsets[:, 1]
    for row, (a, b) in enumerate(spans):
        inside = real & (starts < b) & (ends > a)
        if inside.any():
            mean = tokens[inside].mean(axis=0)
            out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


def length_batches(lengths: Sequence[int], max_tokens: int, max_texts: int) -> list[list[int]]:
    """Positions grouped into batches of similar length: longest first, each holding at most `max_tokens` padded
    tokens (its longest text times its size) and `max_texts` texts, and no text under half its longest (padding a
    short text to a long one's length wastes more than a batch saves); a text longer than the budget runs alone."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        longest = lengths[batches[-1][0]] if batches else 0
        if batches and len(batches[-1]) < max_texts and longest * (len(batches[-1]) + 1) <= max_tokens and 2 * lengths[i] >= longest:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class OnnxPassageEncoder:
    """The embedding model's ONNX export as an `Embedder` for passages, with pooled span vectors."""

    def __init__(self, embedder: SentenceTransformerEmbedder, model: OnnxModel, max_tokens: int = 8192, max_texts: int = 256) -> None:
        self.source = embedder  # the torch model it was exported from: questions are embedded by it (or its own export)
        self.model = model
        self.name = embedder.name
        self.max_tokens = max_tokens
        self.max_texts = max_texts
        self.tokens_embedded = 0  # word pieces run through the model, [CLS] and [SEP] included (for benchmarks)

    @property
    def variant(self) -> str:
        return self.model.variant

    @cached_property
    def fingerprint(self) -> str:
        """The model files' identity and the export's (variant, recipe, file), and the pooling recipe: a cached vector
        is reused only for the very model, export and pooling that would compute it again."""
        return f"{self.source.fingerprint}+{self.model.identity}+pool-v{POOLING_VERSION}"

    @property
    def tokenizer_identity(self) -> str:
        return self.source.tokenizer_identity

    @property
    def dimension(self) -> int:
        return self.model.dimension

    @property
    def window(self) -> int:
        return self.source.window

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self.source.token_counts(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray:
        return self.encode_with_spans(texts, [[] for _ in texts], progress)[0]

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[Span]],
                          progress: ProgressFn | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's unit vector, and for each text one pooled unit vector per span (NaN rows: span not embedded)."""
        encodings = self.model.tokenizer.encode_batch(list(texts)) if texts else []
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        per_call = self.max_texts if self.model.batch_invariant else 1  # int8: each text alone, so its vector is its own
        for batch in length_batches([len(e.ids) for e in encodings], self.max_tokens, per_call):
            wanted = ("embedding", "tokens") if any(spans[i] for i in batch) else ("embedding",)
            result = self.model.run([encodings[i] for i in batch], wanted)
            self.tokens_embedded += sum(len(encodings[i].ids) for i in batch)
            vectors[batch] = result[0]
            for row, i in enumerate(batch):
                if spans[i]:
                    n = len(encodings[i].ids)
                    pooled[i] = pool_spans(result[1][row, :n], np.asarray(encodings[i].offsets), spans[i])
            if progress:
                progress(len(batch))
        return vectors, pooled


def make_passage_embedder(settings: Settings) -> Any:
    """The model that embeds passages at build time: the torch model (`RAG_PASSAGE_ENCODER=torch`) or its ONNX
    export (exported on first use into the cache folder), using all cores unless `RAG_THREADS` says otherwise; with
    `RAG_EMBED_DEVICE=cuda`, the torch model in float16 on the GPU (`rag.indexing.device_encoder`)."""
    from rag.indexing.adapters import resolve_adapter

    s = settings
    embedder = make_embedder(s.model, s.device, s.threads, "build", resolve_adapter(s.adapter, s.index_dir), s.cache_folder)
    if settings.embed_device != "cpu":  # RAG_EMBED_DEVICE=cuda: the torch model in float16 on the GPU
        from rag.indexing.device_encoder import HalfPrecisionEmbedder, require_device

        require_device(settings.embed_device)
        return HalfPrecisionEmbedder(embedder, settings.embed_device)
    if settings.passage_encoder == "torch":
        return embedder
    require_onnxruntime(settings.passage_encoder, SETTING)
    onnx_file = ensure_export(embedder, settings.cache_folder, settings.passage_encoder, SETTING)
    threads = settings.threads or os.cpu_count() or 1
    model = OnnxModel(embedder.path, onnx_file, embedder.window, threads, settings.passage_encoder, SETTING)
    return OnnxPassageEncoder(embedder, model, settings.embed_batch_tokens)
