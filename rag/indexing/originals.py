"""Original files kept with a build, so a citation can be opened in the very file it quotes.

Owns the build's `originals/` folder (each file stored as `<sha256><suffix>`, the hash
of the bytes that were indexed) and the end-of-build check that every corpus file is
still the one that was read: a file deleted or changed while the build ran is reported
(its indexed text is the version read first) and has no stored original. Files the
live build already holds are hard-linked instead of copied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from rag.ingest.corpus import Corpus
from rag.models import Document

ORIGINALS = "originals"
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",  # text types go out without a charset: the original may not be UTF-8
    "text": "text/plain",
}


def original_name(doc: Document) -> str:
    return doc.content_hash + Path(doc.doc_id).suffix.lower()


def original_path(build_folder: Path, doc: Document) -> Path | None:
    """The stored original of `doc` in a build, or None when the build has none."""
    path = build_folder / ORIGINALS / original_name(doc)
    return path if path.is_file() else None


def keep_originals(corpus: Corpus, folder: Path, live_folder: Path | None) -> list[dict[str, Any]]:
    """Store each document's original in `folder/originals`; returns the files that changed or vanished meanwhile."""
    target = folder / ORIGINALS
    target.mkdir(parents=True, exist_ok=True)
    changed = []
    for doc in corpus.documents:
        if doc.doc_id in corpus.carried:
            _link_previous(doc, target, live_folder)
            continue
        problem = _store(corpus.root / doc.doc_id, doc, target, live_folder)
        if problem:
            changed.append({"path": doc.doc_id, "reason": problem})
    return changed


def _store(source: Path, doc: Document, target: Path, live_folder: Path | None) -> str:
    name = original_name(doc)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        return "deleted during the build: this build holds its text as read, without the original; build again to drop it"
    except OSError as exc:
        return f"unreadable at the end of the build ({exc.strerror}); build again"
    if hashlib.sha256(raw).hexdigest() != doc.content_hash:
        return "changed during the build: this build holds the version read first; build again to index the new one"
    if not _link_previous(doc, target, live_folder) and not (target / name).exists():
        (target / name).write_bytes(raw)
    return ""


def _link_previous(doc: Document, target: Path, live_folder: Path | None) -> bool:
    """Hard-link (or copy) the live build's stored original of `doc`; False when it has none."""
    previous = live_folder / ORIGINALS / original_name(doc) if live_folder else None
    if previous is None or not previous.is_file():
        return False
    if (target / original_name(doc)).exists():
        return True  # the same bytes are already stored (two documents with one content)
    try:
        os.link(previous, target / original_name(doc))
    except OSError:
        shutil.copyfile(previous, target / original_name(doc))
    return True
