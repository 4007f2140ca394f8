"""`rag ask` and `rag search` as real subprocesses (no model needed for these): the errors come before anything loads."""

import os

from tests.cli import rag


def test_missing_index_is_one_line_with_the_next_step(tmp_path):
    result = rag("ask", "How long are payroll records kept?", "--index-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: no index at") and "rag index build" in result.stderr


def test_empty_question_is_refused(tmp_path):
    result = rag("ask", "   ", "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "question is empty" in result.stderr


def test_bad_setting_names_the_variable(tmp_path):
    result = rag("ask", "x", env={**os.environ, "RAG_TOP_K": "lots"})
    assert result.returncode == 1 and "RAG_TOP_K" in result.stderr


def test_ask_history_that_is_not_a_json_list_is_refused_before_anything_loads(tmp_path):
    bad = tmp_path / "history.json"
    bad.write_text('{"role": "user", "content": "hi"}')
    result = rag("ask", "and abroad?", "--history", str(bad), "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "expected a JSON list of messages" in result.stderr
    bad.write_text("not json")
    result = rag("ask", "and abroad?", "--history", str(bad), "--index-dir", str(tmp_path))
    assert result.returncode == 1 and "not JSON" in result.stderr and '"role": "user"|"assistant"' in result.stderr
