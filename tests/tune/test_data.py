"""Training triples and the held-out split, on the hand-written mini corpus."""

from __future__ import annotations

from rag.assistant import Assistant
from rag.evaluate.gold import load_gold
from rag.tune.data import held_out, split_rows, training_triples
from tests.conftest import FIXTURES


def test_the_held_out_share_is_stable_and_apart_from_the_training_rows(built, settings, fake_embedder):
    rows = load_gold(FIXTURES / "mini-gold.jsonl", Assistant(settings, fake_embedder).snapshot.index.documents)
    train, held = split_rows(rows, 0.5)
    assert {r.id for r in train}.isdisjoint({r.id for r in held})
    assert all(r.answerable for r in train)
    assert [held_out(r.id, 0.5) for r in rows] == [held_out(r.id, 0.5) for r in rows]
    assert split_rows(rows, 0.0)[1] == [] and split_rows(rows, 1.0)[0] == []


def test_a_triple_pairs_the_question_with_its_evidence_and_a_sentence_that_is_not_it(built, settings, fake_embedder):
    assistant = Assistant(settings, fake_embedder)
    index = assistant.snapshot.index
    rows = [r for r in load_gold(FIXTURES / "mini-gold.jsonl", index.documents) if r.answerable]
    triples = training_triples(index, rows, assistant.snapshot.retriever.embed)
    assert len(triples) == len(rows)
    for row, triple in zip(rows, triples):
        evidence = row.evidence[0].text
        assert triple.question == row.question and evidence in triple.positive
        assert index.documents[row.evidence[0].doc_id].title in triple.positive.splitlines()[0]  # headed like a chunk
        assert evidence not in triple.negative and triple.negative != triple.positive
