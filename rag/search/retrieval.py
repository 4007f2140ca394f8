"""Retrieval: a question in, ranked passages out.

Owns validating the question, turning document-id and metadata filters into
the set of searchable documents, and ranking chunks: dense (cosine over the
FAISS index), lexical (BM25) or both fused (`rag.search.fusion`), then reranked
(`rag.search.rerank`: references the question names, best sentence by cosine and word coverage). Every
passage also carries its exact dense cosine, the scale the answerer calibrates
on. Leaves out answer composition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Mapping, Protocol, Sequence

import numpy as np

from rag.config import Settings
from rag.errors import InvalidRequestError
from rag.indexing.embedding import Embedder
from rag.indexing.store import LoadedIndex
from rag.lifecycle.versions import BuildLifecycle
from rag.models import Access, Passage
from rag.search.fusion import convex_fusion, reciprocal_rank_fusion
from rag.search.query_terms import question_words
from rag.search.amounts import Interval, build_currency, intervals, question_intervals
from rag.search.references import Reference, extract_references
from rag.search.rerank import RerankConfig, boost_amounts, boost_references, normalised, sentence_rerank


class QueryEncoder(Protocol):
    """What embeds questions when it is not the embedder (`rag.indexing.query_encoder`)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


SHORT_QUESTION_WORDS, LONG_QUESTION_WORDS = 6, 11  # specific words (rag.search.query_terms.question_words) where fusion weights apply
LIST_KEYS = frozenset({"tags", "keywords", "categories"})  # metadata keys whose values are comma-separated lists


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to documents by id and/or exact metadata values, within what `access` may read (None: every
    document). Every path that retrieves or quotes goes through `allowed_documents`, so a scope set here holds for
    search, answers, follow-ups and the documents an answer refers to."""

    doc_ids: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    access: Access | None = None
    as_of: date | None = None  # the day whose versions answer (None: today); see `rag.lifecycle.versions`

    @property
    def empty(self) -> bool:
        return not self.doc_ids and not self.metadata and (self.access is None or self.access.groups is None)


def scoped(filters: Filters | None, access: Access | None) -> Filters | None:
    """`filters` restricted to what `access` may read."""
    if access is None or access.groups is None:
        return filters
    return replace(filters or Filters(), access=access)


def on_day(filters: Filters | None, settings: Settings) -> Filters:
    """`filters` with the day whose versions answer: their `as_of`, else the settings' today (`RAG_TODAY`)."""
    filters = filters or Filters()
    return filters if filters.as_of is not None else replace(filters, as_of=settings.day())


def parse_day(text: object, name: str = "as_of") -> date:
    """A day written YYYY-MM-DD, or `InvalidRequestError` saying how to write it."""
    if isinstance(text, date):
        return text
    if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise InvalidRequestError(f"{name} {text!r} is not a date: write it YYYY-MM-DD, e.g. 2024-06-01")


def clean_question(question: str, settings: Settings) -> str:
    """The question stripped, or `InvalidRequestError` saying how to fix it."""
    if not isinstance(question, str):
        raise InvalidRequestError("question must be a string")
    cleaned = " ".join(question.split())
    if not cleaned:
        raise InvalidRequestError("question is empty: ask about the documents, e.g. 'How long are payroll records kept?'")
    if len(cleaned) > settings.max_question_chars:
        raise InvalidRequestError(
            f"question is {len(cleaned)} characters; the limit is {settings.max_question_chars} "
            "(RAG_MAX_QUESTION_CHARS): shorten it to the point you want answered"
        )
    return cleaned


def allowed_documents(index: LoadedIndex, filters: Filters | None) -> list[str] | None:
    """Document ids the filters allow (None: no restriction; empty: none, and retrieval then finds nothing). A
    document id that does not exist, or that the access may not read, matches nothing, exactly alike, so a
    document's existence does not leak and every schema-valid filter is answered. Only the versions in force on the
    filters' day (`as_of`, else today) pass: a superseded copy answers only questions about a day it was in force."""
    lifecycle = BuildLifecycle.of(index)
    out = lifecycle.out_of_force(filters.as_of if filters is not None and filters.as_of else date.today())
    scope = scope_documents(index, filters)
    return lifecycle.in_force(out, index.documents) if scope is None else [d for d in scope if d not in out]


