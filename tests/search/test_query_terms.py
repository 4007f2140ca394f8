import pytest

from rag.indexing.term_stats import TermStats
from rag.search.query_terms import question_words


def test_shares_sum_to_one_and_give_the_same_coverage():
    stats = TermStats(["payroll records kept", "records kept", "records kept long", "visitor badges"])
    q = question_words("Please tell me how long payroll records are kept")  # 'please', 'tell' are question filler
    assert q == {"payroll", "record", "kept", "long"}
    shares = stats.shares(q)
    assert sum(shares.values()) == pytest.approx(1.0) and shares["payroll"] > shares["record"]
    sentence = {"payroll", "kept", "six", "year"}
    assert sum(shares[w] for w in shares.keys() & sentence) == pytest.approx(stats.coverage(q, sentence))
    assert stats.shares(set()) == {}
