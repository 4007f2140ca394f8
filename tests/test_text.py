from rag.text import content_words, paragraph_spans, sentence_spans


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
