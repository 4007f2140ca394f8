"""`rag tune --reader`: a reader adapted to an operator's gold goes live only through the gate, answers while
RAG_READER is left empty, stays with later builds, and never trains on the held-out share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.errors import InvalidRequestError
from rag.indexing import builds
from rag.indexing.store import LoadedIndex, read_manifest
from rag.pipeline import rebuild
from rag.tune.reader_workflow import reader_rows, tune_reader
from rag.answer.reader import tuned_folder
from rag.evaluate.gold import load_gold

OFF_TOPIC = ["Which vaccinations do pets need?", "What colour are the office chairs?", "When is the canteen open?",
             "Who won the quiz night?", "How do I book a parking space?", "What is the wifi password?",
             "Can I bring my dog to work?", "Where is the first aid kit?", "What's on the menu on Friday?",
             "How many days of jury service leave do I get?"]


def _gold(index: LoadedIndex, path: Path) -> Path:
    """Four questions per quotable sentence of six words or more (its first words, its last words, every other
    word, the words between), with the sentence as evidence, and ten questions the corpus does not answer."""
    rows = []
    table = index.sentences
    for row in range(len(table.starts)):
        doc_id = table.doc_ids[int(table.doc_index[row])]
        text = index.documents[doc_id].text[int(table.starts[row]) : int(table.ends[row])]
        words = text.split()
        if len(words) < 6:
            continue
        for n, asked in enumerate((words[:5], words[-5:], words[::2], words[1::2])):
            rows.append({"id": f"s{row}-{n}", "question": " ".join(asked) + "?", "answerable": True,
                         "evidence": [{"doc": doc_id, "text": text}]})
    rows += [{"id": f"u{i}", "question": q, "answerable": False, "evidence": []} for i, q in enumerate(OFF_TOPIC)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _live(settings) -> Path:  # type: ignore[no-untyped-def]
    return Path(settings.index_dir) / builds.BUILDS / str(builds.current_build_id(settings.index_dir))


@pytest.fixture
def gold(built, settings, tmp_path):  # type: ignore[no-untyped-def]
    return _gold(LoadedIndex.load(built.folder, settings), tmp_path / "operator.jsonl")


@pytest.fixture
def open_gate(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "gate.toml"
    path.write_text('[floors]\n"retrieval.hit@10" = 0.0\n')
    return path


def test_a_tuned_reader_goes_live_through_the_gate_and_answers_while_the_setting_is_empty(
        built, settings, gold, open_gate, fake_embedder):
    outcome = tune_reader(settings.replace(gate_file=open_gate), gold, [], embedder=fake_embedder)
    assert outcome.rebuild.promoted and builds.current_build_id(settings.index_dir) == outcome.rebuild.build_id
    card = json.loads((outcome.reader / "reader.json").read_text())
    assert card["kind"] == "vectors" and len(card["sha256"]) == 64 and card["promoted"] is True
    assert card["held_out_before"] and card["held_out_after"] is not None
    recorded = read_manifest(_live(settings))["reader"]
    assert recorded["folder"] == str(outcome.reader.resolve()) and recorded["packaged"] is False
    assert recorded["sha256"] == card["sha256"]
    answering = Assistant(settings.replace(reader=""), embedder=fake_embedder)
    assert answering.reader is not None and answering.reader.folder.resolve() == outcome.reader.resolve()
    assert Assistant(settings, embedder=fake_embedder).reader is None  # RAG_READER=off still turns it off
    later = rebuild(settings.replace(reader=""), fake_embedder, None, open_gate, no_gate=True)  # a later build keeps it
    assert later.manifest["reader"]["sha256"] == card["sha256"]
    answer = Assistant(settings.replace(reader=""), embedder=fake_embedder).ask("How long is CCTV footage kept?")
    assert answer.build_id == later.build_id and "30 days" in answer.answer


def test_a_reader_the_gate_refuses_never_answers(built, settings, gold, tmp_path, fake_embedder):
    strict = tmp_path / "strict.toml"
    strict.write_text('[floors]\n"answer.right_citation" = 1.01\n')  # no reader can pass this
    live = builds.current_build_id(settings.index_dir)
    outcome = tune_reader(settings.replace(gate_file=strict), gold, [], embedder=fake_embedder)
    assert not outcome.rebuild.promoted and builds.current_build_id(settings.index_dir) == live
    assert json.loads((outcome.reader / "reader.json").read_text())["promoted"] is False
    assert tuned_folder(read_manifest(_live(settings))) == ""  # the live build names no tuned reader


def test_the_held_out_share_is_never_trained_on(built, settings, gold):
    rows = load_gold(gold, LoadedIndex.load(built.folder, settings).documents, None)
    train, held = reader_rows(rows, 0.3)
    assert held and train and not {r.id for r in train} & {r.id for r in held}
    assert any(not r.answerable for r in train)  # refusals learn from unanswerable questions too


def test_too_few_questions_are_refused_before_training(built, settings, fake_embedder, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"id": "a", "question": "How long is CCTV footage kept?", "answerable": True,
                                 "evidence": [{"doc": "retention.md", "text": "2.2 CCTV footage is kept for 30 days"}]}) + "\n")
    with pytest.raises(InvalidRequestError, match="tuning needs at least 40"):
        tune_reader(settings, small, [], embedder=fake_embedder)
    assert not (settings.index_dir / "readers").exists() or not any((settings.index_dir / "readers").iterdir())
