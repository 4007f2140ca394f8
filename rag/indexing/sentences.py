"""Answer units: the sentences an extractive answer may quote, with display text and vectors.

Owns which sentences of a document are quotable (three words or more, not a
Markdown heading), their readable display text (Markdown marks removed, a table
row labelled with its header cells), and the per-build sentence table
(`sentences.npz`: document, start, end, vector) embedded at build time so that
answering needs no model call beyond embedding the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.ingest.text import sentence_spans, table_cells, table_header
from rag.models import Document

SENTENCES = "sentences.npz"
_MIN_WORDS = 3


def display_text(raw: str) -> str:
    """A quoted sentence made readable: Markdown list/heading/table marks removed, spaces collapsed."""
    text = re.sub(r"^\s*(?:#{1,6}\s+|[-*+•]\s+|>\s+)", "", raw)
    if text.lstrip().startswith("|"):
        text = " | ".join(table_cells(text))
    return " ".join(_unmark(text).split())


def _unmark(text: str) -> str:
    """Drop paired emphasis and code marks; marks inside a word (`window.__xss`, `snake__case`) are text."""
    text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w.])__(?=\S)(.+?)(?<=\S)__(?!\w)", r"\1", text)
    return re.sub(r"`([^`\n]+)`", r"\1", text)


def sentence_display(text: str, start: int, end: int) -> str:
    """Display text of a sentence; a table row is labelled with its header cells ('Period: 6 years; ...')."""
    header = table_header(text, start)
    cells = table_cells(text[start:end])
    if header is None or len(cells) != len(header):
        return display_text(text[start:end])
    return "; ".join(f"{display_text(h)}: {display_text(c)}" if h else display_text(c) for h, c in zip(header, cells))


def quotable_spans(doc: Document) -> list[tuple[int, int]]:
    """Sentences of three words or more that are not on a Markdown heading line (a heading the splitter cut after
    its number, '## 6. | Working from abroad', is still a heading)."""
    spans = []
    for a, b in sentence_spans(doc.text):
        raw = doc.text[a:b]
        line = doc.text[doc.text.rfind("\n", 0, a) + 1 : b]
        if len(re.findall(r"\w+", raw)) >= _MIN_WORDS and not line.lstrip().startswith("#"):
            spans.append((a, b))
    return spans


@dataclass
class SentenceTable:
    """Quotable sentences of every document, sorted by document then offset, with unit vectors."""

    doc_ids: list[str]
    doc_index: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray

    def __post_init__(self) -> None:
        self._ranges: dict[str, tuple[int, int]] = {}
        for i, doc_id in enumerate(self.doc_ids):
            rows = np.flatnonzero(self.doc_index == i)
            if len(rows):
                self._ranges[doc_id] = (int(rows[0]), int(rows[-1]) + 1)

    def __len__(self) -> int:
        return len(self.starts)

    def rows_within(self, doc_id: str, start: int, end: int) -> np.ndarray:
        """Rows of the sentences lying inside `[start, end)` of one document."""
        lo, hi = self._ranges.get(doc_id, (0, 0))
        first = lo + int(np.searchsorted(self.starts[lo:hi], start, side="left"))
        last = lo + int(np.searchsorted(self.starts[lo:hi], end, side="left"))
        rows = np.arange(first, last)
        return rows[self.ends[rows] <= end]

    def save(self, folder: Path) -> None:
        np.savez(folder / SENTENCES, doc_ids=np.array(self.doc_ids, dtype=object).astype(str), doc_index=self.doc_index,
                 starts=self.starts, ends=self.ends, vectors=self.vectors.astype(np.float16))

    @classmethod
    def load(cls, folder: Path) -> "SentenceTable":
        with np.load(folder / SENTENCES) as data:
            return cls([str(d) for d in data["doc_ids"]], data["doc_index"], data["starts"], data["ends"],
                       data["vectors"].astype(np.float32))


@dataclass(frozen=True)
class SentenceRows:
    """The quotable sentences of a corpus before they have vectors: where each lies and what is embedded for it."""

    doc_ids: list[str]
    doc_index: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    texts: list[str]  # display text: what a separate pass embeds
    labelled: np.ndarray  # True for a table row shown with its header labels ('Retention period: 6 years; ...')

    def __len__(self) -> int:
        return len(self.starts)

    def with_vectors(self, vectors: np.ndarray) -> SentenceTable:
        if not len(self):
            vectors = np.zeros((0, 1), dtype=np.float32)
        return SentenceTable(self.doc_ids, self.doc_index, self.starts, self.ends, np.asarray(vectors, dtype=np.float32))


def quotable_rows(documents: Sequence[Document]) -> SentenceRows:
    """Every quotable sentence of `documents`, by document then offset, with its display text."""
    index, starts, ends, texts, labelled = [], [], [], [], []
    for i, doc in enumerate(documents):
        for a, b in quotable_spans(doc):
            index.append(i)
            starts.append(a)
            ends.append(b)
            texts.append(sentence_display(doc.text, a, b))
            labelled.append(texts[-1] != display_text(doc.text[a:b]))
    return SentenceRows([d.doc_id for d in documents], np.array(index, dtype=np.int32), np.array(starts, dtype=np.int64),
                        np.array(ends, dtype=np.int64), texts, np.array(labelled, dtype=bool))
