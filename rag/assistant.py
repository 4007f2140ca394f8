"""The facade the CLI, the server and the eval harness use.

Owns holding one embedding model and the live index build, answering `search`,
`ask` (a question, with the conversation before it if any), `stream` (the same
answer as events, text first) and `document` against a consistent snapshot of
that build, stored conversations (`conversations`, `reply`), feedback on their
answers (`feedback`, `rate`), the answer backend the settings choose
(`RAG_ANSWERER`: extractive, or a language model through `rag.generate`, with
its rewrite of follow-ups), and swapping in a newly promoted build (`reload`)
without disturbing requests in flight: each call takes the current snapshot once
at its start and finishes on it. A server
asks for `batch_questions`: concurrent questions are then embedded together
(`rag.indexing.query_encoder.MicroBatcher`). `observe`, when set, hears the
seconds each step of a question took (embedding, retrieval, answering). Every entry point takes an `Access` (who
asks, which document groups they may read): retrieval, quotes of referred documents and document reads stay
within it, a document outside it is "not found" exactly like a missing one, and when `audit` is set every call that
returns document content is recorded there (`rag.access.audit`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from rag.access.audit import AuditLog, AuditRecord
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.late import LateReader
from rag.answer.reader import Reader, tuned_folder
from rag.chat.feedback import FeedbackStore
from rag.chat.history import checked_history, latest_within
from rag.chat.retrieval import ContextualRetrieval
from rag.chat.context import QuestionRewriter
from rag.chat.store import ConversationStore
from rag.chat.streaming import AnswerBackend, AnswerEvent, Completed, ExtractiveBackend, final_answer
from rag.config import Settings
from rag.errors import NotFoundError
from rag.generate.backend import GenerativeBackend
from rag.generate.client import ChatClient
from rag.generate.rewrite import ModelRewriter
from rag.indexing.builds import current_build_id, load_current
from rag.indexing.embedding import Embedder, SentenceTransformerEmbedder, make_embedder
from rag.indexing.query_encoder import token_reader
from rag.indexing.store import LoadedIndex
from rag.models import Access, Answer, Document, Feedback, Message, Passage, SearchResult, Turn
from rag.lifecycle.notes import with_notes
from rag.search.amounts import build_currency
from rag.search.retrieval import Filters, QueryEncoder, Retriever, allowed_documents, clean_question, on_day, scoped
from rag.search.spelling import Speller, model_words


@dataclass(frozen=True)
class Snapshot:
    """One loaded build and the components bound to it."""

    index: LoadedIndex
    retriever: Retriever
    answerer: ExtractiveAnswerer
    chat: ContextualRetrieval  # a question in its conversation -> passages
    backend: AnswerBackend  # passages -> the answer, streamed
    speller: Speller | None = None  # misspelt question words -> the build's words (None: RAG_SPELLING=off)

    def respelt(self, question: str) -> str:
        """The question as searched and answered: its misspelt words read as this build's words."""
        return self.speller.read(question).text if self.speller is not None else question


Observer = Callable[[str, float], None]
CLOSED_EARLY = 499  # the audit status of a stream its caller left before the answer was complete
History = Sequence[Message | Mapping[str, Any]]


