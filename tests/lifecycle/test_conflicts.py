"""Candidate conflicts from hand-set unit vectors: similar sentences of different documents whose values differ."""

import numpy as np

from rag.ingest.corpus import parse_document
from rag.lifecycle.conflicts import SentenceRow, find_conflicts
from rag.ingest.text import sentence_spans

DOCS = {
    "expenses.md": "# Expenses\n\n## 1. Claims\n\n1.1 Expense claims must be submitted within 30 days of the expense.\n\n"
                   "1.2 Receipts are kept for 6 years.\n",
    "travel.md": "# Travel\n\n## 2. Claims\n\n2.1 Travel expense claims must be submitted within 60 days of the expense.\n\n"
                 "2.2 Receipts are kept for 6 years.\n",
    "travel-old.md": "# Travel\n\n## 2. Claims\n\n2.1 Travel expense claims must be submitted within 90 days of the expense.\n",
}


def setup(similar: float):  # type: ignore[no-untyped-def]
    documents = {n: parse_document(t.encode(), n, "markdown") for n, t in DOCS.items()}
    rows = [SentenceRow(n, a, b, documents[n].text[a:b]) for n, d in documents.items() for a, b in sentence_spans(d.text)
            if not d.text[a:b].startswith("#")]
    base = np.eye(8, dtype=np.float32)
    vectors = []
    for row in rows:  # the claims sentences share one direction (cosine `similar`), the receipts sentences another
        if "claims" in row.text:
            v = base[0] * similar + base[1 + len(vectors) % 5] * np.sqrt(1 - similar**2)
        else:
            v = base[7]
        vectors.append(v)
    return documents, rows, np.array(vectors, dtype=np.float32)


def family(doc_id: str) -> str:
    return doc_id.replace("-old", "")


def test_a_differing_duration_between_similar_sentences_is_a_conflict_citing_both_spans():
    documents, rows, vectors = setup(0.9)
    found = find_conflicts(documents, rows, vectors, family)
    assert {(c.a.doc_id, c.b.doc_id) for c in found} == {("expenses.md", "travel.md"), ("expenses.md", "travel-old.md")}
    [conflict] = [c for c in found if c.b.doc_id == "travel.md"]
    assert conflict.kinds == ("duration",) and conflict.values == (("30 days",), ("60 days",))
    assert (conflict.a.doc_id, conflict.b.doc_id) == ("expenses.md", "travel.md")
    assert conflict.a.quote == "1.1 Expense claims must be submitted within 30 days of the expense."
    assert documents["travel.md"].text[conflict.b.start : conflict.b.end] == conflict.b.quote
    assert conflict.a.section == ("1. Claims", "1.1") or conflict.a.section[-1].startswith("1.1")


def test_same_values_other_versions_and_low_similarity_are_no_conflict():
    documents, rows, vectors = setup(0.9)
    pairs = {(c.a.doc_id, c.b.doc_id) for c in find_conflicts(documents, rows, vectors, family)}
    assert ("travel-old.md", "travel.md") not in pairs and ("travel.md", "travel-old.md") not in pairs  # one policy's versions
    assert not any("Receipts" in c.a.quote for c in find_conflicts(documents, rows, vectors, family))  # 6 years both
    documents, rows, vectors = setup(0.3)
    assert find_conflicts(documents, rows, vectors, family) == []  # not about the same thing
