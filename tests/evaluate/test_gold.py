import json

import pytest

from rag.errors import InvalidRequestError
from rag.evaluate.gold import find_spans, load_gold, read_field
from rag.ingest.corpus import load_corpus


def write_gold(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def documents(mini_corpus):
    return {d.doc_id: d for d in load_corpus(mini_corpus).documents}


def test_evidence_resolves_to_spans(tmp_path, documents):
    gold = write_gold(tmp_path / "g.jsonl", [
        {"id": "q1", "question": "How long is CCTV kept?", "answers": ["30 days"], "answerable": True,
         "evidence": [{"doc": "retention.md", "text": "CCTV footage is kept for 30 days"}], "meta": {"scope_doc": "retention.md"}},
    ])
    row = load_gold(gold, documents, "meta.scope_doc")[0]
    (start, end), = row.evidence[0].spans
    assert documents["retention.md"].text[start:end] == "CCTV footage is kept for 30 days"
    assert row.scope_doc == "retention.md" and row.unresolved == []


def test_whitespace_insensitive_match(documents):
    doc = documents["travel.txt"]
    spans = find_spans(doc, "The nightly   hotel limit\nis 180 pounds")
    assert len(spans) == 1 and doc.text[spans[0][0]:spans[0][1]].startswith("The nightly hotel limit is 180")


def test_missing_evidence_is_reported_not_dropped(tmp_path, documents):
    gold = write_gold(tmp_path / "g.jsonl", [
        {"id": "q1", "question": "x?", "answers": [], "evidence": [{"doc": "retention.md", "text": "not in the file"}], "answerable": True},
        {"id": "q2", "question": "y?", "answers": [], "evidence": [{"doc": "gone.md", "text": "anything"}], "answerable": True},
    ])
    rows = load_gold(gold, documents)
    assert len(rows) == 2
    assert rows[0].unresolved and rows[1].unresolved


def test_bad_gold_files_say_what_to_fix(tmp_path, documents):
    with pytest.raises(InvalidRequestError, match="does not exist"):
        load_gold(tmp_path / "none.jsonl", documents)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(InvalidRequestError, match="bad.jsonl:1"):
        load_gold(bad, documents)


def test_read_field_follows_dots():
    assert read_field({"meta": {"scope_doc": "a.txt"}}, "meta.scope_doc") == "a.txt"
    assert read_field({"meta": {}}, "meta.scope_doc") is None


def test_project_gold_evidence_is_verbatim_in_docs_corpus():
    from tests.conftest import ROOT

    documents = {d.doc_id: d for d in load_corpus(ROOT / "docs_corpus").documents}
    rows = load_gold(ROOT / "eval" / "gold" / "docs_corpus.jsonl", documents)
    assert len(rows) >= 80
    assert [r.id for r in rows if r.unresolved] == []
    assert sum(1 for r in rows if not r.answerable) >= 15
    assert sum(1 for r in rows if len(r.evidence) >= 2) >= 10
    assert {e.doc_id for r in rows for e in r.evidence} == set(documents)
    for row in rows:
        for answer in row.answers:
            assert any(answer in e.text for e in row.evidence), (row.id, answer)


def test_history_is_read_oldest_first_and_a_bad_one_is_named_by_line(tmp_path):
    import json

    import pytest

    from rag.errors import InvalidRequestError
    from rag.evaluate.gold import load_gold
    from rag.models import Message

    good = {"id": "t2", "question": "and abroad?", "history": [{"role": "user", "content": "Hotel limit?"},
                                                               {"role": "assistant", "content": "180 pounds [1]"}]}
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"id": "t1", "question": "Hotel limit?"}) + "\n" + json.dumps(good) + "\n")
    first, second = load_gold(path, {})
    assert not first.follow_up and second.follow_up
    assert second.history == (Message("user", "Hotel limit?"), Message("assistant", "180 pounds [1]"))
    path.write_text(json.dumps({**good, "history": [{"role": "agent", "content": "x"}]}) + "\n")
    with pytest.raises(InvalidRequestError, match=r"g.jsonl:1: history must be"):
        load_gold(path, {})
