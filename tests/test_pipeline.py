"""Rebuilds go live only through the gate; a refused build leaves the live one serving."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.assistant import Assistant
from rag.errors import ModelError
from rag.indexing import builds
from rag.pipeline import evaluate_corpus, live_eval, rebuild
from tests.conftest import FIXTURES, ROOT, FakeEmbedder

GOLD = FIXTURES / "mini-gold.jsonl"


class ConstantEmbedder(FakeEmbedder):
    """A broken model: every text gets the same vector, so ranking carries no information."""

    def encode(self, texts, batch_size=32, progress=None):
        out = np.ones((len(texts), self.dimension), dtype=np.float32) / np.sqrt(self.dimension)
        if progress:
            progress(len(texts))
        return out


@pytest.fixture
def gate_file(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text('[floors]\n"retrieval.hit@5" = 0.75\n[max_drop]\n"retrieval.mrr@10" = 0.05\n')
    return path


def test_good_build_is_evaluated_recorded_and_promoted(settings, fake_embedder, gate_file):
    outcome = rebuild(settings, fake_embedder, GOLD, gate_file)
    assert outcome.promoted and outcome.decision.passed
    assert builds.current_build_id(settings.index_dir) == outcome.build_id
    assert outcome.manifest["gate"]["status"] == "passed"
    assert outcome.manifest["eval"]["mini-gold"]["retrieval"]["hit@5"] == 1.0
    assert live_eval(settings)["mini-gold"]["index"]["build_id"] == outcome.build_id


def test_worse_build_is_refused_and_live_keeps_serving(settings, fake_embedder, gate_file, tmp_path):
    good = rebuild(settings, fake_embedder, GOLD, gate_file)
    partial = tmp_path / "partial"
    shutil.copytree(settings.corpus_dir, partial)
    (partial / "retention.md").unlink()  # a bad sync lost a policy
    bad = rebuild(settings.replace(corpus_dir=partial), fake_embedder, GOLD, gate_file)
    assert not bad.promoted and bad.decision.failures
    assert any("retrieval.hit@5" in f for f in bad.decision.failures)
    assert bad.decision.regressed_questions and bad.manifest["gate"]["status"] == "failed"
    assert builds.current_build_id(settings.index_dir) == good.build_id
    answer = Assistant(settings, embedder=fake_embedder).ask("How long is CCTV footage kept?")
    assert answer.build_id == good.build_id and not answer.abstained


def test_a_broken_model_is_refused_by_the_gate_in_dense_mode(settings, fake_embedder, gate_file, monkeypatch):
    dense = settings.replace(retrieval="dense", rerank_coverage=0.0, amount_boost=0.0, embedding_cache=False)  # vectors alone
    good = rebuild(dense, fake_embedder, GOLD, gate_file)
    from rag.indexing import vectors as vectors_module

    monkeypatch.setattr(vectors_module, "check_vectors", lambda vectors, model: None)  # let the broken vectors reach the gate
    bad = rebuild(dense, ConstantEmbedder(), GOLD, gate_file)
    assert good.promoted and not bad.promoted
    assert builds.current_build_id(settings.index_dir) == good.build_id


def test_a_model_that_gives_every_passage_one_vector_fails_the_build_and_the_live_one_stays(settings, fake_embedder, gate_file):
    good = rebuild(settings, fake_embedder, GOLD, gate_file)
    with pytest.raises(ModelError, match=r"returned the same vector for all \d+ passages; reinstall it with `make setup`"):
        rebuild(settings.replace(embedding_cache=False), ConstantEmbedder(), GOLD, gate_file)
    assert builds.current_build_id(settings.index_dir) == good.build_id


def test_no_gate_promotes_anyway_and_says_so(settings, fake_embedder, gate_file):
    outcome = rebuild(settings, fake_embedder, GOLD, gate_file, no_gate=True)
    assert outcome.promoted and outcome.decision is None
    assert outcome.manifest["gate"] == {"status": "skipped", "reason": "--no-gate given"}


def test_without_gold_every_complete_build_is_promoted(settings, fake_embedder, gate_file):
    outcome = rebuild(settings, fake_embedder, None, gate_file)
    assert outcome.promoted and "no gold set" in outcome.manifest["gate"]["reason"]


def test_eval_builds_a_throwaway_index_for_another_corpus(settings, fake_embedder, tmp_path):
    run = evaluate_corpus(settings, fake_embedder, GOLD)
    assert run.summary["n"] == 6
    assert builds.current_build_id(settings.index_dir) is None  # nothing was built in the index dir


def test_eval_uses_the_live_index_when_it_holds_the_corpus(settings, fake_embedder, built):
    run = evaluate_corpus(settings, fake_embedder, GOLD)
    assert run.summary["index"]["build_id"] == built.build_id


def test_a_missing_gold_file_fails_before_building(settings, fake_embedder, gate_file, tmp_path):
    from rag.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="does not exist"):
        rebuild(settings, fake_embedder, tmp_path / "nope.jsonl", gate_file)
    assert builds.list_builds(settings.index_dir) == []


def test_drops_are_only_judged_against_an_eval_on_the_same_gold(settings, fake_embedder, gate_file, tmp_path):
    import json

    first = rebuild(settings, fake_embedder, GOLD, gate_file)
    other = tmp_path / "other.jsonl"
    other.write_text(GOLD.read_text())
    second = rebuild(settings, fake_embedder, other, gate_file)
    assert first.decision.compared_to is None and second.decision.compared_to is None
    third = rebuild(settings, fake_embedder, other, gate_file)
    assert third.decision.compared_to == second.build_id
    stored = json.loads((settings.index_dir / "builds" / third.build_id / "eval.json").read_text())
    assert stored["sets"]["other"]["gold"] == str(other.resolve())


def test_the_same_gold_file_by_another_path_is_still_compared(settings, fake_embedder, gate_file, monkeypatch):
    first = rebuild(settings, fake_embedder, GOLD.resolve(), gate_file)
    monkeypatch.chdir(GOLD.parent)
    second = rebuild(settings, fake_embedder, Path(GOLD.name), gate_file)  # relative, as RAG_GOLD_FILES gives it
    assert second.decision.compared_to == first.build_id


def test_an_eval_file_of_the_single_set_format_is_read_as_one_set(settings, fake_embedder, gate_file):
    import json

    first = rebuild(settings, fake_embedder, GOLD, gate_file)
    path = settings.index_dir / "builds" / first.build_id / "eval.json"
    old = json.loads(path.read_text())["sets"]["mini-gold"]
    path.write_text(json.dumps(old))  # as builds made before gold sets were named stored it
    assert live_eval(settings) == {"mini-gold": old}
    assert rebuild(settings, fake_embedder, GOLD, gate_file).decision.compared_to == first.build_id


def test_every_gold_set_gates_with_its_own_thresholds(settings, fake_embedder, tmp_path):
    hard = tmp_path / "hard.jsonl"
    hard.write_text(GOLD.read_text())
    gate = tmp_path / "gate.toml"
    gate.write_text('[floors]\n"retrieval.hit@5" = 0.75\n[sets.hard.floors]\n"retrieval.hit@1" = 1.01\n')  # hard: impossible
    outcome = rebuild(settings, fake_embedder, [GOLD, hard], gate)
    assert not outcome.promoted and set(outcome.summaries) == {"mini-gold", "hard"}
    assert outcome.decision.failures == ("hard: retrieval.hit@1 = 1.000 is below the floor 1.010",)
    assert outcome.manifest["gate"]["sets"]["mini-gold"]["status"] == "passed"
    assert builds.current_build_id(settings.index_dir) is None
    gate.write_text('[floors]\n"retrieval.hit@5" = 0.75\n')
    assert rebuild(settings, fake_embedder, [GOLD, hard], gate).promoted


def test_two_gold_files_of_one_name_are_refused(settings, fake_embedder, gate_file, tmp_path):
    from rag.errors import InvalidRequestError

    twin = tmp_path / "twin" / GOLD.name
    twin.parent.mkdir()
    twin.write_text(GOLD.read_text())
    with pytest.raises(InvalidRequestError, match="share the name 'mini-gold': rename one"):
        rebuild(settings, fake_embedder, [GOLD, twin], gate_file)


def test_the_manifest_names_the_reader_the_build_was_gated_with(settings, fake_embedder, gate_file):
    gated = rebuild(settings, fake_embedder, GOLD, gate_file)
    assert gated.manifest["reader"] is None  # the tests' settings read without one
    assert live_eval(settings)["mini-gold"]["index"]["reader"] is None
    packaged = rebuild(settings.replace(reader="packaged"), fake_embedder, GOLD, gate_file, no_gate=True)
    card = json.loads((ROOT / "rag/answer/reader_model/reader.json").read_text())
    assert packaged.manifest["reader"]["sha256"] == card["sha256"] and packaged.manifest["reader"]["kind"] == card["kind"]
    stored = builds.read_manifest(Path(settings.index_dir) / builds.BUILDS / packaged.build_id)
    assert stored["reader"] == packaged.manifest["reader"]


def test_the_manifest_names_the_refusal_model_by_its_files_hash(settings, fake_embedder, gate_file, tmp_path):
    import hashlib
    packaged = rebuild(settings.replace(abstain_model=""), fake_embedder, GOLD, gate_file, no_gate=True)  # no reader: the plain model
    plain = ROOT / "rag/answer/abstention_model_plain.json"
    assert packaged.manifest["abstention"] == {"sha256": hashlib.sha256(plain.read_bytes()).hexdigest(), "file": "",
                                               "packaged": True}
    own = tmp_path / "mine.json"
    own.write_bytes((ROOT / "rag/answer/abstention_model.json").read_bytes())
    chosen = rebuild(settings.replace(abstain_model=str(own)), fake_embedder, GOLD, gate_file, no_gate=True)
    assert chosen.manifest["abstention"]["file"] == str(own.resolve()) and not chosen.manifest["abstention"]["packaged"]


def test_the_manifest_names_late_interaction_and_its_learned_map(settings, fake_embedder, gate_file):
    off = rebuild(settings.replace(late_weight=0.0), fake_embedder, GOLD, gate_file, no_gate=True)
    assert off.manifest["late"] is None
    plain = rebuild(settings.replace(late_weight=1.5, late_model="plain"), fake_embedder, GOLD, gate_file, no_gate=True)
    assert plain.manifest["late"] == {"weight": 1.5, "depth": settings.late_depth, "model": None}
    learned = rebuild(settings.replace(late_weight=1.5, late_model="packaged"), fake_embedder, GOLD, gate_file, no_gate=True)
    card = json.loads((ROOT / "rag/answer/late_model/late.json").read_text())
    assert learned.manifest["late"]["model"]["sha256"] == card["sha256"] and learned.manifest["late"]["model"]["packaged"]
