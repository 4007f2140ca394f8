"""The corpus health report over the planted corpus (tests/fixtures/lifecycle), built with the fake embedder: every
overdue review, superseded copy and broken reference of the gold file, nothing else; and the report a build keeps.
(The conflicts need the real model's vectors: bench/corpus_check.py measures them.)"""

import json
import shutil
from datetime import date

import pytest

from rag.indexing import builds
from rag.indexing.store import LoadedIndex
from rag.lifecycle.health import HEALTH, check_corpus, health_lines, health_report, read_health
from rag.pipeline import rebuild
from tests.conftest import FIXTURES

GOLD = json.loads((FIXTURES / "lifecycle" / "gold.json").read_text(encoding="utf-8"))


@pytest.fixture
def planted(tmp_path, settings, fake_embedder):  # type: ignore[no-untyped-def]
    corpus = tmp_path / "planted"
    shutil.copytree(FIXTURES / "lifecycle" / "corpus", corpus)
    planted_settings = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "planted-index")
    outcome = rebuild(planted_settings, fake_embedder, None, planted_settings.gate_file, no_gate=True)
    return planted_settings, outcome


def test_the_planted_findings_and_no_others(planted):
    settings, _ = planted
    health = check_corpus(builds.load_current(settings), date.fromisoformat(GOLD["today"]))
    assert {o.facts.doc_id for o in health.overdue} == set(GOLD["overdue_reviews"])
    assert {(s.doc_id, s.standing) for s in health.superseded} == {(g["doc_id"], g["standing"]) for g in GOLD["superseded"]}
    assert {(r.span.doc_id, r.kind, r.target, r.clause) for r in health.references} == {
        (g["doc_id"], g["kind"], g["target"], g.get("clause", "")) for g in GOLD["broken_references"]}
    [v2] = [o for o in health.overdue if o.facts.doc_id == "password-policy-v2.md"]
    assert (v2.facts.next_review, v2.facts.owner, v2.days) == (date(2025, 1, 1), "Chief Information Security Officer", 151)
    assert v2.span is not None and v2.span.quote == "Next review date: 1 January 2025"
    assert {s.current for s in health.superseded if s.doc_id.startswith("password")} == {"password-policy-v3.md"}


def test_a_conflict_never_involves_a_superseded_or_future_copy(planted):
    settings, _ = planted
    health = check_corpus(builds.load_current(settings), date.fromisoformat(GOLD["today"]))
    out = {s.doc_id for s in health.superseded}
    assert not [c for c in health.conflicts if c.a.doc_id in out or c.b.doc_id in out]


def test_every_build_keeps_its_report_and_the_manifest_its_counts(planted):
    settings, outcome = planted
    folder = settings.index_dir / builds.BUILDS / outcome.build_id
    stored = read_health(folder)
    assert stored is not None and (folder / HEALTH).exists()
    assert outcome.manifest["health"] == LoadedIndex.load(folder).manifest["health"] == {"today": stored["today"], **stored["counts"]}
    assert stored["counts"]["documents"] == 11 and stored["counts"]["broken_references"] == 4
    lines = health_lines(stored)
    assert lines[0].startswith(f"corpus health on {stored['today']}: 11 documents")
    assert any("broken reference (clause): 'clause 9.4 of Data Handling Standard' is not in the corpus" in line for line in lines)


def test_the_json_report_cites_spans_and_lists_every_document(planted):
    settings, _ = planted
    report = check_corpus(builds.load_current(settings), date(2025, 6, 1)).to_dict()
    assert set(report) == {"today", "counts", "overdue_reviews", "broken_references", "superseded", "conflicts", "documents"}
    ref = next(r for r in report["broken_references"] if r["target"] == "Corporate Giving Policy")
    assert set(ref["span"]) == {"doc_id", "title", "section", "start", "end", "quote"} and ref["span"]["doc_id"] == "expenses-policy.md"
    password = next(d for d in report["documents"] if d["doc_id"] == "password-policy-v3.md")
    assert password["code"] == "ACME-PWD-002" and password["effective"] == "2025-03-01" and len(password["history"]) == 2


def test_the_stored_report_of_the_day_is_served_and_another_day_is_checked_afresh(planted):
    settings, outcome = planted
    index = builds.load_current(settings)
    stored = read_health(index.folder)
    assert health_report(index, date.fromisoformat(stored["today"])) is not None
    (index.folder / HEALTH).write_text(json.dumps({**stored, "marker": True}), encoding="utf-8")
    assert health_report(index, date.fromisoformat(stored["today"]))["marker"] is True  # read, not recomputed
    assert "marker" not in health_report(index, date(2025, 6, 1)) and health_report(index, date(2025, 6, 1))["today"] == "2025-06-01"
