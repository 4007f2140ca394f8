"""Stored conversations on both state backends (a SQLite file, a real PostgreSQL database): owners, bounds, restarts."""

import sqlite3

import pytest

from rag.chat.store import FILE, ConversationStore
from rag.config import Settings
from rag.errors import ConversationFullError, NotFoundError
from rag.models import Answer


def _answer(question: str, build_id: str = "B1") -> Answer:
    return Answer(question, f"An answer to {question} [1]", False, (), (), build_id, 0.5, standalone_question=question)


@pytest.fixture
def store(tmp_path, database_url):
    return ConversationStore(Settings.from_env({}, state_dir=tmp_path / "state", conversation_max_turns=3, conversations_per_owner=2,
                                               database_url=database_url))


def test_turns_keep_the_answer_and_the_build_and_survive_a_restart(store, tmp_path):
    conversation = store.create("alice")
    store.append("alice", conversation.conversation_id, "How long is CCTV kept?", _answer("How long is CCTV kept?", "B1"))
    store.append("alice", conversation.conversation_id, "and payroll?", _answer("and payroll?", "B2"))  # a build swap mid-way
    reopened = ConversationStore(store.settings).get("alice", conversation.conversation_id)
    assert [(t.n, t.question, t.answer.build_id) for t in reopened.turns] == [(1, "How long is CCTV kept?", "B1"), (2, "and payroll?", "B2")]
    assert reopened.title == "How long is CCTV kept?" and reopened.turns[0].answer.answer == "An answer to How long is CCTV kept? [1]"
    assert [m.role for m in reopened.history()] == ["user", "assistant", "user", "assistant"]
    if not store.settings.database_url:
        with sqlite3.connect(tmp_path / "state" / FILE) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_another_owner_never_sees_a_conversation(store):
    conversation = store.create("alice", "Gifts")
    for call in (store.get, store.delete, store.check_room):
        with pytest.raises(NotFoundError, match="GET /v1/conversations"):
            call("bob", conversation.conversation_id)
    assert store.list("bob") == [] and [c.title for c in store.list("alice")] == ["Gifts"]


def test_a_full_conversation_refuses_the_next_turn(store):
    conversation = store.create("alice")
    for n in range(3):
        store.append("alice", conversation.conversation_id, f"q{n}", _answer(f"q{n}"))
    with pytest.raises(ConversationFullError, match="RAG_CONVERSATION_MAX_TURNS"):
        store.check_room("alice", conversation.conversation_id)
    with pytest.raises(ConversationFullError):
        store.append("alice", conversation.conversation_id, "q3", _answer("q3"))


def test_an_owner_keeps_their_most_recently_used_conversations(store):
    first, second = store.create("alice"), store.create("alice")
    store.append("alice", first.conversation_id, "still in use", _answer("still in use"))
    third = store.create("alice")  # the limit is 2: the least recently used goes
    assert {c.conversation_id for c in store.list("alice")} == {first.conversation_id, third.conversation_id}
    with pytest.raises(NotFoundError):
        store.get("alice", second.conversation_id)
    assert store.list("alice")[0].conversation_id == third.conversation_id


def test_old_conversations_expire_and_deleted_ones_are_gone(store, tmp_path):
    old, kept = store.create("alice"), store.create("bob")
    with store.database.transaction() as db:
        db.execute("UPDATE conversations SET updated_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?", (old.conversation_id,))
    with pytest.raises(NotFoundError):
        store.get("alice", old.conversation_id)
    store.delete("bob", kept.conversation_id)
    with pytest.raises(NotFoundError):
        store.get("bob", kept.conversation_id)


def test_an_unwritable_state_folder_names_the_setting(tmp_path):
    from rag.errors import StateError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StateError, match="RAG_STATE_DIR"):
        ConversationStore(Settings.from_env({}, state_dir=blocker / "state")).create("alice")


def test_stamps_order_writes_made_within_one_millisecond():
    from rag.chat.store import now

    stamps = [now() for _ in range(200)]  # far faster than one per millisecond
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
