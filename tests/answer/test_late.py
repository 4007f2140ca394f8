"""Late interaction: a candidate's coverage of the question's words, token by token, and the reordering it drives."""

import json

import numpy as np
import pytest

from rag.answer.late import LateModel, LateReader, PieceIdf, late_coverage
from rag.answer.reader import candidate_text
from rag.errors import ModelError
from rag.indexing.embedding import SentenceTransformerEmbedder

POLICY = """# Device Policy

## 6. Using Group devices

6.1 Laptops must be locked when left unattended.

6.2 Family members or anyone else must not use a Group device.

6.3 Lost devices must be reported to the Service Desk within one hour.
"""


def one_hot_states(vocabulary):
    """Token states where a word matches only itself: pieces are the lower-cased words, framed by [CLS] and [SEP]."""
    def states(texts):
        out = []
        for text in texts:
            pieces = ("[CLS]", *("".join(ch for ch in w if ch.isalnum()) or w for w in text.lower().split()), "[SEP]")
            rows = np.zeros((len(pieces), 64))
            for i, p in enumerate(pieces):
                rows[i, vocabulary.setdefault(p, len(vocabulary)) % 64] = 1.0
            out.append((pieces, rows))
        return out
    return states


def test_coverage_is_the_idf_weighted_mean_of_each_question_words_best_cosine():
    question = (("[CLS]", "kids", "laptop", "?", "[SEP]"), np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], float))
    covers_laptop = (("[CLS]", "device", "[SEP]"), np.array([[1, 0, 0], [0, 0.6, 0.8], [1, 0, 0]], float))
    idf = {"kids": 3.0, "laptop": 1.0}.__getitem__
    # [CLS]/[SEP] and '?' are not words; kids: best 0 (its [CLS]/[SEP] matches do not count), laptop: 0.6
    assert late_coverage(question, covers_laptop, idf) == pytest.approx((3.0 * 0.0 + 1.0 * 0.6) / 4.0)


def test_piece_idf_counts_the_chunks_once_and_rarer_pieces_weigh_more():
    calls = []

    def tokenize(texts):
        calls.append(len(texts))
        return [t.split() for t in texts]

    idf = PieceIdf(["staff must lock laptops", "staff must report", "staff travel"], tokenize)
    assert idf("laptops") > idf("must") > idf("staff") and idf("never-seen") >= idf("laptops")
    assert calls == [3]


@pytest.fixture
def loaded(assistant_over):
    return assistant_over("devices.md", POLICY)


def ranked_with_scores(loaded, question, step):
    """The answerer's candidates for `question`, rescored 1.0, 1.0 - step, 1.0 - 2 * step ... in their order."""
    snap = loaded.snapshot
    vector = snap.retriever.embed(question)
    ranked, _ = snap.answerer.ranked(question, vector, snap.retriever.retrieve(question, vector, None, None), snap.index)
    return [c.__class__(**{**c.__dict__, "score": 1.0 - i * step}) for i, c in enumerate(ranked)]


def test_the_best_covering_candidate_goes_first_and_keeps_its_score(loaded):
    snap = loaded.snapshot
    question = "can family members use a laptop"
    vector = snap.retriever.embed(question)
    ranked, _ = snap.answerer.ranked(question, vector, snap.retriever.retrieve(question, vector, None, None), snap.index)
    target = next(c for c in ranked if "Family members" in c.text)
    order = [c for c in ranked if c is not target]
    ranking = [order[0], target, *order[1:]]
    ranking = [c.__class__(**{**c.__dict__, "score": 1.0 - i * 0.01}) for i, c in enumerate(ranking)]  # all within the margin
    late = LateReader(one_hot_states({}), lambda piece: 1.0, weight=1.5, depth=3, margin=0.2)
    moved = late.rerank(question, ranking, snap.index)
    assert moved[0].text == target.text and moved[0].score == pytest.approx(0.99)  # the best covering keeps its score
    read = {c.start for c in moved if c.late is not None}
    assert read == {c.start for c in ranking[:3]}  # the depth is read; worse-covering ones may fall below unread ones
    assert [c.score for c in moved] == sorted((c.score for c in moved), reverse=True)
    assert {c.start for c in moved} == {c.start for c in ranking}  # reordered, nothing lost


def test_candidates_outside_the_margin_are_not_read(loaded):
    snap = loaded.snapshot
    question = "can family members use a laptop"
    spaced = ranked_with_scores(loaded, question, 0.5)
    read = []
    states = one_hot_states({})
    late = LateReader(lambda texts: read.append(texts) or states(texts), lambda piece: 1.0, weight=1.5, depth=3, margin=0.2)
    assert late.rerank(question, spaced, snap.index) == spaced and read == []  # the first is alone within the margin


