"""The embedding cache: vectors already computed, keyed by model and exact input text.

Owns one SQLite file beside the builds (`index/cache/embeddings.sqlite` by default). A rebuild
looks every chunk and answer sentence up first and sends only the misses to the
model, so changing one document re-embeds only that document's new or changed
text. Misses are stored as they are computed, in committed batches: a killed build
loses at most one batch, and the next build resumes from there. Vectors are stored
as float32 bytes, so a cached vector is bit-identical to a freshly computed one.
Entries not used by recent builds are pruned with the builds.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.indexing.embedding import Embedder

CACHE_FILE = "embeddings.sqlite"
_SLICE = 256  # texts embedded and committed at a time


class EmbeddingCache:
    """Open with `EmbeddingCache.open`, which returns None (and why) when the file cannot be used."""

    def __init__(self, path: Path, model_key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model_key = model_key
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL, used REAL NOT NULL)")
        self._db.commit()
        self.hits = 0
        self.misses = 0
        self.problem = ""  # set when the cache failed mid-build; the build then goes on without it

    @classmethod
    def open(cls, path: Path, model_key: str) -> tuple["EmbeddingCache | None", str]:
        try:
            return cls(path, model_key), ""
        except (sqlite3.Error, OSError) as exc:
            return None, (f"embedding cache {path} unusable ({exc}); building without it. Delete the file (it is only "
                          "a cache) or set RAG_CACHE_DIR to a writable folder")

    def key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model_key}\x00{text}".encode()).digest()

    def lookup(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """Positions of `texts` found in the cache, with their vectors (marked as used now)."""
        keys = [self.key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start:start + 500]
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch)
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        now = time.time()
        self._db.executemany("UPDATE vectors SET used = ? WHERE key = ?", [(now, k) for k in found])
        self._db.commit()
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        now = time.time()
        rows = [(self.key(t), np.asarray(v, dtype=np.float32).tobytes(), now) for t, v in zip(texts, vectors)]
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
        self._db.commit()

    def prune(self, older_than: float) -> int:
        """Drop entries last used before `older_than` (a UNIX time); returns how many."""
        removed = self._db.execute("DELETE FROM vectors WHERE used < ?", (older_than,)).rowcount
        self._db.commit()
        return removed

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def encode_cached(embedder: Embedder, texts: Sequence[str], batch_size: int, cache: EmbeddingCache | None,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Unit vectors for `texts`, from the cache where possible; misses are embedded and stored in slices.
    A cache that fails (disk full, read-only, damaged) is dropped for the rest of the build, with `cache.problem` set."""
    if cache is None or cache.problem:
        return embedder.encode(texts, batch_size, progress)
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    known = _guarded(cache, lambda: cache.lookup(texts), {})
    for i, vector in known.items():
        vectors[i] = vector
    if progress and known:
        progress(len(known))
    missing = sorted((i for i in range(len(texts)) if i not in known), key=lambda i: len(texts[i]))  # even batches
    for start in range(0, len(missing), _SLICE):
        rows = missing[start:start + _SLICE]
        fresh = embedder.encode([texts[i] for i in rows], batch_size, progress)
        if not cache.problem:
            _guarded(cache, lambda: cache.store([texts[i] for i in rows], fresh), None)
        vectors[rows] = fresh
    cache.hits += len(known)
    cache.misses += len(missing)
    return vectors


def _guarded(cache: EmbeddingCache, action: Callable[[], Any], fallback: Any) -> Any:
    try:
        return action()
    except (sqlite3.Error, OSError) as exc:
        cache.problem = f"embedding cache {cache.path} failed during the build ({exc}); the build went on without it"
        return fallback


def span_key(text: str, span: tuple[int, int]) -> str:
    """The cache's name for the pooled vector of one span of a text (a span's vector depends on the whole text)."""
    return f"{text}\x00pooled:{span[0]}-{span[1]}"


def encode_pooled_cached(embedder: Any, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                         cache: EmbeddingCache | None, progress: Callable[[int], None] | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
    """`embedder.encode_with_spans`, from the cache where possible: a text is reused only when its vector and every
    one of its span vectors are cached; the others are embedded (with their spans) and stored in slices."""
    if cache is None or cache.problem:
        return embedder.encode_with_spans(texts, spans, progress)
    keys = [[t] + [span_key(t, s) for s in spans_] for t, spans_ in zip(texts, spans)]
    flat = [k for ks in keys for k in ks]
    known = _guarded(cache, lambda: cache.lookup(flat), {})
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    pooled: list[np.ndarray] = [np.zeros((0, embedder.dimension), dtype=np.float32)] * len(texts)
    missing, position = [], 0
    for i, ks in enumerate(keys):
        found = [known.get(position + j) for j in range(len(ks))]
        position += len(ks)
        if any(v is None for v in found):
            missing.append(i)
            continue
        vectors[i], pooled[i] = found[0], np.asarray(found[1:], dtype=np.float32).reshape(len(ks) - 1, embedder.dimension)
    if progress and len(texts) > len(missing):
        progress(len(texts) - len(missing))
    for start in range(0, len(missing), _SLICE):
        rows = missing[start:start + _SLICE]
        fresh, fresh_pooled = embedder.encode_with_spans([texts[i] for i in rows], [spans[i] for i in rows], progress)
        for i, vector, spanned in zip(rows, fresh, fresh_pooled):
            vectors[i], pooled[i] = vector, spanned
        if not cache.problem:
            names = [k for i in rows for k in keys[i]]
            values = np.vstack([np.vstack([fresh[j][None, :], fresh_pooled[j]]) for j in range(len(rows))])
            _guarded(cache, lambda: cache.store(names, values), None)
    cache.hits += len(texts) - len(missing)
    cache.misses += len(missing)
    return vectors, pooled
