"""Extractive, grounded answers: quote the sentences that answer, or abstain.

Owns choosing answer sentences from retrieved passages and composing the
`Answer`: each candidate sentence is scored by its embedding similarity to the
question, by how much of the question's specific vocabulary (IDF-weighted over
the index) it covers, and by its passage's retrieval score. The best sentences
are quoted with `[n]` markers whose citations give the exact character span.
When the best score is under the calibrated threshold the answer abstains and
returns the closest passages instead. No generative model is involved.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from rag.config import Settings
from rag.embedding import Embedder
from rag.index import LoadedIndex
from rag.models import Answer, Citation, Passage, section_label
from rag.text import content_words, sentence_spans, table_cells, table_header

ABSTAIN_TEXT = "The documents do not answer this question. The closest passages are listed below; check them or rephrase."
WEIGHTS = {"dense": 0.45, "coverage": 0.35, "passage": 0.20, "quantity": 0.05}
_QUANTITY_QUESTION = re.compile(
    r"\b(how (many|much|long|often|soon|quickly|far|old)|within how|what (percentage|proportion|date)|when\b|"
    r"(maximum|minimum|limit|deadline|threshold|cap|period|rate|fee|amount|value)\b)",
    re.IGNORECASE,
)
QUESTION_FILLER = frozenset(
    content_words("say says said tell explain describe mean means happen happens need needs get want know please many much "
                  "our us organisation organization company group document documents rule rules state states")
)
_MIN_WORDS = 3


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage, scored against the question."""

    doc_id: str
    start: int
    end: int
    passage: Passage
    dense: float
    coverage: float
    score: float
    text: str = ""


class TermStats:
    """Inverse document frequencies of stemmed content words over a build's chunks."""

    def __init__(self, texts: Sequence[str]) -> None:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(content_words(text)))
        self.n = max(1, len(texts))
        self.df = df

    def idf(self, word: str) -> float:
        return math.log(1 + (self.n - self.df.get(word, 0) + 0.5) / (self.df.get(word, 0) + 0.5))

    def coverage(self, question_words: set[str], sentence_words: set[str]) -> float:
        """IDF-weighted share of the question's words that the sentence contains."""
        total = sum(self.idf(w) for w in question_words)
        return sum(self.idf(w) for w in question_words & sentence_words) / total if total else 0.0


def display_text(raw: str) -> str:
    """A quoted sentence made readable: Markdown list/heading/table marks removed, spaces collapsed."""
    text = re.sub(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|>\s+)", "", raw)
    if text.lstrip().startswith("|"):
        text = " | ".join(table_cells(text))
    text = re.sub(r"\*\*|__|`", "", text)
    return " ".join(text.split())


def sentence_display(text: str, start: int, end: int) -> str:
    """Display text of a sentence; a table row is labelled with its header cells ('Period: 6 years; ...')."""
    header = table_header(text, start)
    if header is None:
        return display_text(text[start:end])
    cells = table_cells(text[start:end])
    if len(cells) != len(header):
        return display_text(text[start:end])
    return "; ".join(f"{display_text(h)}: {display_text(c)}" if h else display_text(c) for h, c in zip(header, cells))


def expects_quantity(question: str) -> bool:
    """Questions asking for a number, period, date or limit."""
    return bool(_QUANTITY_QUESTION.search(question))


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, settings: Settings, stats: TermStats) -> None:
        self.embedder = embedder
        self.settings = settings
        self.stats = stats

    def candidates(self, question: str, passages: Sequence[Passage], index: LoadedIndex) -> list[Candidate]:
        spans = _sentence_candidates(passages, index)
        if not spans:
            return []
        texts = [sentence_display(index.documents[p.chunk.doc_id].text, a, b) for p, a, b in spans]
        vectors = self.embedder.encode([question] + texts)
        dense = vectors[1:] @ vectors[0]
        q_words = set(content_words(question)) - QUESTION_FILLER
        quantity = expects_quantity(question)
        out = []
        for (passage, a, b), text, sim in zip(spans, texts, dense):
            coverage = self.stats.coverage(q_words, set(content_words(text)))
            score = WEIGHTS["dense"] * float(sim) + WEIGHTS["coverage"] * coverage + WEIGHTS["passage"] * passage.score
            if quantity and re.search(r"\d", text):
                score += WEIGHTS["quantity"]
            out.append(Candidate(passage.chunk.doc_id, a, b, passage, float(sim), coverage, score, text))
        return sorted(out, key=lambda c: c.score, reverse=True)

    def answer(self, question: str, passages: Sequence[Passage], index: LoadedIndex) -> Answer:
        ranked = self.candidates(question, passages, index)
        confidence = ranked[0].score if ranked else 0.0
        if not ranked or confidence < self.settings.abstain_threshold:
            return Answer(question, ABSTAIN_TEXT, True, (), tuple(passages), index.build_id, confidence)
        chosen = _select(ranked, self.settings.answer_sentences)
        citations = tuple(_citation(n, c, index) for n, c in enumerate(chosen, start=1))
        text = " ".join(f"{cand.text} [{n}]" for n, cand in enumerate(chosen, start=1))
        return Answer(question, text, False, citations, tuple(passages), index.build_id, confidence)


def _sentence_candidates(passages: Sequence[Passage], index: LoadedIndex) -> list[tuple[Passage, int, int]]:
    seen: set[tuple[str, int, int]] = set()
    spans = []
    for passage in passages:
        doc = index.documents[passage.chunk.doc_id]
        for a, b in sentence_spans(doc.text, passage.chunk.start, passage.chunk.end):
            key = (doc.doc_id, a, b)
            if key in seen or len(re.findall(r"\w+", doc.text[a:b])) < _MIN_WORDS or doc.text[a:b].lstrip().startswith("#"):
                continue
            seen.add(key)
            spans.append((passage, a, b))
    return spans


def _select(ranked: list[Candidate], limit: int) -> list[Candidate]:
    """The best sentence first, then close runners-up in score order."""
    best = ranked[0]
    chosen = [best]
    for cand in ranked[1:]:
        if len(chosen) >= limit or cand.score < best.score - 0.08:
            break
        chosen.append(cand)
    return chosen


def _citation(n: int, cand: Candidate, index: LoadedIndex) -> Citation:
    doc = index.documents[cand.doc_id]
    return Citation(
        n=n,
        doc_id=doc.doc_id,
        title=doc.title,
        section=section_label(doc.section_at(cand.start)),
        page=cand.passage.chunk.page,
        start=cand.start,
        end=cand.end,
        quote=doc.text[cand.start : cand.end],
        passage_rank=cand.passage.rank,
    )

