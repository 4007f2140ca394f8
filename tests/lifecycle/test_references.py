"""References to titles, codes and clauses that resolve to nothing in the corpus."""

from rag.ingest.corpus import parse_document
from rag.ingest.text import sentence_spans
from rag.lifecycle.facts import read_facts
from rag.lifecycle.references import Resolver, broken_references

TRAVEL = "# Travel Policy\n\nDocument ID: ABC-TRV-011\n\n## 4. Mileage\n\n4.1 Mileage is paid at 45p a mile.\n"
EXPENSES = """# Expenses Policy

Document ID: ABC-EXP-010

## 1. Claims

1.1 Donations are covered by the Corporate Giving Policy.

1.2 Mileage is paid under section 4 of the Travel Policy (ABC-TRV-011).

1.3 Fuel cards are covered by the Fleet Standard (ABC-FLT-020).

1.4 Hotels follow clause 7.2 of the Travel Policy.

1.5 This Policy applies to all staff, as does the Group Policy Hub.
"""


def found() -> set[tuple[str, str, str]]:
    docs = [parse_document(t.encode(), n, "markdown") for n, t in (("travel.md", TRAVEL), ("expenses.md", EXPENSES))]
    resolver = Resolver(docs, {d.doc_id: read_facts(d) for d in docs})
    return {(r.kind, r.target, r.clause) for d in docs for r in broken_references(d, sentence_spans(d.text), resolver)}


def test_titles_codes_and_clauses_not_in_the_corpus_are_found_and_the_rest_resolve():
    assert found() == {("title", "Corporate Giving Policy", ""), ("title", "Fleet Standard", ""), ("code", "ABC-FLT-020", ""),
                       ("clause", "Travel Policy", "7.2")}


def test_each_finding_quotes_its_sentence():
    docs = [parse_document(t.encode(), n, "markdown") for n, t in (("travel.md", TRAVEL), ("expenses.md", EXPENSES))]
    resolver = Resolver(docs, {d.doc_id: read_facts(d) for d in docs})
    [giving] = [r for r in broken_references(docs[1], sentence_spans(docs[1].text), resolver) if r.target == "Corporate Giving Policy"]
    assert giving.span.quote == "1.1 Donations are covered by the Corporate Giving Policy."
    assert docs[1].text[giving.span.start : giving.span.end] == giving.span.quote and giving.span.section[-1].startswith("1.1")
