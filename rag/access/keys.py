"""API keys: created at random, shown once, stored only as salted hashes, verified in constant time.

Owns the store `keys` (`keys.sqlite` in `RAG_STATE_DIR`, or its table in `RAG_DATABASE_URL`, shared by every
replica; one row a key: its name, a short public id, a random salt, the HMAC-SHA256 of
the key's secret under that salt, its groups, whether it is an admin's, when it was made and revoked). A key reads
`rag_<id>_<secret>`: the id finds the row, the secret is compared by `hmac.compare_digest`, and an unknown id is
compared against a dummy hash so that a miss takes as long as a wrong secret. Keys are 256-bit random, so one fast
hash suffices (a slow password hash would cost every request milliseconds). Leaves HTTP to `server.auth`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from rag.config import Settings
from rag.errors import AuthError, InvalidRequestError, NotFoundError
from rag.models import ApiKey
from rag.state.database import Migration, Tx, open_database

FILE = "keys.sqlite"
PREFIX = "rag_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
GROUP = re.compile(r"^(\*|[a-z0-9][a-z0-9_.-]{0,63})$")
KEY = re.compile(r"^rag_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, salt {BLOB} NOT NULL, digest {BLOB} NOT NULL, groups TEXT NOT NULL,
    admin INTEGER NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
"""),)
_DUMMY_SALT = secrets.token_bytes(16)
INVALID = ("the API key is missing, malformed, unknown or revoked; send it as the header `Authorization: Bearer <key>` "
           "(an admin makes one with `rag keys add NAME --groups GROUP,...`)")


def checked_groups(groups: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Group names from 'hr, staff' or a list: lower-cased, sorted, each a plain word (or `*`: every document)."""
    items = groups.split(",") if isinstance(groups, str) else list(groups)
    out = sorted({g.strip().lower() for g in items if g.strip()})
    bad = [g for g in out if not GROUP.match(g)]
    if bad:
        raise InvalidRequestError(f"group {bad[0]!r} is not a plain name (letters, digits, - _ .); e.g. --groups hr,staff")
    return tuple(out)


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode("ascii", "replace"), hashlib.sha256).digest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class KeyStore:
    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.state_dir) / FILE  # the SQLite file, when RAG_DATABASE_URL is not set
        self.database = open_database(settings, "keys", FILE, MIGRATIONS, "key store")

    @contextmanager
    def _db(self, create: bool = False) -> Iterator[Tx | None]:
        """A transaction; None for a read of a store that holds nothing yet (a read creates no SQLite file)."""
        if not create and not self.database.exists():
            yield None
            return
        with self.database.transaction() as tx:
            yield tx

    def add(self, name: str, groups: str | list[str] | tuple[str, ...], admin: bool = False) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is shown once and never stored."""
        if not NAME.match(name or ""):
            raise InvalidRequestError(f"key name {name!r} must be 1-64 letters, digits or - _ . @, starting with a letter or digit")
        chosen = checked_groups(groups)
        if not chosen and not admin:
            raise InvalidRequestError("a key needs at least one group to read documents: pass --groups GROUP,... (or --admin)")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        record = ApiKey(name, key_id, chosen, admin, _now())
        with self._db(create=True) as db:
            assert db is not None
            if db.execute("SELECT 1 FROM keys WHERE name = ?", (name,)).fetchone():  # revoked ones too: a name is one
                raise InvalidRequestError(f"a key named {name!r} exists (or existed): pick another name; "  # key for good, so
                                          "`rag keys list` shows them all")  # its conversations and audit records stay its own
            added = db.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (name) DO NOTHING",
                               (name, key_id, salt, _digest(salt, secret), ",".join(chosen), int(admin), record.created_at))
            if added.rowcount != 1:  # another replica added the name between the check and the insert
                raise InvalidRequestError(f"a key named {name!r} exists (or existed): pick another name")
        return record, f"{PREFIX}{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        with self._db() as db:
            rows = db.execute("SELECT name, key_id, groups, admin, created_at, revoked_at FROM keys ORDER BY created_at, name").fetchall() if db else []
        return [_record(row) for row in rows]

    def revoke(self, name: str) -> ApiKey:
        """Revoke a key for good (its row stays and its name is never given again, so the audit trail's names and the
        conversations a key owned keep to one key)."""
        with self._db() as db:
            row = db.execute("SELECT name FROM keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone() if db else None
            if row is None:
                raise NotFoundError(f"no active key named {name!r}; see them with `rag keys list`")
            db.execute("UPDATE keys SET revoked_at = ? WHERE name = ?", (_now(), name))
        return next(k for k in self.list() if k.name == name)

    def active(self) -> bool:
        """Whether any key is configured (and not revoked): the server then needs one on every document route."""
        with self._db() as db:
            return bool(db and db.execute("SELECT 1 FROM keys WHERE revoked_at IS NULL LIMIT 1").fetchone())

    def verify(self, key: str) -> ApiKey:
        """The record of a valid, unrevoked key, else `AuthError` (the same one whatever was wrong)."""
        match = KEY.match(key) if isinstance(key, str) else None
        key_id, secret = match.groups() if match else ("", key if isinstance(key, str) else "")
        row = None
        if match:
            with self._db() as db:
                row = db.execute("SELECT name, key_id, groups, admin, created_at, revoked_at, salt, digest FROM keys "
                                 "WHERE key_id = ?", (key_id,)).fetchone() if db else None
        salt, digest = (bytes(row[6]), bytes(row[7])) if row else (_DUMMY_SALT, b"\0" * 32)
        same = hmac.compare_digest(_digest(salt, secret), digest)
        if row is None or not same or row[5] is not None:
            raise AuthError(INVALID)
        return _record(row[:6])


def _record(row: tuple) -> ApiKey:  # type: ignore[type-arg]
    name, key_id, groups, admin, created, revoked = row
    return ApiKey(name, key_id, tuple(g for g in groups.split(",") if g), bool(admin), created, revoked)
