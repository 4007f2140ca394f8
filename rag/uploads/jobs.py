"""The queue of background builds, in the state database, so it survives a restart and every replica sees it.

Owns the store `build_jobs` (`build_jobs.sqlite` in `RAG_STATE_DIR`, or the table in `RAG_DATABASE_URL`; migrations in
`rag.state.database`): one row per build an upload asked for, with its state (queued, building, gate_failed, live,
failed), stage and progress, the build it made, the gate's verdict and figures, or the error. Running one at a time
across replicas: `claim` takes the oldest queued job only when no job is building under a live lease (a lease row:
who runs it and until when; PostgreSQL claims under an advisory lock, SQLite under its immediate transaction), and a
job whose lease ran out (its server died) is queued again, so it is built by whoever claims next. Leaves running
builds to `rag.uploads.worker`.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag.config import Settings
from rag.errors import NotFoundError
from rag.models import BuildJob
from rag.state.database import POSTGRES, Migration, open_database

FILE = "build_jobs.sqlite"
MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS build_jobs (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    requested_by TEXT NOT NULL, documents TEXT NOT NULL, stage TEXT NOT NULL, done INTEGER NOT NULL,
    total INTEGER NOT NULL, build_id TEXT, result TEXT, error TEXT, lease_owner TEXT, lease_until {FLOAT},
    uploads TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS build_jobs_by_state ON build_jobs (state, created_at);
"""),)
COLUMNS = ("id, state, created_at, updated_at, requested_by, documents, stage, done, total, build_id, result, error")
RESTARTED = "the server running this build stopped before it finished; queued again"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _job(row: Sequence[Any]) -> BuildJob:
    (job_id, state, created, updated, who, documents, stage, done, total, build_id, result, error) = row
    return BuildJob(job_id, state, created, updated, who, tuple(json.loads(documents)), stage, int(done), int(total),
                    build_id, json.loads(result) if result else None, error)


class JobStore:
    """Build jobs of one state database; safe to share between threads (one connection per call)."""

    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.state_dir) / FILE
        self.database = open_database(settings, "build_jobs", FILE, MIGRATIONS, "build job store")

    def enqueue(self, requested_by: str, uploads: Mapping[str, str]) -> BuildJob:
        """A queued build for the documents just written (`uploads`: id -> content hash of the bytes written)."""
        stamp, job_id = now(), "bld_" + secrets.token_hex(8)
        with self.database.transaction() as tx:
            tx.execute(f"INSERT INTO build_jobs ({COLUMNS}, lease_owner, lease_until, uploads) VALUES "
                       "(?, 'queued', ?, ?, ?, ?, '', 0, 0, NULL, NULL, NULL, NULL, NULL, ?)",
                       (job_id, stamp, stamp, requested_by, json.dumps(sorted(uploads)), json.dumps(dict(uploads))))
        return self.get(job_id)

    def uploads(self, job_id: str) -> dict[str, str]:
        """The documents a job's upload wrote, and the content hash of what was written."""
        with self.database.transaction() as tx:
            row = tx.execute("SELECT uploads FROM build_jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def get(self, job_id: str) -> BuildJob:
        with self.database.transaction() as tx:
            row = tx.execute(f"SELECT {COLUMNS} FROM build_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no build job {job_id!r}: GET /v1/builds lists them")
        return _job(row)

    def list(self, limit: int = 50) -> list[BuildJob]:
        """The latest jobs, newest first."""
        with self.database.transaction() as tx:
            rows = tx.execute(f"SELECT {COLUMNS} FROM build_jobs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return [_job(r) for r in rows]

    def claim(self, owner: str, lease_s: float) -> BuildJob | None:
        """The oldest queued job, now building under `owner`'s lease; None while another job builds (or none waits)."""
        clock = time.time()
        with self.database.transaction() as tx:
            if tx.dialect == POSTGRES:
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('rag build_jobs'))")  # replicas claim one at a time
            tx.execute("UPDATE build_jobs SET state = 'queued', stage = '', done = 0, total = 0, error = ?, lease_owner = NULL, "
                       "lease_until = NULL, updated_at = ? WHERE state = 'building' AND lease_until < ?", (RESTARTED, now(), clock))
            if tx.execute("SELECT 1 FROM build_jobs WHERE state = 'building'").fetchone():
                return None
            row = tx.execute("SELECT id FROM build_jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            tx.execute("UPDATE build_jobs SET state = 'building', stage = 'starting', lease_owner = ?, lease_until = ?, "
                       "updated_at = ? WHERE id = ?", (owner, clock + lease_s, now(), row[0]))
            return _job(tx.execute(f"SELECT {COLUMNS} FROM build_jobs WHERE id = ?", (row[0],)).fetchone())

    def progress(self, job_id: str, owner: str, lease_s: float, stage: str | None = None, done: int = 0, total: int = 0) -> bool:
        """Renew `owner`'s lease (and record the stage and progress, when given); False once the lease is lost."""
        with self.database.transaction() as tx:
            if stage is None:
                cursor = tx.execute("UPDATE build_jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = 'building'",
                                    (time.time() + lease_s, job_id, owner))
            else:
                cursor = tx.execute("UPDATE build_jobs SET lease_until = ?, stage = ?, done = ?, total = ?, updated_at = ? "
                                    "WHERE id = ? AND lease_owner = ? AND state = 'building'",
                                    (time.time() + lease_s, stage, done, total, now(), job_id, owner))
            return bool(cursor.rowcount)

    def finish(self, job_id: str, owner: str, state: str, build_id: str | None = None, result: dict[str, Any] | None = None,
               error: str | None = None) -> bool:
        """Record how the job ended (gate_failed, live or failed); False when `owner` no longer held it."""
        with self.database.transaction() as tx:
            cursor = tx.execute("UPDATE build_jobs SET state = ?, build_id = ?, result = ?, error = ?, lease_owner = NULL, "
                                "lease_until = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'building'",
                                (state, build_id, json.dumps(result) if result is not None else None, error, now(), job_id, owner))
            return bool(cursor.rowcount)

    def pending(self) -> int:
        """Jobs queued or building."""
        with self.database.transaction() as tx:
            return int(tx.execute("SELECT COUNT(*) FROM build_jobs WHERE state IN ('queued', 'building')").fetchone()[0])
