"""Training the learned map of late interaction: examples from candidate lists, a listwise loss, the exported folder."""

import numpy as np
import pytest

from rag.answer.late import LateModel
from rag.errors import ModelError
from rag.tune.late import LateConfig, LateExample, coverage, export_late, late_examples, late_top1, train_late
from rag.tune.reader_data import Listed

DIM = 8


def unit(*slots):
    v = np.zeros(DIM, dtype=np.float32)
    for s in slots:
        v[s] = 1.0
    return v / np.linalg.norm(v)


def states_of(table):
    """Token states from a word -> vector table: each text's words, framed by [CLS] and [SEP]."""
    def states(texts):
        out = []
        for text in texts:
            words = ("[CLS]", *text.split(), "[SEP]")
            out.append((words, np.stack([table.get(w, unit(DIM - 1)) for w in words])))
        return out
    return states


def listed(question, texts, labels, scores, answerable=True):
    return Listed("q", "org", question, answerable, False, tuple(texts), tuple(labels), tuple(scores))


def test_examples_keep_answerable_questions_and_their_best_candidates_within_the_margin():
    table = {"pets": unit(0), "dogs": unit(0), "cats": unit(1), "office": unit(2)}
    lists = [listed("pets office", ["dogs office", "cats", "far away"], [1, 0, 0], [0.9, 0.8, 0.1]),
             listed("pets", ["dogs"], [0], [0.5], answerable=False),
             listed("pets", ["cats"], [0], [0.5])]  # answerable but no right candidate listed
    read = []
    states = states_of(table)
    examples = late_examples(lists, [x.scores for x in lists], lambda texts: read.append(len(texts)) or states(texts),
                             lambda piece: 2.0, depth=8, margin=0.4)
    assert len(examples) == 1
    ex = examples[0]
    assert len(ex.candidates) == 2 and ex.candidates[0].shape == (2, DIM)  # 'far away' is outside the margin; no [CLS]/[SEP]
    assert ex.labels.tolist() == [1.0, 0.0] and ex.weights.tolist() == [2.0, 2.0]
    assert read == [2, 1]  # each text once, then the question
    assert coverage(None, ex, ex.candidates[0]) == pytest.approx(1.0)


def confusing_examples(n):
    """The right candidate says 'canine' (slot 3), which plain states do not relate to the question's 'dog' (slot 0);
    the wrong one shares a weak word; its score is a little higher."""
    q = np.stack([unit(0), unit(4)])  # 'dog', 'rules'
    right = np.stack([unit(3), unit(5)])
    wrong = np.stack([unit(0, 6, 7), unit(4, 5)])
    return [LateExample(q, np.ones(2, dtype=np.float32), (wrong.astype(np.float16), right.astype(np.float16)),
                        np.array([0.5, 0.45], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)) for _ in range(n)]


def test_training_learns_a_map_under_which_the_right_candidate_goes_first():
    examples = confusing_examples(40)
    assert late_top1(None, examples) == 0.0
    model, facts = train_late(examples, LateConfig(rank=4, epochs=3, lr=0.05), progress=None)
    assert facts["trained_on"] == 40 and facts["steps"] == 120
    assert late_top1(model, examples) == 1.0
    assert model.matrix.shape == (DIM, DIM) and model.term.shape == (DIM,)


def test_questions_without_a_choice_are_not_trained_on():
    one = confusing_examples(1)[0]
    alone = LateExample(one.question, one.weights, one.candidates[:1], one.scores[:1], one.labels[:1])
    all_right = LateExample(one.question, one.weights, one.candidates, one.scores, np.ones(2, dtype=np.float32))
    _, facts = train_late([alone, all_right, one], LateConfig(rank=2, epochs=1))
    assert facts["trained_on"] == 1


def test_the_exported_model_opens_with_its_hash_checked(tmp_path):
    model, facts = train_late(confusing_examples(4), LateConfig(rank=2, epochs=1))
    folder = export_late(model, tmp_path / "late", {**facts, "organisations": ["a"]})
    opened = LateModel.open(folder)
    assert np.allclose(opened.matrix, model.matrix) and opened.facts["organisations"] == ["a"]
    assert len(opened.describe()["sha256"]) == 64 and not opened.describe()["packaged"]
    (folder / "projection.npz").write_bytes((folder / "projection.npz").read_bytes()[:-3] + b"xyz")
    with pytest.raises(ModelError, match="retrain it with scripts/train_late.py"):
        LateModel.open(folder)
