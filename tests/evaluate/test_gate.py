from types import SimpleNamespace

import pytest

from rag.errors import ConfigError
from rag.evaluate.gate import GateConfig, decide, load_gate_config


def summary(hit10=0.9, mrr=0.7, fr=0.05, ci=None, questions=()):
    return {
        "retrieval": {"hit@10": hit10, "mrr@10": mrr},
        "abstention": {"false_refusal_rate": fr},
        "ci": ci or {"retrieval.mrr@10": [mrr - 0.02, mrr + 0.02]},
        "questions": list(questions),
        "index": {"build_id": "live-1"},
    }


CONFIG = GateConfig(floors={"retrieval.hit@10": 0.8}, ceilings={"abstention.false_refusal_rate": 0.1}, max_drop={"retrieval.mrr@10": 0.03})


def test_passes_when_floors_and_drops_are_respected():
    decision = decide(SimpleNamespace(summary=summary()), summary(mrr=0.71), CONFIG)
    assert decision.passed and decision.compared_to == "live-1"


def test_floor_and_ceiling_failures_are_named():
    decision = decide(SimpleNamespace(summary=summary(hit10=0.5, fr=0.3)), None, CONFIG)
    assert not decision.passed
    assert any("retrieval.hit@10 = 0.500 is below the floor 0.800" in f for f in decision.failures)
    assert any("false_refusal_rate" in f and "ceiling" in f for f in decision.failures)


def test_a_significant_drop_fails_but_noise_does_not():
    dropped = decide(SimpleNamespace(summary=summary(mrr=0.6)), summary(mrr=0.7), CONFIG)
    assert not dropped.passed and "dropped from 0.700 to 0.600" in dropped.failures[0]
    noisy = summary(mrr=0.6, ci={"retrieval.mrr@10": [0.5, 0.75]})
    assert decide(SimpleNamespace(summary=noisy), summary(mrr=0.7), CONFIG).passed


def test_regressed_questions_are_listed():
    live = summary(questions=[{"id": "q1", "answerable": True, "hit@10": 1.0, "abstained": False, "containment": 1.0},
                              {"id": "q2", "answerable": False, "abstained": True}])
    cand = summary(questions=[{"id": "q1", "answerable": True, "hit@10": 0.0, "abstained": False, "containment": 1.0},
                              {"id": "q2", "answerable": False, "abstained": False}])
    assert decide(SimpleNamespace(summary=cand), live, CONFIG).regressed_questions == ("q1", "q2")


def test_gate_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_gate_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[floors]\n'x' = 'high'\n")
    with pytest.raises(ConfigError, match="number"):
        load_gate_config(bad)


def test_project_gate_file_loads():
    from tests.conftest import ROOT

    config = load_gate_config(ROOT / "eval" / "gate.toml")
    assert config.floors and config.max_drop


def test_a_set_takes_the_common_thresholds_with_its_own_over_them(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text('[floors]\n"retrieval.hit@10" = 0.85\n"answer.citation_precision" = 0.5\n'
                    '[sets.natural.floors]\n"answer.citation_precision" = 0.4\n')
    config = load_gate_config(path)
    assert set(config.sets) == {"natural"}
    natural, other = config.for_set("natural"), config.for_set("other")
    assert natural.floors == {"retrieval.hit@10": 0.85, "answer.citation_precision": 0.4}
    assert other.floors == {"retrieval.hit@10": 0.85, "answer.citation_precision": 0.5}


def test_several_sets_pass_only_if_each_does_and_failures_name_their_set():
    from rag.evaluate.gate import decide_sets

    def run(hit):  # an EvalRun stand-in: only its summary is read
        return SimpleNamespace(summary={"retrieval": {"hit@10": hit}, "questions": []})

    config = GateConfig(floors={"retrieval.hit@10": 0.85}, sets={"hard": GateConfig(floors={"retrieval.hit@10": 0.5})})
    passed = decide_sets({"easy": run(0.9), "hard": run(0.6)}, {}, config)
    assert passed.passed and set(passed.sets) == {"easy", "hard"}
    failed = decide_sets({"easy": run(0.8), "hard": run(0.6)}, {}, config)
    assert not failed.passed and failed.failures == ("easy: retrieval.hit@10 = 0.800 is below the floor 0.850",)
    assert failed.to_dict()["sets"]["hard"]["status"] == "passed"
