"""The ONNX question encoder: the setting, the wiring into retrieval, the export cache and fidelity to torch.

Tests marked `model` export the real packaged model (about 10 s each variant, once per module) and are
skipped when onnxruntime is not installed (it is a dependency: `make setup` installs it).
"""

from __future__ import annotations

import json
from typing import Any
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import ConfigError, ModelError
from rag.indexing import onnx_export, query_encoder
from rag.indexing.embedding import SentenceTransformerEmbedder
from rag.indexing.onnx_export import export_folder
from rag.indexing.query_encoder import MicroBatcher, make_query_encoder
from tests.conftest import ROOT, FakeEmbedder

QUESTIONS = [
    "How long do we keep payroll records?",
    "Who approves a donation of more than £50,000?",
    "What is the maximum hotel rate per night in London?",
    "Must visitors be escorted in secure areas?",
    "When does a personal data breach have to be reported to the regulator?",
    "Can I use my own laptop for work, and which security controls apply to it? " * 30,  # beyond the 256-piece window
]


class StubEncoder:
    """A question encoder that records what it was asked."""

    def __init__(self) -> None:
        self.inner = FakeEmbedder()
        self.questions: list[str] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.questions += list(texts)
        return self.inner.encode(texts)


def test_setting_defaults_to_onnx_int8_and_refuses_unknown_choices():
    assert Settings.from_env({}).query_encoder == "onnx-int8"
    for choice in ("torch", "onnx", "onnx-int8"):
        assert Settings.from_env({"RAG_QUERY_ENCODER": choice}).query_encoder == choice
    with pytest.raises(ConfigError, match="RAG_QUERY_ENCODER='onnx-int4' must be one of torch, onnx, onnx-int8"):
        Settings.from_env({"RAG_QUERY_ENCODER": "onnx-int4"})


def test_importing_rag_loads_no_model_runtime():
    code = "import sys, rag, rag.assistant, rag.indexing.query_encoder; print(sorted({'onnxruntime', 'onnx', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_questions_go_to_the_chosen_encoder_and_passages_stay_with_the_embedder(settings, built, fake_embedder, monkeypatch):
    stub = StubEncoder()
    monkeypatch.setattr(query_encoder, "make_query_encoder", lambda *args: stub)
    before = fake_embedder.calls
    real = SentenceTransformerEmbedder()  # only the real model's questions go to its ONNX copy (no weights load here)
    result = Assistant(settings.replace(query_encoder="onnx"), real).search("How long are payroll records kept?")
    assert stub.questions == ["How long are payroll records kept?"]
    assert fake_embedder.calls == before
    assert result.passages


def test_torch_choice_or_a_substitute_embedder_embeds_questions_with_the_embedder(settings, built, fake_embedder):
    assistant = Assistant(settings, fake_embedder)  # the default (onnx) copies the real model, not a test double
    assistant.search("How long are payroll records kept?")
    assert assistant.query_encoder is None and fake_embedder.calls > 0
    assert Assistant(settings.replace(query_encoder="torch"), SentenceTransformerEmbedder()).query_encoder is None