class Assistant:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, index: LoadedIndex | None = None,
                 batch_questions: bool = False) -> None:
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.RLock()
        self._question_models: dict[str, tuple[Embedder, QueryEncoder | None]] = {}
        self._readers: dict[str, Reader | None] = {}
        self.batch_questions = batch_questions
        self.observe: Observer | None = None  # (step, seconds) of each question, for metrics
        self.observe_batch: Callable[[int], None] | None = None  # size of each micro-batch of questions
        self.audit: AuditLog | None = None  # where calls that return document content are recorded
        self._snapshot: Snapshot | None = self._bind(index) if index is not None else None

    @property
    def embedder(self) -> Embedder:
        """The model that embeds questions for builds made with the settings' adapter (see `_models`)."""
        from rag.indexing.adapters import resolve_adapter

        return self._models(resolve_adapter(self.settings.adapter, self.settings.index_dir))[0]

    @property
    def query_encoder(self) -> QueryEncoder | None:
        return self._models(self._live_adapter())[1]

    def _live_adapter(self) -> str:
        from rag.indexing.adapters import resolve_adapter

        snap = self._snapshot
        return snap.index.manifest["model"].get("adapter_path", "") if snap else resolve_adapter(self.settings.adapter, self.settings.index_dir)

    def _models(self, adapter: str) -> tuple[Embedder, QueryEncoder | None]:
        """The question embedder and encoder for builds made with the adapter folder `adapter` ("" for none), made once
        each: the embedder given (a build's ONNX passage encoder gives the torch model it was exported from), else the
        settings' model with that adapter, so a build promoted by `rag tune` gets its questions embedded as its passages."""
        key = "given" if self._embedder is not None else adapter
        with self._lock:
            if key not in self._question_models:
                given = self._embedder
                if given is not None:
                    embedder = getattr(given, "source", given)
                else:
                    s = self.settings
                    embedder = make_embedder(s.model, s.device, s.threads, "query", adapter, s.cache_folder)
                self._question_models[key] = (embedder, self._encoder_for(embedder))
            return self._question_models[key]

    def _encoder_for(self, embedder: Embedder) -> QueryEncoder | None:
        """The ONNX question encoder when `RAG_QUERY_ENCODER` chooses one (exported on first use), wrapped in a
        micro-batcher when questions are batched; else None (the embedder embeds questions)."""
        from rag.indexing.query_encoder import MicroBatcher, make_query_encoder

        s = self.settings
        encoder: QueryEncoder | None = None
        if s.query_encoder != "torch" and isinstance(embedder, SentenceTransformerEmbedder):
            encoder = make_query_encoder(s.query_encoder, embedder, s.cache_folder, s.threads)
        # otherwise the embedder embeds questions: the torch choice, or a substitute embedder (a test double)
        if self.batch_questions and s.question_batch > 1:
            return MicroBatcher(encoder or embedder, s.question_batch, lambda n: self.observe_batch and self.observe_batch(n))
        return encoder

    @property
    def reader(self) -> Reader | None:
        """The reader answering with the live build, loading it (None: off, or none ships); see `reader_for`."""
        return self.snapshot.answerer.reader

    def reader_for(self, manifest: Mapping[str, Any]) -> Reader | None:
        """The reader `RAG_READER` names, or, left empty, the tuned one a build was gated with (`rag tune --reader`),
        loaded once per folder and shared by every build that names it."""
        tuned = tuned_folder(dict(manifest))
        with self._lock:
            if tuned not in self._readers:
                self._readers[tuned] = Reader.from_settings(self.settings, tuned)
            return self._readers[tuned]

    def _bind(self, index: LoadedIndex) -> Snapshot:
        embedder, encoder = self._models(index.manifest.get("model", {}).get("adapter_path", ""))
        retriever = Retriever(index, embedder, self.settings, encoder)
        late = LateReader.for_index(self.settings, token_reader(encoder, embedder), index)
        answerer = ExtractiveAnswerer(self.settings, index.term_stats, reader=self.reader_for(index.manifest), late=late)
        backend, rewriter = self._answering(answerer, retriever)
        speller = None
        if self.settings.spelling:  # the build's words, counted on first use; the model's whole words, if it has a vocabulary
            speller = Speller(lambda: (c.text for c in index.chunks), model_words(getattr(embedder, "path", None)))
        return Snapshot(index, retriever, answerer, ContextualRetrieval(retriever, self.settings, rewriter), backend, speller)

    def _answering(self, answerer: ExtractiveAnswerer, retriever: Retriever) -> tuple[AnswerBackend, QuestionRewriter | None]:
        """The answer backend `RAG_ANSWERER` chooses, and the model rewrite of follow-ups when `RAG_LLM_REWRITE` asks
        for it (None: the rewrite without a model)."""
        s = self.settings
        if s.answerer != "openai":
            return ExtractiveBackend(answerer), None
        rewriter = ModelRewriter(self.llm_client, s) if s.llm_rewrite else None
        return GenerativeBackend(answerer, self.llm_client, s, retriever.embed_all), rewriter

    @cached_property
    def llm_client(self) -> ChatClient:
        """The client of the language model server (RAG_ANSWERER=openai), one connection pool for every build."""
        return ChatClient.from_settings(self.settings)

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
        build_currency(self.snapshot.index)  # the documents' amounts are read once per build (about 0.1 s per MB of text)
        if self.snapshot.answerer.late is not None:
            self.snapshot.answerer.late.warm()
        if self.snapshot.speller is not None:
            self.snapshot.speller.warm()

    def loaded_snapshot(self) -> Snapshot | None:
        """The snapshot being served, without loading one (None before the first load)."""
        return self._snapshot

    def _timed(self, step: str, started: float) -> float:
        now = time.perf_counter()
        if self.observe is not None:
            self.observe(step, now - started)
        return now

    def _record(self, access: Access | None, build_id: str, documents: Sequence[str], chunks: Sequence[str] = (),
                question: str | None = None, conversation_id: str | None = None, backend: str = "", status: int = 200) -> None:
        if self.audit is not None:
            who = access or Access()
            self.audit.record(AuditRecord(who.name, who.route, build_id, tuple(dict.fromkeys(documents)), tuple(chunks),
                                          question, conversation_id, backend, status))

    def search(self, question: str, k: int | None = None, filters: Filters | None = None,
               access: Access | None = None) -> SearchResult:
        cleaned = clean_question(question, self.settings)
        snap = self.snapshot
        started = time.perf_counter()
        searched = snap.respelt(cleaned)
        vector = snap.retriever.embed(searched)
        started = self._timed("embedding", started)
        passages = snap.retriever.retrieve(searched, vector, k, on_day(scoped(filters, access), self.settings))
        self._timed("retrieval", started)
        self._record(access, snap.index.build_id, [p.chunk.doc_id for p in passages], [p.chunk.chunk_id for p in passages], cleaned)
        return SearchResult(cleaned, tuple(passages), snap.index.build_id)

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None, history: History | None = None,
            access: Access | None = None) -> Answer:
        """The answer to `question`, asked after `history` (the conversation so far, oldest first) if given."""
        return final_answer(self.stream(question, k, filters, history, access))

    def stream(self, question: str, k: int | None = None, filters: Filters | None = None,
               history: History | None = None, access: Access | None = None, conversation_id: str | None = None) -> Iterator[AnswerEvent]:
        """Check the request and retrieve now (errors are raised here), then return the answer's events: its text
        piece by piece, then the whole `Answer`. A caller that stops iterating stops the answering. The versions in
        force on the filters' `as_of` day (else today) answer, and the answer carries notes on what it cites."""
        filters = on_day(scoped(filters, access), self.settings)
        cleaned = clean_question(question, self.settings)
        messages = checked_history(history, self.settings)
        snap = self.snapshot
        started = time.perf_counter()
        asked = snap.respelt(cleaned)  # searched and answered as read; the answer keeps the question as typed
        context = snap.chat.context(asked, messages)
        vectors = snap.chat.vectors(context)
        started = self._timed("embedding", started)
        found = snap.chat.retrieve(context, vectors, k, filters)
        started = self._timed("retrieval", started)
        allowed = allowed_documents(snap.index, filters)  # a referred document must pass the same filters
        events = snap.backend.stream(asked, vectors[0], found.passages, snap.index, allowed=allowed, reading=found.reading,
                                     history=messages)
        backend = snap.backend.name

        def record(passages: Sequence[Passage], cited: Sequence[str] = (), status: int = 200) -> None:
            self._record(access, snap.index.build_id, [*cited, *(p.chunk.doc_id for p in passages)],
                         [p.chunk.chunk_id for p in passages], cleaned, conversation_id, backend, status)

        day = filters.as_of or self.settings.day()

        def complete(answer: Answer) -> Answer:
            answer = replace(answer, question=cleaned, standalone_question=context.text, as_of=day.isoformat())
            return with_notes(answer, snap.index, day, self.settings.day(), allowed)

        return self._finished(events, complete, started, lambda answer: record(answer.passages, [c.doc_id for c in answer.citations]),
                              lambda: record(found.passages, status=CLOSED_EARLY))

    def _finished(self, events: Iterator[AnswerEvent], complete: Callable[[Answer], Answer], started: float,
                  done: Callable[[Answer], None], cut: Callable[[], None]) -> Iterator[AnswerEvent]:
        """The events, the answer completed by `complete` (the standalone question, the day, the notes); `done` hears
        the answer, `cut` a stream that some text left before its caller stopped (what the backend was given is what
        it may have shown)."""
        completed = sent = False
        try:
            for event in events:
                if isinstance(event, Completed):
                    self._timed("answering", started)
                    event = Completed(complete(event.answer))
                    done(event.answer)
                    completed = True
                sent = True
                yield event
        finally:
            if sent and not completed:
                cut()

    @cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.settings)

    def reply(self, owner: str, conversation_id: str, question: str, k: int | None = None,
              filters: Filters | None = None, access: Access | None = None) -> Iterator[AnswerEvent | Turn]:
        """Answer the next question of a stored conversation (its turns are the history) and record the turn: the
        answer's events, then the stored `Turn`. Nothing is recorded when the caller stops before the end."""
        store = self.conversations
        store.check_room(owner, conversation_id)
        history = latest_within(store.get(owner, conversation_id).history(), self.settings)
        events = self.stream(question, k, filters, history, access, conversation_id)
        return self._recorded(events, owner, conversation_id)

    def _recorded(self, events: Iterator[AnswerEvent], owner: str, conversation_id: str) -> Iterator[AnswerEvent | Turn]:
        for event in events:
            yield event
            if isinstance(event, Completed):
                yield self.conversations.append(owner, conversation_id, event.answer.question, event.answer)

    @cached_property
    def feedback(self) -> FeedbackStore:
        return FeedbackStore(self.settings)

    def rate(self, owner: str, conversation_id: str, turn: int, rating: str, comment: str = "") -> Feedback:
        """Record the owner's thumbs up or down (and comment) on one turn of their stored conversation."""
        self.feedback.checked(rating, comment)  # a bad rating or comment is refused before anything is read
        return self.feedback.rate(self.conversations.get(owner, conversation_id), turn, rating, comment)

    def documents(self, access: Access | None = None) -> list[Document]:
        """The live build's documents that `access` may read."""
        index = self.snapshot.index
        visible = index.visible(access)
        return list(index.documents.values()) if visible is None else [index.documents[d] for d in visible]

    def _readable(self, doc_id: str, access: Access | None) -> Document:
        """A document `access` may read; one it may not is not found, with the very message of a missing one."""
        index = self.snapshot.index
        doc = index.documents.get(doc_id)
        if doc is None or not (access is None or access.sees(index.groups_of(doc_id))):
            raise NotFoundError(f"no document {doc_id!r} in build {index.build_id}; list them with GET /v1/documents")
        return doc

    def original(self, doc_id: str, access: Access | None = None) -> tuple[Document, Path]:
        """A document and the original file its build kept."""
        snap = self.snapshot
        doc = self._readable(doc_id, access)
        path = snap.index.original_file(doc_id)
        if path is None:
            raise NotFoundError(f"build {snap.index.build_id} kept no original of {doc_id!r} (built before originals were kept, "
                                "or the file changed during the build); run `rag index build`")
        self._record(access, snap.index.build_id, [doc_id])
        return doc, path

    def document(self, doc_id: str, access: Access | None = None) -> Document:
        doc = self._readable(doc_id, access)
        self._record(access, self.build_id, [doc_id])
        return doc
