"""The Milvus vector store (`RAG_VECTOR_STORE=milvus`): one collection per build, an alias naming the live one.

Owns connecting (`RAG_MILVUS_URI`: a Milvus Lite file, by default `milvus.db` in the index folder, or a server address
with its token read from the variable `RAG_MILVUS_TOKEN_ENV` names), the collection of a build (`<prefix>_<build id>`:
primary key `row` = chunk row, `vector`, `doc_id`, `groups` = the access groups that may read it), its index
(`RAG_MILVUS_INDEX`), filtered search with the filter as a Milvus expression, reading stored vectors back, switching the
alias `<prefix>_live` on promotion and rollback, and dropping a pruned build's collection.

A build's collection is written, indexed and loaded before its folder gets a manifest, so no reader ever opens a
half-written one. Each reader searches the collection of the build it loaded (its rows are the chunk rows it holds;
searching the alias could return rows of a build promoted a moment ago); the live pointer readers follow stays the
index folder's `current` link, and the alias is its Milvus-side twin, switched atomically (`alter_alias`) just
before it. Milvus Lite 2.5 does not implement aliases: there the link alone names the live build (recorded in the
manifest). Milvus Lite opens its file in one process at a time; replicas share a Milvus server.

Filters are pushed down: `doc_id in [...]` holds the documents the request may read (its document, metadata and
access-group filters already applied), `array_contains_any(groups, [...])` the reader's groups when given, so rows of
a restricted document never leave Milvus. Leaves the interface to `rag.indexing.vector_store`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import Settings
from rag.errors import ConfigError, IndexCorruptError
from rag.indexing.vector_store import Hit

INSTALL = "pip install -e '.[milvus]'"  # or `make setup`, which installs requirements.lock
LITE_FILE = "milvus.db"
METRIC = "cosine (inner product of normalised vectors)"
INSERT_BATCH = 4000  # rows per insert: 4000 x 384 floats is ~6 MB, well under gRPC's message limit
GET_BATCH = 1000
MAX_TOPK = 16384  # Milvus' largest limit per search
INDEX_TYPES = {"flat": "FLAT", "ivf_flat": "IVF_FLAT", "hnsw": "HNSW", "autoindex": "AUTOINDEX"}
_SERVER = re.compile(r"^(https?|tcp|grpc|unix)://", re.IGNORECASE)
_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def is_server(uri: str) -> bool:
    """Whether `uri` names a Milvus server (else it is a Milvus Lite file)."""
    return bool(_SERVER.match(uri))


def resolve_uri(settings: Settings, index_dir: Path) -> str:
    """The Milvus address: RAG_MILVUS_URI, or the Milvus Lite file `milvus.db` in the index folder."""
    uri = settings.milvus_uri.strip()
    if not uri:
        return str((Path(index_dir) / LITE_FILE).resolve())
    if is_server(uri):
        return uri
    if not uri.endswith(".db"):
        raise ConfigError(f"RAG_MILVUS_URI={uri!r} is neither a server address (http://host:19530) nor a Milvus Lite file "
                          "(a path ending in .db): fix it")
    return str(Path(uri).expanduser().resolve())


def _token(settings: Settings) -> str:
    name = settings.milvus_token_env.strip()
    if not name:
        return ""
    if name not in os.environ:
        raise ConfigError(f"RAG_MILVUS_TOKEN_ENV names {name}, which is not set: export {name}=<token>, or empty RAG_MILVUS_TOKEN_ENV")
    return os.environ[name]


LITE_START_SECONDS = 60.0  # Milvus Lite starts a server process per file; pymilvus's default 10 s wait failed once on a busy two-core machine


def connect(uri: str, settings: Settings) -> Any:
    """One client per address and process (Milvus Lite starts its engine once per file and process)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise ConfigError(f"RAG_VECTOR_STORE=milvus needs pymilvus and milvus-lite, which are not installed: run `{INSTALL}` "
                          "(or `make setup`), or set RAG_VECTOR_STORE=faiss") from None
    token = _token(settings) if is_server(uri) else ""
    key = (uri, token)
    with _lock:
        if key not in _clients:
            if not is_server(uri):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                wait = None if is_server(uri) else LITE_START_SECONDS
                _clients[key] = MilvusClient(uri, token=token, timeout=wait) if token else MilvusClient(uri, timeout=wait)
            except Exception as exc:  # pymilvus raises its own exception types for every failure to connect
                raise ConfigError(_connect_problem(uri, exc)) from None
        return _clients[key]


