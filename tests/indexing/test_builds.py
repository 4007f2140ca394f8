import json
import os
from pathlib import Path

import pytest

from rag.errors import BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, NotFoundError
from rag.indexing import builds
from rag.indexing.builds import BUILDS, CURRENT, current_build_id, load_current
from rag.indexing.store import LoadedIndex


def test_build_writes_a_complete_folder_with_manifest(settings, fake_embedder):
    result = builds.build(settings, fake_embedder)
    folder = settings.index_dir / BUILDS / result.build_id
    assert sorted(p.name for p in folder.iterdir()) == ["bm25", "chunks.jsonl", "documents.jsonl", "manifest.json", "originals",
                                                       "sentences.npz", "vectors.faiss"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == {"name": "all-MiniLM-L6-v2", "dimension": 256, "window": 254, "passage_encoder": "torch", "adapter": "",
                                 "adapter_path": "", "tokenizer": "FakeEmbedder",
                                 "sentence_vectors": "separate"}  # the fake embedder cannot pool its chunks' sentences
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
    assert len(index.chunks) == index.vector_store.size
    for chunk in index.chunks:
        assert index.documents[chunk.doc_id].text[chunk.start : chunk.end] == chunk.text


def test_manifest_mismatch_is_refused_with_the_fix(built, settings):
    with pytest.raises(IndexMismatchError, match="chunk_tokens=60 but settings say 200.*RAG_CHUNK_TOKENS=60"):
        load_current(settings.replace(chunk_tokens=200))
    with pytest.raises(IndexMismatchError, match="RAG_MODEL"):
        load_current(settings.replace(model="other-model"))
    with pytest.raises(IndexMismatchError, match="chunk_paragraph_fill=0.5 but settings say 1.0.*RAG_CHUNK_PARAGRAPH_FILL=0.5"):
        load_current(settings.replace(chunk_paragraph_fill=1.0))


def test_a_build_made_before_paragraph_fill_existed_is_still_served(built, settings):
    from rag.indexing.store import read_manifest, write_manifest

    folder = Path(settings.index_dir) / "builds" / built.build_id
    manifest = read_manifest(folder)
    del manifest["chunker"]["paragraph_fill"]
    write_manifest(folder, manifest)
    assert load_current(settings.replace(chunk_paragraph_fill=1.0)).build_id == built.build_id


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


def _searchable_text(index):
    return "\n".join(c.text for c in index.chunks)


def test_rebuild_embeds_only_new_or_changed_text(settings, fake_embedder):
    first = builds.build(settings, fake_embedder)
    full = fake_embedder.texts_encoded
    assert first.manifest["embedding_cache"] == {"reused": 0, "embedded": full, "problem": ""}
    unchanged = builds.build(settings, fake_embedder)
    assert fake_embedder.texts_encoded == full and unchanged.manifest["embedding_cache"]["embedded"] == 0
    travel = settings.corpus_dir / "travel.txt"
    travel.write_text(travel.read_text() + "\n\n4.1 Taxis after 11pm are refunded in full.\n")
    changed = builds.build(settings, fake_embedder)
    embedded = changed.manifest["embedding_cache"]["embedded"]
    assert 0 < embedded < full / 3 and fake_embedder.texts_encoded == full + embedded
    old = LoadedIndex.load(first.folder)
    new = LoadedIndex.load(changed.folder)
    assert (new.vector_store.vectors([0]) == old.vector_store.vectors([0])).all()  # cached vectors are bit-identical


def test_deleted_or_changed_documents_leave_no_stale_chunk(settings, fake_embedder):
    builds.build(settings, fake_embedder)
    (settings.corpus_dir / "conduct.html").unlink()
    retention = settings.corpus_dir / "retention.md"
    retention.write_text(retention.read_text().replace("Payroll records", "Salary ledgers"))
    result = builds.build(settings, fake_embedder)
    index = LoadedIndex.load(result.folder)
    assert "conduct.html" not in index.documents and all(c.doc_id != "conduct.html" for c in index.chunks)
    assert "Payroll records" not in _searchable_text(index) and "Salary ledgers" in _searchable_text(index)
    hits = [index.chunks[row] for row, _ in index.lexical.search("payroll records gifts", 20, None)]
    assert hits and all("Payroll records" not in c.text and c.doc_id != "conduct.html" for c in hits)


def test_disabling_the_cache_embeds_everything(settings, fake_embedder):
    builds.build(settings, fake_embedder)
    before = fake_embedder.texts_encoded
    result = builds.build(settings.replace(embedding_cache=False), fake_embedder)
    assert fake_embedder.texts_encoded == 2 * before and result.manifest["embedding_cache"] is None


def test_a_killed_embedding_pass_keeps_what_it_committed(settings, fake_embedder, monkeypatch):
    import rag.indexing.embed_cache as cache_module

    monkeypatch.setattr(cache_module, "_SLICE", 4)
    calls = {"n": 0}
    real_encode = fake_embedder.encode

    def dying_encode(texts, batch_size=32, progress=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the build is killed during the third slice
        return real_encode(texts, batch_size, progress)

    monkeypatch.setattr(fake_embedder, "encode", dying_encode)
    with pytest.raises(KeyboardInterrupt):
        builds.build(settings, fake_embedder)
    assert current_build_id(settings.index_dir) is None and not list((settings.index_dir / BUILDS).glob(".tmp-*"))
    monkeypatch.setattr(fake_embedder, "encode", real_encode)
    result = builds.build(settings, fake_embedder)
    assert result.manifest["embedding_cache"]["reused"] == 8  # two committed slices of 4


def test_originals_are_kept_and_hard_linked_from_the_live_build(settings, fake_embedder):
    first = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, first.build_id)
    second = builds.build(settings, fake_embedder)
    index = LoadedIndex.load(second.folder)
    original = index.original_file("retention.md")
    assert original is not None and original.read_bytes() == (settings.corpus_dir / "retention.md").read_bytes()
    assert os.stat(original).st_ino == os.stat(LoadedIndex.load(first.folder).original_file("retention.md")).st_ino


def test_a_file_changed_during_the_build_is_reported(settings, fake_embedder, monkeypatch):
    import rag.indexing.vectors as vectors_module

    real = vectors_module.quotable_rows

    def editing_rows(documents):
        (settings.corpus_dir / "travel.txt").write_text("Travel Rules\n\nRewritten while the build ran.")
        return real(documents)

    monkeypatch.setattr(vectors_module, "quotable_rows", editing_rows)
    result = builds.build(settings, fake_embedder)
    changed = result.manifest["corpus"]["changed_during_build"]
    assert changed == [{"path": "travel.txt", "reason": changed[0]["reason"]}] and "changed during the build" in changed[0]["reason"]
    assert LoadedIndex.load(result.folder).original_file("travel.txt") is None


def test_strict_build_fails_on_a_bad_file_and_leaves_the_live_build(settings, fake_embedder):
    from rag.errors import CorpusError

    live = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, live.build_id)
    (settings.corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(CorpusError, match="--strict: 1 file.*broken.pdf.*live index is unchanged"):
        builds.build(settings, fake_embedder, strict=True)
    assert current_build_id(settings.index_dir) == live.build_id
    assert [b["build_id"] for b in builds.list_builds(settings.index_dir)] == [live.build_id]
    lenient = builds.build(settings, fake_embedder)
    assert lenient.manifest["corpus"]["skipped"][0]["path"] == "broken.pdf"


def test_a_file_broken_after_indexing_keeps_its_indexed_version(settings, fake_embedder):
    live = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, live.build_id)
    before = LoadedIndex.load(live.folder).documents["retention.md"]
    (settings.corpus_dir / "retention.md").write_bytes(b"\x00\x01 damaged by a bad sync \x00")
    (settings.corpus_dir / "travel.txt").unlink()
    result = builds.build(settings, fake_embedder)
    index = LoadedIndex.load(result.folder)
    assert index.documents["retention.md"].text == before.text and "travel.txt" not in index.documents
    assert index.original_file("retention.md").read_bytes() != (settings.corpus_dir / "retention.md").read_bytes()
    reason = {r["path"]: r["reason"] for r in result.manifest["corpus"]["skipped"]}["retention.md"]
    assert "binary" in reason and f"kept the version indexed in build {live.build_id}" in reason
    assert result.manifest["corpus"]["changed_during_build"] == []


