"""Candidate lists for the reader: for each gold question, the sentences the answerer would choose from, labelled.

Owns running a gold set through one assistant's retrieval and sentence ranking exactly as `ask` does (the
conversation's standalone reading for a follow-up, the row's scope document as a filter) and writing, per question,
the best `depth` candidate sentences as the reader reads them (`rag.answer.reader.candidate_text`) with a label: 1 when
the sentence overlaps an evidence span of the row. Evidence spans that no candidate overlaps are kept apart
(`missed`) so training still sees the right text for questions retrieval failed. Leaves training to
`rag.tune.reader` and judging to the scripts that call both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from rag.answer.reader import candidate_features, candidate_text
from rag.evaluate.gold import GoldRow
from rag.search.retrieval import Filters, clean_question


@dataclass(frozen=True)
class Listed:
    """One question's candidates, best first by today's ranking."""

    id: str
    group: str  # the organisation or set the question belongs to: validation leaves whole groups out
    question: str  # as the reader reads it: a follow-up's standalone form
    answerable: bool
    follow_up: bool
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    scores: tuple[float, ...]
    missed: tuple[str, ...] = ()  # evidence texts (as read) that no candidate overlaps
    question_vector: np.ndarray | None = field(default=None, compare=False)  # what the vector reader reads (not in JSON)
    vectors: np.ndarray | None = field(default=None, compare=False)  # each candidate's sentence vector
    features: np.ndarray | None = field(default=None, compare=False)  # each candidate's ranking features

    @property
    def positives(self) -> list[int]:
        return [i for i, y in enumerate(self.labels) if y]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "group": self.group, "question": self.question, "answerable": self.answerable,
                "follow_up": self.follow_up, "texts": list(self.texts), "labels": list(self.labels),
                "scores": [round(s, 5) for s in self.scores], "missed": list(self.missed)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Listed":
        return cls(data["id"], data["group"], data["question"], bool(data["answerable"]), bool(data["follow_up"]),
                   tuple(data["texts"]), tuple(int(y) for y in data["labels"]), tuple(float(s) for s in data["scores"]),
                   tuple(data.get("missed", ())))


def save_vectors(lists: Sequence[Listed], path: Any) -> None:
    """The lists' vectors and features as one .npz beside their JSON lines (the same order)."""
    np.savez_compressed(path, q=np.stack([x.question_vector for x in lists]).astype(np.float16),
                        s=np.concatenate([x.vectors for x in lists]).astype(np.float16),
                        f=np.concatenate([x.features for x in lists]).astype(np.float32))


def with_vectors(lists: Sequence[Listed], path: Any) -> list[Listed]:
    """The lists with the vectors `save_vectors` wrote."""
    from dataclasses import replace

    with np.load(path) as data:  # each access to an .npz member reads it whole: read each once
        q, s, f = data["q"].astype(np.float32), data["s"].astype(np.float32), data["f"]
    out, at = [], 0
    for i, x in enumerate(lists):
        n = len(x.texts)
        out.append(replace(x, question_vector=q[i], vectors=s[at : at + n], features=f[at : at + n]))
        at += n
    return out


def _overlaps(doc_id: str, start: int, end: int, row: GoldRow) -> bool:
    return any(ev.doc_id == doc_id and a < end and start < b for ev in row.evidence for a, b in ev.spans)


def candidate_lists(assistant: Any, rows: Iterable[GoldRow], group: str, depth: int = 20) -> list[Listed]:
    """The labelled candidate list of every row (the assistant's reader, if any, is not used: its settings should say
    RAG_READER=off, so the lists are today's ranking)."""
    snap = assistant.snapshot
    index = snap.index
    out = []
    for row in rows:
        question = clean_question(row.question, assistant.settings)
        context = snap.chat.context(question, row.history)
        vectors = snap.chat.vectors(context)
        filters = Filters(doc_ids=(row.scope_doc,)) if row.scope_doc else None
        found = snap.chat.retrieve(context, vectors, None, filters)
        ranked, _ = snap.answerer.ranked(question, vectors[0], found.passages, index, found.reading)
        top = ranked[:depth]
        asked = found.reading.text if found.reading is not None and found.reading.weight > 0 else question
        labels = tuple(int(_overlaps(c.doc_id, c.start, c.end, row)) for c in top)
        missed = _missed(index, row, top)
        vector = found.reading.vector if found.reading is not None and found.reading.weight > 0 else vectors[0]
        vecs, feats = candidate_features(index, top)
        out.append(Listed(row.id, group, asked, row.answerable, bool(row.history),
                          tuple(candidate_text(index, c.doc_id, c.start, c.end, c.text) for c in top), labels,
                          tuple(c.score for c in top), missed, np.asarray(vector, dtype=np.float32), vecs, feats))
    return out


def _missed(index: Any, row: GoldRow, top: Sequence[Any]) -> tuple[str, ...]:
    texts = []
    for ev in row.evidence:
        for a, b in ev.spans[:1]:
            if not any(c.doc_id == ev.doc_id and c.start < b and a < c.end for c in top):
                texts.append(candidate_text(index, ev.doc_id, a, b, index.documents[ev.doc_id].text[a:b]))
    return tuple(texts)
