"""Candidate conflicts: sentences of different documents about the same subject whose obligations differ.

Owns the search: only sentences that state a value (`values.extract_values`) take part; each finds its nearest
neighbours among them with the build's unit sentence vectors (a FAISS inner-product top-k, so the cost grows with
the sentences that state values times k, not with every pair of sentences); a pair is a candidate when the two
documents are not versions of one policy, their similarity reaches the threshold, and a value of the same kind
differs (a modality difference needs a higher similarity: 'must' and 'must not' sentences are common). Candidates
are ranked by similarity. Sentences of a document-history table (they quote old values on purpose) take no part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from rag.indexing.faiss_store import nearest
from rag.ingest.text import content_words, is_table_row, stem
from rag.lifecycle.facts import Span
from rag.lifecycle.values import Values, differing, extract_values
from rag.models import Document

VALUE_SIMILARITY = 0.55  # measured on tests/fixtures/lifecycle (bench/corpus_check.py)
MODALITY_SIMILARITY = 0.62
CITED_SIMILARITY = 0.4  # a sentence that cites a clause is about that clause's subject: a lower bar
MIN_SHARED_WORDS = 2  # content words both sentences use besides their values: the same subject, not just close vectors
COMMON_SHARE = 0.75  # a word in the value sentences of more than this share of documents says nothing of the subject
NEIGHBOURS = 12
_HISTORY = re.compile(r"history|change\s*log|revision|amendments", re.IGNORECASE)
_VALUE_WORDS = {stem(w) for w in ("minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year",
                                   "years", "working", "work", "business", "within", "every", "least", "more", "less", "than",
                                   "maximum", "minimum", "per", "times", "must", "may", "approval", "approved", "approve")}
_HEADER = re.compile(r"^[A-Z][A-Za-z /]{1,30}:\s")


@dataclass(frozen=True)
class Conflict:
    score: float  # cosine similarity plus the share of subject words the two sentences have in common
    cited: bool  # the first sentence cites the clause the second belongs to
    kinds: tuple[str, ...]
    values: tuple[tuple[str, ...], tuple[str, ...]]  # the differing values of the first kind, in a and in b
    a: Span
    b: Span

    def to_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 3), "cited": self.cited, "kinds": list(self.kinds),
                "values": [list(v) for v in self.values],
                "a": self.a.to_dict(), "b": self.b.to_dict()}


@dataclass(frozen=True)
class SentenceRow:
    """One quotable sentence: its document, span, display text and unit vector row."""

    doc_id: str
    start: int
    end: int
    text: str


def find_conflicts(documents: Mapping[str, Document], rows: Sequence[SentenceRow], vectors: np.ndarray,
                   family: Callable[[str], str], value_similarity: float = VALUE_SIMILARITY,
                   modality_similarity: float = MODALITY_SIMILARITY, neighbours: int = NEIGHBOURS,
                   cited: Sequence[tuple[int, int]] = ()) -> list[Conflict]:
    """Ranked candidate conflicts among `rows` (vectors: one unit row each); `family` names a document's version family
    so copies of one policy are never set against each other; `cited` pairs (a sentence citing a clause, a sentence of
    that clause) are judged at `CITED_SIMILARITY`."""
    values: dict[int, Values] = {}
    for i, row in enumerate(rows):
        doc = documents.get(row.doc_id)
        section = doc.section_at(row.start) if doc is not None else ()
        if doc is None or _HISTORY.search(" ".join(section)) or (not section and _HEADER.match(row.text)):
            continue  # a change log quotes old values on purpose; header lines ('Approved by: ...') state no rule
        found = extract_values(row.text, is_table_row(doc.text[row.start : row.end]))
        if found:
            values[i] = found
    candidates = np.array(sorted(values), dtype=np.int64)
    if len(candidates) < 2:
        return []
    pairs = _nearest(np.ascontiguousarray(vectors[candidates], dtype=np.float32), min(neighbours + 1, len(candidates)))
    threshold = min(value_similarity, modality_similarity)
    near = [(int(candidates[qi]), int(candidates[pj]), float(sim)) for qi, (ids, sims) in enumerate(pairs)
            for pj, sim in zip(ids, sims) if pj >= 0 and sim >= threshold]
    cited_pairs = {tuple(sorted(p)) for p in cited if p[0] in values and p[1] in values}
    near += [(i, j, float(vectors[i] @ vectors[j])) for i, j in cited_pairs]
    common = _common_words(rows, values)
    seen: set[tuple[int, int]] = set()
    out: list[Conflict] = []
    for x, y, sim in near:
        i, j = sorted((x, y))
        if i == j or (i, j) in seen:
            continue
        seen.add((i, j))
        a, b = rows[i], rows[j]
        if a.doc_id == b.doc_id or family(a.doc_id) == family(b.doc_id):
            continue
        words_a, words_b = _subject_words(a.text) - common, _subject_words(b.text) - common
        shared = len(words_a & words_b)
        if shared < MIN_SHARED_WORDS:
            continue
        bar = (lambda k: CITED_SIMILARITY) if (i, j) in cited_pairs else (
            lambda k: modality_similarity if k in ("modality", "approver") else value_similarity)
        kinds = [k for k in differing(values[i], values[j]) if sim >= bar(k)]
        if kinds:
            first = kinds[0]
            overlap = shared / max(1, len(words_a | words_b))
            differ = (tuple(sorted(values[i].get(first))), tuple(sorted(values[j].get(first))))
            out.append(Conflict(float(sim) + overlap, (i, j) in cited_pairs, tuple(kinds), differ,
                                Span.of(documents[a.doc_id], a.start, a.end), Span.of(documents[b.doc_id], b.start, b.end)))
    return sorted(out, key=lambda c: (not c.cited, -c.score, c.a.doc_id, c.a.start))  # a cited clause that disagrees first


def _subject_words(text: str) -> set[str]:
    """Stemmed content words without numbers or units: what a sentence is about, its values aside."""
    return {w for w in content_words(text) if not any(ch.isdigit() for ch in w) and w not in _VALUE_WORDS}


def _common_words(rows: Sequence[SentenceRow], values: Mapping[int, Values]) -> set[str]:
    """Words in the value-stating sentences of more than half the documents (the organisation's name, 'staff'): they
    say nothing about the subject."""
    by_doc: dict[str, set[str]] = {}
    for i in values:
        by_doc.setdefault(rows[i].doc_id, set()).update(_subject_words(rows[i].text))
    counts: dict[str, int] = {}
    for words in by_doc.values():
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    return {w for w, n in counts.items() if len(by_doc) >= 4 and n > len(by_doc) * COMMON_SHARE}


def _nearest(vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row's k nearest rows by inner product (the vectors are unit length, so cosine)."""
    return nearest(vectors, k)
