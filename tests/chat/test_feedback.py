"""Feedback on stored turns on both state backends (a SQLite file, a real PostgreSQL database), and its export as gold rows that `rag.evaluate.gold` loads."""

import json
import sqlite3

import pytest

from rag.chat.feedback import FILE, FeedbackStore, gold_row
from rag.chat.store import ConversationStore
from rag.config import Settings
from rag.errors import InvalidRequestError, NotFoundError
from rag.evaluate.gold import load_gold
from rag.models import Answer, Chunk, Citation, Document, Passage

DOC = Document("retention.md", "Retention", "2.2 CCTV footage is kept for 30 days. 2.3 Visitor logs are kept for 1 year.")
CCTV = Citation(1, "retention.md", "Retention", "2. Records", None, 0, 37, DOC.text[0:37], passage_rank=1)
PASSAGE = Passage(Chunk("c1", "retention.md", "Retention", ("2. Records",), 0, len(DOC.text), DOC.text), 0.9, 1, 0.8)


def answered(question: str, citations=(CCTV,), build_id: str = "B1") -> Answer:
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    return Answer(question, text, False, tuple(citations), (PASSAGE,), build_id, 0.8, standalone_question=question)


def refused(question: str) -> Answer:
    return Answer(question, "The documents do not answer this question.", True, (), (PASSAGE,), "B1", 0.1)


@pytest.fixture
def settings(tmp_path, database_url):
    return Settings.from_env({}, state_dir=tmp_path / "state", feedback_max_comment_chars=50, database_url=database_url)


@pytest.fixture
def conversation(settings):
    """alice's conversation of three turns: answered, a follow-up answered by another build, refused."""
    store = ConversationStore(settings)
    cid = store.create("alice").conversation_id
    store.append("alice", cid, "How long is CCTV kept?", answered("How long is CCTV kept?"))
    store.append("alice", cid, "and visitor logs?", answered("and visitor logs?", build_id="B2"))
    store.append("alice", cid, "Can I bring my dog?", refused("Can I bring my dog?"))
    return store.get("alice", cid)


def test_a_rating_keeps_the_question_its_history_the_answer_and_the_build(settings, conversation, tmp_path):
    store = FeedbackStore(settings)
    feedback = store.rate(conversation, 2, "down", "  It quoted the CCTV line.  ")
    assert (feedback.rating, feedback.comment, feedback.question, feedback.turn) == ("down", "It quoted the CCTV line.", "and visitor logs?", 2)
    assert [(m.role, m.content) for m in feedback.history] == [("user", "How long is CCTV kept?"),
                                                               ("assistant", conversation.turns[0].answer.answer)]
    assert feedback.answer.to_dict() == conversation.turns[1].answer.to_dict()  # the whole answer object
    assert feedback.to_dict()["build_id"] == "B2" and "answer" not in feedback.to_dict()
    reopened = FeedbackStore(settings).list("alice", conversation.conversation_id)
    assert [f.feedback_id for f in reopened] == [feedback.feedback_id]
    if not settings.database_url:
        with sqlite3.connect(tmp_path / "state" / FILE) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rating_a_turn_again_replaces_the_rating(settings, conversation):
    store = FeedbackStore(settings)
    first = store.rate(conversation, 1, "down")
    second = store.rate(conversation, 1, "up", "right after all")
    assert second.feedback_id == first.feedback_id and second.created_at == first.created_at
    assert [(f.rating, f.comment) for f in store.list("alice")] == [("up", "right after all")]


def test_feedback_outlives_its_conversation(settings, conversation):
    store = FeedbackStore(settings)
    store.rate(conversation, 1, "up")
    ConversationStore(settings).delete("alice", conversation.conversation_id)
    assert [f.question for f in store.everyone()] == ["How long is CCTV kept?"]


@pytest.mark.parametrize("turn, rating, comment, error, fragment", [
    (4, "up", "", NotFoundError, "has no turn 4 (it has 3)"),
    (1, "sideways", "", InvalidRequestError, 'send "up" or "down"'),
    (1, "up", "x" * 51, InvalidRequestError, "the limit is 50 (RAG_FEEDBACK_MAX_COMMENT_CHARS)"),
])
def test_bad_feedback_is_refused_with_the_next_step(settings, conversation, turn, rating, comment, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        FeedbackStore(settings).rate(conversation, turn, rating, comment)
    assert FeedbackStore(settings).everyone() == []


def test_an_owner_lists_only_their_feedback(settings, conversation):
    store = FeedbackStore(settings)
    store.rate(conversation, 1, "up")
    bobs = ConversationStore(settings)
    bob_id = bobs.create("bob").conversation_id
    bobs.append("bob", bob_id, "How long is CCTV kept?", answered("How long is CCTV kept?"))
    store.rate(bobs.get("bob", bob_id), 1, "down")
    assert [f.owner for f in store.list("alice")] == ["alice"] and [f.owner for f in store.list("bob")] == ["bob"]
    assert store.list("alice", bob_id) == [] and len(store.everyone()) == 2
    assert [f.owner for f in store.everyone("down")] == ["bob"]


def test_the_export_writes_gold_rows_the_gold_loader_reads(settings, conversation, tmp_path):
    store = FeedbackStore(settings)
    store.rate(conversation, 1, "up")
    store.rate(conversation, 2, "down", "wrong record")
    store.rate(conversation, 3, "up", "right to refuse")
    out = tmp_path / "review" / "feedback.jsonl"
    assert store.export(out) == {"rows": 3, "left_out": 0, "up": 2, "down": 1}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    up, down, upheld_refusal = rows
    assert up["evidence"] == [{"doc": "retention.md", "text": CCTV.quote}] and up["answerable"] is True
    assert "history" not in up and up["meta"]["rating"] == "up" and up["meta"]["build_id"] == "B1"
    assert down["evidence"] == [] and "answerable" not in down and down["meta"]["comment"] == "wrong record"
    assert down["history"][0] == {"role": "user", "content": "How long is CCTV kept?"} and down["meta"]["cited"]
    assert upheld_refusal["answerable"] is False and upheld_refusal["evidence"] == []
    loaded = load_gold(out, {"retention.md": DOC})
    assert [r.question for r in loaded] == ["How long is CCTV kept?", "and visitor logs?", "Can I bring my dog?"]
    assert loaded[0].evidence[0].spans == ((0, 37),) and loaded[1].follow_up and not loaded[2].answerable
    assert store.export(out, "down") == {"rows": 1, "left_out": 0, "up": 0, "down": 1}
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1  # replaced whole, never appended to
    assert not out.with_name(out.name + ".part").exists()


def test_gold_row_of_a_thumbs_down_names_what_to_review(settings, conversation):
    row = gold_row(FeedbackStore(settings).rate(conversation, 1, "down"))
    assert "evidence the answer should have quoted" in row["meta"]["review"] and row["answers"] == []


def test_an_export_to_an_unwritable_place_says_what_to_pass(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidRequestError, match="pass --out a file in a writable folder"):
        FeedbackStore(settings).export(blocker / "out.jsonl")
