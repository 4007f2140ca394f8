"""Which copies answer on a day (`rag.lifecycle.versions`), the notes an answer carries (`rag.lifecycle.notes`) and the
filter retrieval applies (`rag.search.retrieval.allowed_documents`), on hand-written facts and on the versions corpus
(tests/fixtures/versions) built with the fake embedder."""

import shutil
from dataclasses import replace
from datetime import date

import pytest

from rag.config import Settings
from rag.errors import ConfigError, InvalidRequestError
from rag.indexing import builds
from rag.lifecycle.facts import DocumentFacts
from rag.lifecycle.notes import standing_note, with_notes
from rag.lifecycle.versions import BuildLifecycle, facts_from_dict
from rag.models import Access, Answer, Citation
from rag.pipeline import rebuild
from rag.search.retrieval import Filters, allowed_documents, on_day, parse_day
from tests.conftest import FIXTURES

JUNE_2026, JUNE_2024 = date(2026, 6, 1), date(2024, 6, 1)


def facts(doc_id: str, title: str, code: str, version: str, effective: str | None, review: str | None = None,
          owner: str = "Finance", status: str = "") -> DocumentFacts:
    day = lambda text: date.fromisoformat(text) if text else None  # noqa: E731
    return DocumentFacts(doc_id, title, code, version, day(effective), day(review), owner, status, (), None)


LIFE = BuildLifecycle({f.doc_id: f for f in (
    facts("claims-2024.md", "Expense Claims Policy", "EXP-4", "1.0", "2024-01-01", "2025-01-01"),
    facts("claims-2026.md", "Expense Claims Policy", "EXP-4", "2.0", "2026-01-01", "2028-01-01"),
    facts("ev.md", "Electric Vehicle Charging Policy", "EVC-1", "1.0", "2027-01-01", owner="Facilities"),
    facts("travel.md", "Travel Policy", "TRV-2", "3.1", "2023-03-01", "2025-03-01"),
    facts("old-gifts.md", "Gifts Policy", "", "1.0", "2019-01-01", status="Withdrawn"),
)})


def test_only_the_copy_in_force_on_the_day_answers():
    assert LIFE.out_of_force(JUNE_2026) == {"claims-2024.md", "old-gifts.md"}
    assert LIFE.out_of_force(JUNE_2024) == {"claims-2026.md", "old-gifts.md"}  # the 2026 copy is not yet in force then
    old = LIFE.standing("claims-2024.md", JUNE_2026)
    assert (old.standing, old.by, old.since) == ("superseded", "claims-2026.md", date(2026, 1, 1))
    assert LIFE.standing("claims-2024.md", JUNE_2024).standing == "in force"
    assert LIFE.standing("old-gifts.md", JUNE_2026).standing == "withdrawn"


def test_a_policy_whose_only_copy_is_future_dated_still_answers_and_is_not_yet_in_force():
    assert "ev.md" not in LIFE.out_of_force(JUNE_2026)
    ev = LIFE.standing("ev.md", JUNE_2026)
    assert (ev.standing, ev.since) == ("not yet in force", date(2027, 1, 1))
    assert LIFE.standing("ev.md", date(2027, 1, 1)).standing == "in force"
    before_any = LIFE.out_of_force(date(2023, 6, 1))  # no copy of the claims policy in force yet: both stay, noted
    assert "claims-2024.md" not in before_any and "claims-2026.md" not in before_any


def test_the_in_force_list_keeps_build_order_and_is_none_when_nothing_is_left_out():
    documents = dict.fromkeys(["travel.md", "claims-2024.md", "claims-2026.md"])
    assert LIFE.in_force(frozenset({"claims-2024.md"}), documents) == ["travel.md", "claims-2026.md"]
    assert LIFE.in_force(frozenset(), documents) is None


def test_stored_facts_read_back_as_written():
    original = facts("claims-2026.md", "Expense Claims Policy", "EXP-4", "2.0", "2026-01-01", "2028-01-01")
    assert facts_from_dict(original.to_dict()) == original
    assert facts_from_dict(facts("x.md", "X", "", "", None).to_dict()).effective is None


def test_standing_notes_say_overdue_superseded_and_not_yet_in_force():
    overdue = standing_note(LIFE, "travel.md", [1], JUNE_2026, JUNE_2026)
    assert overdue is not None and overdue.kind == "overdue" and overdue.citations == (1,)
    assert overdue.message == "Note: the Travel Policy was due for review on 2025-03-01 (owner: Finance)."
    superseded = standing_note(LIFE, "claims-2024.md", [1], JUNE_2024, JUNE_2026)
    assert superseded is not None and superseded.kind == "superseded"
    assert superseded.message == ("Note: the Expense Claims Policy version 1.0 quoted here, in force on 2024-06-01, was "
                                  "superseded on 2026-01-01 by version 2.0 (claims-2026.md).")
    future = standing_note(LIFE, "ev.md", [1, 2], JUNE_2026, JUNE_2026)
    assert future is not None and future.kind == "not_in_force" and "takes effect on 2027-01-01" in future.message
    assert standing_note(LIFE, "claims-2026.md", [1], JUNE_2026, JUNE_2026) is None  # current, reviewed in time


