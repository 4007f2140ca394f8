"""Both vector stores behind one interface: the same hand-made vectors give the same searches, filters and stored
vectors on FAISS and on a real Milvus Lite; then Milvus' own parts (filters pushed down as expressions, so restricted
rows never leave it; a collection per build; alias switching on a server, with a recording client; a clear error
without pymilvus). One Milvus Lite file per module: Milvus Lite starts its engine once per file and process."""

import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError, IndexCorruptError
from rag.indexing import milvus_store
from rag.indexing.milvus_store import MilvusBackend, collection_name, filter_expression
from rag.indexing.vector_store import backend
from rag.models import Access

DOCS = ["leave.md", "leave.md", "travel.md", "travel.md", "casework.md", "casework.md"]
GROUPS = [("staff",), ("staff",), ("staff", "finance"), ("staff", "finance"), ("hr",), ("hr",)]


def unit_rows() -> np.ndarray:
    """Row i points mostly along axis i, so the nearest row to axis j is row j, then the rows leaning its way."""
    vectors = np.eye(6, 8, dtype=np.float32) + 0.05 * np.arange(48, dtype=np.float32).reshape(6, 8) / 48
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def axis(i: int) -> np.ndarray:
    return np.eye(8, dtype=np.float32)[i]


@pytest.fixture(scope="module")
def lite_uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "milvus.db")


@pytest.fixture(params=["faiss", "milvus"])
def store_settings(request, settings, lite_uri):
    return settings.replace(vector_store=request.param, milvus_uri=lite_uri, milvus_prefix="t" + uuid.uuid4().hex[:8])


def written(settings, build_id: str = "b1"):
    folder = Path(settings.index_dir) / "builds" / f".tmp-{build_id}"
    folder.mkdir(parents=True)
    entry = backend(settings.vector_store).write(folder, unit_rows(), DOCS, GROUPS, settings, build_id=build_id)
    manifest = {"build_id": build_id, "index": entry, "model": {"dimension": 8}}
    return folder, manifest, backend(settings.vector_store).open(folder, manifest, settings, DOCS)


def test_both_stores_search_filter_and_read_back_alike(store_settings):
    _, manifest, store = written(store_settings)
    assert manifest["index"]["store"] == store_settings.vector_store and manifest["index"]["kind"] == "flat"
    assert store.size == 6
    hits = store.search(axis(4), 3)
    assert [row for row, _ in hits][0] == 4 and hits[0][1] == pytest.approx(float(unit_rows()[4] @ axis(4)), abs=1e-5)
    assert [row for row, _ in store.search(axis(4), 6, ["leave.md", "travel.md"])] == [3, 2, 1, 0]  # casework.md filtered out
    assert store.search(axis(4), 3, []) == []
    assert store.search(axis(0), 10, ["nobody.md"]) == []
    assert len(store.search(axis(0), 50)) == 6  # k beyond the size: every row once
    np.testing.assert_allclose(store.vectors([5, 0, 5]), unit_rows()[[5, 0, 5]], atol=1e-6)
    assert store.vectors([]).shape == (0, 8)


def test_milvus_filter_expressions_quote_any_document_id():
    assert filter_expression(None) == ""
    assert filter_expression(["a.md", 'we"ird\\ü.md']) == 'doc_id in ["a.md", "we\\"ird\\\\ü.md"]'
    assert filter_expression(["a.md"], ["hr"]) == 'doc_id in ["a.md"] and array_contains_any(groups, ["hr"])'


def test_milvus_finds_documents_whose_ids_need_escaping(settings, lite_uri):
    settings = settings.replace(vector_store="milvus", milvus_uri=lite_uri, milvus_prefix="esc")
    folder = Path(settings.index_dir) / "builds" / ".tmp-e"
    folder.mkdir(parents=True)
    odd = ['a "quoted" name.md', "back\\slash.md", "naïve – ü.md"]
    entry = MilvusBackend().write(folder, unit_rows()[:3], odd, [("staff",)] * 3, settings, build_id="e")
    store = MilvusBackend().open(folder, {"index": entry, "model": {"dimension": 8}}, settings, odd)
    for row, doc_id in enumerate(odd):
        assert [r for r, _ in store.search(axis(0), 3, [doc_id])] == [row]


def test_restricted_rows_never_leave_milvus_for_a_reader_who_may_not_read_them(settings, lite_uri):
    """What Milvus sends back (spied on the real client) for a staff reader holds no casework row, with the filter the
    retriever passes (the readable documents) and with the reader's groups pushed down on their own."""
    settings = settings.replace(vector_store="milvus", milvus_uri=lite_uri, milvus_prefix="acl")
    _, _, store = written(settings)
    returned: list[int] = []
    real_search = store.client.search

    def spy(*args, **kwargs):
        found = real_search(*args, **kwargs)
        returned.extend(int(hit.id) for hit in found[0])
        return found

    store.client.search = spy  # the instance attribute shadows the method: the module's other stores are untouched
    staff = Access("clerk", frozenset({"staff"}))
    readable = [d for d, g in dict(zip(DOCS, GROUPS)).items() if staff.sees(g)]
    assert {DOCS[r] for r, _ in store.search(axis(4), 6, readable)} == {"leave.md", "travel.md"}
    assert {DOCS[r] for r, _ in store.search(axis(5), 6, None, groups=["staff"])} == {"leave.md", "travel.md"}
    assert returned and not {4, 5} & set(returned)
    assert store.search(axis(4), 6, None, groups=[]) == []
    assert [r for r, _ in store.search(axis(4), 2, None, groups=["hr"])] == [4, 5]


