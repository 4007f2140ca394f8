"""The conversation a follow-up needs: its standalone form and the documents earlier answers cited, without an LLM.

Owns `build_context`: for a question with history, the standalone question is the question followed by the last
`RAG_CONTEXT_TURNS` earlier user turns (and `RAG_CONTEXT_ANSWERS` earlier answers, markers stripped), most recent
first, so that a long conversation cut to the model's window loses its oldest turns, never the question; the
conversation's documents are where the earlier answers came from (their citations when the history carries them, as
a stored conversation's does; else the document whose passage best matches the answer's words, by BM25), weighted
by recency (each answer further back counts `RAG_CONTEXT_DECAY` times the next). Leaves mixing the rankings to
`rag.chat.retrieval` and deciding how much the context weighs to the caller's settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from rag.config import Settings
from rag.indexing.store import LoadedIndex
from rag.models import Message

_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class ContextConfig:
    """How much of the conversation the standalone question carries."""

    user_turns: int  # earlier user turns added after the question (most recent first)
    answers: int  # earlier answers added after them (most recent first)
    decay: float  # weight of each earlier answer's documents relative to the next one's


@dataclass(frozen=True)
class Context:
    """A question in the light of its conversation: what retrieval searches for besides the question itself."""

    question: str
    text: str  # the standalone question (the question itself for a first turn)
    documents: Mapping[str, float] = field(default_factory=dict)  # doc_id -> share of the earlier answers located there
    turns: tuple[str, ...] = ()  # the earlier user turns in `text`, most recent first (empty when a model wrote `text`)

    @property
    def follow_up(self) -> bool:
        return self.text != self.question


def build_context(question: str, history: Sequence[Message], index: LoadedIndex, config: ContextConfig) -> Context:
    """The standalone question and the conversation's documents for `question` after `history` (oldest first)."""
    users = [m.content for m in history if m.role == "user"]
    answers = [m for m in history if m.role == "assistant"]
    turns = tuple(" ".join(u.split()) for u in users[::-1][: config.user_turns])
    parts = [*turns, *(_MARKER.sub("", m.content) for m in answers[::-1][: config.answers])]
    text = " ".join(" ".join([question, *parts]).split())
    return Context(question, text, answer_documents(answers, index, config.decay), turns if not config.answers else ())


def answer_documents(answers: Sequence[Message], index: LoadedIndex, decay: float) -> dict[str, float]:
    """doc_id -> recency-weighted share of the earlier answers that came from it (shares sum to 1)."""
    weights: dict[str, float] = {}
    for back, message in enumerate(reversed(answers)):
        located = cited_documents(message, index)
        for doc_id, share in located.items():
            weights[doc_id] = weights.get(doc_id, 0.0) + share * decay**back
    total = sum(weights.values())
    return {doc_id: w / total for doc_id, w in weights.items()} if total > 0 else {}


def cited_documents(message: Message, index: LoadedIndex) -> dict[str, float]:
    """Where one answer came from: its citations' documents (shares by count), else the document of the passage that
    best matches its words (an answer written elsewhere, or one that kept no citations)."""
    cited = [c.doc_id for c in message.citations if c.doc_id in index.documents]
    if cited:
        return {doc_id: cited.count(doc_id) / len(cited) for doc_id in set(cited)}
    best = index.lexical.search(_MARKER.sub("", message.content), 1)
    return {index.chunks[best[0][0]].doc_id: 1.0} if best else {}


class QuestionRewriter(Protocol):
    """What turns a follow-up into the standalone question retrieval searches for. `HistoryRewriter` does it without a
    model; an LLM rewrite (the generative backends) returns a `Context` whose `text` is the question it wrote."""

    def rewrite(self, question: str, history: Sequence[Message], index: LoadedIndex) -> Context: ...


class HistoryRewriter:
    """The standalone question from the earlier turns themselves (`build_context`), as the settings say."""

    def __init__(self, settings: Settings) -> None:
        self.config = ContextConfig(settings.context_turns, settings.context_answers, settings.context_decay)

    def rewrite(self, question: str, history: Sequence[Message], index: LoadedIndex) -> Context:
        return build_context(question, history, index, self.config) if history else Context(question, question)
