"""One SQLite file of the service's state, opened per call: WAL, foreign keys, one transaction per `with`.

Owns opening a state file (its folder created and its schema applied on first use), running each call's statements
in one immediate transaction (committed at the end, rolled back on any failure), and turning SQLite and file-system
failures into `StateError`s that name the file and the next step. The stored conversations (`rag.chat.store`) and the
feedback (`rag.chat.feedback`) each keep their own file through it. Leaves the tables and queries to them.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rag.errors import StateError


class StateFile:
    """A SQLite file with `schema`; safe to share between threads (every call opens its own connection)."""

    def __init__(self, path: Path, schema: str, what: str) -> None:
        self.path = path
        self.schema = schema
        self.what = what  # names the store in error messages: "conversation store", "feedback store"
        self._ready = False

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open {self.path} ({exc}): set RAG_STATE_DIR to a writable folder") from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(self.schema)
                self._ready = True
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.rollback()
            raise StateError(f"{self.what} {self.path} failed ({exc}): check the disk and RAG_STATE_DIR") from None
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()
