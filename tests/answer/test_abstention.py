import json

import numpy as np
import pytest

from rag.answer.abstention import FEATURES, AbstentionModel, Evidence, idf_share
from rag.errors import ConfigError
from rag.evaluate.calibration import fit


def synthetic(n_answerable=80, n_unanswerable=20, seed=0):
    """Answerable rows have a higher best score; the other features are noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n_answerable + n_unanswerable, len(FEATURES)))
    x[:n_answerable, 0] = rng.uniform(0.5, 1.0, n_answerable)
    x[n_answerable:, 0] = rng.uniform(0.0, 0.55, n_unanswerable)
    return x, np.array([True] * n_answerable + [False] * n_unanswerable)


def test_model_file_round_trip_and_checks(tmp_path):
    x, y = synthetic()
    model = fit(x, y)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_dict()))
    loaded = AbstentionModel.load(path)
    assert loaded.probabilities(x) == pytest.approx(model.probabilities(x))
    evidence = Evidence(*x[0])
    assert loaded.probability(evidence) == pytest.approx(float(model.probabilities(x[:1])[0]))
    path.write_text(json.dumps({**model.to_dict(), "features": ["best_score"]}))
    with pytest.raises(ConfigError, match="refit it"):
        AbstentionModel.load(path)


def test_the_packaged_model_loads():
    for model in (AbstentionModel.load(), AbstentionModel.packaged(reader=False), AbstentionModel.packaged(reader=True)):
        assert set(model.features) <= set(FEATURES) and 0.0 < model.threshold < 1.0
    assert not AbstentionModel.packaged(reader=False).uses_reader  # answering without the reader never needs its feature


def test_idf_share_weights_rare_words():
    idf = {"pension": 3.0, "record": 1.0}.get
    assert idf_share({"pension", "record"}, {"pension"}, idf) == pytest.approx(0.75)
    assert idf_share(set(), set(), idf) == 1.0
