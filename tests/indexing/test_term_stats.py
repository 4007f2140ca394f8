import pytest

from rag.indexing.term_stats import TermStats


def test_coverage_weights_rare_words_more():
    stats = TermStats(["payroll records kept", "records kept", "records kept long", "visitor badges"])
    q = {"payroll", "record"}
    assert stats.coverage(q, {"payroll"}) > stats.coverage(q, {"record"})
    assert stats.coverage(q, {"payroll", "record"}) == pytest.approx(1.0)
