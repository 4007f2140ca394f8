"""`rag calibrate` as a real subprocess (`rag eval` runs in-process in tests/cli/test_snapshot.py)."""

import json
import os
import sys

from tests.cli import rag


def test_calibrate_fits_and_writes_a_model(tmp_path):
    from rag.answer.abstention import FEATURES, AbstentionModel

    rows = [{"answerable": i % 5 != 0, "evidence": {f: (0.3 if i % 5 == 0 else 0.7) + i / 1000 for f in FEATURES}} for i in range(50)]
    evals = tmp_path / "eval.json"
    evals.write_text(json.dumps({"questions": rows}))
    out = tmp_path / "model.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = rag("calibrate", str(evals), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "cross-validated" in result.stdout and "refusal F1 1.000" in result.stdout
    assert AbstentionModel.load(out).features == FEATURES
    bad = rag("calibrate", str(evals), "--features", "nonsense", env=env)
    assert bad.returncode == 1 and "unknown feature 'nonsense'" in bad.stderr
