"""The vector-store interface: where a build's chunk vectors live, and how they are searched and read back.

Owns the `VectorStore` protocol (an opened build's vectors: `search`, `vectors`, `size`), the `VectorBackend`
protocol (one kind of store: `write` a build's vectors, `open` them, `promote` and `remove` hooks that follow the
build lifecycle), the registry of backends by name (`RAG_VECTOR_STORE`), and `open_store`, which opens a build with
the backend its manifest records. Rows are chunk rows of the build's `chunks.jsonl`; scores are inner products of
unit vectors (cosines). Leaves the FAISS store to `rag.indexing.faiss_store`, the build folder to
`rag.indexing.store` and the lifecycle (when to write, promote, remove) to `rag.indexing.builds`.

A backend whose vectors live outside the build folder (Milvus: a collection per build, an alias naming the live
one) does its work in `promote` and `remove`; for FAISS, whose vectors are a file in the folder, they do nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from rag.config import Settings
from rag.errors import ConfigError

Hit = tuple[int, float]  # (chunk row, cosine)


class VectorStore(Protocol):
    """One build's vectors, opened for reading. Immutable once opened; safe to search from many threads."""

    @property
    def size(self) -> int:
        """How many vectors (one per chunk row)."""
        ...

    def search(self, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None) -> list[Hit]:
        """The `k` rows nearest to the unit `vector`, best first, as (row, cosine); only rows of the documents
        `doc_ids` when given (an empty list: no rows). Fewer than `k` when fewer rows qualify."""
        ...

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored unit vectors of `rows`, float32, one row each, in the order asked."""
        ...


class VectorBackend(Protocol):
    """One kind of vector store (`name` is what RAG_VECTOR_STORE and a manifest's `index.store` say)."""

    name: str

    def write(self, folder: Path, vectors: np.ndarray, doc_ids_per_row: Sequence[str],
              groups_per_row: Sequence[Sequence[str]], settings: Settings, *, build_id: str) -> dict[str, Any]:
        """Store a build's chunk vectors (row i: chunk row i, of document `doc_ids_per_row[i]`, readable by
        `groups_per_row[i]`) for the build `build_id` being written into `folder` (a private folder renamed to
        `builds/<build_id>` afterwards). Returns the manifest's `index` entry: at least `store` (this name) and
        `kind` (which index it made), plus whatever `open` needs to find the vectors again."""
        ...

    def open(self, folder: Path, manifest: dict[str, Any], settings: Settings,
             doc_ids_per_row: Sequence[str]) -> VectorStore:
        """The build in `folder` (whose manifest is `manifest`) opened for search; `doc_ids_per_row` is the
        build's chunk rows' documents (a store that filters by row uses it; one that keeps doc ids itself may not).
        A missing or damaged store raises `IndexCorruptError`."""
        ...

    def promote(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        """Called when the build becomes live (promotion or rollback), before the `current` pointer moves."""
        ...

    def remove(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        """Called before a build's folder is deleted (pruning): drop whatever the store keeps outside it."""
        ...


DEFAULT_STORE = "faiss"
_BACKENDS: dict[str, Callable[[], VectorBackend]] = {}


def register(name: str, factory: Callable[[], VectorBackend]) -> None:
    """Make a backend available under `name` (the factory imports its engine lazily)."""
    _BACKENDS[name] = factory


def _faiss() -> VectorBackend:
    from rag.indexing.faiss_store import FaissBackend

    return FaissBackend()


def _milvus() -> VectorBackend:
    from rag.indexing.milvus_store import MilvusBackend

    return MilvusBackend()


register("faiss", _faiss)
register("milvus", _milvus)
PLANNED: dict[str, str] = {}


def backend(name: str) -> VectorBackend:
    """The backend called `name`, or a `ConfigError` naming the ones there are."""
    if name in _BACKENDS:
        return _BACKENDS[name]()
    if name in PLANNED:
        raise ConfigError(f"RAG_VECTOR_STORE={name}: {PLANNED[name]}")
    raise ConfigError(f"RAG_VECTOR_STORE={name!r} is not a vector store; use one of {', '.join(sorted(_BACKENDS))}")


def store_name(manifest: dict[str, Any]) -> str:
    """Which backend made a build's vectors (builds made before the interface: FAISS)."""
    return str((manifest.get("index") or {}).get("store", DEFAULT_STORE))


def backend_of(manifest: dict[str, Any]) -> VectorBackend:
    """The backend that made the build with this manifest (whatever RAG_VECTOR_STORE says now)."""
    return backend(store_name(manifest))


def open_store(folder: Path, manifest: dict[str, Any], settings: Settings, doc_ids_per_row: Sequence[str]) -> VectorStore:
    """A build's vectors opened with the backend its manifest names."""
    return backend_of(manifest).open(folder, manifest, settings, doc_ids_per_row)
