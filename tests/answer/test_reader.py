"""The reader: what it reads for a sentence, how its probabilities are mixed into the ranking, and how it is chosen."""

import json
import numpy as np
import pytest

from rag.answer.reader import CARD, CrossEncoderReader, Reader, candidate_text
from rag.errors import ConfigError
from tests.answer import sentence_at

POLICY = """# Device Policy

## 6. Using Group devices

6.1 Laptops must be locked when left unattended.

6.2 When working from home, staff must not:

1. Let family members or anyone else use a Group device.
2. Leave a Group device in a car overnight.

6.3 Lost devices must be reported to the Service Desk within one hour.
"""


@pytest.fixture
def loaded(assistant_over):
    return assistant_over("devices.md", POLICY)


def _card(folder, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CARD).write_text(json.dumps({"window": 64, "weight": 0.5, "depth": 3, **extra}), encoding="utf-8")
    return folder


class ScriptedReader(CrossEncoderReader):
    """A reader whose probabilities are given by a function of the text read (no ONNX model)."""

    def __init__(self, folder, judge, **kwargs):
        super().__init__(folder, **kwargs)
        self.judge = judge
        self.read_texts = []

    def probabilities(self, question, texts):
        self.read_texts += list(texts)
        return np.array([self.judge(t) for t in texts], dtype=np.float32)


def test_a_list_item_is_read_with_its_title_section_and_lead_in(loaded):
    index, doc, span = sentence_at(loaded, "devices.md", "1. Let family")
    text = candidate_text(index, "devices.md", span[0], span[1], doc.text[span[0]:span[1]])
    assert text.startswith("Device Policy > 6. Using Group devices")
    assert "6.2 When working from home, staff must not:" in text and text.endswith("use a Group device.")
    index, doc, span = sentence_at(loaded, "devices.md", "6.3 Lost")
    alone = candidate_text(index, "devices.md", span[0], span[1], doc.text[span[0]:span[1]])
    assert "must not:" not in alone and alone.endswith("within one hour.")


def test_the_reader_reorders_the_best_candidates_and_keeps_the_rest_below(loaded, tmp_path):
    snap = loaded.snapshot
    question = "can my kids use my work laptop"
    vector = snap.retriever.embed(question)
    passages = snap.retriever.retrieve(question, vector, None, None)
    ranked, _ = snap.answerer.ranked(question, vector, passages, snap.index)
    assert len(ranked) > 4
    third = ranked[2].text
    reader = ScriptedReader(_card(tmp_path / "r"), lambda t: 0.99 if t.endswith(" ".join(third.split())) else 0.01)
    mixed = reader.rerank(question, vector, [ranked], snap.index)[0]
    assert len(reader.read_texts) == 3  # only the depth is read
    assert mixed[0].text == third and mixed[0].read == pytest.approx(0.99)  # the sentence the reader believes comes first
    top3 = {(c.doc_id, c.start) for c in ranked[:3]}
    assert {(c.doc_id, c.start) for c in mixed[:3]} == top3 and all(c.read is not None for c in mixed[:3])
    assert all(c.read is None for c in mixed[3:]) and max(c.score for c in mixed[3:]) <= min(c.score for c in mixed[:3])
    assert [c.score for c in mixed] == sorted((c.score for c in mixed), reverse=True)
    assert mixed[0].score == pytest.approx(0.5 * ranked[2].score + 0.5 * 0.99)


def test_the_answerer_quotes_what_the_reader_believes(loaded, tmp_path):
    question = "can my kids use my work laptop"
    before = loaded.ask(question)
    answerer = loaded.snapshot.answerer
    target = "Leave a Group device in a car overnight."
    answerer.reader = ScriptedReader(_card(tmp_path / "r", depth=30), lambda t: 0.999 if target in t else 0.0, weight=1.0)
    after = loaded.ask(question)
    assert after.citations[-1].quote.endswith(target) or target in after.answer
    assert after.confidence == before.confidence  # refusals are judged on the scores the refusal model was fitted on


def test_the_reader_setting(tmp_path, settings, monkeypatch):
    import rag.answer.reader as reader_module

    assert Reader.from_settings(settings.replace(reader="off")) is None
    monkeypatch.setattr(reader_module, "PACKAGED", tmp_path / "none-shipped")
    assert Reader.from_settings(settings.replace(reader="")) is None  # no reader ships: answers rank as without one
    with pytest.raises(ConfigError, match="not a reader folder"):
        Reader.from_settings(settings.replace(reader=str(tmp_path)))
    folder = _card(tmp_path / "r")
    chosen = Reader.from_settings(settings.replace(reader=str(folder), reader_weight=0.2, reader_depth=7))
    assert (chosen.weight, chosen.depth) == (0.2, 7)
    defaults = Reader.from_settings(settings.replace(reader=str(folder)))
    assert (defaults.weight, defaults.depth) == (0.5, 3)


def test_the_vector_reader_reads_each_candidates_own_sentence_vector(loaded, tmp_path):
    from rag.answer.reader import FEATURE_NAMES, VectorReader

    snap = loaded.snapshot
    question = "can my kids use my work laptop"
    vector = snap.retriever.embed(question)
    ranked, _ = snap.answerer.ranked(question, vector, snap.retriever.retrieve(question, vector, None, None), snap.index)
    dim, f = len(vector), len(FEATURE_NAMES)
    w1 = np.zeros((2 * dim + f, 1), dtype=np.float32)
    w1[:dim] = 1.0  # one hidden unit: the sum of the product of unit vectors, their cosine
    folder = _card(tmp_path / "v", kind="vectors")
    np.savez(folder / "weights.npz", w1=w1, b1=np.ones(1, np.float32), w2=np.full((1, 1), 10.0, np.float32),
             b2=np.full(1, -15.0, np.float32), mean=np.zeros(f, np.float32), scale=np.ones(f, np.float32))
    reader = Reader.open(folder)
    assert isinstance(reader, VectorReader)
    probs = reader.scores(question, vector, ranked[:5], snap.index)
    expected = 1 / (1 + np.exp(-(10 * (1 + np.array([c.dense for c in ranked[:5]])) - 15)))
    assert np.allclose(probs, expected, atol=1e-4)


def test_the_reader_chooses_which_sentences_are_quoted_not_how_many(loaded, tmp_path):
    settings = loaded.settings.replace(answer_sentences=3, answer_margin=0.5)
    from rag.assistant import Assistant

    wide = Assistant(settings, embedder=loaded.snapshot.retriever.embedder)
    before = wide.ask("can my kids use my work laptop")
    answerer = wide.snapshot.answerer
    answerer.reader = ScriptedReader(_card(tmp_path / "r", depth=30), lambda t: 0.999 if "overnight" in t else 0.0, weight=0.9)
    after = wide.ask("can my kids use my work laptop")
    counted = lambda a: [c for c in a.citations if not c.quote.rstrip().endswith(":")]  # lead-ins are context
    assert len(counted(after)) == len(counted(before)) >= 2  # the scores spread wider; the count does not change
    assert "overnight" in after.citations[0].quote or any("overnight" in c.quote for c in after.citations[:2])
