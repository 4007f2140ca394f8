"""Corpus loading: files on disk become `Document`s with a section map.

Owns walking a corpus folder, choosing the reader for each format (Markdown, plain
text, HTML, PDF, DOCX), decoding text files, front matter and metadata, the title,
and the heading/clause path and page of every character range. Files that cannot be
used (damaged, encrypted, scanned, binary, empty, too big, duplicated, vanished, or a
symlink out of the corpus) become `SkippedFile`s with a reason; usable files with
something to know (a guessed encoding, broken front matter) carry a `FileNote`.
Nothing is dropped silently. Leaves out chunking and anything model-related.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from rag.access.groups import RULES_FILE
from rag.errors import CorpusError, DocumentError
from rag.ingest.frontmatter import split_front_matter
from rag.ingest.html_text import extract_html
from rag.ingest.structure import Extracted, Marker, build_sections, clause_markers, markdown_markers, text_markers
from rag.models import Document

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".html": "html", ".htm": "html",
            ".pdf": "pdf", ".docx": "docx"}
METADATA_KEYS = ("document id", "version", "effective date", "owner", "approved by", "classification", "review date", "last reviewed")
_META_LINE = re.compile(r"^\s*\**\s*([A-Za-z][A-Za-z ]{1,30}?)\s*\**\s*:\s*\**\s*(.+?)\s*$")
_IGNORED_NAMES = {"Thumbs.db", "desktop.ini", RULES_FILE}  # access.toml: the groups of documents (rag.access.groups)


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file left out of the build, and why."""

    path: str
    reason: str


FileNote = SkippedFile  # same shape: a usable file and what to know about it


@dataclass(frozen=True)
class Corpus:
    root: Path
    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]
    notes: tuple[FileNote, ...] = ()
    carried: frozenset[str] = frozenset()  # documents kept from the live build because their file is now unreadable


@dataclass(frozen=True)
class _Read:
    document: Document
    notes: tuple[str, ...]


