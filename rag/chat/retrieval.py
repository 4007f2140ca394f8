"""Retrieval for a follow-up: the question alone and its standalone form, ranked apart and mixed.

Owns `context_share` (how much of the conversation a follow-up takes: none for a new topic) and `mix_rankings`:
each candidate's score is `(1 - w) * its score for the question alone + w * its score for the
standalone question + b * the share of the conversation's earlier answers that came from its document`. The
question alone keeps what is new in it first; the standalone question brings back what it leaves unsaid; the
document share keeps a conversation on the policy it is about, and a new question that names another topic still
outranks it. `ContextualRetrieval` runs it over one build. Leaves ranking to `rag.search.retrieval.Retriever.scored`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from rag.answer.extractive import Reading
from rag.chat.context import Context, HistoryRewriter, QuestionRewriter
from rag.config import Settings
from rag.indexing.store import LoadedIndex
from rag.models import Message, Passage
from rag.search.query_terms import question_words
from rag.search.retrieval import Filters, Retriever, allowed_documents

ON_TOPIC_DEPTH = 5  # the question's own top passages checked against the conversation's documents
QUESTION_VECTORS = 4096  # recent questions whose vectors are kept


def context_share(question: str, alone: Sequence[tuple[int, float]], documents: Mapping[str, float], index: LoadedIndex,
                  words: tuple[int, int]) -> float:
    """How much of the conversation a follow-up takes (1: all of `RAG_CONTEXT_WEIGHT` and `RAG_CONTEXT_DOC_BOOST`; 0:
    none, a new topic). All, when any of the question's own top passages lies in a document the earlier answers came
    from; otherwise it falls from 1 to 0 as the question's specific words go from `words[0]` to `words[1]`: a question
    that names its own subject at length, and finds it outside the conversation's documents, starts a new topic
    ("unrelated, what's the mileage rate if I use my own car?"), while a short one ("and tradeledger?") cannot."""
    if any(documents.get(index.chunks[row].doc_id, 0.0) > 0 for row, _ in alone[:ON_TOPIC_DEPTH]):
        return 1.0
    low, high = words
    return min(1.0, max(0.0, (high - len(question_words(question))) / max(1, high - low)))


def mix_rankings(alone: Sequence[tuple[int, float]], contextual: Sequence[tuple[int, float]], weight: float, boost: float,
                 documents: Mapping[str, float], index: LoadedIndex) -> list[tuple[int, float]]:
    """(chunk row, mixed score), best first, over the candidates of both rankings."""
    scores = {row: (1.0 - weight) * score for row, score in alone}
    for row, score in contextual:
        scores[row] = scores.get(row, 0.0) + weight * score
    if boost and documents:
        for row in scores:
            scores[row] += boost * documents.get(index.chunks[row].doc_id, 0.0)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class Retrieved:
    """What answering needs from retrieval: the passages, and the standalone reading of a follow-up (None for a first
    turn) whose sentence scores the answer mixes in at the share the conversation earned."""

    passages: list[Passage]
    reading: Reading | None = None


class VectorCache:
    """Vectors of the questions embedded lately (least recently used dropped), so a follow-up's earlier turns, asked
    moments before, are not embedded again. Thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in found:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = dict(zip(missing, embed(missing)))
            found.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return [found[t] for t in texts]

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


class ContextualRetrieval:
    """Passages for a question in its conversation, over one build: ranked as usual for a first turn; for a follow-up,
    the question alone and its standalone form are ranked apart and mixed (`mix_rankings`)."""

    def __init__(self, retriever: Retriever, settings: Settings, rewriter: QuestionRewriter | None = None) -> None:
        self.retriever = retriever
        self.settings = settings
        self.rewriter: QuestionRewriter = rewriter or HistoryRewriter(settings)
        self.vector_cache = VectorCache(QUESTION_VECTORS)

    def context(self, question: str, history: Sequence[Message]) -> Context:
        return self.rewriter.rewrite(question, history, self.retriever.index)

    def vectors(self, context: Context) -> tuple[np.ndarray, np.ndarray | None]:
        """The question's vector and, for a follow-up, the standalone question's. `RAG_CONTEXT_VECTOR=mixed`: the
        question's vector plus each earlier turn's, each further back weighing `RAG_CONTEXT_DECAY` times the next (the
        earlier questions' vectors are kept from when they were asked, so this costs no model call); `joint`: the
        question and the latest earlier turn embedded together (one more text in the call). A standalone question a
        model wrote is embedded as it is."""
        embed = self.retriever.embed_all
        if not context.follow_up:
            return self.vector_cache.vectors([context.question], embed)[0], None
        if not context.turns:
            question, standalone = self.vector_cache.vectors([context.question, context.text], embed)
            return question, standalone
        if self.settings.context_vector == "joint":
            question, standalone = self.vector_cache.vectors([context.question, f"{context.question} {context.turns[0]}"], embed)
            return question, standalone
        vectors = self.vector_cache.vectors([context.question, *context.turns], embed)
        weights = np.array([self.settings.context_decay ** i for i in range(len(vectors))], dtype=np.float32)
        mixed = weights @ np.stack(vectors)
        return vectors[0], mixed / (np.linalg.norm(mixed) or 1.0)

    def retrieve(self, context: Context, vectors: tuple[np.ndarray, np.ndarray | None], k: int | None,
                 filters: Filters | None) -> Retrieved:
        """The top `k` passages and, for a follow-up, the standalone reading the answer mixes in with its share."""
        vector, standalone = vectors
        if standalone is None:
            return Retrieved(self.retriever.retrieve(context.question, vector, k, filters))
        k = self.retriever.checked_k(k)
        doc_ids = allowed_documents(self.retriever.index, filters)
        depth = max(k, self.settings.candidates)
        alone = self.retriever.scored(context.question, vector, depth, doc_ids)
        contextual = self.retriever.scored(context.text, standalone, depth, doc_ids)
        s = self.settings
        share = context_share(context.question, alone, context.documents, self.retriever.index,
                              (s.context_topic_words // 2, s.context_topic_words))
        mixed = mix_rankings(alone, contextual, share * s.context_weight, share * s.context_doc_boost, context.documents,
                             self.retriever.index)
        reading = Reading(context.text, standalone, share * s.context_weight)
        return Retrieved(self.retriever.passages(mixed, vector, k), reading)
