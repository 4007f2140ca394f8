"""`rag index build` and `rag index status` as real subprocesses (no model needed for these), and `build_report`."""

from tests.cli import rag


def test_missing_corpus_is_reported(tmp_path):
    result = rag("index", "build", "--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "idx"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "idx" / "current").exists()


def test_status_without_index(tmp_path):
    result = rag("index", "status", "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "rag index build" in result.stderr


def test_strict_build_fails_before_embedding_and_names_each_bad_file(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# Good\n\nStaff keep payroll records for six years.")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    (corpus / "empty.txt").write_text("")
    result = rag("index", "build", "--strict", "--no-gate", "--corpus", str(corpus), "--index-dir", str(tmp_path / "idx"))
    assert result.returncode == 1
    assert "--strict: 2 file(s)" in result.stderr and "broken.pdf" in result.stderr and "empty.txt" in result.stderr
    assert "skipped broken.pdf" in result.stderr  # the progress report names them as they are found
    assert not (tmp_path / "idx" / "current").exists()


def test_build_report_lists_reuse_and_every_problem():
    from rag.cli.index import build_report

    manifest = {
        "counts": {"documents": 2, "chunks": 9, "tokens": 900, "chunks_over_window": 0},
        "embedding_cache": {"embedded": 3, "reused": 40},
        "corpus": {"skipped": [{"path": "a.pdf", "reason": "damaged PDF"}], "notes": [{"path": "b.txt", "reason": "windows-1252"}],
                   "changed_during_build": [{"path": "c.md", "reason": "changed during the build"}]},
    }
    lines = build_report("B1", manifest)
    assert lines[0].startswith("built B1: 2 documents, 9 chunks")
    assert "embedded 3 new or changed texts; 40 more were in the embedding cache" in lines[1]
    assert lines[2:] == ["  skipped a.pdf: damaged PDF", "  note b.txt: windows-1252", "  changed during the build c.md: changed during the build"]
    manifest["carry"] = {"carried": {"documents": 2, "embedded": 1}}
    assert build_report("B2", manifest)[1] == "  carried 1 unchanged documents' vectors and sentences from the live build"
