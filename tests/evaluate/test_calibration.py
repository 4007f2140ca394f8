"""Fitting the refusal model: weights where allowed, cuts within the false-refusal limit, cross-validation."""

import json

import numpy as np
import pytest

from rag.answer.abstention import FEATURES
from rag.errors import ConfigError
from rag.evaluate.calibration import calibrate, choose_threshold, fit, load_eval_rows
from tests.answer.test_abstention import synthetic


def test_fit_weights_the_informative_feature_only_where_allowed():
    x, y = synthetic()
    model = fit(x, y, columns=[0, 1])
    assert model.weights[0] > 1.0 and all(w == 0 for w in model.weights[2:])
    p = model.probabilities(x)
    assert p[y].mean() > 0.8 and p[~y].mean() < 0.3


def test_threshold_keeps_every_groups_false_refusals_within_the_limit():
    p = np.array([0.9, 0.8, 0.2, 0.1, 0.15, 0.6, 0.7])
    y = np.array([True, True, False, False, True, True, True])
    groups = np.array(["a"] * 4 + ["b"] * 3)  # b has no unanswerable rows, but its false refusals still count
    assert 0.1 < choose_threshold(p, y, groups, 0.0) <= 0.15
    assert 0.2 < choose_threshold(p, y, groups, 0.34) <= 0.6


def test_calibrate_reports_cross_validated_figures_per_group():
    x, y = synthetic()
    result = calibrate(x, y, np.array(["gold"] * len(y)), 0.05, columns=[0])
    cv = result.cross_validated["gold"]
    assert cv["false_refusal_rate"] <= 0.1 and cv["recall"] > 0.5
    assert result.fitted["gold"]["false_refusal_rate"] <= 0.05


def test_eval_rows_need_the_evidence_features(tmp_path):
    row = {"answerable": True, "evidence": {f: 0.5 for f in FEATURES}}
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"questions": [row, {**row, "answerable": False}]}))
    bad.write_text(json.dumps({"questions": [{"answerable": True, "evidence": {"best_score": 0.5}}]}))
    x, y, follow = load_eval_rows(good)
    assert x.shape == (2, len(FEATURES)) and y.tolist() == [True, False] and follow.tolist() == [False, False]
    with pytest.raises(ConfigError, match="re-run"):
        load_eval_rows(bad)


def test_follow_ups_get_a_cut_of_their_own_within_the_same_limit():
    x, y = synthetic()
    follow = np.zeros(len(y), dtype=bool)
    follow[::2] = True
    x[follow, 0] -= 0.3  # a follow-up's evidence scores lower for the same answerability
    result = calibrate(x, y, np.array(["gold"] * len(y)), 0.05, columns=[0], follow_up=follow)
    model = result.model
    assert model.follow_up_threshold is not None and model.follow_up_threshold < model.threshold
    p = model.probabilities(x)
    for rows, cut in ((follow, model.follow_up_threshold), (~follow, model.threshold)):
        answerable = rows & y
        assert (p[answerable] < cut).mean() <= 0.05  # each kind keeps its false refusals within the limit


def test_the_answer_cut_is_the_lowest_at_which_answers_are_right_often_enough():
    import numpy as np

    from rag.evaluate.calibration import choose_answer_cut

    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    right = np.array([1, 1, 1, 0, 1, 0, 0])
    assert choose_answer_cut(p, right, 0.35, 0.8) == 0.5  # top 5: 4 of 5 right
    assert choose_answer_cut(p, right, 0.35, 1.0) == 0.7  # only the top 3 are all right
    assert choose_answer_cut(p, right, 0.55, 0.5) == 0.6  # never below the refusal cut's rows
    assert choose_answer_cut(p, np.zeros(7), 0.35, 0.85) == 1.0  # nothing reaches it: every answer is uncertain


def test_leaving_a_group_out_judges_it_with_a_model_fitted_on_the_others():
    import numpy as np

    from rag.evaluate.calibration import leave_groups_out

    rng = np.random.default_rng(0)
    answerable = np.array([True, False] * 60)
    signal = np.where(answerable, 0.7, 0.3) + rng.normal(0, 0.1, 120)
    x = np.column_stack([signal, rng.normal(0, 1, 120)])
    groups = np.array(["a", "b", "c"] * 40)
    result = leave_groups_out(x, answerable, groups, 0.1, columns=[0])
    assert set(result) == {"a", "b", "c"}
    assert all(m["recall"] > 0.5 and m["false_refusal_rate"] <= 0.2 for m in result.values())
    flipped = np.where(groups == "c", ~answerable, answerable)  # a group where the signal means the opposite
    assert leave_groups_out(x, flipped, groups, 0.1, columns=[0])["c"]["recall"] < 0.5
