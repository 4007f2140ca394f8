"""Running the queued builds: one thread per server process, one build at a time across every replica.

Owns `BuildWorker`: it claims the next job from `rag.uploads.jobs.JobStore` (the lease row keeps replicas from
running the same build, or two at once), runs the incremental, gated build (`rag.pipeline.rebuild` on the gold sets of
`gate_golds`; nothing goes live unless every set passes), writes its stage and progress into the job as it goes and
renews the lease meanwhile, and records the outcome: `live` (promoted; old builds pruned to RAG_KEEP_BUILDS),
`gate_failed` (the gate's verdict and figures; the live build is as it was, and the uploaded files are put back to
the live build's versions, `restore_live_versions`) or `failed` (the error). The server's
reload watcher then serves a promoted build. Leaves the build itself to `rag.pipeline` and the queue to `jobs`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from rag.config import Settings
from rag.errors import NotConfiguredError, RagError
from rag.indexing import builds
from rag.indexing.embedding import Embedder
from rag.indexing.originals import ORIGINALS
from rag.models import BuildJob
from rag.pipeline import RebuildOutcome, default_golds, rebuild
from rag.uploads.files import target_path, write_atomically
from rag.uploads.jobs import JobStore

log = logging.getLogger("rag.uploads")
PROGRESS_EVERY_S = 0.5  # at most this often a job's progress is written


def gate_golds(settings: Settings) -> list[Path]:
    """The gold sets an upload's build is gated on (RAG_UPLOAD_GOLD_FILES, else RAG_GOLD_FILES for docs_corpus/)."""
    named = [Path(p.strip()) for p in settings.upload_gold_files.split(",") if p.strip()]
    golds = named or default_golds(settings)
    if not golds:
        raise NotConfiguredError(f"uploads are off for {settings.corpus_dir}: no gold set gates its builds, and nothing goes "
                                 "live ungated; set RAG_UPLOAD_GOLD_FILES to gold files for this corpus (see `rag eval`)")
    missing = [str(g) for g in golds if not g.is_file()]
    if missing:
        raise NotConfiguredError(f"gold set(s) {', '.join(missing)} not found (RAG_UPLOAD_GOLD_FILES / RAG_GOLD_FILES): fix the "
                                 "path (relative ones are read from the server's working folder)")
    return golds


def restore_live_versions(settings: Settings, uploads: dict[str, str]) -> list[str]:
    """After the gate refused a build: put back the live build's version of each uploaded document (its stored
    original; a document the live build lacks is removed), so the corpus folder matches what answers and the next
    build does not carry the refused file. A file changed since its upload is left as it is. Returns the ids restored."""
    live = builds.live_build(settings.index_dir)
    indexed = live.manifest["corpus"]["documents"] if live else {}
    restored = []
    for doc_id, written in sorted(uploads.items()):
        path = target_path(Path(settings.corpus_dir), doc_id)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != written:
            continue
        original = live.folder / ORIGINALS / (indexed[doc_id] + Path(doc_id).suffix.lower()) if live and doc_id in indexed else None
        if original is not None and original.is_file():
            write_atomically(path, original.read_bytes())
        elif doc_id not in indexed:
            path.unlink()
        else:
            continue  # the live build kept no original of it: leave the file for the operator
        restored.append(doc_id)
    return restored


class JobProgress(builds.BuildProgress):
    """A build's stages and progress, written into its job (at most every PROGRESS_EVERY_S)."""

    def __init__(self, store: JobStore, job_id: str, owner: str, lease_s: float) -> None:
        self.store, self.job_id, self.owner, self.lease_s = store, job_id, owner, lease_s
        self.name, self.done, self.total, self.written = "", 0, 0, 0.0

    def stage(self, name: str, total: int) -> None:
        self.name, self.done, self.total = name, 0, total
        self._write(force=True)

    def advance(self, count: int) -> None:
        self.done += count
        self._write()

    def message(self, text: str) -> None:
        log.info("build job %s: %s", self.job_id, text)

    def _write(self, force: bool = False) -> None:
        if force or time.monotonic() - self.written >= PROGRESS_EVERY_S:
            self.written = time.monotonic()
            self.store.progress(self.job_id, self.owner, self.lease_s, self.name, min(self.done, self.total), self.total)


def outcome_result(outcome: RebuildOutcome) -> dict[str, Any]:
    """What a job keeps of its build: the gate's verdict, each gold set's figures, and the health counts."""
    summaries = outcome.summaries or {}
    figures = {name: {k: s.get(k) for k in ("n", "retrieval", "answer", "abstention")} for name, s in summaries.items()}
    return {"gate": outcome.manifest.get("gate"), "eval": figures, "health": outcome.manifest.get("health"),
            "changes": (outcome.manifest.get("corpus") or {}).get("changes"),
            "skipped": (outcome.manifest.get("corpus") or {}).get("skipped", [])}


class BuildWorker:
    """Claims and runs queued builds in a background thread until `stop()`."""

    def __init__(self, settings: Settings, embedder: Callable[[], Embedder], store: JobStore | None = None,
                 poll_s: float = 1.0) -> None:
        self.settings, self.make_embedder, self.poll_s = settings, embedder, poll_s
        self.store = store or JobStore(settings)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_s = settings.build_lease_seconds
        self._embedder: Embedder | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rag-build-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a job was just queued)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_next()
            except Exception:  # the queue's database failed: keep trying, never die silently
                log.exception("build worker: cannot read the job queue")
                ran = False
            if not ran:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def run_next(self) -> bool:
        """Claim and run one job; False when none could be claimed."""
        job = self.store.claim(self.owner, self.lease_s)
        if job is None:
            return False
        self.run(job)
        return True

    def run(self, job: BuildJob) -> None:
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job.id, done), daemon=True)
        beat.start()
        try:
            state, build_id, result, error = self._build(job)
        finally:
            done.set()
            beat.join()
        if not self.store.finish(job.id, self.owner, state, build_id, result, error):
            log.warning("build job %s ended (%s) after its lease was lost", job.id, state)

    def _build(self, job: BuildJob) -> tuple[str, str | None, dict[str, Any] | None, str | None]:
        try:
            golds = gate_golds(self.settings)
            if self._embedder is None:
                self._embedder = self.make_embedder()
            outcome = rebuild(self.settings, self._embedder, golds, self.settings.gate_file,
                              progress=JobProgress(self.store, job.id, self.owner, self.lease_s))
        except RagError as exc:
            return "failed", None, None, exc.message
        except Exception as exc:
            log.exception("build job %s failed", job.id)
            return "failed", None, None, f"unexpected error ({type(exc).__name__}: {exc}); the server log has details"
        if outcome.promoted:
            builds.prune(self.settings.index_dir, self.settings.keep_builds)
            return "live", outcome.build_id, outcome_result(outcome), None
        restored = restore_live_versions(self.settings, self.store.uploads(job.id))
        return "gate_failed", outcome.build_id, {**outcome_result(outcome), "restored": restored}, None

    def _heartbeat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(self.lease_s / 4):
            try:
                self.store.progress(job_id, self.owner, self.lease_s)
            except RagError as exc:
                log.warning("build job %s: cannot renew its lease (%s)", job_id, exc.message)