def test_carry_forward_skips_a_document_whose_content_is_back_under_another_name(settings, fake_embedder):
    live = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, live.build_id)
    retention = settings.corpus_dir / "retention.md"
    (settings.corpus_dir / "retention-restored.md").write_bytes(retention.read_bytes())
    retention.write_bytes(b"")
    index = LoadedIndex.load(builds.build(settings, fake_embedder).folder)
    assert "retention-restored.md" in index.documents and "retention.md" not in index.documents


def test_a_damaged_live_build_does_not_block_the_next_build(settings, fake_embedder):
    live = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, live.build_id)
    (live.folder / "documents.jsonl").write_text("{not json")
    (settings.corpus_dir / "travel.txt").write_bytes(b"")
    result = builds.build(settings, fake_embedder)
    assert "travel.txt" not in LoadedIndex.load(result.folder).documents


def test_a_damaged_cache_file_is_reported_and_the_build_goes_on(settings, fake_embedder):
    cache_file = settings.index_dir / "cache" / "embeddings.sqlite"
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"this is not an sqlite database" * 100)
    messages = []

    class Recorder(builds.BuildProgress):
        def message(self, text):
            messages.append(text)

    result = builds.build(settings, fake_embedder, Recorder())
    assert result.manifest["embedding_cache"] is None and LoadedIndex.load(result.folder).chunks
    assert any("embedding cache" in m and "Delete the file" in m for m in messages)