def test_the_real_model_finds_the_clause_that_covers_the_question():
    model = SentenceTransformerEmbedder()
    question = "can my kids use my work laptop at home"
    clauses = ["Device Policy > 6. Using Group devices: 6.2 Family members or anyone else must not use a Group device.",
               "Device Policy > 6. Using Group devices: 6.3 Lost devices must be reported to the Service Desk within one hour."]
    read = model.token_states([question, *clauses])
    assert read[0][0][0] == "[CLS]" and np.allclose(np.linalg.norm(read[1][1], axis=1), 1.0, atol=1e-5)
    family, lost = (late_coverage(read[0], r, lambda piece: 1.0) for r in read[1:])
    assert family > lost


def test_a_sentence_read_once_is_not_read_again_while_it_is_cached(loaded):
    snap = loaded.snapshot
    question = "can family members use a laptop"
    close = ranked_with_scores(loaded, question, 0.01)
    read, states = [], one_hot_states({})
    late = LateReader(lambda texts: read.append(len(texts)) or states(texts), lambda piece: 1.0, 1.5, 3, 0.2, cache_size=2)
    first = late.rerank(question, close, snap.index)
    again = late.rerank("may family members use a laptop", close, snap.index)
    assert read == [1, 3, 1, 1]  # the question, the three sentences; then the question, and the one the cache had dropped
    assert [c.start for c in again] == [c.start for c in first] and len(late._cache) == 2


def test_an_answer_does_not_depend_on_what_the_cache_held():
    rng = np.random.default_rng(3)

    def states(texts):
        out = []
        for text in texts:
            rows = rng.standard_normal((4, 16))
            out.append((("[CLS]", *text.split()[:2], "[SEP]"), rows / np.linalg.norm(rows, axis=1, keepdims=True)))
        return out

    late = LateReader(states, lambda piece: 1.0, 1.5, 3, 0.2, cache_size=4)
    fresh = late.read(["alpha beta", "gamma delta"])
    cached = late.read(["alpha beta", "gamma delta"])
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(fresh, cached))


def test_a_learned_map_reads_both_sides_and_its_term_weights_can_change_the_first(loaded):
    snap = loaded.snapshot
    question = "family members and lost devices"  # two clauses each cover half of it
    close = ranked_with_scores(loaded, question, 0.01)[:3]
    vocabulary: dict[str, int] = {}
    states = one_hot_states(vocabulary)
    first = LateReader(states, lambda piece: 1.0, 1.5, 3, 0.2).rerank(question, close, snap.index)
    texts = {c.start: set(states([candidate_text(snap.index, c.doc_id, c.start, c.end, c.text)])[0][0]) for c in close}
    # a question word the plain winner lacks and another candidate has: weigh it e^5 times more
    word, other = next((w, c) for w in states([question])[0][0][1:-1] for c in first[1:]
                       if w in texts[c.start] and w not in texts[first[0].start])
    term = np.zeros(64)
    term[vocabulary[word] % 64] = 5.0
    shuffle = np.eye(64)[np.random.default_rng(0).permutation(64)]  # a rotation: plain coverage unchanged
    rotated = LateReader(states, lambda piece: 1.0, 1.5, 3, 0.2, model=LateModel(shuffle, np.zeros(64)))
    weighted = LateReader(states, lambda piece: 1.0, 1.5, 3, 0.2, model=LateModel(np.eye(64), term))
    assert [c.start for c in rotated.rerank(question, close, snap.index)] == [c.start for c in first]
    assert weighted.rerank(question, close, snap.index)[0].start == other.start != first[0].start


def test_term_weights_multiply_the_idf_of_each_question_word():
    question = (("[CLS]", "kids", "laptop", "[SEP]"), np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]], float))
    candidate = (("[CLS]", "device", "[SEP]"), np.array([[0, 0, 1], [0, 1, 0], [0, 0, 1]], float))
    model = LateModel(np.eye(3), np.array([np.log(3.0), 0.0, 0.0]))
    # kids (x3 by its state's term weight): best 0; laptop: 1
    assert late_coverage(question, candidate, lambda p: 1.0, model.boost(question[1])) == pytest.approx(1.0 / 4.0)


def test_a_packaged_or_named_model_loads_and_a_damaged_one_says_what_to_do(tmp_path):
    assert LateModel.from_setting("plain") is None
    packaged = LateModel.from_setting("packaged")
    assert packaged is None or (packaged.describe()["packaged"] and packaged.matrix.shape == (384, 384))
    np.savez(tmp_path / "projection.npz", matrix=np.eye(4), term=np.zeros(4))
    (tmp_path / "late.json").write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(ModelError, match="RAG_LATE_MODEL=plain"):
        LateModel.from_setting(str(tmp_path))
    (tmp_path / "late.json").write_text("{}")
    assert LateModel.from_setting(str(tmp_path)).matrix.shape == (4, 4)
