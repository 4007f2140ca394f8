import numpy as np

from rag.indexing.sentences import SentenceTable, display_text, quotable_rows, quotable_spans, sentence_display
from rag.ingest.corpus import load_corpus


def test_quotable_spans_skip_headings_and_fragments(mini_corpus):
    doc = next(d for d in load_corpus(mini_corpus).documents if d.doc_id == "retention.md")
    quoted = [doc.text[a:b] for a, b in quotable_spans(doc)]
    assert "2.1 Payroll records are kept for 6 years after the end of the tax year." in quoted
    assert not any(q.startswith("#") for q in quoted)
    assert "|---|---|" not in quoted


def test_a_numbered_heading_is_not_quotable_after_its_number(tmp_path):
    (tmp_path / "remote.md").write_text("# Remote Working\n\n## 6. Working from abroad\n\n6.1 Staff may work abroad for up to 20 days.\n")
    doc = load_corpus(tmp_path).documents[0]
    assert [doc.text[a:b] for a, b in quotable_spans(doc)] == ["6.1 Staff may work abroad for up to 20 days."]


def test_table_rows_are_shown_with_their_header(mini_corpus):
    doc = next(d for d in load_corpus(mini_corpus).documents if d.doc_id == "retention.md")
    start = doc.text.index("| Board minutes")
    end = doc.text.index("\n", start)
    assert sentence_display(doc.text, start, end) == "Record type: Board minutes; Period: Permanently"
    html = next(d for d in load_corpus(mini_corpus).documents if d.doc_id == "conduct.html")
    start = html.text.index("Director | £100")
    assert sentence_display(html.text, start, start + len("Director | £100")) == "Role: Director; Limit: £100"


def test_display_text_strips_markdown():
    assert display_text("| Board minutes | Permanently |") == "Board minutes | Permanently"
    assert display_text("- **Rule**: keep   it") == "Rule: keep it"
    assert display_text("Use `rag ask` and __never__ share it") == "Use rag ask and never share it"


def test_display_text_keeps_marks_that_are_part_of_a_word():
    assert display_text("The page sets window.__xss and my__var, 2**3") == "The page sets window.__xss and my__var, 2**3"


def test_table_round_trips_and_finds_rows_inside_a_range(mini_corpus, tmp_path, fake_embedder):
    docs = load_corpus(mini_corpus).documents
    rows = quotable_rows(docs)
    table = rows.with_vectors(fake_embedder.encode(rows.texts))
    table.save(tmp_path)
    loaded = SentenceTable.load(tmp_path)
    assert len(loaded) == len(table) > 5
    assert np.allclose(loaded.vectors, table.vectors, atol=1e-3)
    doc = next(d for d in docs if d.doc_id == "travel.txt")
    start = doc.text.index("2.1 The nightly")
    end = doc.text.index("Section 3")
    rows = loaded.rows_within("travel.txt", start, end)
    texts = [doc.text[loaded.starts[r]:loaded.ends[r]] for r in rows]
    assert texts == ["2.1 The nightly hotel limit is 180 pounds in London and 120 pounds elsewhere in the country.",
                     "2.2 Hotels abroad are booked through the travel desk."]
    assert len(loaded.rows_within("missing.md", 0, 100)) == 0
