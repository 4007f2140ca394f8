from pathlib import Path

import pytest

from rag.errors import CorpusError, DocumentError
from rag.ingest.corpus import load_corpus, load_document, parse_document


def doc_by_id(corpus, doc_id):
    return next(d for d in corpus.documents if d.doc_id == doc_id)


def test_loads_every_supported_file_with_stable_ids(mini_corpus):
    corpus = load_corpus(mini_corpus)
    assert [d.doc_id for d in corpus.documents] == ["conduct.html", "retention.md", "travel.txt"]
    assert corpus.skipped == ()


def test_markdown_title_metadata_and_section_paths(mini_corpus):
    doc = doc_by_id(load_corpus(mini_corpus), "retention.md")
    assert doc.title == "Records Retention Rules"
    assert doc.metadata == {"document_id": "TST-RET-001", "version": "1.2", "effective_date": "1 May 2025", "owner": "Records Manager",
                            "title": "Records Retention Rules"}
    offset = doc.text.index("Payroll records")
    assert doc.section_at(offset) == ("2. Retention periods", "2.1")
    assert doc.section_at(doc.text.index("Board minutes")) == ("2. Retention periods", "2.2")
    assert doc.section_at(doc.text.index("Paper records")) == ("3. Disposal", "3.1")


def test_plain_text_headings_articles_and_clauses(mini_corpus):
    doc = doc_by_id(load_corpus(mini_corpus), "travel.txt")
    assert doc.title == "Travel Rules"
    assert doc.section_at(doc.text.index("The nightly hotel")) == ("Article 2 - Hotels", "2.1")
    assert doc.section_at(doc.text.index("Claims over")) == ("Section 3: Approval", "3.1")
    assert doc.section_at(doc.text.index("This document explains")) == ("1. PURPOSE", "1.1")


def test_html_drops_boilerplate_decodes_entities_and_keeps_headings(mini_corpus):
    doc = doc_by_id(load_corpus(mini_corpus), "conduct.html")
    assert doc.title == "Code of Conduct"
    assert "tracking" not in doc.text and "Intranet home" not in doc.text and "Cookie notice" not in doc.text
    assert "Policies" not in doc.text
    assert "worth up to £50 without approval" in doc.text
    assert "Director | £100" in doc.text
    assert doc.section_at(doc.text.index("Staff may accept")) == ("1. Gifts",)
    assert doc.section_at(doc.text.index("Declare any")) == ("2. Conflicts of interest",)
    assert doc.metadata["owner"] == "People Team"


def test_sections_cover_the_text_without_overlap(mini_corpus):
    for doc in load_corpus(mini_corpus).documents:
        assert doc.sections[0].start == 0 and doc.sections[-1].end == len(doc.text)
        for left, right in zip(doc.sections, doc.sections[1:]):
            assert left.end == right.start


