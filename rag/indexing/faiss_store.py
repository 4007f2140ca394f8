"""The FAISS vector store: a build's vectors in `vectors.faiss` inside its folder, exact or approximate by size.

Owns choosing and making the index (`IndexFlatIP` below `RAG_FAISS_EXACT_BELOW` vectors, else the approximate
index `RAG_FAISS_APPROXIMATE` names: HNSW or IVF over the same float32 vectors), writing and reading it, and
searching it with a document filter: a filter allowing at most `RAG_FAISS_FILTER_EXACT_ROWS` rows is searched
exactly over those rows, a wider one through FAISS's ID selector inside the approximate search. Stored vectors read
back exactly from every kind (HNSW keeps them in a flat storage, IVF through a direct map), so reranking cosines and
carried vectors are the vectors the model made. Leaves the interface to `rag.indexing.vector_store`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import Settings
from rag.errors import IndexCorruptError
from rag.indexing.vector_store import Hit

VECTORS = "vectors.faiss"
METRIC = "cosine (inner product of normalised vectors)"
TYPES = {"flat": "faiss.IndexFlatIP", "hnsw": "faiss.IndexHNSWFlat", "ivf": "faiss.IndexIVFFlat"}


def index_kind(count: int, settings: Settings) -> str:
    """`flat` below the exact threshold, else the approximate kind the settings name."""
    return "flat" if count < settings.faiss_exact_below else settings.faiss_approximate


def ivf_lists(count: int, settings: Settings) -> int:
    """Inverted lists of an IVF index: the setting, or 4 times the square root of the vector count (1 to the count)."""
    return max(1, min(count, settings.faiss_ivf_lists or int(4 * math.sqrt(count))))


def make_index(vectors: np.ndarray, kind: str, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """A FAISS index of kind `kind` holding `vectors` (unit rows), and the build parameters it was made with."""
    import faiss

    data = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = data.shape[1]
    if kind == "flat":
        index, params = faiss.IndexFlatIP(dim), {}
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings.faiss_hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.faiss_ef_construction
        params = {"m": settings.faiss_hnsw_m, "ef_construction": settings.faiss_ef_construction}
    else:
        lists = ivf_lists(len(data), settings)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = data if len(data) <= lists * 64 else data[np.random.default_rng(0).choice(len(data), lists * 64, replace=False)]
        index.train(sample)
        params = {"lists": lists, "trained_on": len(sample)}
    if len(data):
        index.add(data)
    return index, params


class FaissStore:
    """One build's FAISS index opened for search (see the module docstring for how filters are searched)."""

    def __init__(self, index: Any, kind: str, doc_ids_per_row: Sequence[str], settings: Settings) -> None:
        self.index = index
        self.kind = kind
        self.ef_search = settings.faiss_ef_search
        self.nprobe = settings.faiss_nprobe
        self.filter_exact_rows = settings.faiss_filter_exact_rows
        rows: dict[str, list[int]] = {}
        for row, doc_id in enumerate(doc_ids_per_row):
            rows.setdefault(doc_id, []).append(row)
        self.doc_rows = {d: np.asarray(r, dtype=np.int64) for d, r in rows.items()}
        if kind == "ivf":
            index.make_direct_map()  # so stored vectors can be read back by row
        self._flat = _flat_view(index, kind)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def rows_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        parts = [self.doc_rows[d] for d in doc_ids if d in self.doc_rows]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def search(self, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None) -> list[Hit]:
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        allowed = None if doc_ids is None else self.rows_of(doc_ids)
        k = min(k, self.size if allowed is None else len(allowed))
        if k <= 0:
            return []
        if allowed is not None and len(allowed) <= self.filter_exact_rows:
            return self._exact(query[0], k, allowed)
        scores, ids = self.index.search(query, k, params=self._params(allowed))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _exact(self, query: np.ndarray, k: int, allowed: np.ndarray) -> list[Hit]:
        """Exact top `k` over the `allowed` rows: their stored vectors times the query."""
        scores = self.vectors(allowed) @ query
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((allowed[top], -scores[top]))]  # best first, lower row first on a tie (as FAISS)
        return [(int(allowed[i]), float(scores[i])) for i in top]

    def _params(self, allowed: np.ndarray | None) -> Any:
        import faiss

        extra: dict[str, Any] = {} if allowed is None else {"sel": faiss.IDSelectorBatch(allowed)}
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=self.ef_search, **extra)
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(nprobe=self.nprobe, **extra)
        return faiss.SearchParameters(**extra) if extra else None

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        picked = np.asarray(rows, dtype=np.int64)
        if not len(picked):
            return np.zeros((0, self.index.d), dtype=np.float32)
        if self._flat is not None:
            return self._flat[picked]
        return self.index.reconstruct_batch(picked)


def _flat_view(index: Any, kind: str) -> np.ndarray | None:
    """The stored vectors as a read-only (n, d) array without a copy, where the index keeps them flat."""
    import faiss

    flat = index if kind == "flat" else index.storage if kind == "hnsw" else None
    if flat is None or not index.ntotal:
        return None
    flat = faiss.downcast_index(flat)
    view = faiss.rev_swig_ptr(flat.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


class FaissBackend:
    """The default vector store: a FAISS file in the build folder; promotion and removal need nothing of it."""

    name = "faiss"

    def write(self, folder: Path, vectors: np.ndarray, doc_ids_per_row: Sequence[str],
              groups_per_row: Sequence[Sequence[str]], settings: Settings, *, build_id: str) -> dict[str, Any]:
        import faiss

        kind = index_kind(len(vectors), settings)
        index, params = make_index(vectors, kind, settings)
        faiss.write_index(index, str(folder / VECTORS))
        return {"store": self.name, "kind": kind, "type": TYPES[kind], "metric": METRIC, "file": VECTORS,
                "vectors": int(index.ntotal), "params": params}

    def open(self, folder: Path, manifest: dict[str, Any], settings: Settings,
             doc_ids_per_row: Sequence[str]) -> FaissStore:
        import faiss

        entry = manifest.get("index") or {}
        kind = entry.get("kind", "flat")
        try:
            index = faiss.read_index(str(folder / entry.get("file", VECTORS)))
        except (OSError, RuntimeError) as exc:
            raise IndexCorruptError(f"index build at {folder} has unreadable vectors ({exc}); run `rag index build`") from None
        if index.ntotal != len(doc_ids_per_row):
            raise IndexCorruptError(f"index build at {folder} has {index.ntotal} vectors for {len(doc_ids_per_row)} "
                                    "chunks; rebuild it")
        return FaissStore(index, kind, doc_ids_per_row, settings)

    def promote(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        return None

    def remove(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        return None


def nearest(vectors: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row's `k` nearest rows of `vectors` (unit rows) by inner product, exactly: (ids, cosines) per row. For
    in-memory neighbour lists (conflicts between sentences), not a build's store."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    out = []
    for lo in range(0, len(vectors), 4096):
        sims, ids = index.search(np.ascontiguousarray(vectors[lo : lo + 4096], dtype=np.float32), k)
        out += list(zip(ids, sims))
    return out