def test_a_milvus_build_is_a_collection_made_promoted_rolled_back_and_dropped(settings, fake_embedder, lite_uri, mini_corpus):
    from rag.assistant import Assistant
    from rag.indexing import builds

    settings = settings.replace(vector_store="milvus", milvus_uri=lite_uri, milvus_prefix="life")
    first = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, first.build_id, settings=settings)
    client = milvus_store.connect(lite_uri, settings)
    assert first.manifest["index"]["collection"] == collection_name("life", first.build_id) in client.list_collections()
    assert not (first.folder / "vectors.faiss").exists()
    assistant = Assistant(settings, embedder=fake_embedder)
    before = assistant.search("How long are payroll records kept?").passages
    assert before[0].chunk.doc_id == "retention.md"

    (mini_corpus / "payroll.md").write_text("# Payroll\n\nPayroll records are kept for twelve years by payroll.\n", encoding="utf-8")
    second = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, second.build_id, settings=settings)
    assert assistant.reload()
    assert "payroll.md" in {p.chunk.doc_id for p in assistant.search("payroll records twelve years").passages}

    assert builds.rollback(settings.index_dir, settings=settings) == first.build_id
    assert assistant.reload()
    assert assistant.snapshot.index.build_id == first.build_id
    assert "payroll.md" not in {p.chunk.doc_id for p in assistant.search("payroll records twelve years").passages}
    assert [p.chunk.chunk_id for p in assistant.search("How long are payroll records kept?").passages] == [p.chunk.chunk_id for p in before]

    assert builds.prune(settings.index_dir, 0, settings) == [second.build_id]  # keeps only the live (rolled back) build
    assert collection_name("life", second.build_id) not in client.list_collections()
    assert collection_name("life", first.build_id) in client.list_collections()


def test_a_build_whose_collection_is_gone_is_refused_with_the_fix(settings, fake_embedder, lite_uri):
    from rag.indexing import builds
    from rag.indexing.store import LoadedIndex

    settings = settings.replace(vector_store="milvus", milvus_uri=lite_uri, milvus_prefix="gone")
    result = builds.build(settings, fake_embedder)
    milvus_store.connect(lite_uri, settings).drop_collection(result.manifest["index"]["collection"])
    with pytest.raises(IndexCorruptError, match="not in Milvus.*RAG_MILVUS_URI.*rag index build"):
        LoadedIndex.load(result.folder, settings)


class RecordingClient:
    """Stands in for a Milvus server's client: records alias and drop calls (Milvus Lite has no aliases)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.calls: list[tuple[str, ...]] = []
        self.collections = {"rag_b1", "rag_b2"}

    def list_aliases(self):
        return {"aliases": list(self.aliases)}

    def create_alias(self, collection: str, alias: str) -> None:
        assert alias not in self.aliases
        self.calls.append(("create_alias", collection, alias))
        self.aliases[alias] = collection

    def alter_alias(self, collection: str, alias: str) -> None:
        self.calls.append(("alter_alias", collection, alias))
        self.aliases[alias] = collection

    def has_collection(self, name: str) -> bool:
        return name in self.collections

    def drop_collection(self, name: str) -> None:
        assert name not in self.aliases.values(), "a server refuses to drop a collection an alias names"
        self.calls.append(("drop_collection", name))
        self.collections.discard(name)


def test_on_a_server_promotion_switches_the_alias_and_rollback_switches_it_back(settings, monkeypatch, tmp_path):
    client = RecordingClient()
    monkeypatch.setattr(milvus_store, "connect", lambda uri, s: client)
    monkeypatch.setenv("MILVUS_TEST_TOKEN", "root:secret")
    settings = settings.replace(milvus_uri="http://127.0.0.1:19530", milvus_token_env="MILVUS_TEST_TOKEN")
    folder = tmp_path / "index" / "builds" / "b1"
    manifests = {b: {"index": {"collection": f"rag_{b}", "alias": "rag_live"}} for b in ("b1", "b2")}
    store = MilvusBackend()
    store.promote(folder, manifests["b1"], settings)
    store.promote(folder, manifests["b2"], settings)
    store.promote(folder, manifests["b1"], settings)  # rollback
    assert client.calls == [("create_alias", "rag_b1", "rag_live"), ("alter_alias", "rag_b2", "rag_live"),
                            ("alter_alias", "rag_b1", "rag_live")]
    store.remove(folder, manifests["b2"], settings)
    assert client.calls[-1] == ("drop_collection", "rag_b2") and client.aliases == {"rag_live": "rag_b1"}


def test_settings_name_the_milvus_address_and_its_token_variable(settings, monkeypatch, tmp_path):
    assert milvus_store.resolve_uri(settings.replace(milvus_uri=""), tmp_path) == str(tmp_path.resolve() / "milvus.db")
    assert milvus_store.resolve_uri(settings.replace(milvus_uri="http://milvus:19530"), tmp_path) == "http://milvus:19530"
    with pytest.raises(ConfigError, match="neither a server address.*nor a Milvus Lite file"):
        milvus_store.resolve_uri(settings.replace(milvus_uri="vectors"), tmp_path)
    monkeypatch.delenv("NO_SUCH_MILVUS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_MILVUS_TOKEN, which is not set"):
        milvus_store.connect("http://127.0.0.1:1", settings.replace(milvus_token_env="NO_SUCH_MILVUS_TOKEN"))


def test_without_pymilvus_the_milvus_store_names_the_install_command(settings, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[milvus\]'.*RAG_VECTOR_STORE=faiss"):
        milvus_store.connect(str(tmp_path / "other.db"), settings)
