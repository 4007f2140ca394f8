import pytest

from rag.search.references import extract_references
from rag.search.rerank import RerankConfig, boost_references, normalised, sentence_rerank

TEXTS = {1: "4.1 Passwords must be long.", 2: "4.2.1 Privileged accounts use the vault.", 3: "The DPIA is done by the DPO.",
         4: "General text.", 5: "More general text."}


def test_normalised_divides_by_the_best_score():
    assert normalised([(1, 2.0), (2, 1.0)]) == [(1, 1.0), (2, 0.5)]
    assert normalised([(1, 0.0)]) == [(1, 0.0)]


def test_a_passage_carrying_the_named_clause_moves_up():
    ranked = [(1, 1.0), (4, 0.9), (2, 0.8)]
    out = boost_references(ranked, extract_references("What does clause 4.2.1 say?"), TEXTS.get, RerankConfig(number_boost=0.3))
    assert out[0] == (2, pytest.approx(1.1))
    assert [row for row, _ in out[1:]] == [1, 4]


def test_a_term_carried_by_many_candidates_does_not_discriminate():
    refs = extract_references("Who does the DPIA?")
    ranked = [(4, 1.0), (3, 0.95)]
    assert boost_references(ranked, refs, TEXTS.get, RerankConfig(term_boost=0.1, term_max_share=0.5))[0][0] == 3
    assert boost_references(ranked, refs, TEXTS.get, RerankConfig(term_boost=0.1, term_max_share=0.4))[0][0] == 4


def test_sentence_rerank_mixes_in_the_best_sentence_cosine():
    ranked = [(1, 1.0), (2, 0.9), (3, 0.5)]
    cosines = {1: 0.2, 2: 0.8, 3: 0.9}
    out = sentence_rerank(ranked, cosines.get, RerankConfig(sentence_weight=0.5, depth=2))
    assert [row for row, _ in out] == [2, 1, 3]  # only the top 2 are re-scored; the rest stays below them
    assert out[0][1] == pytest.approx(0.5 * 0.9 + 0.5 * 1.0)
    assert out[2][1] <= out[1][1]
    assert sentence_rerank(ranked, cosines.get, RerankConfig(sentence_weight=0.0)) == ranked


def test_a_passage_stating_a_range_that_holds_the_amount_asked_about_moves_up():
    from rag.search.amounts import intervals
    from rag.search.rerank import boost_amounts

    texts = {0: "Staff must never accept cash, whatever the value.", 1: "| Up to £50 | None |",
             2: "| More than £150 and up to £500 | Line manager, in advance |"}
    ranges = lambda row: intervals(texts[row])  # noqa: E731
    ranked = [(0, 1.0), (1, 0.9), (2, 0.8)]
    boosted = boost_amounts(ranked, intervals("a gift worth £300"), ranges, 0.3, 30)
    assert boosted[0] == (2, pytest.approx(1.1))  # only the row whose range holds £300
    assert boost_amounts(ranked, intervals("a gift from a supplier"), ranges, 0.3, 30) == ranked  # no amount asked
    assert boost_amounts(ranked, intervals("a gift worth £300"), ranges, 0.0, 30) == ranked  # off
    assert boost_amounts(ranked, intervals("a gift worth £300"), ranges, 0.3, 2) == ranked  # below the depth: not read
