"""One index build on disk: chunk store, documents, sentences, manifest, and its vectors through a vector store.

Owns the build folder format (`manifest.json`, `chunks.jsonl`, `documents.jsonl`, `sentences.npz`, `bm25/`,
`originals/`; the vectors are the vector store's: `vectors.faiss` for FAISS, see `rag.indexing.vector_store`),
writing it, loading it, checking its manifest against the current settings, and vector search with optional
document filters (delegated to the store). Which build is live, building, promotion and pruning live in
`rag.indexing.builds`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from rag.access.groups import AccessRules, document_groups
from rag.config import Settings
from rag.errors import IndexCorruptError, IndexMismatchError
from rag.indexing.lexical import LexicalIndex
from rag.indexing.sentences import SentenceTable, sentence_display
from rag.indexing.term_stats import TermStats
from rag.indexing.vector_store import VectorStore, backend, open_store
from rag.ingest.text import content_words
from rag.models import Access, Chunk, Document, Section

MANIFEST = "manifest.json"  # written last: a folder without it is not a build
CHUNKS = "chunks.jsonl"
DOCUMENTS = "documents.jsonl"
FORMAT_VERSION = 3
_CLAUSE_LINE = re.compile(r"(?m)^[ \t*#>|]*(\d{1,3}(?:\.\d{1,3})+)\b")


def write_build(folder: Path, manifest: dict[str, Any], vectors: np.ndarray, chunks: Sequence[Chunk], documents: Iterable[Document],
                sentences: SentenceTable, lexical: LexicalIndex, settings: Settings) -> None:
    """Write a complete build into `folder` (which must not be live): the vectors into the store RAG_VECTOR_STORE
    names (its entry becomes the manifest's `index`), then the rest, the manifest last."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = (manifest.get("access") or {}).get("documents", {})
    data = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), int(manifest["model"]["dimension"]))
    manifest["index"] = backend(settings.vector_store).write(
        folder, data, [c.doc_id for c in chunks], [tuple(groups.get(c.doc_id, ())) for c in chunks], settings,
        build_id=manifest["build_id"])
    _write_jsonl(folder / CHUNKS, (c.to_dict() for c in chunks))
    _write_jsonl(folder / DOCUMENTS, (_document_row(d) for d in documents))
    sentences.save(folder)
    lexical.save(folder)
    write_manifest(folder, manifest)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically (re)write the manifest: temp file, fsync, rename."""
    tmp = folder / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{folder} has no {MANIFEST}: it is not a complete build; run `rag index build`") from None
    except json.JSONDecodeError as exc:
        raise IndexCorruptError(f"{folder / MANIFEST} is damaged ({exc}); run `rag index build`") from None


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _document_row(doc: Document) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "text": doc.text,
        "sections": [[s.start, s.end, list(s.path)] for s in doc.sections],
        "metadata": doc.metadata,
        "content_hash": doc.content_hash,
        "format": doc.source_format,
        "pages": list(doc.pages),
    }


def read_chunks(folder: Path) -> list[Chunk]:
    """The chunks of a build, in row order, without loading its vectors."""
    try:
        return [Chunk.from_dict(row) for row in _read_jsonl(folder / CHUNKS)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"index build at {folder} is damaged ({exc}); run `rag index build`") from None


def read_documents(folder: Path) -> dict[str, Document]:
    """The documents of a build (text, sections, pages, metadata) without loading its vectors."""
    try:
        return {row["doc_id"]: _document_from_row(row) for row in _read_jsonl(folder / DOCUMENTS)}
    except (OSError, ValueError, KeyError) as exc:
        raise IndexCorruptError(f"index build at {folder} is damaged ({exc}); run `rag index build`") from None


def _document_from_row(row: dict[str, Any]) -> Document:
    return Document(
        doc_id=row["doc_id"],
        title=row["title"],
        text=row["text"],
        sections=tuple(Section(a, b, tuple(p)) for a, b, p in row["sections"]),
        metadata=row.get("metadata", {}),
        content_hash=row.get("content_hash", ""),
        source_format=row.get("format", "text"),
        pages=tuple(row.get("pages", ())),
    )


def adapter_identity(settings: Settings) -> str:
    """The hash of the adapter the settings name ("" for none), as a build's manifest records it."""
    from rag.indexing.adapters import adapter_hash, resolve_adapter

    folder = resolve_adapter(settings.adapter, settings.index_dir)
    if not folder:
        return ""
    try:
        return adapter_hash(Path(folder))
    except OSError as exc:
        raise IndexMismatchError(f"cannot read the adapter {folder} (RAG_ADAPTER={settings.adapter}: {exc}): fix the path, "
                                 "or set RAG_ADAPTER=none") from None


