"""`rag corpus check` over the planted corpus (tests/fixtures/lifecycle) built with the fake embedder, in process."""

import json
import shutil

from click.testing import CliRunner

from rag.cli import cli
from rag.indexing import builds
from tests.conftest import FIXTURES


def built_planted(tmp_path, settings, fake_embedder):  # type: ignore[no-untyped-def]
    corpus = tmp_path / "planted"
    shutil.copytree(FIXTURES / "lifecycle" / "corpus", corpus)
    planted = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "planted-index")
    builds.promote(planted.index_dir, builds.build(planted, fake_embedder).build_id)
    return planted


def run(settings, *args):  # type: ignore[no-untyped-def]
    env = {"RAG_CHUNK_TOKENS": str(settings.chunk_tokens), "RAG_CHUNK_OVERLAP": str(settings.chunk_overlap)}
    return CliRunner().invoke(cli, ["corpus", "check", "--index-dir", str(settings.index_dir), *args], env=env, prog_name="rag")


def test_the_text_report_names_each_finding_with_its_date_owner_and_quote(tmp_path, settings, fake_embedder):
    planted = built_planted(tmp_path, settings, fake_embedder)
    result = run(planted, "--today", "2025-06-01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("corpus health on 2025-06-01: 11 documents, 4 overdue reviews, 4 broken references, "
                               "3 superseded or not yet in force")
    assert any(line.startswith("  overdue review: expenses-policy.md (Expenses Policy): next review 2025-02-01, 120 days ago; "
                               "owner Chief Financial Officer") for line in lines)
    assert any("'Corporate Giving Policy' is not in the corpus; expenses-policy.md [1. Claims > 1.3]" in line for line in lines)
    assert "  not yet in force: password-policy-v4-draft.md (version 4.0, effective 2025-09-01); current copy password-policy-v3.md" in lines


def test_json_is_the_report_and_today_moves_the_reviews(tmp_path, settings, fake_embedder):
    planted = built_planted(tmp_path, settings, fake_embedder)
    early = json.loads(run(planted, "--json", "--today", "2024-12-01").output)
    late = json.loads(run(planted, "--json", "--today", "2026-12-07").output)
    assert early["today"] == "2024-12-01" and early["counts"]["overdue_reviews"] == 0
    assert {o["doc_id"] for o in late["overdue_reviews"]} >= {"expenses-policy.md", "password-policy-v3.md", "retention-schedule.md"}
    assert "password-policy-v4-draft.md" not in {s["doc_id"] for s in late["superseded"]}  # in force by then: the current copy


def test_without_an_index_the_next_step_is_named(tmp_path):
    result = CliRunner().invoke(cli, ["corpus", "check", "--index-dir", str(tmp_path / "none")], prog_name="rag")
    assert result.exit_code == 1 and "rag index build" in result.output


def test_a_bad_today_says_how_to_write_the_day(tmp_path, settings):
    result = run(settings, "--today", "2026-02-30")
    assert result.exit_code == 2 and "'2026-02-30' is not a day: write it as YYYY-MM-DD, e.g. 2024-06-01" in result.output
