"""The audit trail: who saw which documents, when, through which route.

Owns the audit trail in one of two places: with `RAG_DATABASE_URL` set, the table `audit` of that database (the store
`audit`, shared by every replica: one row per record, committed before the call that wrote it returns); else
`audit.jsonl` in `RAG_STATE_DIR`: one JSON line per call that returned document content (time, key name, never
the key, route, question unless `RAG_AUDIT_QUESTIONS` is off, conversation id, build id, chunk ids and documents
returned, the answer backend, status), rotated to `audit.jsonl.1`, `.2`, ... at `RAG_AUDIT_MAX_BYTES` (keeping
`RAG_AUDIT_KEEP`; the table is not rotated), and reading either back: `tail` (the latest records) and `search` (the records that returned a
document). Appends are serialised by a lock and each line is written whole. Leaves deciding what to record to the
assistant.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from rag.config import Settings
from rag.errors import StateError
from rag.state.database import Migration, PostgresDatabase

TABLE_MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS audit (
    id {SERIAL}, time TEXT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, build_id TEXT NOT NULL,
    documents TEXT NOT NULL, chunks TEXT NOT NULL, question TEXT, conversation_id TEXT, backend TEXT NOT NULL,
    status INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_key ON audit (key, id);
"""),)
FIELDS = ("time", "key", "route", "build_id", "documents", "chunks", "question", "conversation_id", "backend", "status")

FILE = "audit.jsonl"


@dataclass(frozen=True)
class AuditRecord:
    key: str
    route: str
    build_id: str
    documents: tuple[str, ...]
    chunks: tuple[str, ...] = ()
    question: str | None = None
    conversation_id: str | None = None
    backend: str = ""
    status: int = 200
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "documents": list(self.documents), "chunks": list(self.chunks)}

    @classmethod
    def from_dict(cls, data: dict) -> "AuditRecord":  # type: ignore[type-arg]
        names = cls.__dataclass_fields__
        return cls(**{**{k: v for k, v in data.items() if k in names}, "documents": tuple(data.get("documents", ())),
                      "chunks": tuple(data.get("chunks", ()))})


class AuditLog:
    """The trail: the database's table when `RAG_DATABASE_URL` is set, else the JSONL file and its rotations."""

    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.state_dir) / FILE
        self.questions = settings.audit_questions
        self.max_bytes = settings.audit_max_bytes
        self.keep = settings.audit_keep
        self._lock = threading.Lock()
        self.table = (PostgresDatabase(settings.database_url, settings.database_pool_size, "audit", TABLE_MIGRATIONS,
                                       "audit trail") if settings.database_url else None)

    def record(self, record: AuditRecord) -> None:
        if not self.questions and record.question is not None:
            record = AuditRecord(**{**record.__dict__, "question": None})
        if self.table is not None:
            row = record.to_dict()
            values = [json.dumps(row[f]) if f in ("documents", "chunks") else row[f] for f in FIELDS]
            with self.table.transaction() as tx:
                tx.execute(f"INSERT INTO audit ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})", values)
            return
        line = json.dumps(record.to_dict(), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                    self._rotate()
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
            except OSError as exc:
                raise StateError(f"cannot write the audit trail {self.path} ({exc}): set RAG_STATE_DIR to a writable folder") from None

    def _rotate(self) -> None:
        self._file(self.keep).unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            if self._file(n).exists():
                self._file(n).replace(self._file(n + 1))
        self.path.replace(self._file(1))

    def _file(self, n: int) -> Path:
        return self.path.with_name(f"{FILE}.{n}") if n else self.path

    def _rows(self, where: str = "", args: tuple[str, ...] = (), last: int | None = None) -> list[AuditRecord]:
        assert self.table is not None
        query = f"SELECT {', '.join(FIELDS)} FROM audit {where} ORDER BY id DESC" + (f" LIMIT {int(last)}" if last else "")
        with self.table.transaction() as tx:
            rows = tx.execute(query, args).fetchall()
        return [AuditRecord.from_dict({**dict(zip(FIELDS, row)), "documents": json.loads(row[4]), "chunks": json.loads(row[5])})
                for row in reversed(rows)]

    def records(self) -> Iterator[AuditRecord]:
        """Every kept record, oldest first."""
        if self.table is not None:
            yield from self._rows()
            return
        for n in range(self.keep, -1, -1):
            path = self._file(n)
            if not path.exists():
                continue
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        yield AuditRecord.from_dict(json.loads(line))
                    except (ValueError, TypeError):
                        continue  # a line cut short by a crash

    def tail(self, n: int = 20) -> list[AuditRecord]:
        if self.table is not None:
            return self._rows(last=n) if n > 0 else []
        return list(deque(self.records(), maxlen=n))

    def search(self, doc_id: str | None = None, key: str | None = None) -> list[AuditRecord]:
        found = self._rows("WHERE key = ?", (key,)) if self.table is not None and key is not None else self.records()
        return [r for r in found if (doc_id is None or doc_id in r.documents) and (key is None or r.key == key)]
