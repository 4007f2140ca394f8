"""A build of docs_corpus/ plus a folder of broken files: each one is reported with its reason, the rest is
indexed, and a failed --strict build leaves the live index as it was."""

import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import CorpusError
from rag.indexing import builds
from rag.indexing.store import LoadedIndex
from tests.conftest import ROOT
from tests.docfiles import write_image_only_pdf, write_pdf

EXPECTED_REASONS = {
    "broken/corrupt.pdf": "damaged PDF",
    "broken/locked.pdf": "password-protected",
    "broken/scanned.pdf": "no text layer",
    "broken/empty.md": "no text",
    "broken/binary.txt": "binary",
    "broken/huge.txt": "RAG_MAX_DOCUMENT_BYTES",
    "broken/copy-of-data-protection.md": "same content as data-protection-policy.md",
    "broken/escape.md": "outside the corpus folder",
    "broken/slides.pptx": "unsupported file type",
    "broken/vanishing.md": "disappeared",
}


@pytest.fixture
def messy_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "docs_corpus", corpus)
    broken = corpus / "broken"
    broken.mkdir()
    good_pdf = write_pdf(tmp_path / "good.pdf", [["A perfectly good page of policy text, long enough to index."]])
    (broken / "corrupt.pdf").write_bytes(good_pdf.read_bytes()[:300])
    write_pdf(broken / "locked.pdf", [["Text behind a password that the build cannot read."]], password="secret")
    write_image_only_pdf(broken / "scanned.pdf")
    (broken / "empty.md").write_text("")
    (broken / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (broken / "huge.txt").write_text("Big file. " * 300_000)
    shutil.copy(corpus / "data-protection-policy.md", broken / "copy-of-data-protection.md")
    (tmp_path / "outside.md").write_text("# Outside\n\nThis file lives outside the corpus.")
    (broken / "escape.md").symlink_to(tmp_path / "outside.md")
    (broken / "slides.pptx").write_bytes(b"PK\x03\x04")
    (broken / "legacy.txt").write_bytes("Expense claims over \u00a3500 need a director\u2019s approval.".encode("cp1252"))
    (broken / "vanishing.md").write_text("# Vanishing\n\nThis file is deleted while the build reads the corpus.")
    return corpus


@pytest.fixture
def messy_settings(tmp_path: Path, messy_corpus: Path) -> Settings:
    return Settings.from_env({}, corpus_dir=messy_corpus, index_dir=tmp_path / "index", max_document_bytes=2_000_000)


@pytest.fixture
def vanishing(monkeypatch, messy_corpus: Path):
    import rag.ingest.corpus as corpus_module

    real = corpus_module.read_document

    def reader(path, doc_id, max_bytes=20_000_000):
        if doc_id == "broken/vanishing.md" and path.exists():
            path.unlink()
        return real(path, doc_id, max_bytes)

    monkeypatch.setattr(corpus_module, "read_document", reader)


def test_every_bad_file_is_reported_and_the_rest_indexed(messy_settings, fake_embedder, vanishing):
    result = builds.build(messy_settings, fake_embedder)
    reasons = {row["path"]: row["reason"] for row in result.manifest["corpus"]["skipped"]}
    for path, expected in EXPECTED_REASONS.items():
        assert expected in reasons.get(path, ""), (path, reasons.get(path))
    index = LoadedIndex.load(result.folder)
    good = {p.name for p in (ROOT / "docs_corpus").iterdir()}
    assert good | {"broken/legacy.txt"} == set(index.documents)
    assert "£500 need a director’s approval" in index.documents["broken/legacy.txt"].text
    notes = {row["path"]: row["reason"] for row in result.manifest["corpus"]["notes"]}
    assert "windows-1252" in notes["broken/legacy.txt"]


def test_a_failed_strict_build_leaves_the_live_index_unchanged(messy_settings, fake_embedder, tmp_path: Path):
    clean = messy_settings.replace(corpus_dir=ROOT / "docs_corpus")
    live = builds.build(clean, fake_embedder)
    builds.promote(messy_settings.index_dir, live.build_id)
    before = sorted(p.name for p in (messy_settings.index_dir / builds.BUILDS).iterdir())
    with pytest.raises(CorpusError) as failure:
        builds.build(messy_settings, fake_embedder, strict=True)
    for path in ("broken/corrupt.pdf", "broken/locked.pdf", "broken/escape.md"):
        assert path in failure.value.message
    assert builds.current_build_id(messy_settings.index_dir) == live.build_id
    assert sorted(p.name for p in (messy_settings.index_dir / builds.BUILDS).iterdir()) == before
    assert len(builds.load_current(clean).chunks) == live.manifest["counts"]["chunks"]
