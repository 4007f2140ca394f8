"""Corpus loading: files on disk become `Document`s with a section map.

Owns reading a corpus folder (Markdown, plain text, HTML), decoding, extracting
the text a citation points into, the title, front metadata lines and the
heading/clause path of every character range. Files that cannot be used are
reported as `SkippedFile`s with a reason, never silently dropped. Leaves out
chunking and anything model-related.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError, DocumentError
from rag.html_text import extract_html
from rag.models import Document
from rag.structure import Marker, build_sections, clause_markers, markdown_markers, text_markers

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".html": "html", ".htm": "html"}
METADATA_KEYS = ("document id", "version", "effective date", "owner", "approved by", "classification", "review date", "last reviewed")
_META_LINE = re.compile(r"^\s*\**\s*([A-Za-z][A-Za-z ]{1,30}?)\s*\**\s*:\s*\**\s*(.+?)\s*$")


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file left out of the build, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    root: Path
    documents: tuple[Document, ...]
    skipped: tuple[SkippedFile, ...]


def load_corpus(root: Path, max_bytes: int = 20_000_000) -> Corpus:
    """Load every supported file under `root`, in sorted path order."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} does not exist: pass --corpus DIR or set RAG_CORPUS_DIR")
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for path in _corpus_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            documents.append(load_document(path, rel, max_bytes))
        except DocumentError as exc:
            skipped.append(SkippedFile(rel, exc.message))
    if not documents:
        raise CorpusError(
            f"no usable documents in {root} (supported: {', '.join(sorted(SUFFIXES))}): add files or pass --corpus DIR"
        )
    return Corpus(root, tuple(documents), tuple(skipped))


def _corpus_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                files.append(Path(dirpath) / name)
    return files


def load_document(path: Path, doc_id: str, max_bytes: int = 20_000_000) -> Document:
    """Read one file into a `Document`; raises `DocumentError` with the reason."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DocumentError(f"{doc_id}: unsupported file type {path.suffix!r}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{doc_id}: cannot read ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise DocumentError(f"{doc_id}: {len(raw)} bytes is over the limit of {max_bytes} (RAG_MAX_DOCUMENT_BYTES)")
    return parse_document(raw, doc_id, fmt)


def parse_document(raw: bytes, doc_id: str, fmt: str) -> Document:
    """Turn raw bytes of a known format into a `Document`."""
    decoded = decode_bytes(raw, doc_id)
    if fmt == "html":
        text, title, markers = extract_html(decoded)
        headings = {m.offset for m in markers}
        markers = sorted(markers + [c for c in clause_markers(text) if c.offset not in headings], key=lambda m: m.offset)
    else:
        text = normalise_newlines(decoded)
        markers = markdown_markers(text) if fmt == "markdown" else text_markers(text)
        title = _first_line_title(text, fmt)
    if not text.strip():
        raise DocumentError(f"{doc_id}: no text in the file; add content or remove it from the corpus")
    title = title or Path(doc_id).stem.replace("-", " ").replace("_", " ").strip().title()
    return Document(
        doc_id=doc_id,
        title=title,
        text=text,
        sections=build_sections(text, _drop_title_marker(markers, title)),
        metadata=extract_metadata(text),
        content_hash=hashlib.sha256(raw).hexdigest(),
        source_format=fmt,
    )


def decode_bytes(raw: bytes, doc_id: str) -> str:
    """UTF-8 (with or without BOM), else UTF-16 with BOM, else Windows-1252; binary is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DocumentError(f"{doc_id}: damaged UTF-16 text; re-save it as UTF-8") from None
    if b"\x00" in raw[:4096]:
        raise DocumentError(f"{doc_id}: looks like a binary file, not text; remove it or fix its extension")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


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