def test_missing_onnxruntime_is_a_model_error_with_the_install_command(settings, built, fake_embedder, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    with pytest.raises(ModelError, match=r"RAG_QUERY_ENCODER=onnx-int8 needs onnxruntime: run `pip install 'onnxruntime=="):
        Assistant(settings.replace(query_encoder="onnx-int8"), SentenceTransformerEmbedder()).search("How long are payroll records kept?")


def test_a_model_that_is_not_mean_pooled_is_refused(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([{"type": "sentence_transformers.models.Transformer"},
                                                       {"type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(ModelError, match="mean-pooled, normalised models only"):
        onnx_export._check_pooling(tmp_path)


def test_exports_are_kept_apart_by_model_fingerprint_and_variant(tmp_path):
    folders = {export_folder(tmp_path, fp, v) for fp in ("m@aaaa", "m@bbbb") for v in ("onnx", "onnx-int8")}
    assert len(folders) == 4 and all(f.parent == tmp_path / "onnx-model" for f in folders)


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    cache = tmp_path_factory.mktemp("query-encoder")
    return cache, {v: make_query_encoder(v, SentenceTransformerEmbedder(), cache, 1) for v in onnx_export.VARIANTS}


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    embedder = SentenceTransformerEmbedder(threads=1)
    return embedder.encode(QUESTIONS)


@pytest.mark.model
@pytest.mark.parametrize("variant,floor", [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_vectors_match_the_torch_vectors(exports, torch_vectors, variant, floor):
    vectors = exports[1][variant].encode(QUESTIONS)  # type: ignore[attr-defined]
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.einsum("ij,ij->i", vectors, torch_vectors)
    assert cosines.min() > floor, cosines


@pytest.mark.model
@pytest.mark.parametrize("variant", ["onnx", "onnx-int8"])
def test_a_question_gets_the_same_vector_alone_or_with_others(exports, variant):
    encoder = exports[1][variant]
    alone = encoder.encode([QUESTIONS[0]])  # type: ignore[attr-defined]
    batched = encoder.encode(QUESTIONS)  # type: ignore[attr-defined]
    assert np.allclose(alone[0], batched[0], atol=1e-5)  # int8 runs one text per call: its scale is its own


@pytest.mark.model
def test_the_export_is_reused_not_made_again(exports, monkeypatch):
    cache, first = exports

    def no_export(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("exported a second time")

    monkeypatch.setattr(onnx_export, "_export", no_export)
    for variant in onnx_export.VARIANTS:
        again = make_query_encoder(variant, SentenceTransformerEmbedder(), cache, 1)
        assert again.onnx_file == first[variant].onnx_file  # type: ignore[union-attr, attr-defined]
        facts = json.loads((again.onnx_file.parent / "export.json").read_text())  # type: ignore[union-attr]
        assert facts["variant"] == variant and facts["fingerprint"] == SentenceTransformerEmbedder().fingerprint
    assert sorted(p.name for p in (cache / "onnx-model").iterdir()) == sorted(
        export_folder(cache, SentenceTransformerEmbedder().fingerprint, v).name for v in onnx_export.VARIANTS)


def test_a_failed_export_is_a_model_error_that_names_the_way_out_and_leaves_nothing(tmp_path, monkeypatch):
    import os
    import time

    def broken(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("exporter exploded")

    stale = tmp_path / "onnx-model" / ".export-old"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))  # left by an export killed two hours ago
    monkeypatch.setattr(onnx_export, "_export", broken)
    with pytest.raises(ModelError, match=r"exporting the onnx model failed \(RuntimeError: exporter exploded\); "
                                         r"set RAG_QUERY_ENCODER=torch"):
        onnx_export.ensure_export(SentenceTransformerEmbedder(), tmp_path, "onnx")
    assert list((tmp_path / "onnx-model").iterdir()) == []  # neither the failed staging folder nor the stale one


# ---------------------------------------------------------------- micro-batching


class CountingEncoder:
    """Records the batches it was given; optionally waits on an event first (to let questions queue up)."""

    def __init__(self, gate: "Any" = None) -> None:  # a threading.Event the encoder waits on
        self.batches: list[list[str]] = []
        self.gate = gate
        self.inner = FakeEmbedder()

    def encode(self, texts):  # type: ignore[no-untyped-def]
        if self.gate is not None:
            self.gate.wait(5)
        self.batches.append(list(texts))
        if "explode" in texts:
            raise RuntimeError("model failed")
        return self.inner.encode(texts)


def test_a_lone_question_is_encoded_at_once_and_gets_its_own_vector():
    encoder = CountingEncoder()
    batcher = MicroBatcher(encoder)
    vector = batcher.encode(["How long are payroll records kept?"])
    assert encoder.batches == [["How long are payroll records kept?"]]
    assert np.allclose(vector, FakeEmbedder().encode(["How long are payroll records kept?"]))


def test_questions_asked_while_a_batch_runs_share_the_next_call_and_each_gets_its_own_vector():
    import threading
    import time

    gate = threading.Event()
    encoder = CountingEncoder(gate)
    sizes: list[int] = []
    batcher = MicroBatcher(encoder, max_batch=8, on_batch=sizes.append)
    questions = [f"question number {i} about records" for i in range(6)]
    results: dict[str, np.ndarray] = {}
    threads = [threading.Thread(target=lambda q=q: results.__setitem__(q, batcher.encode([q])[0])) for q in questions]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(batcher._queue) < len(questions) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # the first question is held at the gate while the others queue
    gate.set()
    for thread in threads:
        thread.join(5)
    assert len(encoder.batches) < len(questions) and sum(sizes) == len(questions)
    for q in questions:
        assert np.allclose(results[q], FakeEmbedder().encode([q])[0])


def test_a_failing_batch_fails_its_callers_and_the_batcher_keeps_serving():
    batcher = MicroBatcher(CountingEncoder())
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.encode(["explode"])
    assert batcher.encode(["still here"]).shape == (1, FakeEmbedder().dimension)
    assert batcher.encode([]).shape == (0, FakeEmbedder().dimension)


def test_a_failing_batch_observer_or_a_short_answer_never_leaves_a_caller_waiting():
    def broken(size: int) -> None:
        raise ValueError("metrics backend down")

    batcher = MicroBatcher(CountingEncoder(), on_batch=broken)
    with pytest.raises(ValueError, match="metrics backend down"):
        batcher.encode(["a question"])

    class Short(CountingEncoder):
        def encode(self, texts):  # type: ignore[no-untyped-def]
            return super().encode(texts)[:-1]

    with pytest.raises(ModelError, match="returned 0 vectors for 1 questions"):
        MicroBatcher(Short()).encode(["a question"])
    assert MicroBatcher(CountingEncoder()).encode(["works again"]).shape == (1, FakeEmbedder().dimension)


def test_exports_of_an_older_recipe_and_the_old_question_folder_are_removed(tmp_path, monkeypatch):
    fingerprint = "m@aaaa"
    current = export_folder(tmp_path, fingerprint, "onnx")
    old = current.parent / current.name.replace(f"-v{onnx_export.FORMAT}-", "-v1-")
    other_variant = export_folder(tmp_path, fingerprint, "onnx-int8")
    for folder in (old, other_variant, tmp_path / "query-model" / "onnx-v1-m_aaaa"):
        folder.mkdir(parents=True)

    class Stub:
        name, path, window = "m", tmp_path, 254

    Stub.fingerprint = fingerprint
    monkeypatch.setattr(onnx_export, "_exported", lambda embedder, out, variant, setting: {"variant": variant})
    target = onnx_export.ensure_export(Stub(), tmp_path, "onnx")  # type: ignore[arg-type]
    assert target.parent == current and not old.exists() and not (tmp_path / "query-model").exists()
    assert other_variant.exists()  # another variant is another export
