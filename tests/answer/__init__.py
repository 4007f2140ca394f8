"""Tests of rag.answer; `sentence_at` finds the quotable sentence a test is about."""


def sentence_at(assistant, doc_id: str, needle: str):  # type: ignore[no-untyped-def]
    """(index, document, span) of the first quotable sentence starting at or after `needle` in `doc_id`."""
    doc, index = assistant.document(doc_id), assistant.snapshot.index
    row = index.sentences.rows_within(doc_id, doc.text.index(needle), len(doc.text))[0]
    return index, doc, (int(index.sentences.starts[row]), int(index.sentences.ends[row]))