def load_corpus(root: Path, max_bytes: int = 20_000_000, prefer: Collection[str] = ()) -> Corpus:
    """Load every supported file under `root`, in sorted path order; of duplicate files, one in `prefer`
    (the live build's documents) is kept first."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} does not exist: pass --corpus DIR or set RAG_CORPUS_DIR")
    reads: list[_Read] = []
    skipped: list[SkippedFile] = []
    for rel, problem in _corpus_entries(root):
        if problem:
            skipped.append(SkippedFile(rel, problem))
            continue
        try:
            reads.append(read_document(root / rel, rel, max_bytes))
        except DocumentError as exc:
            skipped.append(SkippedFile(rel, exc.message.removeprefix(f"{rel}: ")))
    reads, duplicates = _drop_duplicates(reads, frozenset(prefer))
    if not reads:
        problems = "".join(f"; {s.path}: {s.reason}" for s in skipped[:10])
        raise CorpusError(
            f"no usable documents in {root} (supported: {', '.join(sorted(SUFFIXES))}): add files or pass --corpus DIR{problems}"
        )
    notes = tuple(FileNote(r.document.doc_id, note) for r in reads for note in r.notes)
    skipped = sorted(skipped + duplicates, key=lambda s: s.path)
    return Corpus(root, tuple(r.document for r in reads), tuple(skipped), notes)


def _drop_duplicates(reads: list[_Read], prefer: frozenset[str]) -> tuple[list[_Read], list[SkippedFile]]:
    """Files with the same bytes or the same text are indexed once: the copy already live, else the one nearest
    the corpus root, then the first by path."""
    identity = {r.document.doc_id: _identity(r.document) for r in reads}
    keeper: dict[str, str] = {}
    for doc_id in sorted(identity, key=lambda d: (d not in prefer, d.count("/"), d)):
        for key in identity[doc_id]:
            keeper.setdefault(key, doc_id)
    kept, duplicates = [], []
    for read in reads:
        first = next((keeper[k] for k in identity[read.document.doc_id] if keeper[k] != read.document.doc_id), None)
        if first is None:
            kept.append(read)
        else:
            duplicates.append(SkippedFile(read.document.doc_id, f"same content as {first}; remove one copy (the one already "
                                                                  "indexed, else the one nearest the corpus root, is kept)"))
    return kept, duplicates


def _identity(doc: Document) -> tuple[str, str]:
    return doc.content_hash, "text:" + hashlib.sha256(" ".join(doc.text.split()).encode()).hexdigest()


def _corpus_entries(root: Path) -> list[tuple[str, str]]:
    """(relative path, problem) for every candidate file; problem is '' for a file to read."""
    entries: list[tuple[str, str]] = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if not name.startswith(".") and (here / name).is_symlink():
                entries.append(((here / name).relative_to(root).as_posix() + "/", "a symlinked folder: not followed; copy its files in"))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink())
        for name in sorted(filenames):
            if name.startswith(".") or name in _IGNORED_NAMES:
                continue
            path = here / name
            entries.append((path.relative_to(root).as_posix(), _file_problem(path, real_root)))
    return sorted(entries)


def _file_problem(path: Path, real_root: Path) -> str:
    if Path(path.name).suffix.lower() not in SUFFIXES:
        return f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(sorted(SUFFIXES))}"
    if path.is_symlink():
        target = path.resolve()
        if not target.exists():
            return f"a broken symlink (to {os.readlink(path)}); fix or remove it"
        if not target.is_relative_to(real_root):
            return f"a symlink to {target}, outside the corpus folder; copy the file in instead"
    return ""


def load_document(path: Path, doc_id: str, max_bytes: int = 20_000_000) -> Document:
    """Read one file into a `Document`; raises `DocumentError` with the reason."""
    return read_document(path, doc_id, max_bytes).document


def read_document(path: Path, doc_id: str, max_bytes: int = 20_000_000) -> _Read:
    """Read one file into a `Document` and the notes worth reporting about it."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DocumentError(f"{doc_id}: unsupported file type {path.suffix!r}; supported: {', '.join(sorted(SUFFIXES))}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(f"{doc_id}: {size} bytes is over the limit of {max_bytes} (RAG_MAX_DOCUMENT_BYTES); "
                                "split the file or raise the limit")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(f"{doc_id}: disappeared while the build was reading the corpus; run the build again") from None
    except OSError as exc:
        raise DocumentError(f"{doc_id}: cannot read ({exc.strerror}); check its permissions") from None
    return _parse(raw, doc_id, fmt)


def parse_document(raw: bytes, doc_id: str, fmt: str) -> Document:
    """Turn raw bytes of a known format into a `Document`."""
    return _parse(raw, doc_id, fmt).document


def _parse(raw: bytes, doc_id: str, fmt: str) -> _Read:
    extracted = _extract(raw, doc_id, fmt)
    text = extracted.text
    if not text.strip():
        raise DocumentError(f"{doc_id}: no text in the file; add content or remove it from the corpus")
    markers = _with_clauses(text, extracted.markers) if extracted.markers else (
        markdown_markers(text) if fmt == "markdown" else text_markers(text))
    title = extracted.title or _first_line_title(text, fmt) or Path(doc_id).stem.replace("-", " ").replace("_", " ").strip().title()
    document = Document(
        doc_id=doc_id,
        title=title,
        text=text,
        sections=build_sections(text, _drop_title_marker(markers, title)),
        metadata={**extract_metadata(text), **extracted.metadata, "title": title},
        content_hash=hashlib.sha256(raw).hexdigest(),
        source_format=fmt,
        pages=extracted.pages,
    )
    return _Read(document, tuple(extracted.notes))


