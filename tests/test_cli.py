"""The `rag` command line, run as a real subprocess (no model needed for these)."""

import subprocess
import sys

from rag.config import Settings


def rag(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_help_lists_the_commands():
    result = rag("--help")
    assert result.returncode == 0
    for command in ("index", "search", "ask", "serve", "settings"):
        assert command in result.stdout


def test_missing_index_is_one_line_with_the_next_step(tmp_path):
    result = rag("ask", "How long are payroll records kept?", "--index-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: no index at") and "rag index build" in result.stderr


def test_empty_question_is_refused(tmp_path):
    result = rag("ask", "   ", "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "question is empty" in result.stderr


def test_bad_setting_names_the_variable(tmp_path):
    import os

    result = rag("ask", "x", env={**os.environ, "RAG_TOP_K": "lots"})
    assert result.returncode == 1 and "RAG_TOP_K" in result.stderr


def test_missing_corpus_is_reported(tmp_path):
    result = rag("index", "build", "--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "idx"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "idx" / "current").exists()


def test_status_without_index(tmp_path):
    result = rag("index", "status", "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "rag index build" in result.stderr


def test_settings_lists_every_variable():
    result = rag("settings")
    assert result.returncode == 0
    for key, _, _ in Settings.describe():
        assert key in result.stdout


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


def test_calibrate_fits_and_writes_a_model(tmp_path):
    import json
    import os

    from rag.answer.abstention import FEATURES, AbstentionModel

    rows = [{"answerable": i % 5 != 0, "evidence": {f: (0.3 if i % 5 == 0 else 0.7) + i / 1000 for f in FEATURES}} for i in range(50)]
    evals = tmp_path / "eval.json"
    evals.write_text(json.dumps({"questions": rows}))
    out = tmp_path / "model.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = rag("calibrate", str(evals), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "cross-validated" in result.stdout and "refusal F1 1.000" in result.stdout
    assert AbstentionModel.load(out).features == FEATURES
    bad = rag("calibrate", str(evals), "--features", "nonsense", env=env)
    assert bad.returncode == 1 and "unknown feature 'nonsense'" in bad.stderr


def test_ask_history_that_is_not_a_json_list_is_refused_before_anything_loads(tmp_path):
    bad = tmp_path / "history.json"
    bad.write_text('{"role": "user", "content": "hi"}')
    result = rag("ask", "and abroad?", "--history", str(bad), "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "expected a JSON list of messages" in result.stderr
    bad.write_text("not json")
    result = rag("ask", "and abroad?", "--history", str(bad), "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "not JSON" in result.stderr and '"role": "user"|"assistant"' in result.stderr


def test_chat_is_listed_with_its_commands():
    result = rag("chat", "--help")
    assert result.returncode == 0 and "/new" in result.stdout and "/sources" in result.stdout and "--json" in result.stdout
