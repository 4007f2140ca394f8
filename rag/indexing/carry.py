"""Carrying an unchanged document's built parts over from the live build, so a rebuild works only on what changed.

Owns deciding which parts of the live build a new build may take as they are, and reading them per document: the
chunks (see `rag.indexing.chunks.reusable_chunks`: same document, same chunker), and, when the live build embedded
with the same model, encoder, adapter and sentence recipe, and found its quotable sentences and flagged its chunks
with the same code, the chunk vectors, the quotable sentences with their vectors, and the injection flags. The code
is identified by a hash of the modules that decide it (`recipe`), recorded in every manifest, so a changed sentence
splitter or flag pattern makes the next build redo that part for every document. Leaves embedding what is not
carried to `rag.indexing.vectors`, and the build's lifecycle to `rag.indexing.builds`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.access.injection import flag_chunks
from rag.config import Settings
from rag.errors import IndexCorruptError
from rag.indexing.sentences import SentenceTable
from rag.indexing.vector_store import open_store
from rag.ingest.corpus import Corpus
from rag.models import Chunk

# the modules whose code decides what is embedded for a chunk (its text with title and section path), which
# sentences are quotable, and how their vectors are pooled or embedded; and the one that decides the flags
_VECTOR_CODE = ("rag/ingest/chunking.py", "rag/models.py", "rag/ingest/text.py", "rag/indexing/sentences.py",
                "rag/indexing/vectors.py", "rag/indexing/passage_encoder.py")
_FLAG_CODE = ("rag/access/injection.py",)


def _code_hash(paths: Sequence[str]) -> str:
    """A hash of the modules' source; when one cannot be read, a value no build matches (nothing is carried)."""
    root = Path(__file__).resolve().parent.parent.parent
    digest = hashlib.sha256()
    try:
        for path in paths:
            digest.update((root / path).read_bytes())
    except OSError:
        return f"unreadable-{uuid.uuid4().hex}"
    return digest.hexdigest()[:16]


def recipe(embedder_identity: str) -> dict[str, str]:
    """What a manifest records so a later build can tell whether its vectors (the same model files, export and
    pooling, see `rag.indexing.builds.embedder_identity`, and the same code) and its flags were made the same way."""
    return {"embedder": hashlib.sha256(embedder_identity.encode()).hexdigest()[:16], "vectors": _code_hash(_VECTOR_CODE),
            "injection": _code_hash(_FLAG_CODE)}


@dataclass(frozen=True)
class SentenceRun:
    """One document's quotable sentences as the live build found them: offsets and unit vectors."""

    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class Carried:
    """Per document id, what the new build takes from the live one (a document missing from a map is made anew)."""

    chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # chunk vectors, a row per chunk in chunk order
    sentences: dict[str, SentenceRun] = field(default_factory=dict)
    flags: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the manifest's injection entries

    def counts(self, documents: int) -> dict[str, int]:
        """How many documents had their chunks, their vectors and sentences, and their flags carried, and how many
        sentences came with them (a manifest's `sentences_pooled` counts only sentences this build pooled)."""
        embedded = self.vectors.keys() & self.sentences.keys()
        return {"documents": documents, "chunked": len(self.chunks), "embedded": len(embedded),
                "flagged": len(self.flags), "sentences": sum(len(self.sentences[d].starts) for d in embedded)}


def all_flags(chunks: Sequence[Chunk], corpus: Corpus, carried: Carried) -> list[dict[str, Any]]:
    """The injection flags of every chunk, by document in corpus order: carried where the live build made them the
    same way, found anew for the other documents."""
    by_doc: dict[str, list[dict[str, Any]]] = {d: list(entries) for d, entries in carried.flags.items()}
    for entry in flag_chunks(c for c in chunks if c.doc_id not in carried.flags):
        by_doc.setdefault(entry["doc_id"], []).append(entry)
    return [entry for doc in corpus.documents for entry in by_doc.get(doc.doc_id, [])]


def carried_parts(live: Any, rows: list[Chunk], reusable: dict[str, list[Chunk]], model: dict[str, Any],
                  now: dict[str, str], settings: Settings) -> Carried:
    """The parts of the live build (`live.folder`, `live.manifest`, its chunks `rows` in vector order) a build with
    embedding `model` (its manifest's "model" entry) and `recipe` `now` may carry for the documents whose chunks are
    `reusable`. The live build's vectors are read back through its vector store (opened with `settings`)."""
    if live is None or not reusable:
        return Carried(chunks=reusable)
    made = live.manifest.get("carry") or {}
    flags = _flags(live.manifest, reusable) if made.get("injection") == now["injection"] else {}
    same_vectors = all(made.get(key) == now[key] for key in ("embedder", "vectors"))
    if live.manifest.get("model") != model or not same_vectors:
        return Carried(chunks=reusable, flags=flags)
    try:
        vectors, sentences = _vectors(live, rows, reusable, settings), _sentences(live.folder, reusable)
    except (OSError, ValueError, KeyError, RuntimeError, IndexCorruptError):
        return Carried(chunks=reusable, flags=flags)  # an unreadable part is made anew, never trusted
    return Carried(reusable, vectors, sentences, flags)


def _vectors(live: Any, rows: list[Chunk], reusable: dict[str, list[Chunk]], settings: Settings) -> dict[str, np.ndarray]:
    store = open_store(live.folder, live.manifest, settings, [c.doc_id for c in rows])
    if store.size != len(rows):
        raise IndexCorruptError(f"{live.folder}: {store.size} vectors for {len(rows)} chunks")
    by_doc: dict[str, list[int]] = {}
    for row, chunk in enumerate(rows):
        by_doc.setdefault(chunk.doc_id, []).append(row)
    out = {}
    for doc_id, chunks in reusable.items():
        picked = by_doc.get(doc_id, [])
        if [rows[i].chunk_id for i in picked] == [c.chunk_id for c in chunks]:
            out[doc_id] = store.vectors(picked)
    return out


def _sentences(folder: Path, reusable: dict[str, list[Chunk]]) -> dict[str, SentenceRun]:
    table = SentenceTable.load(folder)
    out = {}
    for i, doc_id in enumerate(table.doc_ids):
        if doc_id in reusable:
            rows = np.flatnonzero(table.doc_index == i)
            out[doc_id] = SentenceRun(table.starts[rows], table.ends[rows], table.vectors[rows])
    return out


def _flags(manifest: dict[str, Any], reusable: dict[str, list[Chunk]]) -> dict[str, list[dict[str, Any]]]:
    kept = {c.chunk_id for chunks in reusable.values() for c in chunks}
    out: dict[str, list[dict[str, Any]]] = {doc_id: [] for doc_id in reusable}
    for entry in manifest.get("injection") or []:
        if entry.get("chunk_id") in kept and entry.get("doc_id") in out:
            out[entry["doc_id"]].append(entry)
    return out
