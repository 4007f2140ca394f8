"""The facade the CLI, the server and the eval harness use.

Owns holding one embedding model and the live index build, answering `search`,
`ask` and `document` against a consistent snapshot of that build, and swapping
in a newly promoted build (`reload`) without disturbing requests in flight: each
call takes the current snapshot once at its start and finishes on it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rag.answer.extractive import ExtractiveAnswerer
from rag.config import Settings
from rag.errors import NotFoundError
from rag.indexing.builds import current_build_id, load_current
from rag.indexing.embedding import Embedder, SentenceTransformerEmbedder, make_embedder
from rag.indexing.store import LoadedIndex
from rag.models import Answer, Document, SearchResult
from rag.search.retrieval import Filters, QueryEncoder, Retriever, allowed_documents, clean_question


@dataclass(frozen=True)
class Snapshot:
    """One loaded build and the components bound to it."""

    index: LoadedIndex
    retriever: Retriever
    answerer: ExtractiveAnswerer


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, index: LoadedIndex | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = self._bind(index) if index is not None else None

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or make_embedder(self.settings.model, self.settings.device, self.settings.threads, "query")

    @cached_property
    def query_encoder(self) -> QueryEncoder | None:
        """The ONNX question encoder when `RAG_QUERY_ENCODER` chooses one (exported on first use), else None."""
        if self.settings.query_encoder == "torch" or not isinstance(self.embedder, SentenceTransformerEmbedder):
            return None  # the export copies the settings' model; a substitute embedder (a test double) embeds questions
        from rag.indexing.query_encoder import make_query_encoder

        s = self.settings
        return make_query_encoder(s.query_encoder, self.embedder, s.cache_folder, s.threads)

    def _bind(self, index: LoadedIndex) -> Snapshot:
        retriever = Retriever(index, self.embedder, self.settings, self.query_encoder)
        return Snapshot(index, retriever, ExtractiveAnswerer(self.settings, index.term_stats))

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._bind(load_current(self.settings))
        return self._snapshot

    @property
    def build_id(self) -> str:
        return self.snapshot.index.build_id

    def reload(self) -> bool:
        """Load the live build if it changed; returns whether a new build was swapped in."""
        live = current_build_id(self.settings.index_dir)
        if live is None or (self._snapshot is not None and live == self._snapshot.index.build_id):
            return False
        fresh = self._bind(load_current(self.settings))
        fresh.index.warm()  # before the swap, so the first requests on the new build stay fast
        with self._lock:
            self._snapshot = fresh
        return True

    def warm_up(self) -> None:
        """Load the model and index, precompute word statistics and run one query, so the first request is fast."""
        self.snapshot.index.warm()
        self.snapshot.retriever.search("warm up", 1)

    def search(self, question: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        cleaned = clean_question(question, self.settings)
        snap = self.snapshot
        passages = snap.retriever.retrieve(cleaned, snap.retriever.embed(cleaned), k, filters)
        return SearchResult(cleaned, tuple(passages), snap.index.build_id)

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None) -> Answer:
        cleaned = clean_question(question, self.settings)
        snap = self.snapshot
        vector = snap.retriever.embed(cleaned)
        passages = snap.retriever.retrieve(cleaned, vector, k, filters)
        allowed = allowed_documents(snap.index, filters)  # a referred document must pass the same filters
        return snap.answerer.answer(cleaned, vector, passages, snap.index, allowed=allowed)

    def original(self, doc_id: str) -> tuple[Document, Path]:
        """A document and the original file its build kept."""
        snap = self.snapshot
        doc = snap.index.documents.get(doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id!r} in build {snap.index.build_id}; list them with GET /v1/documents")
        path = snap.index.original_file(doc_id)
        if path is None:
            raise NotFoundError(f"build {snap.index.build_id} kept no original of {doc_id!r} (built before originals were kept, "
                                "or the file changed during the build); run `rag index build`")
        return doc, path

    def document(self, doc_id: str) -> Document:
        doc = self.snapshot.index.documents.get(doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id!r} in build {self.build_id}; list them with GET /v1/documents")
        return doc