def check_manifest(manifest: dict[str, Any], settings: Settings) -> None:
    """Refuse an index built with a different model or chunker than `settings` ask for."""
    expected = {
        "model": (manifest.get("model", {}).get("name"), settings.model, "RAG_MODEL"),
        "chunk_tokens": (manifest.get("chunker", {}).get("max_tokens"), settings.chunk_tokens, "RAG_CHUNK_TOKENS"),
        "chunk_overlap": (manifest.get("chunker", {}).get("overlap_tokens"), settings.chunk_overlap, "RAG_CHUNK_OVERLAP"),
    }
    if "paragraph_fill" in manifest.get("chunker", {}):  # builds made before the setting existed are served as they are
        built = manifest["chunker"]["paragraph_fill"]
        expected["chunk_paragraph_fill"] = (built, settings.chunk_paragraph_fill, "RAG_CHUNK_PARAGRAPH_FILL")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index build {manifest.get('build_id')} has format {manifest.get('format_version')}, this code reads "
            f"{FORMAT_VERSION}: run `rag index build`"
        )
    built_adapter = manifest.get("model", {}).get("adapter", "")
    if built_adapter != adapter_identity(settings):
        raise IndexMismatchError(
            f"index build {manifest.get('build_id')} was built with adapter {built_adapter or 'none'} but RAG_ADAPTER "
            f"{'is ' + settings.adapter if settings.adapter else 'is empty'}: run `rag index build` to rebuild, or set "
            "RAG_ADAPTER to the adapter that build used"
        )
    for name, (built, wanted, key) in expected.items():
        if built != wanted:
            raise IndexMismatchError(
                f"index build {manifest.get('build_id')} was built with {name}={built!r} but settings say {wanted!r}: "
                f"run `rag index build` to rebuild, or set {key}={built}"
            )


