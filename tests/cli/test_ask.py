"""`rag ask` and `rag search` as real subprocesses: the errors come before anything loads (no model needed); with the
real model over the versions corpus, `--as-of` on ask, search and chat, and `rag eval` on its gold rows with `as_of`."""

import json
import os
import subprocess
import sys

import pytest

from tests.cli import rag
from tests.conftest import FIXTURES


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


def test_a_bad_as_of_is_a_usage_error_that_says_how_to_write_the_day(tmp_path):
    for day in ("2024-13-01", "tomorrow", "01/06/2024"):
        result = rag("ask", "How long are payroll records kept?", "--as-of", day, "--index-dir", str(tmp_path))
        assert result.returncode == 2 and "Invalid value for '--as-of'" in result.stderr
        assert f"'{day}' is not a day: write it as YYYY-MM-DD, e.g. 2024-06-01" in result.stderr  # as over HTTP
        assert "%Y" not in result.stderr  # strptime's notation means nothing to a reader


CLAIMS = "How many days do I have to submit an expense claim?"


def versions_env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_INDEX_DIR": str(settings.index_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir),
            "RAG_STATE_DIR": str(settings.state_dir), "RAG_TODAY": settings.today}


@pytest.mark.model
def test_ask_search_and_chat_answer_as_of_a_day_with_the_note(versions_build):
    env = versions_env(versions_build)
    today = rag("ask", CLAIMS, env=env)
    assert today.returncode == 0, today.stderr
    assert "45 days" in today.stdout and "Note:" not in today.stdout
    then = rag("ask", CLAIMS, "--as-of", "2024-06-01", env=env)
    assert then.returncode == 0, then.stderr
    answer, note = then.stdout.splitlines()[:2]
    assert "30 days" in answer and "[1]" in answer
    assert note == ("Note: the Expense Claims Policy version 1.0 quoted here, in force on 2024-06-01, was superseded on "
                    "2026-01-01 by version 2.0 (expense-claims-2026.md).")
    assert "[1] Expense Claims Policy (expense-claims-2024.md" in then.stdout
    as_json = json.loads(rag("ask", CLAIMS, "--as-of", "2024-06-01", "--json", env=env).stdout)
    assert as_json["as_of"] == "2024-06-01" and as_json["notes"][0]["message"] == note
    search = rag("search", CLAIMS, "--as-of", "2024-06-01", "--json", env=env)
    assert {p["doc_id"] for p in json.loads(search.stdout)["passages"]} & {"expense-claims-2026.md"} == set()
    chat = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--as-of", "2024-06-01"], input=f"{CLAIMS}\n",
                          capture_output=True, text=True, env=env, timeout=120)
    assert chat.returncode == 0 and "30 days" in chat.stdout and note in chat.stdout


@pytest.mark.model
def test_eval_prints_the_as_of_figure_apart(versions_build):
    result = rag("eval", "--gold", str(FIXTURES / "versions" / "gold.jsonl"), env=versions_env(versions_build))
    assert result.returncode == 0, result.stderr
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines() if line.startswith(("today:", "as_of:"))}
    assert lines["as_of"].startswith("as_of: n=5 hit@1=1.000") and lines["today"].startswith("today: n=4")


def test_ask_search_and_chat_refuse_a_corpus_the_live_build_was_not_made_from(built, settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (("ask", "How long are payroll records kept?"), ("search", "payroll records"), ("chat",)):
        result = rag(*command, "--corpus", str(elsewhere), "--index-dir", str(settings.index_dir))
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith(f"error: --corpus {elsewhere}: the live build in {settings.index_dir} was made from")
