"""The build lifecycle: build into a private folder, then promote atomically.

Owns the index folder layout (`builds/<id>/`, `builds/.tmp-<id>/` while a build
runs, the `current` symlink naming the live build, a lock file), the pipeline
corpus -> chunks -> vectors -> complete build folder, promotion by an atomic
symlink swap, listing, rollback and pruning. A build that dies at any point
leaves only a `.tmp-*` folder, which the next build removes: the live build is
never touched until the final rename of the pointer. A gate (the eval issue)
slots in between `build()` and `promote()`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from rag import __version__
from rag.access.groups import access_manifest
from rag.config import Settings
from rag.errors import BuildLockedError, CorpusError, IndexCorruptError, IndexNotFoundError, NotFoundError
from rag.indexing.carry import all_flags, carried_parts, recipe
from rag.indexing.chunks import chunk_corpus, chunker_settings, live_chunks, reusable_chunks, tokenizer_identity
from rag.indexing.embed_cache import CACHE_FILE, EmbeddingCache
from rag.indexing.embedding import Embedder
from rag.indexing.lexical import LexicalIndex
from rag.indexing.originals import keep_originals
from rag.indexing.store import FORMAT_VERSION, LoadedIndex, read_documents, read_manifest, write_build, write_manifest
from rag.indexing.vector_store import backend_of
from rag.indexing.vectors import embed_build, sentence_source
from rag.ingest.chunking import embedding_text
from rag.ingest.corpus import Corpus, SkippedFile, load_corpus
from rag.models import Chunk, Document

BUILDS = "builds"
CURRENT = "current"
LOCK = ".build.lock"
TMP_PREFIX = ".tmp-"


class BuildProgress:
    """Callbacks a front end implements to show progress; all optional."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def message(self, text: str) -> None: ...


@dataclass(frozen=True)
class BuildResult:
    build_id: str
    folder: Path
    manifest: dict[str, Any]