@dataclass
class LoadedIndex:
    """A build in memory, ready to search. Immutable once loaded."""

    build_id: str
    folder: Path
    manifest: dict[str, Any]
    vector_store: VectorStore
    chunks: list[Chunk]
    documents: dict[str, Document]
    doc_rows: dict[str, np.ndarray]
    sentences: SentenceTable
    lexical: LexicalIndex
    _visible: dict[frozenset[str], list[str] | None] = field(default_factory=dict, repr=False)  # readable documents per set of groups
    derived: dict[str, Any] = field(default_factory=dict, repr=False)  # what a later stage reads once per build, by name

    @classmethod
    def load(cls, folder: Path, settings: Settings | None = None) -> "LoadedIndex":
        """The build in `folder`, checked against `settings` when given (else only opened with the environment's)."""
        manifest = read_manifest(folder)
        if settings is not None:
            check_manifest(manifest, settings)
        try:
            chunks = [Chunk.from_dict(row) for row in _read_jsonl(folder / CHUNKS)]
            docs = read_documents(folder)
            sentences = SentenceTable.load(folder)
            lexical = LexicalIndex.load(folder, len(chunks))
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"index build at {folder} is damaged ({exc}); run `rag index build`") from None
        store = open_store(folder, manifest, settings or Settings.from_env(), [c.doc_id for c in chunks])
        if store.size != len(chunks):
            raise IndexCorruptError(f"index build at {folder} has {store.size} vectors for {len(chunks)} chunks; rebuild it")
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            rows.setdefault(chunk.doc_id, []).append(i)
        doc_rows = {d: np.asarray(r, dtype=np.int64) for d, r in rows.items()}
        return cls(manifest["build_id"], folder, manifest, store, chunks, docs, doc_rows, sentences, lexical)

    def groups_of(self, doc_id: str) -> tuple[str, ...]:
        """The groups a document belongs to, as its build recorded them (builds made before access control: the
        document's own `access:` metadata, else `RAG_DEFAULT_GROUP`'s default)."""
        recorded = self.manifest.get("access", {}).get("documents", {})
        if doc_id in recorded:
            return tuple(recorded[doc_id])
        return document_groups(doc_id, self.documents[doc_id].metadata, AccessRules(), Settings().default_group)

    def visible(self, access: Access | None) -> list[str] | None:
        """The document ids `access` may read, in build order (None: every document). Kept per set of groups."""
        if access is None or access.groups is None:
            return None
        key = access.groups
        if key not in self._visible:
            readable = [d for d in self.documents if access.sees(self.groups_of(d))]
            self._visible[key] = None if len(readable) == len(self.documents) else readable  # type: ignore[assignment]
        return self._visible[key]

    def search(self, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """(chunk row, cosine score) pairs, best first; restricted to `doc_ids` when given."""
        return self.vector_store.search(vector, k, doc_ids)

    @cached_property
    def clause_rows(self) -> dict[str, list[int]]:
        """Numbered clause ('6.4', '4.2.1') -> chunk rows holding it: the last element of the section path, or a line
        of the chunk that starts with the number. Lets a question that names a clause reach it directly."""
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            numbers = {m.group(1) for m in _CLAUSE_LINE.finditer(chunk.text)}
            if chunk.section and (m := _CLAUSE_LINE.match(chunk.section[-1])):
                numbers.add(m.group(1))
            for number in numbers:
                rows.setdefault(number, []).append(row)
        return rows

    def rows_holding_clauses(self, numbers: Sequence[str], doc_ids: Iterable[str] | None = None,
                             exclude: Iterable[int] = ()) -> list[int]:
        """Chunk rows holding any of the clause numbers, once each, limited to `doc_ids` when given."""
        allowed = set(doc_ids) if doc_ids is not None else None
        skip = set(exclude)
        rows = [row for n in numbers for row in self.clause_rows.get(n, [])
                if row not in skip and (allowed is None or self.chunks[row].doc_id in allowed)]
        return list(dict.fromkeys(rows))

    @cached_property
    def titles(self) -> dict[str, str]:
        """Document id -> title with spaces collapsed, for titles of two words or more (one word names no document)."""
        spaced = {doc_id: " ".join(doc.title.split()) for doc_id, doc in self.documents.items()}
        return {doc_id: title for doc_id, title in spaced.items() if len(title.split()) >= 2}

    @cached_property
    def term_stats(self) -> TermStats:
        """How rare each word is over the build's chunks (reranking and answering share it)."""
        return TermStats([c.text for c in self.chunks])

    @cached_property
    def _sentence_words(self) -> dict[int, frozenset[str]]:
        return {}

    def sentence_words(self, row: int) -> frozenset[str]:
        """Stemmed content words of one quotable sentence, computed once per build."""
        words = self._sentence_words.get(row)
        if words is None:
            doc = self.documents[self.sentences.doc_ids[int(self.sentences.doc_index[row])]]
            words = frozenset(content_words(doc.text[int(self.sentences.starts[row]) : int(self.sentences.ends[row])]))
            self._sentence_words[row] = words
        return words

    @cached_property
    def _display(self) -> dict[int, tuple[str, frozenset[str]]]:
        return {}

    def sentence_text(self, row: int) -> tuple[str, frozenset[str]]:
        """Display text of one quotable sentence (a table row labelled with its header) and its content words, once per build."""
        known = self._display.get(row)
        if known is None:
            doc = self.documents[self.sentences.doc_ids[int(self.sentences.doc_index[row])]]
            text = sentence_display(doc.text, int(self.sentences.starts[row]), int(self.sentences.ends[row]))
            known = self._display[row] = (text, frozenset(content_words(text)))
        return known

    @cached_property
    def _chunk_sentences(self) -> dict[int, np.ndarray]:
        return {}

    def chunk_sentence_rows(self, row: int) -> np.ndarray:
        """Rows of the quotable sentences lying inside chunk `row`, found once per build."""
        rows = self._chunk_sentences.get(row)
        if rows is None:
            chunk = self.chunks[row]
            rows = self._chunk_sentences[row] = self.sentences.rows_within(chunk.doc_id, chunk.start, chunk.end)
        return rows

    def warm(self) -> None:
        """Compute now what queries would otherwise compute on first use (word statistics, sentence words and texts)."""
        _ = self.term_stats
        for row in range(len(self.sentences)):
            self.sentence_words(row)
            self.sentence_text(row)
        for row in range(len(self.chunks)):
            self.chunk_sentence_rows(row)

    def original_file(self, doc_id: str) -> Path | None:
        """The original file this build indexed for `doc_id` (None when it kept none)."""
        from rag.indexing.originals import original_path

        doc = self.documents.get(doc_id)
        return original_path(self.folder, doc) if doc is not None else None

    def rows_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Chunk rows belonging to the given documents."""
        parts = [self.doc_rows[d] for d in doc_ids if d in self.doc_rows]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def cosines(self, vector: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """Exact cosine of the query to each chunk row (vectors are stored normalised)."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        stored = self.vector_store.vectors(rows)
        return stored @ np.asarray(vector, dtype=np.float32)