def scope_documents(index: LoadedIndex, filters: Filters | None) -> list[str] | None:
    """Document ids the access, ids and metadata of the filters allow, whatever their versions (None: every one)."""
    if filters is None or filters.empty:
        return None
    visible = index.visible(filters.access)
    readable = index.documents if visible is None else dict.fromkeys(visible)
    candidates = [d for d in filters.doc_ids if d in readable] if filters.doc_ids else list(readable)
    return [d for d in candidates if _metadata_matches(index.documents[d].metadata, filters.metadata)]


def _metadata_matches(metadata: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Every wanted key matches, case-insensitively, the whole value or, for a list key ('tags: a, b'), one item."""
    def matches(key: str, value: str, target: str) -> bool:
        value, target = value.casefold().strip(), target.casefold().strip()
        return value == target or key in LIST_KEYS and target in (item.strip() for item in value.split(","))

    return all(matches(k, str(metadata.get(k, "")), str(v)) for k, v in wanted.items())


class Retriever:
    """Dense, lexical or hybrid retrieval over one loaded build (`RAG_RETRIEVAL`)."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, settings: Settings, query_encoder: QueryEncoder | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.query_encoder = query_encoder  # embeds questions instead of the embedder (`RAG_QUERY_ENCODER`)
        self._ranges: dict[int, list[Interval]] = {}  # amounts and ranges each chunk states, read once per build

    def search(self, question: str, k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        cleaned = clean_question(question, self.settings)
        return self.retrieve(cleaned, self.embed(cleaned), k, filters)

    def embed(self, question: str) -> np.ndarray:
        """The unit vector of an already cleaned question."""
        return (self.query_encoder or self.embedder).encode([question])[0]

    def embed_all(self, questions: Sequence[str]) -> np.ndarray:
        """Unit vectors of several cleaned questions, in one model call."""
        return (self.query_encoder or self.embedder).encode(list(questions))

    def retrieve(self, question: str, vector: np.ndarray, k: int | None = None, filters: Filters | None = None) -> list[Passage]:
        """Top-k passages for a cleaned question and its vector."""
        k = self.checked_k(k)
        allowed = allowed_documents(self.index, on_day(filters, self.settings))
        return self.passages(self.scored(question, vector, max(k, self.settings.candidates), allowed),
                             vector, k)

    def scored(self, question: str, vector: np.ndarray, depth: int, doc_ids: list[str] | None) -> list[tuple[int, float]]:
        """(chunk row, score) of the candidates, fused and reranked, best first (the best scores 1 before reranking)."""
        return self._reranked(question, vector, self._ranked(question, vector, depth, doc_ids), doc_ids)

    def passages(self, ranked: Sequence[tuple[int, float]], vector: np.ndarray, k: int) -> list[Passage]:
        """The top `k` of a ranking as passages, each with its cosine to `vector`."""
        top = list(ranked[:k])
        dense = self.index.cosines(vector, [row for row, _ in top])
        return [Passage(self.index.chunks[row], score, rank, float(cos)) for rank, ((row, score), cos) in enumerate(zip(top, dense), 1)]

    def _ranked(self, question: str, vector: np.ndarray, depth: int, doc_ids: list[str] | None) -> list[tuple[int, float]]:
        method = self.settings.retrieval
        dense = self.index.search(vector, depth, doc_ids) if method != "lexical" else []
        if method == "dense":
            return dense
        rows = self.index.rows_of(doc_ids) if doc_ids is not None else None
        lexical = self.index.lexical.search(question, depth, rows)
        if method == "lexical":
            return lexical
        alpha = self.dense_weight(question)
        if self.settings.fusion == "convex":
            return convex_fusion(dense, lexical, alpha)
        return reciprocal_rank_fusion([dense, lexical], (alpha, 1.0 - alpha), self.settings.rrf_k)

    def dense_weight(self, question: str) -> float:
        """The dense list's share in fusion: `RAG_DENSE_WEIGHT` for a question of up to 6 specific words, moving
        linearly to `RAG_DENSE_WEIGHT_LONG` at 11 words or more: a long question carries more exact terms, which BM25
        matches better (measured on all three dev sets)."""
        short, long = self.settings.dense_weight, self.settings.dense_weight_long
        share = min(1.0, max(0.0, (len(question_words(question)) - SHORT_QUESTION_WORDS) / (LONG_QUESTION_WORDS - SHORT_QUESTION_WORDS)))
        return short + share * (long - short)

    def _reranked(self, question: str, vector: np.ndarray, ranked: list[tuple[int, float]],
                  doc_ids: list[str] | None = None) -> list[tuple[int, float]]:
        s = self.settings
        config = RerankConfig(s.rerank_weight, s.rerank_depth, s.reference_boost, s.term_boost)
        shares = self.index.term_stats.shares(question_words(question)) if s.rerank_coverage > 0 else {}
        out = normalised(ranked)
        references = extract_references(question)
        if references and config.number_boost > 0:
            out = self._with_named_clauses(out, references, vector, doc_ids)
        if references and (config.number_boost > 0 or config.term_boost > 0):
            out = boost_references(out, references, self._passage_text, config)
        out = boost_amounts(out, question_intervals(question, build_currency(self.index)), self._chunk_ranges, s.amount_boost,
                            s.rerank_depth)
        return sentence_rerank(out, lambda row: self._best_sentence(vector, shares, row), config)

    def _with_named_clauses(self, ranked: list[tuple[int, float]], references: Sequence[Reference], vector: np.ndarray,
                            doc_ids: list[str] | None) -> list[tuple[int, float]]:
        """Add the chunks holding a clause number the question names that neither retriever brought back, scored by
        their cosine relative to the best candidate's, so the reference boost can lift them."""
        numbers = [ref.label for ref in references if ref.kind == "number"]
        extra = self.index.rows_holding_clauses(numbers, doc_ids, exclude=(row for row, _ in ranked))
        if not extra or not ranked:
            return ranked
        best = float(self.index.cosines(vector, [ranked[0][0]])[0]) or 1.0
        cosines = self.index.cosines(vector, extra)
        return ranked + [(row, max(0.0, float(c) / best) * ranked[0][1]) for row, c in zip(extra, cosines)]

    def _chunk_ranges(self, row: int) -> list[Interval]:
        """The amounts and ranges chunk `row` states (with its section path), parsed on first use."""
        if row not in self._ranges:
            self._ranges[row] = intervals(self._passage_text(row))
        return self._ranges[row]

    def _passage_text(self, row: int) -> str:
        chunk = self.index.chunks[row]
        return "\n".join(chunk.section) + "\n" + chunk.text  # one line per path element: '6.4' there defines the clause

    def _best_sentence(self, vector: np.ndarray, shares: Mapping[str, float], row: int) -> float:
        """Best score of one of the chunk's quotable sentences (0 if it has none): its cosine to the question, mixed
        with the IDF-weighted share of the question's words it holds (`shares`, see `TermStats.shares`;
        `RAG_RERANK_COVERAGE`)."""
        rows = self.index.chunk_sentence_rows(row)
        if not len(rows):
            return 0.0
        cosines = self.index.sentences.vectors[rows] @ vector
        weight = self.settings.rerank_coverage
        if weight <= 0 or not shares:
            return float(cosines.max())
        coverage = np.array([sum(shares[w] for w in shares.keys() & self.index.sentence_words(int(r))) for r in rows],
                            dtype=np.float32)
        return float(((1 - weight) * cosines + weight * coverage).max())

    def checked_k(self, k: int | None) -> int:
        k = self.settings.top_k if k is None else k
        if not isinstance(k, int) or k < 1 or k > self.settings.max_top_k:
            raise InvalidRequestError(f"k must be between 1 and {self.settings.max_top_k} (RAG_MAX_TOP_K), got {k!r}")
        return k
