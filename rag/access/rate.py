"""Rate-limit buckets kept in the state database, so a key's rate holds across every worker and replica.

Owns the store `rate` (`rate.sqlite` in `RAG_STATE_DIR`, or the table `rate_buckets` in `RAG_DATABASE_URL`): one row
per key name with the tokens left and when they were counted (wall-clock seconds, which every process shares), and
`StoredBuckets.take`, which refills and takes one token in one transaction (the row locked meanwhile, so two replicas
never spend the same token). `server.auth` uses it when `RAG_DATABASE_URL` is set; a single process keeps its buckets
in memory (`server.auth.TokenBucket`). A lost bucket only refills early, so the SQLite file is not synced per write.
"""

from __future__ import annotations

import time

from rag.config import Settings
from rag.state.database import Migration, open_database

FILE = "rate.sqlite"
MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS rate_buckets (name TEXT PRIMARY KEY, tokens {FLOAT} NOT NULL, counted_at {FLOAT} NOT NULL);
"""),)


class StoredBuckets:
    """Per-name token buckets: `rate` tokens a second, at most `burst` saved up; each request takes one."""

    def __init__(self, settings: Settings, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.database = open_database(settings, "rate", FILE, MIGRATIONS, "rate-limit store", durable=False)

    def take(self, name: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.time() if now is None else now
        with self.database.transaction() as tx:
            tx.execute("INSERT INTO rate_buckets VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING", (name, float(self.burst), now))
            tokens, when = tx.execute("SELECT tokens, counted_at FROM rate_buckets WHERE name = ?" + tx.for_update,
                                      (name,)).fetchone()
            tokens = min(float(self.burst), float(tokens) + max(0.0, now - float(when)) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            tx.execute("UPDATE rate_buckets SET tokens = ?, counted_at = ? WHERE name = ?",
                       (tokens - 1.0 if wait == 0.0 else tokens, max(now, float(when)), name))
        return wait
