"""A build's vectors: the chunk pass, and answer sentences' vectors pooled from it or embedded on their own.

Owns `embed_build` (chunk vectors and the sentence table of a corpus, through the embedding cache), `sentence_source`
(whether sentences are pooled: the setting and an encoder that can) and `sentence_spans_by_chunk` (which chunk pools
each sentence, over which characters of its embedding text). Leaves the encoders to `rag.indexing.passage_encoder`
and `rag.indexing.embedding`, the cache to `rag.indexing.embed_cache`, and the build's lifecycle to
`rag.indexing.builds`.
"""

from __future__ import annotations

import bisect
from typing import Any, Sequence

import numpy as np

from rag.config import Settings
from rag.errors import ModelError
from rag.indexing.carry import Carried
from rag.indexing.embed_cache import EmbeddingCache, encode_cached, encode_pooled_cached
from rag.indexing.embedding import Embedder
from rag.indexing.sentences import SentenceRows, SentenceTable, quotable_rows
from rag.ingest.corpus import Corpus
from rag.models import Chunk, Document


def check_vectors(vectors: np.ndarray, model: str) -> None:
    """Refuse vectors no index should be built from: not finite, or one and the same for every passage (a broken
    model ranks nothing, and lexical evidence in reranking could hide that from the gate)."""
    if not np.isfinite(vectors).all():
        raise ModelError(f"the embedding model {model!r} returned NaN or infinite vectors; reinstall it with `make setup` "
                         "or fix RAG_MODEL")
    if len(vectors) > 1 and float(np.abs(vectors - vectors[0]).max()) < 1e-6:
        raise ModelError(f"the embedding model {model!r} returned the same vector for all {len(vectors)} passages; "
                         "reinstall it with `make setup` or fix RAG_MODEL")


def sentence_source(settings: Settings, embedder: Embedder) -> str:
    """`pooled` when the settings ask for it and the encoder can pool spans (the ONNX passage encoder), else `separate`."""
    return "pooled" if settings.sentence_vectors == "pooled" and hasattr(embedder, "encode_with_spans") else "separate"


def embed_build(corpus: Corpus, chunks: list[Chunk], texts: list[str], settings: Settings, embedder: Embedder,
                cache: EmbeddingCache | None, progress: Any, carried: Carried | None = None) -> tuple[np.ndarray, SentenceTable, int]:
    """Chunk vectors and the sentence table of the corpus, and how many sentence vectors were pooled from this
    build's chunk pass. A document whose vectors and sentences are `carried` from the live build takes them as they
    are; the others are embedded (see `_embed_documents`)."""
    carried = carried or Carried()
    kept = {d.doc_id for d in corpus.documents if d.doc_id in carried.vectors and d.doc_id in carried.sentences}
    fresh_docs = [d for d in corpus.documents if d.doc_id not in kept]
    picks = [i for i, c in enumerate(chunks) if c.doc_id not in kept]
    progress.stage("embedding", len(picks))
    vectors, table, pooled = _embed_documents(fresh_docs, [chunks[i] for i in picks], [texts[i] for i in picks], settings,
                                              embedder, cache, progress)
    if not kept:
        return vectors, table, pooled
    return (_merged_vectors(chunks, picks, vectors, carried, embedder.dimension), _merged_table(corpus, table, carried, embedder.dimension),
            pooled)


def _embed_documents(documents: Sequence[Document], chunks: list[Chunk], texts: list[str], settings: Settings,
                     embedder: Embedder, cache: EmbeddingCache | None, progress: Any) -> tuple[np.ndarray, SentenceTable, int]:
    """Chunk vectors and the sentence table of `documents` (whose chunks are `chunks`), through the cache.

    With `RAG_SENTENCE_VECTORS=pooled` and an encoder that pools spans, a sentence's vector comes from the chunk holding
    most of it. Table rows shown with their header labels are embedded on their own, as that text, in a short second
    pass: pooled inside its table, a row carries its neighbours' context and loses what tells it from them (measured:
    'How long is CCTV footage kept?' then quotes the investigation row). So are sentences no chunk pass covered."""
    rows = quotable_rows(documents)
    sentence_vectors = np.full((len(rows), embedder.dimension), np.nan, dtype=np.float32)
    if sentence_source(settings, embedder) == "pooled":
        spans = sentence_spans_by_chunk(chunks, texts, rows)
        spans = [[(row, span) for row, span in held if not rows.labelled[row]] for held in spans]
        vectors, pooled = encode_pooled_cached(embedder, texts, [[s for _, s in c] for c in spans], cache, progress.advance)
        for held, spanned in zip(spans, pooled):
            for (row, _), vector in zip(held, spanned):
                sentence_vectors[row] = vector
    else:
        vectors = encode_cached(embedder, texts, settings.embed_batch_size, cache, progress.advance)
    if len(texts):
        check_vectors(vectors, settings.model)
    else:
        vectors = np.zeros((0, embedder.dimension), dtype=np.float32)
    alone = [i for i in range(len(rows)) if np.isnan(sentence_vectors[i, 0])]
    if alone:
        progress.stage("sentences", len(alone))
        sentence_vectors[alone] = encode_cached(embedder, [rows.texts[i] for i in alone], settings.embed_batch_size, cache,
                                                progress.advance)
    return vectors, rows.with_vectors(sentence_vectors), len(rows) - len(alone)