def test_dates_are_read_or_refused_with_the_format():
    assert parse_day("2024-06-01") == JUNE_2024 and parse_day(JUNE_2024) == JUNE_2024
    for bad in ("2024-13-01", "1 June 2024", "", "20240601", 20240601):
        with pytest.raises(InvalidRequestError, match="write it YYYY-MM-DD, e.g. 2024-06-01"):
            parse_day(bad)
    assert Settings(today="2026-06-01").day() == JUNE_2026 and Settings().day() == date.today()
    for bad in ("June", "2026-02-30"):
        with pytest.raises(ConfigError, match="RAG_TODAY"):
            Settings(today=bad)
    assert on_day(None, Settings(today="2026-06-01")).as_of == JUNE_2026
    assert on_day(Filters(as_of=JUNE_2024), Settings(today="2026-06-01")).as_of == JUNE_2024


@pytest.fixture
def versions(tmp_path, settings, fake_embedder):  # type: ignore[no-untyped-def]
    """The versions corpus built (with its health report) with the fake embedder, its settings taking 2026-06-01 as today."""
    corpus = tmp_path / "versions"
    shutil.copytree(FIXTURES / "versions" / "corpus", corpus)
    dated = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "versions-index", today="2026-06-01")
    rebuild(dated, fake_embedder, None, dated.gate_file, no_gate=True)
    return dated, builds.load_current(dated)


def test_retrieval_keeps_out_the_copies_not_in_force_on_the_day_within_the_access(versions):
    _, index = versions
    every = set(index.documents)
    assert set(allowed_documents(index, Filters(as_of=JUNE_2026)) or every) == every - {"expense-claims-2024.md"}
    assert set(allowed_documents(index, Filters(as_of=JUNE_2024)) or every) == every - {"expense-claims-2026.md"}
    assert "ev-charging-policy.md" in (allowed_documents(index, Filters(as_of=JUNE_2026)) or every)
    named = Filters(doc_ids=("expense-claims-2024.md", "travel-policy.md"), as_of=JUNE_2026)
    assert allowed_documents(index, named) == ["travel-policy.md"]
    nobody = Access("k", frozenset({"nobody"}))
    assert allowed_documents(index, Filters(access=nobody, as_of=JUNE_2024)) == []
    assert BuildLifecycle.of(index) is BuildLifecycle.of(index)  # read once per loaded build


def _cite(index, n: int, doc_id: str, text: str) -> Citation:  # type: ignore[no-untyped-def]
    doc = index.documents[doc_id]
    start = doc.text.index(text)
    return Citation(n, doc_id, doc.title, "", None, start, start + len(text), text, 1)


def test_a_cited_sentence_a_stored_conflict_disagrees_with_brings_the_other_sentence_and_says_which_is_newer(versions):
    _, index = versions
    hotel = "1.1 The limit for hotel stays in London is £200 per night, including breakfast."
    travel = "2.1 Hotel costs in London must not exceed £150 per night, including breakfast."
    a, b = _cite(index, 1, "hospitality-standard.md", hotel), _cite(index, 2, "travel-policy.md", travel)
    stored = BuildLifecycle.of(index)
    conflict = {"kinds": ["amount"], "values": [["£200"], ["£150"]],
                "a": {"doc_id": a.doc_id, "start": a.start, "end": a.end}, "b": {"doc_id": b.doc_id, "start": b.start, "end": b.end}}
    index.derived["lifecycle"] = BuildLifecycle(stored.facts, [conflict])
    answer = Answer("What is the hotel limit in London?", f"{hotel} [1]", False, (a,), (), index.build_id)
    noted = with_notes(answer, index, JUNE_2026, JUNE_2026)
    assert [c.doc_id for c in noted.citations] == ["hospitality-standard.md", "travel-policy.md"]
    other = noted.citations[1]
    assert (other.n, other.quote, other.passage_rank) == (2, travel, 0) and other.section == "2. Accommodation > 2.1"
    assert [n.kind for n in noted.notes] == ["overdue", "conflict"]
    assert noted.notes[0].message == "Note: the Travel Policy was due for review on 2025-03-01 (owner: Finance)."
    assert noted.notes[1].citations == (1, 2) and noted.notes[1].message == (
        "Note: the Hospitality and Accommodation Standard [1] and the Travel Policy [2] disagree (£200 against £150): "
        f"\u201c{travel}\u201d [2]. The Hospitality and Accommodation Standard is newer (effective 2026-02-01; the Travel "
        "Policy: 2023-03-01).")
    hidden = with_notes(answer, index, JUNE_2026, JUNE_2026, allowed=["hospitality-standard.md"])
    assert hidden.citations == (a,) and hidden.notes == ()  # a document the caller may not read is never shown
    from_travel = with_notes(replace(answer, citations=(replace(b, n=1),)), index, JUNE_2026, JUNE_2026)
    assert [c.doc_id for c in from_travel.citations] == ["travel-policy.md", "hospitality-standard.md"]


def test_a_refusal_carries_no_notes(versions):
    _, index = versions
    refusal = Answer("q", "The documents do not say.", True, (), (), index.build_id)
    assert with_notes(refusal, index, JUNE_2026, JUNE_2026) is refusal
