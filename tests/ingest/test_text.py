from rag.ingest.text import content_words, paragraph_spans, sentence_spans


def spans_text(text, spans):
    return [text[a:b] for a, b in spans]


def test_sentences_keep_abbreviations_and_clause_numbers():
    text = "Records are wiped, e.g. with the approved tool. See clause 4.2 for details. Done."
    assert spans_text(text, sentence_spans(text)) == [
        "Records are wiped, e.g. with the approved tool.",
        "See clause 4.2 for details.",
        "Done.",
    ]


def test_list_items_and_table_rows_are_separate_units():
    text = "Rules:\n- First rule here\n- Second rule here\n\n| A | B |\n| C | D |"
    assert spans_text(text, sentence_spans(text)) == ["Rules:", "- First rule here", "- Second rule here", "| A | B |", "| C | D |"]


def test_wrapped_lines_are_joined_into_one_sentence():
    text = "Staff must report incidents\nwithin one hour of discovery.\nNext sentence."
    assert spans_text(text, sentence_spans(text)) == ["Staff must report incidents\nwithin one hour of discovery.", "Next sentence."]


def test_spans_are_offsets_into_the_original_text():
    text = "  First one.   Second one!  \n\n Third?"
    for a, b in sentence_spans(text):
        assert text[a:b] == text[a:b].strip()
    assert len(paragraph_spans(text)) == 2


def test_sentence_spans_within_a_range_stay_inside_it():
    text = "Alpha one. Beta two. Gamma three."
    spans = sentence_spans(text, 11, 20)
    assert spans_text(text, spans) == ["Beta two."]


def test_content_words_drop_stopwords_and_stem():
    assert content_words("How long are the payroll records kept?") == ["long", "payroll", "record", "kept"]


def test_a_table_header_row_is_told_apart_from_its_data_rows():
    from rag.ingest.text import is_table_header

    text = "Intro line.\n| Claim value | Approver |\n|---|---|\n| Up to £500 | Line manager |\nEnd."
    assert is_table_header(text, text.index("| Claim"))
    assert not is_table_header(text, text.index("| Up to"))
    assert not is_table_header(text, 0)  # prose
    extracted = "Location | Rate\nLondon | £220\nParis | €230"  # an HTML or PDF table, no Markdown marks
    assert is_table_header(extracted, 0) and not is_table_header(extracted, extracted.index("London"))
    assert not is_table_header("a | b | c\nplain text", 0)  # one row alone is no table
