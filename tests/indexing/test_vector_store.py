"""The vector-store interface and the FAISS store: exact below a size, HNSW or IVF above it, filters that hold on every
kind, stored vectors read back exactly, and the store a build used recorded in its manifest.

The hand-made vectors lie on a circle in the first two of four dimensions, at known angles, so the nearest rows to a
query and their cosines are checkable by hand."""

import json

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import ConfigError, IndexCorruptError
from rag.indexing import builds
from rag.indexing.faiss_store import VECTORS, FaissBackend, index_kind
from rag.indexing.store import LoadedIndex, read_manifest
from rag.indexing.vector_store import backend, open_store, store_name

DEGREES = [0, 10, 20, 30, 90, 100, 180, 270]  # row i points at DEGREES[i] degrees
DOCS = ["a", "a", "b", "b", "c", "c", "d", "d"]  # two rows per document


def circle() -> np.ndarray:
    angles = np.radians(DEGREES)
    return np.stack([np.cos(angles), np.sin(angles), np.zeros(8), np.zeros(8)], axis=1).astype(np.float32)


def query(degrees: float) -> np.ndarray:
    return np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees)), 0, 0], dtype=np.float32)


KINDS = {  # every kind exact on eight rows: all HNSW candidates visited, all IVF lists scanned
    "flat": {},
    "hnsw": {"faiss_exact_below": 0, "faiss_approximate": "hnsw", "faiss_ef_search": 16},
    "ivf": {"faiss_exact_below": 0, "faiss_approximate": "ivf", "faiss_ivf_lists": 2, "faiss_nprobe": 2},
}