def _merged_vectors(chunks: list[Chunk], picks: list[int], fresh: np.ndarray, carried: Carried, dimension: int) -> np.ndarray:
    """Chunk vectors in chunk order: the embedded ones at `picks`, each carried document's own in its chunks' places."""
    out = np.zeros((len(chunks), dimension), dtype=np.float32)
    out[picks] = fresh
    fresh_rows = set(picks)
    taken: dict[str, int] = {}  # chunks of each carried document placed so far
    for i, chunk in enumerate(chunks):
        if i not in fresh_rows:
            k = taken.get(chunk.doc_id, 0)
            out[i] = carried.vectors[chunk.doc_id][k]
            taken[chunk.doc_id] = k + 1
    return out


def _merged_table(corpus: Corpus, fresh: SentenceTable, carried: Carried, dimension: int) -> SentenceTable:
    """One sentence table by document (corpus order) then offset: the fresh documents' rows and the carried ones."""
    position = {doc_id: i for i, doc_id in enumerate(fresh.doc_ids)}
    index, starts, ends, vectors = [], [], [], []
    for i, doc in enumerate(corpus.documents):
        if doc.doc_id in position:
            rows = np.flatnonzero(fresh.doc_index == position[doc.doc_id])
            a, b, v = fresh.starts[rows], fresh.ends[rows], fresh.vectors[rows]
        else:
            run = carried.sentences[doc.doc_id]
            a, b, v = run.starts, run.ends, run.vectors
        index.append(np.full(len(a), i, dtype=np.int32))
        starts.append(a)
        ends.append(b)
        vectors.append(np.asarray(v, dtype=np.float32).reshape(len(a), dimension))
    return SentenceTable([d.doc_id for d in corpus.documents], np.concatenate(index), np.concatenate(starts).astype(np.int64),
                         np.concatenate(ends).astype(np.int64), np.vstack(vectors))


def sentence_spans_by_chunk(chunks: Sequence[Chunk], texts: Sequence[str], rows: SentenceRows) -> list[list[tuple[int, tuple[int, int]]]]:
    """For each chunk, the sentences it pools: (sentence row, character span within the chunk's embedding text).

    A sentence is pooled by the chunk holding most of its characters (the first such chunk on a tie), over the part
    that chunk holds; `texts[i]` ends with `chunks[i].text`, so document offsets shift by the heading before it."""
    by_doc: dict[str, list[int]] = {}
    for i in sorted(range(len(chunks)), key=lambda i: chunks[i].start):
        by_doc.setdefault(chunks[i].doc_id, []).append(i)
    starts = {doc: [chunks[i].start for i in members] for doc, members in by_doc.items()}
    held: list[list[tuple[int, tuple[int, int]]]] = [[] for _ in chunks]
    for row in range(len(rows)):
        doc_id = rows.doc_ids[int(rows.doc_index[row])]
        a, b = int(rows.starts[row]), int(rows.ends[row])
        best = _holding_most(chunks, by_doc.get(doc_id, []), starts.get(doc_id, []), a, b)
        if best is not None:
            chunk, shift = chunks[best], len(texts[best]) - len(chunks[best].text) - chunks[best].start
            held[best].append((row, (max(a, chunk.start) + shift, min(b, chunk.end) + shift)))
    return held


def _holding_most(chunks: Sequence[Chunk], members: list[int], starts: list[int], a: int, b: int) -> int | None:
    """Of one document's chunks (`members`, by start), the first holding most of `[a, b)`; None if none overlaps it."""
    best, most = None, 0
    for k in range(bisect.bisect_left(starts, b) - 1, -1, -1):  # chunks starting before b, latest first
        chunk = chunks[members[k]]
        if chunk.end <= a:
            break
        overlap = min(b, chunk.end) - max(a, chunk.start)
        if overlap >= most:  # walking backwards, so a tie goes to the earlier chunk
            best, most = members[k], overlap
    return best
