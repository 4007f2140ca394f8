"""The reader's training data and training: candidate lists labelled by evidence, groups that keep one positive to a
few negatives, and a trained model exported to a folder the answerer loads."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rag.assistant import Assistant
from rag.evaluate.gold import load_gold
from rag.tune.reader import ReaderConfig, groups
from rag.tune.reader_data import Listed, candidate_lists
from tests.conftest import FIXTURES


def test_a_candidate_is_labelled_when_it_overlaps_the_evidence(built, settings, fake_embedder):
    assistant = Assistant(settings, fake_embedder)
    rows = load_gold(FIXTURES / "mini-gold.jsonl", assistant.snapshot.index.documents)
    listed = candidate_lists(assistant, rows, "mini", depth=10)
    assert [x.id for x in listed] == [r.id for r in rows] and {x.group for x in listed} == {"mini"}
    for row, item in zip(rows, listed):
        assert 0 < len(item.texts) <= 10 and len(item.labels) == len(item.texts) == len(item.scores)
        assert list(item.scores) == sorted(item.scores, reverse=True)
        if not row.answerable:
            assert not any(item.labels) and not item.missed
            continue
        evidence = " ".join(row.evidence[0].text.split())
        labelled = [t for t, y in zip(item.texts, item.labels) if y]
        assert labelled or any(evidence in m for m in item.missed)  # the right text is listed, or kept apart
        assert all(evidence not in t for t, y in zip(item.texts, item.labels) if not y)
    again = Listed.from_dict(listed[0].to_dict())  # scores are kept to 5 decimals
    assert again.texts == listed[0].texts and again.labels == listed[0].labels
    assert again.scores == pytest.approx(listed[0].scores, abs=1e-5)


def _listed(i: int, answerable: bool = True) -> Listed:
    texts = tuple(f"Policy > {n}: sentence {n} of question {i}" for n in range(8))
    labels = (0, 1, 0, 0, 0, 0, 0, 0) if answerable else (0,) * 8
    return Listed(f"q{i}", "org", f"question {i}", answerable, False, texts, labels, tuple(1 - n / 10 for n in range(8)))


def test_a_group_holds_one_positive_first_and_few_negatives():
    made = groups([_listed(1), _listed(2, answerable=False)], ReaderConfig(negatives=3), random.Random(0))
    answerable, refused = made
    assert answerable.labels == (1, 0, 0, 0) and answerable.texts[0].startswith("Policy > 1:")
    assert all(t != answerable.texts[0] for t in answerable.texts[1:])
    assert set(refused.labels) == {0} and len(refused.texts) == 4


@pytest.mark.model
def test_a_trained_reader_exports_and_scores_candidates(tmp_path):
    from rag.answer.reader import Reader
    from rag.tune.reader import export_reader, score_lists, train_reader

    lists = [_listed(i, answerable=i % 3 != 0) for i in range(12)]
    config = ReaderConfig(epochs=1.0, questions_per_batch=4, window=48, layers=2)
    seen = []
    model, facts = train_reader(lists, config, lambda step, steps, loss: seen.append((step, steps)))
    assert facts["steps"] == 3 and seen[-1] == (3, 3)
    folder = export_reader(model, tmp_path / "reader", config.window, 0.4, 6, facts)
    reader = Reader.open(folder)
    assert (reader.weight, reader.depth, reader.card.window) == (0.4, 6, 48) and len(reader.identity) == 16
    probs = reader.probabilities("question 1", list(lists[1].texts))
    assert probs.shape == (8,) and np.all((probs > 0) & (probs < 1))
    torch_probs = np.array(score_lists(model, [lists[1]], config.window)[0])
    assert np.abs(torch_probs - probs).max() < 0.05  # int8 export agrees with the trained model
    assert (folder / "model.onnx").stat().st_size < 30_000_000


def _vector_lists(n: int, seed: int) -> list[Listed]:
    """Questions whose right candidate is the one whose vector is nearest the question's, today's score mere noise."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        q = rng.normal(size=16).astype(np.float32)
        q /= np.linalg.norm(q)
        s = rng.normal(size=(6, 16)).astype(np.float32)
        right = int(rng.integers(6))
        s[right] = q + 0.3 * s[right]
        s /= np.linalg.norm(s, axis=1, keepdims=True)
        labels = tuple(int(k == right) for k in range(6))
        scores = tuple(float(v) for v in rng.uniform(0.3, 0.6, 6))
        feats = np.array([[sc, 0.5, 0.1, 0.4, 1.0, 0.0, k / 20] for k, sc in enumerate(scores)], dtype=np.float32)
        item = Listed(f"v{seed}-{i}", "org", f"q{i}", True, False, tuple(f"t{k}" for k in range(6)), labels, scores)
        out.append(replace(item, question_vector=q, vectors=s, features=feats))
    return out


def test_the_vector_reader_learns_which_sentence_answers_and_loads_as_trained(tmp_path):
    from rag.answer.reader import Reader, VectorReader
    from rag.tune.reader_vectors import VectorReaderConfig, export_vector_reader, score_vector_lists, train_vector_reader

    train, held = _vector_lists(300, 0), _vector_lists(60, 1)
    weights, facts = train_vector_reader(train, VectorReaderConfig(hidden=32, epochs=8, batch=32))
    assert facts["questions"] == 300 and facts["steps"] == 8 * 10
    probs = score_vector_lists(weights, held)
    right_first = np.mean([x.labels[int(np.argmax(p))] for x, p in zip(held, probs)])
    assert right_first > 0.8  # today's scores put it first 1 time in 6
    folder = export_vector_reader(weights, tmp_path / "vreader", 0.6, 10, facts)
    reader = Reader.open(folder)
    assert isinstance(reader, VectorReader) and (reader.weight, reader.depth) == (0.6, 10)
    x = held[0]
    assert np.allclose(reader.probabilities(x.question_vector, x.vectors, x.features), probs[0], atol=1e-5)
