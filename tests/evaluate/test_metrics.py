import pytest

from rag.evaluate import metrics as m


def test_overlap_needs_half_of_the_shorter_span():
    assert m.overlaps_enough((0, 100), (40, 60))  # short span fully inside
    assert m.overlaps_enough((0, 10), (5, 20))  # 5 of 10
    assert not m.overlaps_enough((0, 10), (6, 20))  # 4 of 10
    assert not m.overlaps_enough((0, 10), (10, 20))


def test_ranking_metrics_on_a_hand_example():
    evidence = [("a.md", [(100, 200)]), ("b.md", [(0, 50)])]
    ranked = [("c.md", 0, 100), ("a.md", 90, 210), ("a.md", 150, 260), ("b.md", 0, 60)]
    scores = m.ranking_metrics(ranked, [100, 100, 100, 100], evidence, budget=512)
    assert scores["hit@1"] == 0 and scores["hit@5"] == 1 and scores["hit@10"] == 1
    assert scores["mrr@10"] == pytest.approx(0.5)
    # gains at ranks 2 and 4 (rank 3 re-finds evidence 0 and earns nothing); ideal has gains at ranks 1 and 2
    dcg = 1 / m.math.log2(3) + 1 / m.math.log2(5)
    ideal = 1 + 1 / m.math.log2(3)
    assert scores["ndcg@10"] == pytest.approx(dcg / ideal)
    assert scores["recall@10"] == 1.0
    assert scores["budget_recall@512"] == 1.0


def test_budget_recall_counts_only_passages_within_the_budget():
    evidence = [("a.md", [(0, 100)])]
    ranked = [("x.md", 0, 10), ("a.md", 0, 50), ("a.md", 50, 100)]
    assert m.budget_coverage(ranked, [300, 200, 100], evidence, 512) == pytest.approx(0.5)


def test_squad_exact_match_f1_and_containment():
    assert m.exact_match("The 6 years.", ["6 years"]) == 1.0
    assert m.token_f1("kept for 6 years", ["6 years"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m.containment("Payroll records are kept for 6 years [1].", ["6 years", "seven years"]) == 1.0
    assert m.containment("kept for 60 years", ["6 years"]) == 0.0


def test_answer_sentences_pair_text_with_markers():
    parts = m.answer_sentences("Payroll is kept 6 years. [1] CCTV for 30 days. [2][3] Trailing text")
    assert parts == [("Payroll is kept 6 years.", {1}), ("CCTV for 30 days.", {2, 3}), ("Trailing text", set())]


def test_supported_sentence_check():
    source = "2.1 Payroll records are kept for 6 years after the end of the tax year."
    assert m.sentence_supported("Payroll records are kept for 6 years after the end of the tax year.", [source])
    assert not m.sentence_supported("Payroll records are kept for 7 years.", [source])  # wrong number
    assert not m.sentence_supported("Payroll records are shredded by contractors overseas.", [source])  # new claims
    assert not m.sentence_supported("Payroll records are kept for 6 years.", [])  # no citation


def test_abstention_metrics():
    outcomes = [(False, True), (False, False), (True, True), (True, False), (True, False)]
    scores = m.abstention_metrics(outcomes)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
    assert scores["false_refusal_rate"] == pytest.approx(1 / 3)


def test_calibrate_threshold_respects_the_false_refusal_limit():
    pairs = [(False, 0.1), (False, 0.2), (True, 0.25), (True, 0.5), (True, 0.6), (True, 0.7)]
    best = m.calibrate_threshold(pairs, max_false_refusal=0.0)
    assert 0.2 < best["threshold"] <= 0.25 and best["f1"] == 1.0
    looser = m.calibrate_threshold(pairs, max_false_refusal=0.5)
    assert looser["f1"] == 1.0


def test_percentile_and_bootstrap_are_deterministic():
    assert m.percentile([1, 2, 3, 4, 5], 50) == 3
    rows = [0, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    ci = m.bootstrap_ci(rows, lambda rs: sum(rs) / len(rs), n=300, seed=3)
    assert ci == m.bootstrap_ci(rows, lambda rs: sum(rs) / len(rs), n=300, seed=3)
    assert ci[0] < 0.7 < ci[1]
