"""Answers over the versions corpus with the real model (tests/fixtures/versions, today 2026-06-01): the copy in force
today answers, an `as_of` question answers from the copy then in force and cites it, a future-dated policy says it
is not yet in force, and the notes say what an answer cites is overdue, superseded or disagrees with another
document. The same through `rag eval` on the corpus's gold rows with `as_of` days."""

from datetime import date

import pytest

from rag.assistant import Assistant
from rag.evaluate.gold import load_gold
from rag.evaluate.runner import evaluate
from rag.search.retrieval import Filters
from tests.conftest import FIXTURES

pytestmark = pytest.mark.model
CLAIMS = "How many days do I have to submit an expense claim?"


@pytest.fixture(scope="module")
def assistant(versions_build) -> Assistant:
    return Assistant(versions_build)


def test_a_plain_question_answers_from_the_version_in_force_today(assistant):
    answer = assistant.ask(CLAIMS)
    assert answer.status == "answered" and "45 days" in answer.answer and answer.as_of == "2026-06-01"
    assert {c.doc_id for c in answer.citations} == {"expense-claims-2026.md"}
    assert answer.notes == ()  # the current copy, reviewed in time
    assert not [p for p in answer.passages if p.chunk.doc_id == "expense-claims-2024.md"]  # kept out, though indexed


def test_an_as_of_question_answers_from_the_version_then_in_force_citing_it(assistant):
    answer = assistant.ask(CLAIMS, filters=Filters(as_of=date(2024, 6, 1)))
    assert "30 days" in answer.answer and "45 days" not in answer.answer and answer.as_of == "2024-06-01"
    assert {c.doc_id for c in answer.citations} == {"expense-claims-2024.md"}
    assert "within 30 days" in answer.citations[0].quote
    [note] = answer.notes
    assert note.kind == "superseded" and note.doc_id == "expense-claims-2024.md"
    assert note.message == ("Note: the Expense Claims Policy version 1.0 quoted here, in force on 2024-06-01, was "
                            "superseded on 2026-01-01 by version 2.0 (expense-claims-2026.md).")
    search = assistant.search(CLAIMS, 5, Filters(as_of=date(2024, 6, 1)))
    assert search.passages[0].chunk.doc_id == "expense-claims-2024.md"
    assert "expense-claims-2026.md" not in {p.chunk.doc_id for p in search.passages}


def test_a_policy_whose_only_copy_is_future_dated_says_it_is_not_yet_in_force(assistant):
    answer = assistant.ask("Can I charge my electric car at the office?")
    assert {c.doc_id for c in answer.citations} == {"ev-charging-policy.md"}
    [note] = answer.notes
    assert note.kind == "not_in_force" and "not yet in force on 2026-06-01: it takes effect on 2027-01-01" in note.message
    later = assistant.ask("Can I charge my electric car at the office?", filters=Filters(as_of=date(2027, 2, 1)))
    assert later.notes == () and {c.doc_id for c in later.citations} == {"ev-charging-policy.md"}


def test_a_cited_clause_another_document_contradicts_shows_both_and_the_overdue_one_says_so(assistant):
    answer = assistant.ask("What is the hotel limit in London?")
    docs = [c.doc_id for c in answer.citations]
    assert set(docs) == {"hospitality-standard.md", "travel-policy.md"}
    kinds = {n.kind: n for n in answer.notes}
    assert set(kinds) == {"overdue", "conflict"}
    assert kinds["overdue"].message == "Note: the Travel Policy was due for review on 2025-03-01 (owner: Finance)."
    conflict = kinds["conflict"]
    assert "disagree" in conflict.message and "The Hospitality and Accommodation Standard is newer" in conflict.message
    quoted = {answer.citations[n - 1].quote for n in conflict.citations}
    assert any("£150" in q for q in quoted) and any("£200" in q for q in quoted)
    assert all(c.quote == assistant.document(c.doc_id).text[c.start : c.end] for c in answer.citations)


def test_a_conversation_keeps_the_day_for_its_follow_ups(assistant):
    first = assistant.ask(CLAIMS, filters=Filters(as_of=date(2024, 6, 1)))
    follow = assistant.ask("and what must support it?", filters=Filters(as_of=date(2024, 6, 1)),
                           history=[{"role": "user", "content": CLAIMS}, {"role": "assistant", "content": first.answer}])
    assert {c.doc_id for c in follow.citations} == {"expense-claims-2024.md"} and "itemised receipt" in follow.answer


def test_eval_measures_as_of_questions_apart(assistant):
    rows = load_gold(FIXTURES / "versions" / "gold.jsonl", assistant.snapshot.index.documents)
    assert sum(r.as_of is not None for r in rows) == 5 and not [r for r in rows if r.unresolved]
    run = evaluate(assistant, rows)
    by_day = run.summary["by_day"]
    assert (by_day["today"]["n"], by_day["as_of"]["n"]) == (4, 5)
    assert by_day["as_of"]["retrieval"]["hit@1"] == 1.0 and by_day["as_of"]["answer"]["containment"] == 1.0
    assert by_day["as_of"]["abstention"]["f1"] == 1.0
    assert run.summary["abstention"]["f1"] == 1.0