def new_build_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S-%f") + "-" + uuid.uuid4().hex[:4]


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive, process-lifetime lock: a killed build releases it automatically."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLockedError(f"another build is running on {index_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(settings: Settings, embedder: Embedder, progress: BuildProgress | None = None, strict: bool = False) -> BuildResult:
    """Build a complete, not yet promoted, index from `settings.corpus_dir`.

    Unusable files are skipped and reported; with `strict` any of them fails the build before anything is written."""
    progress = progress or BuildProgress()
    index_dir = Path(settings.index_dir)
    with build_lock(index_dir):
        clean_leftovers(index_dir)
        live = live_build(index_dir)
        corpus = load_corpus(Path(settings.corpus_dir), settings.max_document_bytes,
                             prefer=live.manifest["corpus"]["documents"] if live else ())
        for skipped in corpus.skipped:
            progress.message(f"skipped {skipped.path}: {skipped.reason}")
        for note in corpus.notes:
            progress.message(f"note {note.path}: {note.reason}")
        if strict and corpus.skipped:
            raise _strict_failure([(s.path, s.reason) for s in corpus.skipped], "cannot be indexed")
        corpus = carry_forward(corpus, live)
        build_id = new_build_id()
        tmp = index_dir / BUILDS / f"{TMP_PREFIX}{build_id}"
        tmp.mkdir(parents=True)
        try:
            manifest = _build_into(tmp, build_id, corpus, settings, embedder, progress, live)
            changed = manifest["corpus"]["changed_during_build"]
            if strict and changed:
                raise _strict_failure([(c["path"], c["reason"]) for c in changed], "changed during the build")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = index_dir / BUILDS / build_id
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    return BuildResult(build_id, final, manifest)


@dataclass(frozen=True)
class LiveBuild:
    """The live build's folder and manifest, read once per build."""

    folder: Path
    manifest: dict[str, Any]


def live_build(index_dir: Path) -> LiveBuild | None:
    """The live build, or None when there is none or its manifest is damaged (then it has nothing to offer a new build)."""
    build_id = current_build_id(Path(index_dir))
    if build_id is None:
        return None
    folder = Path(index_dir) / BUILDS / build_id
    try:
        return LiveBuild(folder, read_manifest(folder))
    except IndexCorruptError:
        return None


def carry_forward(corpus: Corpus, live: LiveBuild | None) -> Corpus:
    """Keep the live build's version of a document whose file is still there but can no longer be read
    (damaged, emptied, encrypted...), so a broken file never makes an indexed policy disappear.
    Deleted files, duplicates and files outside the corpus are not carried."""
    if live is None or not corpus.skipped or live.manifest["corpus"].get("root") != str(corpus.root.resolve()):
        return corpus
    try:
        indexed = read_documents(live.folder)
    except IndexCorruptError:
        return corpus  # a damaged live build has nothing trustworthy to carry
    present = {d.content_hash for d in corpus.documents}
    carried: list[Document] = []
    skipped: list[SkippedFile] = []
    for problem in corpus.skipped:
        doc = indexed.get(problem.path)
        path = corpus.root / problem.path
        if (doc is None or not path.is_file() or path.is_symlink() or "same content as" in problem.reason
                or doc.content_hash in present):
            skipped.append(problem)
            continue
        present.add(doc.content_hash)
        carried.append(doc)
        skipped.append(SkippedFile(problem.path, f"{problem.reason}; kept the version indexed in build {live.folder.name} "
                                                 "until the file is fixed"))
    documents = tuple(sorted(corpus.documents + tuple(carried), key=lambda d: d.doc_id))
    return Corpus(corpus.root, documents, tuple(skipped), corpus.notes, frozenset(d.doc_id for d in carried))


def _strict_failure(problems: list[tuple[str, str]], what: str) -> CorpusError:
    reasons = "; ".join(f"{path}: {reason}" for path, reason in problems)
    return CorpusError(f"--strict: {len(problems)} file(s) {what} ({reasons}); fix or remove them, or build "
                       "without --strict. The live index is unchanged.")


def cache_path(settings: Settings) -> Path:
    return settings.cache_folder / CACHE_FILE


def embedder_identity(embedder: Embedder) -> str:
    """What made a vector: the model files' fingerprint (with the export and pooling recipe for ONNX) and dimension;
    the embedding cache and carried vectors are reused only under the same identity."""
    identity = getattr(embedder, "fingerprint", None) or f"{type(embedder).__name__}:{embedder.name}"
    return f"{identity}\x00{embedder.dimension}"


def open_cache(settings: Settings, embedder: Embedder, progress: BuildProgress) -> EmbeddingCache | None:
    if not settings.embedding_cache:
        return None
    cache, problem = EmbeddingCache.open(cache_path(settings), embedder_identity(embedder))
    if problem:
        progress.message(f"warning: {problem}")
    return cache


def prune_cache(settings: Settings) -> int:
    """Drop cached vectors that no kept build used (last used before the oldest kept build was made)."""
    path = cache_path(settings)
    rows = list_builds(Path(settings.index_dir))
    if not path.exists() or not rows:
        return 0
    oldest = min(datetime.fromisoformat(r["manifest"]["created_at"]).timestamp() for r in rows)
    cache, _ = EmbeddingCache.open(path, "")
    if cache is None:
        return 0
    try:
        return cache.prune(oldest - 3600)  # an hour of slack: a build looks texts up after its id is stamped
    except sqlite3.Error:
        return 0
    finally:
        cache.close()


def _build_into(tmp: Path, build_id: str, corpus: Corpus, settings: Settings, embedder: Embedder, progress: BuildProgress,
                live: LiveBuild | None) -> dict[str, Any]:
    progress.stage("chunking", len(corpus.documents))
    made = recipe(embedder_identity(embedder))
    rows = live_chunks(live)  # read once: for the chunks to reuse, and for where their vectors are
    carried = carried_parts(live, rows, reusable_chunks(live, corpus, settings, embedder, rows), model_entry(settings, embedder), made,
                            settings)
    chunks, truncated = chunk_corpus(corpus, settings, embedder, carried.chunks)
    progress.advance(len(corpus.documents))
    started = time.perf_counter()
    cache = open_cache(settings, embedder, progress)
    texts = [embedding_text(c) for c in chunks]  # what is embedded is also what BM25 indexes
    try:
        vectors, sentences, pooled = embed_build(corpus, chunks, texts, settings, embedder, cache, progress, carried)
    finally:
        if cache is not None:
            cache.close()
    embed_s = time.perf_counter() - started
    progress.stage("writing", 1)
    lexical = LexicalIndex.build(texts)
    changed = keep_originals(corpus, tmp, live.folder if live else None)
    for problem in changed:
        progress.message(f"warning {problem['path']}: {problem['reason']}")
    manifest = _manifest(build_id, settings, embedder, corpus, chunks, truncated, embed_s)
    manifest["counts"]["sentences"] = len(sentences)
    manifest["counts"]["sentences_pooled"] = pooled
    manifest["corpus"]["changed_during_build"] = changed
    manifest["corpus"]["changes"] = _changes_since(live, manifest["corpus"]["documents"])
    manifest["access"] = access_manifest(corpus.documents, corpus.root, settings.default_group)
    manifest["injection"] = all_flags(chunks, corpus, carried)  # chunks that read as instructions to a model: named, never removed
    manifest["carry"] = {**made, "carried": carried.counts(len(corpus.documents))}
    manifest["embedding_cache"] = {"reused": cache.hits, "embedded": cache.misses, "problem": cache.problem} if cache is not None else None
    if cache is not None and cache.problem:
        progress.message(f"warning: {cache.problem}")
    write_build(tmp, manifest, vectors, chunks, corpus.documents, sentences, lexical, settings)
    progress.advance(1)
    return manifest


def _changes_since(live: LiveBuild | None, documents: dict[str, str]) -> dict[str, Any] | None:
    """Documents added, changed (new content hash) and removed against the live build."""
    if live is None:
        return None
    before = live.manifest["corpus"]["documents"]
    return {
        "since": live.folder.name,
        "added": sorted(set(documents) - set(before)),
        "changed": sorted(d for d in documents if d in before and before[d] != documents[d]),
        "removed": sorted(set(before) - set(documents)),
    }


def model_entry(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """The manifest's "model" entry: what made the vectors (a build may carry vectors only from one with the same)."""
    return {"name": embedder.name, "dimension": embedder.dimension, "window": embedder.window,
            "adapter": getattr(getattr(embedder, "source", embedder), "adapter", ""),
            "adapter_path": getattr(getattr(embedder, "source", embedder), "adapter_path", ""),
            "tokenizer": tokenizer_identity(embedder),
            "passage_encoder": getattr(embedder, "variant", "torch"), "sentence_vectors": sentence_source(settings, embedder)}


def _manifest(build_id: str, settings: Settings, embedder: Embedder, corpus: Corpus, chunks: list[Chunk], truncated: int, embed_s: float) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "build_id": build_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": __version__,
        "model": model_entry(settings, embedder),
        "chunker": {**chunker_settings(settings).to_dict(), "embedding_text": "title > section path, newline, chunk text"},
        "index": None,  # the vector store's entry, filled in by `write_build`
        "lexical": {"type": "bm25s", "k1": 1.2, "b": 0.75, "tokens": "lower-case, stopwords dropped, Snowball English stems, numbers like 4.2.1 whole",
                    "text": "title > section path, newline, chunk text"},
        "corpus": {
            "root": str(Path(settings.corpus_dir).resolve()),
            "documents": {d.doc_id: d.content_hash for d in corpus.documents},
            "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
            "notes": [{"path": n.path, "reason": n.reason} for n in corpus.notes],
        },
        "counts": {
            "documents": len(corpus.documents),
            "chunks": len(chunks),
            "tokens": sum(c.n_tokens for c in chunks),
            "chunks_over_window": truncated,
        },
        "timings": {"model_seconds": round(embed_s, 2)},
        "gate": {"status": "not_run"},
        "eval": None,
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_leftovers(index_dir: Path) -> None:
    """Remove `.tmp-*` folders of dead builds (call only while holding the lock)."""
    builds = index_dir / BUILDS
    for leftover in builds.glob(f"{TMP_PREFIX}*") if builds.is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True)
    for stale in index_dir.glob(f"{CURRENT}.tmp-*"):
        stale.unlink(missing_ok=True)


def promote(index_dir: Path, build_id: str, note: dict[str, Any] | None = None, settings: Settings | None = None) -> None:
    """Make `build_id` live: write the gate note, let its vector store follow (a no-op for FAISS), then swap the
    `current` symlink atomically. `settings` reach the store (default: the environment's)."""
    index_dir = Path(index_dir)
    folder = index_dir / BUILDS / build_id
    manifest = read_manifest(folder)
    backend_of(manifest).promote(folder, manifest, settings or Settings.from_env())
    manifest["promoted_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if note:
        manifest.update(note)
    write_manifest(folder, manifest)
    tmp_link = index_dir / f"{CURRENT}.tmp-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    os.symlink(Path(BUILDS) / build_id, tmp_link)
    os.replace(tmp_link, index_dir / CURRENT)
    _fsync_dir(index_dir)


def current_build_id(index_dir: Path) -> str | None:
    link = Path(index_dir) / CURRENT
    if not link.is_symlink() and not link.exists():
        return None
    target = Path(os.readlink(link)) if link.is_symlink() else link.resolve()
    return target.name if (Path(index_dir) / BUILDS / target.name / "manifest.json").exists() else None


def load_current(settings: Settings) -> LoadedIndex:
    """The live build, checked against the settings."""
    index_dir = Path(settings.index_dir)
    build_id = current_build_id(index_dir)
    if build_id is None:
        raise IndexNotFoundError(
            f"no index at {index_dir / CURRENT}: run `rag index build --corpus {settings.corpus_dir} --index-dir {index_dir}`"
        )
    return LoadedIndex.load(index_dir / BUILDS / build_id, settings)


def list_builds(index_dir: Path) -> list[dict[str, Any]]:
    """Complete builds, newest first, with their manifests and a `live` flag."""
    builds_dir = Path(index_dir) / BUILDS
    live = current_build_id(Path(index_dir))
    rows = []
    for folder in sorted(builds_dir.iterdir() if builds_dir.is_dir() else [], reverse=True):
        if folder.name.startswith(".") or not (folder / "manifest.json").exists():
            continue
        rows.append({"build_id": folder.name, "live": folder.name == live, "manifest": read_manifest(folder)})
    return rows


def rollback(index_dir: Path, build_id: str | None = None, settings: Settings | None = None) -> str:
    """Make an older build live (the one before the live one, by default).

    Only builds that were live before qualify: one refused by the gate, or whose build died before promotion, never does.
    """
    builds = [b["build_id"] for b in list_builds(index_dir) if "promoted_at" in b["manifest"]]
    live = current_build_id(Path(index_dir))
    if build_id is None:
        older = [b for b in builds if live is None or b < live]
        if not older:
            raise NotFoundError("no older build to roll back to; see `rag index list`")
        build_id = older[0]
    if build_id not in builds:
        raise NotFoundError(f"no build {build_id!r} that was ever live; see `rag index list`")
    promote(Path(index_dir), build_id, {"rolled_back_to": True}, settings)
    return build_id


def prune(index_dir: Path, keep: int, settings: Settings | None = None) -> list[str]:
    """Keep the newest `keep` builds that were ever live (rollback targets) and the live one; delete the rest,
    including refused builds and builds that died before promotion (their vector store's `remove` first)."""
    live = current_build_id(Path(index_dir))
    rows = list_builds(index_dir)
    promoted = sorted((r["build_id"] for r in rows if "promoted_at" in r["manifest"]), reverse=True)
    kept = set(promoted[:keep]) | {live}
    removed = []
    for row in rows:
        if row["build_id"] not in kept:
            folder = Path(index_dir) / BUILDS / row["build_id"]
            backend_of(row["manifest"]).remove(folder, row["manifest"], settings or Settings.from_env())
            shutil.rmtree(Path(index_dir) / BUILDS / row["build_id"], ignore_errors=True)
            removed.append(row["build_id"])
    return removed

