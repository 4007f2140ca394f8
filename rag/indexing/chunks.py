"""A build's chunks: the chunker's settings, chunking a corpus, and reusing the live build's chunks of unchanged documents.

Owns `chunker_settings` (the Settings fields the chunker reads, as recorded in a manifest), `chunk_corpus` (every
document chunked, or its chunks taken from the live build, and the count of new chunks over the model window) and
`reusable_chunks` (which documents are exactly as the live build read them, chunked the same way). Leaves cutting
one document to `rag.ingest.chunking` and the build's lifecycle to `rag.indexing.builds`.
"""

from __future__ import annotations

from typing import Any

from rag.config import Settings
from rag.errors import IndexCorruptError
from rag.indexing.embedding import Embedder
from rag.indexing.store import read_chunks, read_documents
from rag.ingest.chunking import ChunkerSettings, chunk_document, count_tokens, embedding_text
from rag.ingest.corpus import Corpus
from rag.models import Chunk


def chunker_settings(settings: Settings) -> ChunkerSettings:
    return ChunkerSettings(max_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap,
                           paragraph_fill=settings.chunk_paragraph_fill)


def chunk_corpus(corpus: Corpus, settings: Settings, embedder: Embedder,
                 reusable: dict[str, list[Chunk]] | None = None) -> tuple[list[Chunk], int]:
    """All chunks of the corpus, and how many of the newly made ones still exceed the model window (goal: 0).
    Documents in `reusable` (see `reusable_chunks`) keep the chunks given there."""
    window = embedder.window
    reusable = reusable or {}

    def fits(text: str) -> bool:
        return embedder.token_counts([text])[0] <= window

    chunks, fresh = [], []
    for doc in corpus.documents:
        made = reusable.get(doc.doc_id)
        if made is None:
            made = chunk_document(doc, chunker_settings(settings), count_tokens, fits)
            fresh += made
        chunks += made
    counts = embedder.token_counts([embedding_text(c) for c in fresh])
    return chunks, sum(1 for n in counts if n > window)


def tokenizer_identity(embedder: Embedder) -> str:
    """The embedder's word-piece tokenizer, as builds record it (a test double names its own kind)."""
    return str(getattr(embedder, "tokenizer_identity", type(embedder).__name__))


def live_chunks(live: Any) -> list[Chunk]:
    """The live build's chunks in row order (its vectors' order); none when there is no live build or it is unreadable."""
    if live is None:
        return []
    try:
        return read_chunks(live.folder)
    except IndexCorruptError:
        return []


def reusable_chunks(live: Any, corpus: Corpus, settings: Settings, embedder: Embedder, rows: list[Chunk]) -> dict[str, list[Chunk]]:
    """The live build's chunks (`rows`, see `live_chunks`) of every document that is exactly as the live build read it
    (text, sections, pages, title, metadata), when it was chunked with the same chunker (settings and
    `rag.ingest.chunking.VERSION`) to fit the same window of the same tokenizer, and left no chunk over it: a rebuild
    then chunks only new and changed documents."""
    if live is None or live.manifest.get("chunker", {}).get("version") is None:
        return {}
    same = {k: v for k, v in live.manifest["chunker"].items() if k != "embedding_text"} == chunker_settings(settings).to_dict()
    model = live.manifest.get("model", {})
    fits = model.get("window") == embedder.window and model.get("tokenizer") == tokenizer_identity(embedder)
    if not same or not fits or live.manifest["counts"].get("chunks_over_window"):
        return {}
    try:
        documents = read_documents(live.folder)
    except IndexCorruptError:
        return {}
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in rows:
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    return {d.doc_id: by_doc[d.doc_id] for d in corpus.documents if documents.get(d.doc_id) == d and d.doc_id in by_doc}