def test_a_new_copy_of_a_live_document_never_replaces_it_and_changes_are_listed(settings, fake_embedder):
    live = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, live.build_id)
    (settings.corpus_dir / "aaa-copy-of-travel.txt").write_bytes((settings.corpus_dir / "travel.txt").read_bytes())
    (settings.corpus_dir / "conduct.html").unlink()
    retention = settings.corpus_dir / "retention.md"
    retention.write_text(retention.read_text() + "\n\n4.1 New clause on scanning paper records.\n")
    (settings.corpus_dir / "new.md").write_text("# New\n\nA brand new policy line.")
    result = builds.build(settings, fake_embedder)
    skipped = {r["path"]: r["reason"] for r in result.manifest["corpus"]["skipped"]}
    assert "same content as travel.txt" in skipped["aaa-copy-of-travel.txt"]
    assert result.manifest["corpus"]["changes"] == {"since": live.build_id, "added": ["new.md"], "changed": ["retention.md"],
                                                    "removed": ["conduct.html"]}


def test_a_rebuild_chunks_only_new_and_changed_documents_and_reuses_the_rest(settings, fake_embedder, monkeypatch):
    import rag.indexing.chunks as chunks_module

    first = builds.build(settings, fake_embedder)
    builds.promote(settings.index_dir, first.build_id)
    chunked: list[str] = []
    real = chunks_module.chunk_document
    monkeypatch.setattr(chunks_module, "chunk_document", lambda doc, *args: chunked.append(doc.doc_id) or real(doc, *args))
    (settings.corpus_dir / "travel.txt").write_text("Travel Rules\n\nAll trips need approval from a line manager in advance.\n")
    second = builds.build(settings, fake_embedder)
    assert chunked == ["travel.txt"]
    untouched = [c for c in LoadedIndex.load(first.folder).chunks if c.doc_id != "travel.txt"]
    assert [c for c in LoadedIndex.load(second.folder).chunks if c.doc_id != "travel.txt"] == untouched
    chunked.clear()
    other = builds.build(settings.replace(chunk_tokens=80), fake_embedder)  # other chunker settings: everything again
    assert sorted(chunked) == sorted(LoadedIndex.load(other.folder).documents)
