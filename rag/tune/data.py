"""Training triples from gold questions: (question, its evidence with the section it sits in, a hard negative).

Owns turning answerable gold rows into triples over one loaded build: the positive is the first evidence span,
headed by its document title and section path (as chunks are embedded); the negative is a quotable sentence of
the same build (of the row's scope document, for scoped rows) that overlaps no evidence and that the current model
ranks high for the question, skipping the very top one, which is often an unlabelled answer. Also owns the split
of a gold set into the share trained on and the share held out, by a hash of each row's id, so it is the same on
every run and a row never moves between the two. Leaves training to `rag.tune.train`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.evaluate.gold import GoldRow
from rag.indexing.store import LoadedIndex
from rag.models import section_label

NEGATIVE_POOL = 40  # the best-ranked sentences a negative is chosen from
MAX_TEXT = 1200  # characters of a positive or negative kept (the model reads at most its window anyway)


@dataclass(frozen=True)
class Triple:
    question: str
    positive: str
    negative: str


def held_out(row_id: str, share: float) -> bool:
    """Whether a gold row belongs to the held-out share (a stable hash of its id)."""
    return int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16) / 16**8 < share


def split_rows(rows: Sequence[GoldRow], share: float) -> tuple[list[GoldRow], list[GoldRow]]:
    """(rows to train on, rows held out): answerable rows whose evidence was found are trained on; every held-out
    row, answerable or not, is kept for the before-and-after measurement."""
    train = [r for r in rows if not held_out(r.id, share) and r.answerable and any(e.found for e in r.evidence)]
    return train, [r for r in rows if held_out(r.id, share)]


def headed(index: LoadedIndex, doc_id: str, start: int, end: int) -> str:
    """A span of a document with its title and section path in front, as chunks are embedded."""
    doc = index.documents[doc_id]
    heading = " > ".join(p for p in (doc.title, section_label(doc.section_at(start))) if p)
    return f"{heading}\n{doc.text[start:end]}"[:MAX_TEXT]


def training_triples(index: LoadedIndex, rows: Sequence[GoldRow], embed: Callable[[str], np.ndarray]) -> list[Triple]:
    """One triple per row that has found evidence and a negative candidate (see the module docstring)."""
    out = []
    for row in rows:
        evidence = [e for e in row.evidence if e.found]
        negative = _hard_negative(index, row, embed(row.question)) if evidence else None
        if negative is None:
            continue
        first = evidence[0]
        out.append(Triple(row.question, headed(index, first.doc_id, *first.spans[0]), negative))
    return out


def _hard_negative(index: LoadedIndex, row: GoldRow, vector: np.ndarray) -> str | None:
    table = index.sentences
    rows = table.rows_within(row.scope_doc, 0, 1 << 62) if row.scope_doc else np.arange(len(table))
    if not len(rows):
        return None
    ranked = rows[np.argsort(-(table.vectors[rows] @ vector))[:NEGATIVE_POOL]]
    spans = [(e.doc_id, a, b) for e in row.evidence for a, b in e.spans]
    candidates = []
    for r in ranked:
        doc_id, a, b = table.doc_ids[int(table.doc_index[r])], int(table.starts[r]), int(table.ends[r])
        if not any(d == doc_id and a < y and b > x for d, x, y in spans):
            candidates.append((doc_id, a, b))
    if not candidates:
        return None
    doc_id, a, b = candidates[1] if len(candidates) > 1 else candidates[0]
    return headed(index, doc_id, a, b)