def _connect_problem(uri: str, exc: Exception) -> str:
    if is_server(uri):
        return f"cannot reach the Milvus server at {uri} ({exc}): start it, or fix RAG_MILVUS_URI / RAG_MILVUS_TOKEN_ENV"
    return (f"cannot open the Milvus Lite file {uri} ({exc}): Milvus Lite lets one process open a file at a time (is a "
            "`rag serve` or another build using it?); stop that process, or point RAG_MILVUS_URI at a Milvus server")


def collection_name(prefix: str, build_id: str) -> str:
    """`<prefix>_<build id>` with the characters Milvus refuses in names made `_`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}_{build_id}")


def alias_name(prefix: str) -> str:
    return collection_name(prefix, "live")


def index_type(count: int, uri: str, settings: Settings) -> str:
    """The Milvus index type of a collection of `count` vectors (see RAG_MILVUS_INDEX)."""
    if settings.milvus_index != "auto":
        return INDEX_TYPES[settings.milvus_index]
    if count < settings.faiss_exact_below:
        return "FLAT"
    return "HNSW" if is_server(uri) else "AUTOINDEX"


def _index_params(kind: str, count: int, settings: Settings) -> dict[str, Any]:
    if kind == "IVF_FLAT":
        return {"nlist": settings.faiss_ivf_lists or max(1, min(65536, int(4 * count ** 0.5)))}
    if kind == "HNSW":
        return {"M": settings.faiss_hnsw_m, "efConstruction": settings.faiss_ef_construction}
    return {}


def quoted(values: Sequence[str]) -> str:
    """A Milvus expression list of string literals (double quotes, backslash escapes)."""
    return "[" + ", ".join(json.dumps(str(v), ensure_ascii=False) for v in values) + "]"


def filter_expression(doc_ids: Sequence[str] | None, groups: Sequence[str] | None = None) -> str:
    """The boolean expression Milvus filters a search by ('' for none)."""
    parts = []
    if doc_ids is not None:
        parts.append(f"doc_id in {quoted(doc_ids)}")
    if groups is not None:
        parts.append(f"array_contains_any(groups, {quoted(groups)})")
    return " and ".join(parts)


class MilvusStore:
    """One build's collection opened for search."""

    def __init__(self, client: Any, collection: str, kind: str, size: int, dimension: int, settings: Settings) -> None:
        self.client = client
        self.collection = collection
        self.kind = kind
        self._size = size
        self.dimension = dimension
        self.ef_search = settings.faiss_ef_search
        self.nprobe = settings.faiss_nprobe

    @property
    def size(self) -> int:
        return self._size

    def _search_params(self, k: int) -> dict[str, Any]:
        if self.kind == "IVF_FLAT":
            return {"params": {"nprobe": self.nprobe}}
        if self.kind in ("HNSW", "AUTOINDEX"):
            return {"params": {"ef": max(k, self.ef_search)}}
        return {}

    def search(self, vector: np.ndarray, k: int, doc_ids: Sequence[str] | None = None,
               groups: Sequence[str] | None = None) -> list[Hit]:
        """As `VectorStore.search`; `groups` (the reader's access groups) adds a group filter on top."""
        if (doc_ids is not None and not len(doc_ids)) or (groups is not None and not len(groups)):
            return []
        k = min(k, self._size, MAX_TOPK)
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found = self.client.search(self.collection, [query.tolist()], limit=k, filter=filter_expression(doc_ids, groups),
                                   search_params=self._search_params(k), output_fields=[])
        return [(int(hit.id), float(hit.distance)) for hit in found[0]]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        picked = [int(r) for r in rows]
        if not picked:
            return np.zeros((0, self.dimension), dtype=np.float32)
        by_row: dict[int, Any] = {}
        for lo in range(0, len(picked), GET_BATCH):
            for item in self.client.get(self.collection, ids=sorted(set(picked[lo : lo + GET_BATCH])), output_fields=["vector"]):
                by_row[int(item["row"])] = item["vector"]
        missing = [r for r in picked if r not in by_row]
        if missing:
            raise IndexCorruptError(f"Milvus collection {self.collection} has no rows {missing[:5]}: rebuild with `rag index build`")
        return np.asarray([by_row[r] for r in picked], dtype=np.float32).reshape(len(picked), self.dimension)


