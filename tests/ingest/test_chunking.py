from rag.ingest.chunking import ChunkerSettings, chunk_document, count_tokens, embedding_text
from rag.ingest.corpus import load_corpus, parse_document
from rag.ingest.text import sentence_spans


def mini_docs(mini_corpus):
    return load_corpus(mini_corpus).documents


def test_offsets_round_trip_and_budget_is_respected(mini_corpus):
    settings = ChunkerSettings(max_tokens=40, overlap_tokens=8)
    for doc in mini_docs(mini_corpus):
        chunks = chunk_document(doc, settings)
        assert chunks
        for chunk in chunks:
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert chunk.n_tokens == count_tokens(chunk.text)
            assert chunk.n_tokens <= 40 + 2  # joining whitespace may add a token at most per boundary


def test_chunks_never_cut_a_sentence(mini_corpus):
    for doc in mini_docs(mini_corpus):
        sentences = sentence_spans(doc.text)
        starts = {a for a, _ in sentences}
        ends = {b for _, b in sentences}
        for chunk in chunk_document(doc, ChunkerSettings(max_tokens=40, overlap_tokens=8)):
            assert chunk.start in starts and chunk.end in ends


def test_every_sentence_is_in_some_chunk(mini_corpus):
    for doc in mini_docs(mini_corpus):
        chunks = chunk_document(doc, ChunkerSettings(max_tokens=30, overlap_tokens=0))
        for a, b in sentence_spans(doc.text):
            assert any(c.start <= a and b <= c.end for c in chunks), doc.text[a:b]


def test_chunk_ids_are_stable_and_carry_section_paths(mini_corpus):
    doc = next(d for d in mini_docs(mini_corpus) if d.doc_id == "retention.md")
    first = chunk_document(doc, ChunkerSettings(max_tokens=40))
    second = chunk_document(doc, ChunkerSettings(max_tokens=40))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    payroll = next(c for c in first if "Payroll" in c.text)
    assert payroll.section[0] == "2. Retention periods" and payroll.doc_id == "retention.md"


def test_overlap_repeats_trailing_sentences_within_a_section():
    text = "Title\n\n" + " ".join(f"Sentence number {i} is about topic {i}." for i in range(30))
    doc = parse_document(text.encode(), "long.txt", "text")
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=50, overlap_tokens=20))
    assert len(chunks) > 2
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:]))


def test_an_overlong_sentence_is_split_at_word_boundaries():
    text = "Title\n\n" + "word " * 400 + "end."
    doc = parse_document(text.encode(), "run-on.txt", "text")
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=50, overlap_tokens=0))
    assert len(chunks) >= 8
    for chunk in chunks:
        assert chunk.n_tokens <= 50 and not chunk.text.startswith(" ") and doc.text[chunk.start : chunk.end] == chunk.text


def test_chunks_are_split_until_they_fit_the_model_window():
    text = "Title\n\n" + " ".join(f"Clause {i} sets rule {i}." for i in range(40))
    doc = parse_document(text.encode(), "dense.txt", "text")
    window = 30

    def fits(t):
        return len(t.split()) <= window

    chunks = chunk_document(doc, ChunkerSettings(max_tokens=200, overlap_tokens=0), fits_window=fits)
    assert len(chunks) > 1
    assert all(fits(embedding_text(c)) for c in chunks)
    assert " ".join(c.text for c in chunks).split() == doc.text.split()


def test_embedding_text_prefixes_title_and_section(mini_corpus):
    doc = next(d for d in mini_docs(mini_corpus) if d.doc_id == "travel.txt")
    chunk = next(c for c in chunk_document(doc, ChunkerSettings(max_tokens=40)) if "nightly" in c.text)
    assert embedding_text(chunk).startswith("Travel Rules > Article 2 - Hotels")


def _table_doc(rows: int):
    intro = "# Retention\n\n## 2. Periods\n\n" + " ".join(f"Sentence {i} explains the retention rules in plain words." for i in range(12))
    table = "\n".join(["| Record type | Retention period |", "|---|---|"] +
                      [f"| Record class {i} | {i + 1} years after closure |" for i in range(rows)])
    return parse_document(f"{intro}\n\n{table}\n\nAfter the table comes more prose.".encode(), "ret.md", "markdown")


def test_a_table_that_fits_stays_whole_in_one_chunk():
    doc = _table_doc(rows=6)
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=120, overlap_tokens=20))
    holding = [c for c in chunks if "| Record class" in c.text]
    assert len(holding) == 1
    assert "| Record type |" in holding[0].text and "Record class 5 |" in holding[0].text


def test_a_long_table_is_split_by_rows_with_the_header_carried():
    doc = _table_doc(rows=40)
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=120, overlap_tokens=20))
    pieces = [c for c in chunks if "| Record class" in c.text]
    assert len(pieces) >= 3
    assert pieces[0].text.startswith("| Record type |") and pieces[0].context == ""
    for piece in pieces[1:]:
        assert piece.context == "| Record type | Retention period |"
        assert piece.text.startswith("| Record class")  # whole rows only
        assert embedding_text(piece).split("\n")[1] == piece.context
    rows = [line for p in pieces for line in p.text.split("\n") if line.startswith("| Record class")]
    assert len(rows) == 40 == len(set(rows))  # no row lost, none repeated
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text


def test_lowercase_table_rows_never_swallow_the_text_around_them():
    doc = parse_document(b"Hotel rates.\nlondon | 220\nother cities | 140\nreceipts must be kept for every night.", "x.txt", "text")
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=224, overlap_tokens=0))
    assert "".join(c.text for c in chunks).count("receipts must be kept") == 1
    assert "london | 220\nother cities | 140" in chunks[0].text


def _paragraphs_doc() -> tuple[object, list[str]]:
    paragraphs = [
        "Visitors sign in at reception. They wear a red badge at all times. Staff escort them everywhere.",
        "Keys are issued by Facilities. A lost key is reported the same day. The lock is changed within a week.",
        "CCTV footage is kept for thirty days. Footage needed for an investigation is kept until it ends.",
    ]
    doc = parse_document(("Title\n\n" + "\n\n".join(paragraphs)).encode(), "paras.txt", "text")
    return doc, paragraphs


def test_a_paragraph_that_fits_is_never_cut_between_chunks():
    doc, paragraphs = _paragraphs_doc()
    budget = max(count_tokens(p) for p in paragraphs) + 5  # one paragraph fits, two never do
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=budget, overlap_tokens=8))
    for paragraph in paragraphs:
        assert any(paragraph in chunk.text for chunk in chunks), paragraph
    old_behaviour = chunk_document(doc, ChunkerSettings(max_tokens=budget, overlap_tokens=0, paragraph_fill=1.0))
    assert not all(any(p in c.text for c in old_behaviour) for p in paragraphs)  # packing sentences alone cuts one


def test_halving_to_fit_the_window_prefers_a_paragraph_break():
    doc, paragraphs = _paragraphs_doc()
    two = paragraphs[0] + "\n\n" + paragraphs[1]
    fits = lambda text: len(text) < len(two) - 5  # noqa: E731 - the first two paragraphs together are too long
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=500, overlap_tokens=0), fits_window=fits)
    assert [c.text for c in chunks] == ["Title\n\n" + paragraphs[0], paragraphs[1], paragraphs[2]]  # halving by
    # sentence count would have cut the second paragraph after its second sentence