def opened(tmp_path, kind, **more):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({}, **KINDS[kind], **more)
    entry = FaissBackend().write(tmp_path, circle(), DOCS, [(d,) for d in DOCS], settings, build_id="test")
    return entry, backend("faiss").open(tmp_path, {"index": entry}, settings, DOCS)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_finds_the_nearest_rows_by_cosine(tmp_path, kind):
    entry, store = opened(tmp_path, kind)
    assert entry["store"] == "faiss" and entry["kind"] == kind and store.size == 8
    hits = store.search(query(12), 3)
    assert [row for row, _ in hits] == [1, 2, 0]  # 10 degrees off by 2, 20 by 8, 0 by 12
    assert [round(score, 4) for _, score in hits] == [round(float(np.cos(np.radians(d))), 4) for d in (2, 8, 12)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exact_rows", [0, 100])  # through FAISS's ID selector; exact over the allowed rows
def test_a_document_filter_holds_on_every_kind(tmp_path, kind, exact_rows):
    _, store = opened(tmp_path, kind, faiss_filter_exact_rows=exact_rows)
    assert [row for row, _ in store.search(query(12), 3, ["c", "d"])] == [4, 5, 7]  # 90, 100, then 270 (258 off) before 180 (168 off)
    assert [row for row, _ in store.search(query(12), 5, ["d"])] == [7, 6]  # fewer than asked: only two rows qualify
    assert store.search(query(12), 3, []) == [] and store.search(query(12), 3, ["unknown"]) == []


@pytest.mark.parametrize("kind", KINDS)
def test_stored_vectors_read_back_exactly_from_every_kind(tmp_path, kind):
    _, store = opened(tmp_path, kind)
    np.testing.assert_array_equal(store.vectors([6, 0, 3]), circle()[[6, 0, 3]])
    assert store.vectors([]).shape == (0, 4)


def test_the_index_is_exact_below_the_threshold_and_approximate_from_it():
    settings = Settings.from_env({}, faiss_exact_below=100, faiss_approximate="ivf")
    assert (index_kind(99, settings), index_kind(100, settings)) == ("flat", "ivf")
    assert index_kind(10**6, Settings()) == "ivf" and index_kind(1000, Settings()) == "flat"


def test_an_approximate_index_on_many_rows_keeps_most_of_the_exact_top_ten(tmp_path):
    """2,000 random unit vectors: HNSW's top 10 share at least 9 of 10 with the exact top 10 on average."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    docs = [f"d{i // 10}" for i in range(2000)]
    settings = Settings.from_env({}, faiss_exact_below=0, faiss_approximate="hnsw", faiss_ef_search=64)
    entry = FaissBackend().write(tmp_path, data, docs, [("staff",)] * 2000, settings, build_id="many")
    store = FaissBackend().open(tmp_path, {"index": entry}, settings, docs)
    overlaps = []
    for q in data[:50] + 0.1 * rng.normal(size=(50, 32)).astype(np.float32):
        q /= np.linalg.norm(q)
        exact = set(np.argsort(-(data @ q))[:10].tolist())
        overlaps.append(len(exact & {row for row, _ in store.search(q, 10)}) / 10)
    assert np.mean(overlaps) >= 0.9


def test_milvus_is_registered_and_an_unknown_store_is_refused():
    assert backend("milvus").name == "milvus"  # the store itself: tests/indexing/test_vector_stores.py
    with pytest.raises(ConfigError, match="is not a vector store; use one of faiss, milvus"):
        backend("qdrant")
    with pytest.raises(ConfigError, match="RAG_VECTOR_STORE"):
        Settings.from_env({"RAG_VECTOR_STORE": "qdrant"})


def test_a_build_records_its_store_and_a_build_from_before_the_interface_opens_as_faiss(settings, built):
    manifest = read_manifest(built.folder)
    assert manifest["index"]["store"] == "faiss" and manifest["index"]["kind"] == "flat"
    assert manifest["index"]["vectors"] == manifest["counts"]["chunks"]
    older = {**manifest, "index": {"type": "faiss.IndexFlatIP", "metric": "cosine (inner product of normalised vectors)"}}
    assert store_name(older) == "faiss"
    chunks = [json.loads(line)["doc_id"] for line in (built.folder / "chunks.jsonl").read_text().splitlines()]
    assert open_store(built.folder, older, settings, chunks).size == len(chunks)


def test_a_large_build_gets_the_approximate_index_and_is_searched_through_it(settings, fake_embedder):
    approximate = settings.replace(faiss_exact_below=1, faiss_approximate="hnsw")
    result = builds.build(approximate, fake_embedder)
    assert result.manifest["index"]["kind"] == "hnsw" and result.manifest["index"]["type"] == "faiss.IndexHNSWFlat"
    index = LoadedIndex.load(result.folder, approximate)
    exact = LoadedIndex.load(builds.build(settings, fake_embedder).folder, settings)
    vector = exact.vector_store.vectors([3])[0]
    found, expected = index.search(vector, 3), exact.search(vector, 3)  # a small graph: the same rows and cosines
    assert [row for row, _ in found] == [row for row, _ in expected]
    np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], atol=1e-6)
    np.testing.assert_array_equal(index.vector_store.vectors(range(len(index.chunks))), exact.vector_store.vectors(range(len(exact.chunks))))


def test_a_damaged_vector_file_is_a_clear_error(settings, built):
    (built.folder / VECTORS).write_bytes(b"partial")
    with pytest.raises(IndexCorruptError, match="rag index build"):
        LoadedIndex.load(built.folder, settings)


@pytest.mark.model
def test_a_real_build_on_the_approximate_index_answers_a_real_question(tmp_path):
    """docs_corpus with the threshold at one vector: an approximate build (IVF, the default), the real model, a
    question asked end to end."""
    from rag.assistant import Assistant
    from rag.indexing.passage_encoder import make_passage_embedder
    from tests.conftest import ROOT

    settings = Settings.from_env({}, corpus_dir=ROOT / "docs_corpus", index_dir=tmp_path / "index", faiss_exact_below=1)
    result = builds.build(settings, make_passage_embedder(settings))
    builds.promote(settings.index_dir, result.build_id, settings=settings)
    assert result.manifest["index"]["kind"] == "ivf" and result.manifest["index"]["params"]["lists"] > 1
    answer = Assistant(settings).ask("How long do we keep payroll records?")
    assert not answer.abstained and "6 years" in answer.answer
    assert any(c.doc_id == "records-retention-schedule.md" and "6 years" in c.quote for c in answer.citations)


def test_an_ivf_index_on_fewer_rows_than_lists_still_builds(tmp_path):
    settings = Settings.from_env({}, faiss_exact_below=0, faiss_approximate="ivf", faiss_ivf_lists=50)
    entry = FaissBackend().write(tmp_path, circle(), DOCS, [(d,) for d in DOCS], settings, build_id="few")
    assert entry["params"]["lists"] == 8
    store = FaissBackend().open(tmp_path, {"index": entry}, settings, DOCS)
    assert [row for row, _ in store.search(query(12), 2)] == [1, 2]
