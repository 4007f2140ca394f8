"""Opening the state database and running each call's statements in one committed transaction.

Owns the two implementations of `Database`: `SqliteDatabase` (one file per store in `RAG_STATE_DIR`, WAL, foreign keys,
one immediate transaction per `with`) and `PostgresDatabase` (every store in the database `RAG_DATABASE_URL` names,
through one psycopg connection pool per process and URL, `RAG_DATABASE_POOL_SIZE` connections at most); the schema
version table `schema_versions` (one row per store) and the forward-only `Migration`s applied at first use, under a
lock so that replicas starting together apply each once (a database at a newer version than the code knows is a
`StateError` that says to upgrade the code); and turning driver failures into `StateError`s that name the database
and the next step. A transaction commits before its `with` ends, so a write that returned is on disk. Stores write
their SQL once, with `?` placeholders; `Tx` adapts it to PostgreSQL. Leaves the tables and queries to the stores.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from rag.config import Settings
from rag.errors import StateError

SQLITE, POSTGRES = "sqlite", "postgresql"
VERSIONS = "CREATE TABLE IF NOT EXISTS schema_versions (store TEXT PRIMARY KEY, version INTEGER NOT NULL)"
TYPES = {SQLITE: {"BLOB": "BLOB", "FLOAT": "REAL", "SERIAL": "INTEGER PRIMARY KEY AUTOINCREMENT"},
         POSTGRES: {"BLOB": "BYTEA", "FLOAT": "DOUBLE PRECISION", "SERIAL": "BIGSERIAL PRIMARY KEY"}}


@dataclass(frozen=True)
class Migration:
    """One forward step of a store's schema: its version and its statements (`{BLOB}`, `{FLOAT}`, `{SERIAL}` name column types)."""

    version: int
    sql: str

    def statements(self, dialect: str) -> list[str]:
        text = self.sql.format(**TYPES[dialect])
        return [s.strip() for s in text.split(";") if s.strip()]


class Tx:
    """One open transaction: `execute(sql, params)` with `?` placeholders, whatever the database."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn, self.dialect = conn, dialect
        self.for_update = " FOR UPDATE" if dialect == POSTGRES else ""  # SQLite's immediate transaction already locks

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == POSTGRES:
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, tuple(params))


class Database:
    """Where a store's rows live; `transaction()` commits when its `with` ends, rolls back on any failure."""

    dialect: str
    where: str  # names the database in error messages, never a password

    def transaction(self) -> Any:  # ContextManager[Tx]
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether the store holds anything yet (a missing SQLite file holds nothing and is not created by a read)."""
        return True

    def check(self) -> None:
        """Apply or check the store's migrations now (start-up), so a newer schema stops a server before it serves."""
        if self.exists():
            with self.transaction():
                pass

    def version(self, store: str) -> int:
        with self.transaction() as tx:
            row = tx.execute("SELECT version FROM schema_versions WHERE store = ?", (store,)).fetchone()
        return int(row[0]) if row else 0


def migrate(tx: Tx, store: str, migrations: Sequence[Migration], where: str) -> None:
    """Bring `store` to the last of `migrations` inside `tx`, or refuse a database newer than the code."""
    tx.execute(VERSIONS)
    row = tx.execute("SELECT version FROM schema_versions WHERE store = ?", (store,)).fetchone()
    current, known = (int(row[0]) if row else 0), max(m.version for m in migrations)
    if current > known:
        raise StateError(f"the {store} store in {where} is at schema version {current}, newer than this code knows "
                         f"({known}): upgrade this installation to the version that wrote it (every replica must run "
                         "the same release), or point RAG_DATABASE_URL / RAG_STATE_DIR at a database of this version")
    for step in sorted(migrations, key=lambda m: m.version):
        if step.version > current:
            for statement in step.statements(tx.dialect):
                tx.execute(statement)
    if current < known:
        tx.execute("INSERT INTO schema_versions (store, version) VALUES (?, ?) ON CONFLICT (store) DO UPDATE SET "
                   "version = excluded.version", (store, known))