class MilvusBackend:
    """Builds' vectors in Milvus collections (see the module docstring)."""

    name = "milvus"

    def write(self, folder: Path, vectors: np.ndarray, doc_ids_per_row: Sequence[str],
              groups_per_row: Sequence[Sequence[str]], settings: Settings, *, build_id: str) -> dict[str, Any]:
        uri = resolve_uri(settings, folder.parent.parent)
        client = connect(uri, settings)
        name = collection_name(settings.milvus_prefix, build_id)
        if client.has_collection(name):  # left by a build of the same id that died: never live, safe to drop
            client.drop_collection(name)
        kind = index_type(len(vectors), uri, settings)
        params = _index_params(kind, len(vectors), settings)
        client.create_collection(name, schema=_schema(client, vectors.shape[1], groups_per_row),
                                 index_params=_index(client, kind, params))
        try:
            _insert(client, name, vectors, doc_ids_per_row, groups_per_row)
            client.load_collection(name)
        except BaseException:
            client.drop_collection(name)
            raise
        return {"store": self.name, "kind": kind.lower(), "type": f"milvus.{kind}", "metric": METRIC, "collection": name,
                "alias": alias_name(settings.milvus_prefix), "uri": uri if is_server(uri) else "milvus-lite",
                "vectors": int(len(vectors)), "dimension": int(vectors.shape[1]), "params": params}

    def open(self, folder: Path, manifest: dict[str, Any], settings: Settings, doc_ids_per_row: Sequence[str]) -> MilvusStore:
        entry = manifest.get("index") or {}
        client = connect(resolve_uri(settings, folder.parent.parent), settings)
        name = entry.get("collection", "")
        if not name or not client.has_collection(name):
            raise IndexCorruptError(f"index build at {folder} names Milvus collection {name!r}, which is not in Milvus at "
                                    f"{_shown(settings, folder)}: check RAG_MILVUS_URI, or run `rag index build`")
        client.load_collection(name)
        size = int(client.get_collection_stats(name).get("row_count", 0))
        return MilvusStore(client, name, entry.get("type", "milvus.FLAT").split(".", 1)[1], size,
                           int(entry.get("dimension") or manifest["model"]["dimension"]), settings)

    def promote(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        """Point the alias at this build's collection, atomically (`alter_alias`); nothing on Milvus Lite (no aliases)."""
        uri = resolve_uri(settings, folder.parent.parent)
        entry = manifest.get("index") or {}
        if not is_server(uri):
            entry["alias"] = None
            return
        client = connect(uri, settings)
        alias = entry.get("alias") or alias_name(settings.milvus_prefix)
        if alias in _aliases(client):
            client.alter_alias(entry["collection"], alias)
        else:
            client.create_alias(entry["collection"], alias)

    def remove(self, folder: Path, manifest: dict[str, Any], settings: Settings) -> None:
        """Drop the build's collection (a pruned build is never the live one, so no alias points at it)."""
        name = (manifest.get("index") or {}).get("collection")
        client = connect(resolve_uri(settings, folder.parent.parent), settings)
        if name and client.has_collection(name):
            client.drop_collection(name)


def _aliases(client: Any) -> list[str]:
    listed = client.list_aliases()
    return list(listed.get("aliases", [])) if isinstance(listed, dict) else list(listed)


def _schema(client: Any, dimension: int, groups_per_row: Sequence[Sequence[str]]) -> Any:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
    schema.add_field("doc_id", DataType.VARCHAR, max_length=65535)
    capacity = max([1, *(len(g) for g in groups_per_row)])
    longest = max([1, *(len(x.encode()) for g in groups_per_row for x in g)])
    schema.add_field("groups", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=min(4096, capacity),
                     max_length=min(65535, longest))
    return schema


def _index(client: Any, kind: str, params: dict[str, Any]) -> Any:
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type=kind, metric_type="IP", params=params)
    return index


def _insert(client: Any, name: str, vectors: np.ndarray, doc_ids: Sequence[str], groups: Sequence[Sequence[str]]) -> None:
    data = np.asarray(vectors, dtype=np.float32)
    for lo in range(0, len(data), INSERT_BATCH):
        client.insert(name, [{"row": i, "vector": data[i], "doc_id": doc_ids[i], "groups": list(groups[i])}
                             for i in range(lo, min(lo + INSERT_BATCH, len(data)))])
    if hasattr(client, "flush"):
        client.flush(name)


def _shown(settings: Settings, folder: Path) -> str:
    uri = resolve_uri(settings, folder.parent.parent)
    return uri if is_server(uri) else f"the Milvus Lite file {uri}"
