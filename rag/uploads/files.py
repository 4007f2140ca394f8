"""An uploaded document: where it may go in the corpus folder, whether the build could read it, and writing it.

Owns turning the name a client sends into a path under the operator's corpus folder (`RAG_CORPUS_DIR`) and never
outside it: Unicode normalised (NFC), backslashes read as separators, characters other systems refuse replaced, and
absolute names, `..`, hidden files and folders, control and bidirectional characters, symlinks and files the build
never reads refused with a message saying what to send instead. Checks the bytes exactly as the build reads a file
(`rag.ingest.corpus.parse_document`: the same readers, the same messages for a damaged PDF or DOCX, an unsupported
type, an empty or binary file) and against the size limits, before anything is written; then writes them atomically
(a hidden temporary file in the target folder, fsynced, renamed over the target), so a server killed at any moment
leaves the corpus folder as it was or with the whole new file. Leaves queueing the build to `rag.uploads.jobs`.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping

from rag.config import Settings
from rag.errors import DocumentError, InvalidRequestError, PayloadTooLargeError
from rag.ingest.corpus import SUFFIXES, parse_document

TEMP_PREFIX = ".upload-"  # hidden: the corpus loader never reads a half-written upload
MAX_SEGMENT_BYTES = 255
MAX_DEPTH = 8
_REPLACED = re.compile(r'[<>:"|?*]')
_DRIVE = re.compile(r"^[A-Za-z]:")
EXAMPLE = "send a plain name such as travel-policy.pdf, or policies/travel-policy.pdf for a subfolder"


@dataclass(frozen=True)
class StoredUpload:
    """What an upload did to the corpus folder."""

    doc_id: str
    replaced: bool  # a file of that name was there and now holds the new bytes
    unchanged: bool  # the file there already held exactly these bytes: nothing written, no build needed
    size: int
    content_hash: str

    def to_dict(self) -> dict[str, object]:
        return {"doc_id": self.doc_id, "replaced": self.replaced, "unchanged": self.unchanged, "bytes": self.size,
                "content_hash": self.content_hash}


def _refuse(name: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"file name {name!r}: {why}; {EXAMPLE}")


def clean_name(name: str) -> str:
    """The document id (a relative POSIX path) an upload named `name` becomes, or `InvalidRequestError`."""
    text = unicodedata.normalize("NFC", name or "").strip()
    if not text:
        raise _refuse(name, "is empty")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise _refuse(name, "holds control, bidirectional or unassigned characters")
    text = text.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise _refuse(name, "is an absolute path; uploads are kept under the corpus folder")
    parts = [part.strip() for part in text.split("/")]
    if any(part in ("", ".", "..") for part in parts):
        raise _refuse(name, "has an empty, '.' or '..' part; uploads cannot leave their folder")
    if any(part.startswith(".") for part in parts):
        raise _refuse(name, "names a hidden file or folder, which the build never reads")
    if len(parts) > MAX_DEPTH:
        raise _refuse(name, f"is more than {MAX_DEPTH} folders deep")
    parts = [_REPLACED.sub("-", part).rstrip(". ") for part in parts]
    if any(not part or len(part.encode("utf-8")) > MAX_SEGMENT_BYTES for part in parts):
        raise _refuse(name, f"has a part that is empty once cleaned, or longer than {MAX_SEGMENT_BYTES} bytes")
    doc_id = str(PurePosixPath(*parts))
    suffix = PurePosixPath(doc_id).suffix.lower()
    if suffix not in SUFFIXES:
        raise DocumentError(f"{doc_id}: unsupported file type {suffix or '(none)'!r}; supported: {', '.join(sorted(SUFFIXES))}")
    return doc_id


def target_path(root: Path, doc_id: str) -> Path:
    """Where `doc_id` lives under `root`, refusing any route out of it (a symlinked folder or file on the way)."""
    real_root = Path(root).resolve()
    path = real_root / doc_id
    here = real_root
    for part in PurePosixPath(doc_id).parts:
        here = here / part
        if here.is_symlink():
            raise _refuse(doc_id, "leads through a symlink in the corpus folder, which the build does not follow")
    if not path.resolve().is_relative_to(real_root):
        raise _refuse(doc_id, "resolves outside the corpus folder")
    if path.exists() and not path.is_file():
        raise _refuse(doc_id, "names a folder of the corpus")
    return path


def size_limit(settings: Settings) -> tuple[int, str]:
    """The largest upload, and the setting that sets it (a file over RAG_MAX_DOCUMENT_BYTES would be skipped by the build)."""
    if settings.max_document_bytes < settings.max_upload_bytes:
        return settings.max_document_bytes, "RAG_MAX_DOCUMENT_BYTES"
    return settings.max_upload_bytes, "RAG_MAX_UPLOAD_BYTES"


def check_size(doc_id: str, size: int, settings: Settings) -> None:
    limit, name = size_limit(settings)
    if size > limit:
        raise PayloadTooLargeError(f"{doc_id}: {size} bytes is over the limit of {limit} ({name}); split the file or raise the limit")


def check_document(raw: bytes, doc_id: str, settings: Settings, indexed: Mapping[str, str] = {}) -> str:
    """The content hash of `raw` once it reads as the build would read it; the build's `DocumentError` otherwise.
    `indexed` (the live build's documents: id -> content hash) refuses a copy of another document, which the build
    would skip as a duplicate."""
    check_size(doc_id, len(raw), settings)
    parse_document(raw, doc_id, SUFFIXES[PurePosixPath(doc_id).suffix.lower()])
    digest = hashlib.sha256(raw).hexdigest()
    twin = next((other for other, known in sorted(indexed.items()) if known == digest and other != doc_id), None)
    if twin is not None:
        raise DocumentError(f"{doc_id}: same content as {twin}; remove one copy (the one already indexed, else the one "
                            "nearest the corpus root, is kept)")
    return digest


def store_upload(settings: Settings, name: str, raw: bytes, indexed: Mapping[str, str] = {}) -> StoredUpload:
    """Check `raw` as the build would and write it as `name` under the corpus folder; nothing is written on refusal."""
    doc_id = clean_name(name)
    path = target_path(Path(settings.corpus_dir), doc_id)
    digest = check_document(raw, doc_id, settings, indexed)
    existed = path.is_file()
    if existed and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
        return StoredUpload(doc_id, False, True, len(raw), digest)
    write_atomically(path, raw)
    return StoredUpload(doc_id, existed, False, len(raw), digest)


def write_atomically(path: Path, raw: bytes) -> None:
    """`raw` at `path`, whole or not at all: a hidden temporary file beside it, fsynced, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}.part"
    try:
        with open(temp, "xb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
