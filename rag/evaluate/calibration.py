"""Calibrating abstention: fitting the refusal model, choosing its cut, and cross-validating both.

Owns class-balanced, L2-regularised logistic regression in numpy over the evidence features of a `rag eval
--json` run, the decision threshold with the best refusal F1 within a false-refusal limit per gold set, and
repeated stratified cross-validation for held-out figures (`rag calibrate`). The features and the model the
answerer applies live in `rag.answer.abstention`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.answer.abstention import FEATURES, AbstentionModel
from rag.errors import ConfigError
from rag.evaluate.metrics import abstention_metrics


def fit(x: np.ndarray, answerable: np.ndarray, l2: float = 1.0, columns: Sequence[int] | None = None,
        iterations: int = 50) -> AbstentionModel:
    """Class-balanced, L2-regularised logistic regression (Newton's method) on standardised features.

    Only `columns` (default: all) get weights; the others keep weight 0.
    """
    columns = list(range(x.shape[1])) if columns is None else list(columns)
    mean, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
    mean[columns] = x[:, columns].mean(axis=0)
    spread = x[:, columns].std(axis=0)
    scale[columns] = np.where(spread > 1e-9, spread, 1.0)
    z = np.hstack([(x[:, columns] - mean[columns]) / scale[columns], np.ones((len(x), 1))])
    y = answerable.astype(np.float64)
    sample = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (sample * (p - y)) + penalty * w
        hessian = (z * (sample * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = np.zeros(x.shape[1])
    weights[columns] = w[:-1]
    return AbstentionModel(FEATURES, tuple(mean.tolist()), tuple(scale.tolist()), tuple(weights.tolist()), float(w[-1]))


def per_group(answerable: np.ndarray, refused: np.ndarray, groups: np.ndarray) -> dict[str, dict[str, float]]:
    """Refusal metrics of each group (e.g. each gold set)."""
    return {str(g): abstention_metrics(list(zip(answerable[groups == g].tolist(), refused[groups == g].tolist())))
            for g in dict.fromkeys(groups.tolist())}


def choose_threshold(probabilities: np.ndarray, answerable: np.ndarray, groups: np.ndarray, max_false_refusal: float) -> float:
    """The cut (refuse when p < cut) with the best refusal F1 over the groups that have unanswerable rows,
    keeping the false-refusal rate of every group within the limit."""
    scored = np.isin(groups, np.unique(groups[~answerable.astype(bool)]))
    values = np.unique(probabilities)
    cuts = [0.0] + ((values[1:] + values[:-1]) / 2).tolist()
    best, best_f1 = 0.0, -1.0
    for cut in cuts:
        refused = probabilities < cut
        if max(m["false_refusal_rate"] for m in per_group(answerable, refused, groups).values()) > max_false_refusal:
            continue
        f1 = abstention_metrics(list(zip(answerable[scored].tolist(), refused[scored].tolist())))["f1"]
        if f1 > best_f1:
            best, best_f1 = cut, f1
    return float(best)


def choose_cuts(probabilities: np.ndarray, answerable: np.ndarray, groups: np.ndarray, follow_up: np.ndarray,
                max_false_refusal: float) -> tuple[float, float]:
    """(cut for first questions, cut for follow-ups): each chosen on its own rows, since a follow-up's evidence scores
    lower than a first question's for the same answerability (the follow-up cut is the first one when there are none)."""
    first = ~follow_up
    cut = choose_threshold(probabilities[first], answerable[first], groups[first], max_false_refusal)
    if not follow_up.any():
        return cut, cut
    return cut, choose_threshold(probabilities[follow_up], answerable[follow_up], groups[follow_up], max_false_refusal)


def choose_answer_cut(probabilities: np.ndarray, right: np.ndarray, refusal_cut: float, precision: float) -> float:
    """The lowest cut at or above the refusal cut at which the answers given at or above it cite the evidence at least
    `precision` of the time (`right`: the answer cites a gold span; an answered unanswerable question is wrong); between
    the two cuts the quotes are shown as clauses that may answer. 1.0 when no cut reaches the precision."""
    order = np.argsort(-probabilities)
    p, hits = probabilities[order], right[order].astype(np.float64)
    share = np.cumsum(hits) / np.arange(1, len(p) + 1)  # precision of answering the top i+1
    best = 1.0
    for i in range(len(p)):
        if p[i] < refusal_cut:
            break
        if share[i] >= precision and (i + 1 == len(p) or p[i + 1] < p[i]):
            best = float(p[i])
    return max(best, refusal_cut)


def refused(probabilities: np.ndarray, follow_up: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    return probabilities < np.where(follow_up, cuts[1], cuts[0])


def cross_validate(x: np.ndarray, answerable: np.ndarray, groups: np.ndarray, max_false_refusal: float, l2: float = 1.0,
                   columns: Sequence[int] | None = None, folds: int = 5, repeats: int = 10, seed: int = 0,
                   follow_up: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Repeated k-fold stratified by group and label: fit and choose the cuts on k-1 folds, refuse on the held-out one.
    Returns each group's refusal metrics over all held-out predictions."""
    follow_up = np.zeros(len(x), dtype=bool) if follow_up is None else follow_up
    rng = random.Random(seed)
    truth, refusals, group_of = [], [], []
    for _ in range(repeats):
        fold_of = np.zeros(len(x), dtype=int)
        for key in dict.fromkeys(zip(groups.tolist(), answerable.tolist())):
            rows = [i for i in range(len(x)) if (groups[i], answerable[i]) == key]
            rng.shuffle(rows)
            for position, row in enumerate(rows):
                fold_of[row] = position % folds
        for k in range(folds):
            train, test = fold_of != k, fold_of == k
            model = fit(x[train], answerable[train], l2, columns)
            cuts = choose_cuts(model.probabilities(x[train]), answerable[train], groups[train], follow_up[train], max_false_refusal)
            truth.append(answerable[test])
            refusals.append(refused(model.probabilities(x[test]), follow_up[test], cuts))
            group_of.append(groups[test])
    return per_group(np.concatenate(truth), np.concatenate(refusals), np.concatenate(group_of))


def leave_groups_out(x: np.ndarray, answerable: np.ndarray, groups: np.ndarray, max_false_refusal: float, l2: float = 1.0,
                     columns: Sequence[int] | None = None, follow_up: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Each group's refusal metrics when the model and its cuts are fitted on every other group (whole organisations or
    gold sets held out: how refusals transfer to documents and questions never seen)."""
    follow_up = np.zeros(len(x), dtype=bool) if follow_up is None else follow_up
    out = {}
    for g in dict.fromkeys(groups.tolist()):
        train, test = groups != g, groups == g
        if not (~answerable[train].astype(bool)).any():
            continue
        model = fit(x[train], answerable[train], l2, columns)
        cuts = choose_cuts(model.probabilities(x[train]), answerable[train], groups[train], follow_up[train], max_false_refusal)
        out[str(g)] = abstention_metrics(list(zip(answerable[test].tolist(), refused(model.probabilities(x[test]), follow_up[test], cuts).tolist())))
    return out


@dataclass(frozen=True)
class Calibration:
    model: AbstentionModel
    fitted: dict[str, dict[str, float]]  # per group, in-sample
    cross_validated: dict[str, dict[str, float]]  # per group, held out


def calibrate(x: np.ndarray, answerable: np.ndarray, groups: np.ndarray, max_false_refusal: float, l2: float = 1.0,
              columns: Sequence[int] | None = None, note: str = "", follow_up: np.ndarray | None = None) -> Calibration:
    """The model fitted on all rows with its chosen cuts (first questions, follow-ups), with in-sample and
    cross-validated figures per group."""
    follow_up = np.zeros(len(x), dtype=bool) if follow_up is None else follow_up
    model = fit(x, answerable, l2, columns)
    cuts = choose_cuts(model.probabilities(x), answerable, groups, follow_up, max_false_refusal)
    model = AbstentionModel(model.features, model.mean, model.scale, model.weights, model.bias, cuts[0], note, cuts[1])
    fitted = per_group(answerable, refused(model.probabilities(x), follow_up, cuts), groups)
    return Calibration(model, fitted, cross_validate(x, answerable, groups, max_false_refusal, l2, columns, follow_up=follow_up))


def load_eval_rows(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, answerable flags and follow-up flags of the questions in a `rag eval --json` file."""
    questions = json.loads(Path(path).read_text(encoding="utf-8"))["questions"]
    rows = [q for q in questions if q.get("evidence")]
    if not rows or any(set(FEATURES) - set(q["evidence"]) for q in rows):
        raise ConfigError(f"{path} has no evidence features for {FEATURES}: re-run `rag eval --json` with this version")
    return (np.array([[q["evidence"][f] for f in FEATURES] for q in rows]), np.array([bool(q["answerable"]) for q in rows]),
            np.array([bool(q.get("follow_up")) for q in rows]))


def load_right(path: Path) -> np.ndarray:
    """Per question of a `rag eval --json` file (the rows `load_eval_rows` reads): whether it was answerable and its
    answer cited the evidence."""
    questions = json.loads(Path(path).read_text(encoding="utf-8"))["questions"]
    return np.array([bool(q["answerable"]) and bool(q.get("right_citation")) for q in questions if q.get("evidence")])