class SqliteDatabase(Database):
    """One SQLite file; safe to share between threads and processes (every call opens its own connection)."""

    dialect = SQLITE

    def __init__(self, path: Path, store: str, migrations: Sequence[Migration], what: str, durable: bool = True) -> None:
        self.path, self.store, self.migrations, self.what, self.durable = path, store, migrations, what, durable
        self.where = str(path)
        self._ready = False

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open {self.path} ({exc}): set RAG_STATE_DIR to a writable folder") from None
        try:
            db.execute("PRAGMA foreign_keys = ON")
            if not self.durable:
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: a power cut may lose the last commits, never corrupts
            if not self._ready:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("BEGIN IMMEDIATE")
                migrate(Tx(db, SQLITE), self.store, self.migrations, self.where)
                db.execute("COMMIT")
                self._ready = True
            db.execute("BEGIN IMMEDIATE")
            yield Tx(db, SQLITE)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.rollback()
            raise StateError(f"{self.what} {self.path} failed ({exc}): check the disk and RAG_STATE_DIR") from None
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()


class PostgresDatabase(Database):
    """Every store in one PostgreSQL database, through this process's pool for the URL."""

    dialect = POSTGRES
    _pools: dict[str, Any] = {}
    _migrated: set[tuple[str, str]] = set()
    _lock = threading.Lock()

    def __init__(self, url: str, pool_size: int, store: str, migrations: Sequence[Migration], what: str) -> None:
        self.url, self.store, self.what = url, store, what
        self.where = redact(url)
        self.pool = self._pool(url, pool_size)
        key = (url, store)
        if key not in self._migrated:
            with self._lock:
                if key not in self._migrated:
                    with self.transaction() as tx:
                        tx.execute("SELECT pg_advisory_xact_lock(hashtext('rag schema_versions'))")  # replicas: one at a time
                        migrate(tx, store, migrations, self.where)
                    self._migrated.add(key)

    def _pool(self, url: str, size: int) -> Any:
        with self._lock:
            pool = self._pools.get(url)
            if pool is None:
                try:
                    import psycopg
                    from psycopg_pool import ConnectionPool
                except ImportError:
                    raise StateError("RAG_DATABASE_URL is set but psycopg is not installed: pip install 'psycopg[binary]' "
                                     "psycopg-pool (or unset RAG_DATABASE_URL to keep state in SQLite)") from None
                try:  # one plain connection first: an unreachable server fails now, not after the pool's retries
                    psycopg.connect(url, connect_timeout=10).close()
                except psycopg.Error as exc:
                    raise StateError(f"cannot connect to {self.where} ({str(exc).strip()}): check RAG_DATABASE_URL and "
                                     "that the server is up and reachable") from None
                pool = ConnectionPool(url, min_size=1, max_size=max(1, size), open=False, timeout=30,
                                      name="rag-state", kwargs={"connect_timeout": 10})
                try:
                    pool.open(wait=True, timeout=30)
                except Exception as exc:  # psycopg_pool.PoolTimeout and connection errors
                    pool.close()
                    raise StateError(f"cannot connect to {self.where} ({exc}): check RAG_DATABASE_URL and that the "
                                     "server is up and reachable") from None
                self._pools[url] = pool
            return pool

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        import psycopg

        try:
            with self.pool.connection() as conn:  # commits when the block ends, rolls back on an exception
                yield Tx(conn, POSTGRES)
        except psycopg.Error as exc:
            raise StateError(f"{self.what} in {self.where} failed ({str(exc).strip()}): check the database server and "
                             "RAG_DATABASE_URL") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):
                raise StateError(f"no connection to {self.where} ({exc}): check the database server, or raise "
                                 "RAG_DATABASE_POOL_SIZE") from None
            raise


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_database(settings: Settings, store: str, file: str, migrations: Sequence[Migration], what: str,
                  durable: bool = True) -> Database:
    """The store's database: PostgreSQL when `RAG_DATABASE_URL` is set, else the SQLite file `file` in `RAG_STATE_DIR`."""
    if settings.database_url:
        return PostgresDatabase(settings.database_url, settings.database_pool_size, store, migrations, what)
    return SqliteDatabase(Path(settings.state_dir) / file, store, migrations, what, durable)


def close_pools() -> None:
    """Close this process's PostgreSQL pools (tests that stop their server; a process exiting needs not)."""
    with PostgresDatabase._lock:
        for pool in PostgresDatabase._pools.values():
            pool.close()
        PostgresDatabase._pools.clear()
        PostgresDatabase._migrated.clear()