def _extract(raw: bytes, doc_id: str, fmt: str) -> Extracted:
    """The format reader's output; text formats are decoded first."""
    if fmt == "pdf":
        from rag.ingest.pdf_text import extract_pdf

        return extract_pdf(raw, doc_id)
    if fmt == "docx":
        from rag.ingest.docx_text import extract_docx

        return extract_docx(raw, doc_id)
    if raw.startswith(b"%PDF") or raw.startswith(b"PK\x03\x04"):
        raise DocumentError(f"{doc_id}: a PDF or Office file with a text extension; rename it to .pdf or .docx")
    decoded, encoding = decode_bytes(raw, doc_id)
    notes = [] if encoding in ("utf-8", "utf-16") else [
        f"not UTF-8: decoded as {encoding} (detected); re-save it as UTF-8 if any character looks wrong"]
    if fmt == "html":
        text, title, markers, hidden = extract_html(decoded)
        if hidden:  # never shown to a reader, so never quoted; the build report names it
            notes.append(f"hidden text left out ({len(hidden)} characters): {hidden[:120]!r}")
        return Extracted(text=text, title=title, markers=markers, notes=notes)
    text, metadata, problem = split_front_matter(normalise_newlines(decoded))
    return Extracted(text=text, title=metadata.get("title", ""), metadata=metadata, notes=notes + ([problem] if problem else []))


def _with_clauses(text: str, headings: list[Marker]) -> list[Marker]:
    """Heading markers from the format (HTML, DOCX) plus numbered clause paragraphs found in the text."""
    at = {m.offset for m in headings}
    return sorted(headings + [c for c in clause_markers(text) if c.offset not in at], key=lambda m: m.offset)


def decode_bytes(raw: bytes, doc_id: str) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), UTF-16 with BOM, else the detected legacy encoding;
    binary data is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DocumentError(f"{doc_id}: damaged UTF-16 text; re-save it as UTF-8") from None
    if b"\x00" in raw[:4096]:
        raise DocumentError(f"{doc_id}: looks like a binary file, not text; remove it or fix its extension")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return _decode_legacy(raw, doc_id)


def _decode_legacy(raw: bytes, doc_id: str) -> tuple[str, str]:
    """Detect a legacy encoding; Windows-1252 (the usual one for English office documents) wins near-ties."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(raw, cp_isolation=list(_LEGACY)))
    if not matches:
        raise DocumentError(f"{doc_id}: not UTF-8 and no known encoding fits; re-save it as UTF-8")
    best = min(matches, key=lambda m: m.chaos)
    western = [m for m in matches if m.encoding in _WESTERN and m.chaos <= best.chaos + 0.1]
    if western:
        return raw.decode("cp1252", errors="replace"), "windows-1252"
    return str(best), best.encoding


_WESTERN = ("cp1252", "latin_1", "iso8859_15")
_LEGACY = ("cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "mac_roman", "shift_jis", "gb18030", "big5", "euc_kr", "koi8_r")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line_title(text: str, fmt: str) -> str:
    """The first line when it reads as a title: a Markdown `#` heading, or a short line that is
    neither a sentence nor a numbered section heading ('1. INTRODUCTION'); else '' (the file name is used)."""
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if fmt == "markdown" and line.startswith("# "):
            return line[2:].strip()
        plain = line.lstrip("#").strip()
        looks_numbered = bool(re.match(r"^(\d+(\.\d+)*\.?|part|chapter|article|section)\s", plain, re.IGNORECASE))
        if len(plain) <= 120 and not plain.endswith((".", ";", ":", ",")) and not looks_numbered:
            return plain
        return ""
    return ""


def _drop_title_marker(markers: list[Marker], title: str) -> list[Marker]:
    """The document title heading is not part of section paths (citations carry the title)."""
    if markers and markers[0].label.strip() == title.strip() and markers[0].kind == "heading":
        return markers[1:]
    return markers


def extract_metadata(text: str) -> dict[str, str]:
    """`Key: value` lines near the top (Version, Effective date, Owner, ...)."""
    metadata: dict[str, str] = {}
    for line in text.split("\n")[:40]:
        match = _META_LINE.match(line.strip("|- "))
        if match and match.group(1).strip().lower() in METADATA_KEYS:
            key = match.group(1).strip().lower().replace(" ", "_")
            metadata.setdefault(key, match.group(2).strip("* "))
    return metadata
