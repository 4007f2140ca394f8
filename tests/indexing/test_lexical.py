from rag.indexing.lexical import LexicalIndex, tokenize


def test_tokens_are_stemmed_words_whole_clause_numbers_and_consecutive_pairs():
    tokens = tokenize("The Price Reporting Agency follows rule 4.2.1")
    assert tokens == ["price", "report", "agenc", "follow", "rule", "4.2.1",  # 'the' is a stopword
                      "price_report", "report_agenc", "agenc_follow", "follow_rule", "rule_4.2.1"]


def test_a_passage_using_the_question_phrase_outranks_a_shorter_one_scattering_its_words():
    passages = [
        "Agency staff report each price.",  # the words, scattered (BM25 on single words prefers this shorter one)
        "A price reporting agency must publish its methodology, its governance arrangements and its complaints "
        "procedure every year.",  # the phrase
        "Visitors sign in at reception.",
    ]
    ranked = [row for row, _ in LexicalIndex.build(passages).search("What does a price reporting agency do?", 3)]
    assert ranked == [1, 0]


def test_building_logs_nothing_below_warning(caplog):
    import logging

    caplog.set_level(logging.DEBUG)  # as when a library has configured the root logger
    LexicalIndex.build(["Travel must be approved in advance.", "Receipts are kept for six years."])
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]
