import json
import os

import pytest

from rag import builds
from rag.builds import BUILDS, CURRENT, current_build_id, load_current
from rag.errors import BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, NotFoundError
from rag.index import LoadedIndex


def test_build_writes_a_complete_folder_with_manifest(settings, fake_embedder):
    result = builds.build(settings, fake_embedder)
    folder = settings.index_dir / BUILDS / result.build_id
    assert sorted(p.name for p in folder.iterdir()) == ["bm25", "chunks.jsonl", "documents.jsonl", "manifest.json", "sentences.npz", "vectors.faiss"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == {"name": "all-MiniLM-L6-v2", "dimension": 256, "window": 254}
    assert manifest["chunker"]["max_tokens"] == 60 and manifest["chunker"]["overlap_tokens"] == 10
    assert set(manifest["corpus"]["documents"]) == {"conduct.html", "retention.md", "travel.txt"}
    assert all(len(h) == 64 for h in manifest["corpus"]["documents"].values())
    assert manifest["counts"]["documents"] == 3 and manifest["counts"]["chunks"] > 3
    assert manifest["counts"]["chunks_over_window"] == 0
    assert manifest["code_version"] and manifest["created_at"]


def test_build_is_not_live_until_promoted(settings, fake_embedder):
    result = builds.build(settings, fake_embedder)
    assert current_build_id(settings.index_dir) is None
    with pytest.raises(IndexNotFoundError, match="rag index build"):
        load_current(settings)
    builds.promote(settings.index_dir, result.build_id)
    assert current_build_id(settings.index_dir) == result.build_id
    assert (settings.index_dir / CURRENT).is_symlink()


def test_loaded_chunks_round_trip_offsets(built, settings):
    index = load_current(settings)
    assert len(index.chunks) == index.faiss_index.ntotal
    for chunk in index.chunks:
        assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_manifest_mismatch_is_refused_with_the_fix(built, settings):
    with pytest.raises(IndexMismatchError, match="chunk_tokens=60 but settings say 200.*RAG_CHUNK_TOKENS=60"):
        load_current(settings.replace(chunk_tokens=200))
    with pytest.raises(IndexMismatchError, match="RAG_MODEL"):
        load_current(settings.replace(model="other-model"))


def test_damaged_build_is_reported(built, settings):
    (built.folder / "chunks.jsonl").write_text('{"broken": ')
    with pytest.raises(IndexCorruptError, match="rag index build"):
        LoadedIndex.load(built.folder, settings)


def test_leftovers_of_a_dead_build_are_removed_by_the_next(settings, fake_embedder, built):
    leftover = settings.index_dir / BUILDS / ".tmp-20200101T000000-dead00"
    leftover.mkdir()
    (leftover / "vectors.faiss").write_bytes(b"partial")
    builds.build(settings, fake_embedder)
    assert not leftover.exists()
    assert current_build_id(settings.index_dir) == built.build_id


def test_a_second_concurrent_build_is_refused(settings, fake_embedder):
    with builds.build_lock(settings.index_dir):
        with pytest.raises(BuildLockedError, match="another build"):
            builds.build(settings, fake_embedder)


def test_list_rollback_and_prune(settings, fake_embedder):
    ids = []
    for _ in range(3):
        result = builds.build(settings, fake_embedder)
        builds.promote(settings.index_dir, result.build_id)
        ids.append(result.build_id)
    listed = builds.list_builds(settings.index_dir)
    assert [r["build_id"] for r in listed] == ids[::-1]
    assert [r["live"] for r in listed] == [True, False, False]
    assert builds.rollback(settings.index_dir) == ids[1]
    assert current_build_id(settings.index_dir) == ids[1]
    with pytest.raises(NotFoundError):
        builds.rollback(settings.index_dir, "nope")
    removed = builds.prune(settings.index_dir, keep=1)
    assert removed == [ids[0]]  # ids[2] is newest (kept), ids[1] is live (kept)
    assert sorted(os.listdir(settings.index_dir / BUILDS)) == sorted(ids[1:])


def test_prune_drops_refused_builds_before_rollback_targets(settings, fake_embedder):
    live = []
    for _ in range(2):
        result = builds.build(settings, fake_embedder)
        builds.promote(settings.index_dir, result.build_id)
        live.append(result.build_id)
    refused = [builds.build(settings, fake_embedder).build_id for _ in range(2)]  # never promoted
    removed = builds.prune(settings.index_dir, keep=2)
    assert sorted(removed) == sorted(refused)
    assert {r["build_id"] for r in builds.list_builds(settings.index_dir)} == set(live)