def test_windows_1252_text_is_decoded(tmp_path: Path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Fees are \u00a3200 per caf\u00e9 visit.".encode("cp1252"))
    assert "£200" in load_document(path, "legacy.txt").text


def test_crlf_and_bom_are_normalised():
    doc = parse_document("\ufeffTitle\r\n\r\nBody line.\r\n".encode("utf-8"), "a.txt", "text")
    assert doc.text == "Title\n\nBody line.\n" and doc.title == "Title"


def test_binary_file_with_text_extension_is_reported(tmp_path: Path):
    (tmp_path / "good.md").write_text("# Good\n\nSome text here.")
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (tmp_path / "empty.md").write_text("   \n")
    corpus = load_corpus(tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["good.md"]
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert "binary" in reasons["bad.txt"] and "no text" in reasons["empty.md"]


def test_oversized_file_is_skipped(tmp_path: Path):
    (tmp_path / "big.txt").write_text("word " * 1000)
    (tmp_path / "ok.txt").write_text("Small file.")
    corpus = load_corpus(tmp_path, max_bytes=1000)
    assert corpus.skipped[0].path == "big.txt" and "RAG_MAX_DOCUMENT_BYTES" in corpus.skipped[0].reason


def test_missing_or_empty_corpus_says_what_to_do(tmp_path: Path):
    with pytest.raises(CorpusError, match="--corpus"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no usable documents"):
        load_corpus(tmp_path)


def test_unsupported_extension_is_refused(tmp_path: Path):
    path = tmp_path / "x.rtf"
    path.write_bytes(b"{\\rtf1 hello}")
    with pytest.raises(DocumentError, match="unsupported"):
        load_document(path, "x.rtf")


def test_html_numbered_paragraphs_become_clauses():
    html = b"<html><body><main><h1>Policy</h1><h2>4. Reporting</h2><p>4.1 Report within 1 hour.</p><p>4.2 Keep notes.</p></main></body></html>"
    doc = parse_document(html, "p.html", "html")
    assert doc.section_at(doc.text.index("Report within")) == ("4. Reporting", "4.1")
    assert doc.section_at(doc.text.index("Keep notes")) == ("4. Reporting", "4.2")


def test_a_long_or_numbered_first_line_is_not_a_title():
    prose = parse_document(b"We collect data when you visit. It is used for billing.\n\nMore text.", "acme-privacy.txt", "text")
    assert prose.title == "Acme Privacy"
    numbered = parse_document(b"1. INTRODUCTION\n\n1.1 This rulebook applies to firms.", "02-aml-rules.txt", "text")
    assert numbered.title == "02 Aml Rules"
    assert numbered.section_at(numbered.text.index("This rulebook")) == ("1. INTRODUCTION", "1.1")


def test_html_heading_numbers_and_table_rows_are_not_clauses():
    html = (b"<html><body><main><h1>Policy</h1><h2>5. Travel</h2><h3>5.2 Rail travel</h3><p>Standard class.</p>"
            b"<h2>15. History</h2><table><tr><th>Version</th><th>Change</th></tr><tr><td>6.0</td><td>Limits raised</td></tr></table>"
            b"</main></body></html>")
    doc = parse_document(html, "p.html", "html")
    assert doc.section_at(doc.text.index("Standard class")) == ("5. Travel", "5.2 Rail travel")
    assert doc.section_at(doc.text.index("6.0 | Limits")) == ("15. History",)


def _reasons(corpus):
    return {s.path: s.reason for s in corpus.skipped}


def test_symlinks_out_of_the_corpus_broken_ones_and_linked_folders_are_reported(tmp_path: Path):
    corpus_dir, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus_dir.mkdir()
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nSalaries of the board.")
    (corpus_dir / "good.md").write_text("# Good\n\nSome text here.")
    (corpus_dir / "escape.md").symlink_to(outside / "secret.md")
    (corpus_dir / "dangling.md").symlink_to(tmp_path / "missing.md")
    (corpus_dir / "linked").symlink_to(outside, target_is_directory=True)
    corpus = load_corpus(corpus_dir)
    assert [d.doc_id for d in corpus.documents] == ["good.md"]
    reasons = _reasons(corpus)
    assert "outside the corpus" in reasons["escape.md"] and "broken symlink" in reasons["dangling.md"]
    assert "not followed" in reasons["linked/"]


def test_duplicate_documents_are_indexed_once(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Policy\n\nKeep records for six years.")
    (tmp_path / "copy-of-a.md").write_text("# Policy\n\nKeep records for six years.")
    (tmp_path / "a.txt").write_text("# Policy\n\nKeep  records for six years.\n")
    corpus = load_corpus(tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["a.md"]
    assert _reasons(corpus) == {"a.txt": _reasons(corpus)["a.txt"], "copy-of-a.md": _reasons(corpus)["copy-of-a.md"]}
    assert all("same content as a.md" in r for r in _reasons(corpus).values())


def test_unsupported_files_and_office_files_with_text_extensions_are_reported(tmp_path: Path):
    (tmp_path / "ok.md").write_text("# Ok\n\nFine text.")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04whatever")
    (tmp_path / "report.txt").write_bytes(b"%PDF-1.7\n%binary-ish but no NUL bytes here")
    reasons = _reasons(load_corpus(tmp_path))
    assert "unsupported file type '.xlsx'" in reasons["sheet.xlsx"]
    assert "rename it to .pdf" in reasons["report.txt"]


def test_a_file_that_vanishes_before_it_is_read_is_reported(tmp_path: Path, monkeypatch):
    import rag.ingest.corpus as corpus_module

    (tmp_path / "stays.md").write_text("# Stays\n\nThis file stays.")
    (tmp_path / "goes.md").write_text("# Goes\n\nThis file goes away.")
    real = corpus_module.read_document

    def deleting_reader(path, doc_id, max_bytes=20_000_000):
        if doc_id == "goes.md":
            path.unlink()
        return real(path, doc_id, max_bytes)

    monkeypatch.setattr(corpus_module, "read_document", deleting_reader)
    corpus = load_corpus(tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["stays.md"]
    assert "disappeared" in _reasons(corpus)["goes.md"]


def test_non_utf8_text_is_detected_converted_and_noted(tmp_path: Path):
    (tmp_path / "legacy.txt").write_bytes("Caf\u00e9 receipts over \u00a3200 need a manager\u2019s approval.".encode("cp1252"))
    corpus = load_corpus(tmp_path)
    assert "£200 need a manager’s approval" in corpus.documents[0].text
    assert corpus.notes[0].path == "legacy.txt" and "windows-1252" in corpus.notes[0].reason
