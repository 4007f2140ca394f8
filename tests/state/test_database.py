"""The state database on both backends (a SQLite file, a real PostgreSQL database): migrations applied forward once
and recorded, a database newer than the code refused with what to do, writes committed before the call returns,
concurrent appends serialised, and failures named without the password."""

from __future__ import annotations

import threading

import pytest

from rag.chat.store import ConversationStore
from rag.config import Settings
from rag.errors import StateError
from rag.models import Answer
from rag.state.database import Migration, close_pools, open_database, redact

V1 = Migration(1, "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
V2 = Migration(2, "ALTER TABLE notes ADD COLUMN weight {FLOAT} NOT NULL DEFAULT 1.0; CREATE INDEX notes_by_weight ON notes (weight)")


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings.from_env({}, state_dir=tmp_path / "state", database_url=database_url)


def reopen(settings: Settings, migrations: tuple[Migration, ...]):  # type: ignore[no-untyped-def]
    close_pools()  # as a new process would: nothing remembered of the last open
    return open_database(settings, "notes", "notes.sqlite", migrations, "note store")


def test_migrations_go_forward_once_and_are_recorded(settings):
    first = reopen(settings, (V1,))
    with first.transaction() as tx:
        tx.execute("INSERT INTO notes VALUES (?, ?)", ("n1", "kept"))
    assert first.version("notes") == 1
    second = reopen(settings, (V1, V2))  # the next release adds a column; the row survives it
    with second.transaction() as tx:
        assert [tuple(r) for r in tx.execute("SELECT id, body, weight FROM notes").fetchall()] == [("n1", "kept", 1.0)]
    assert second.version("notes") == 2
    assert reopen(settings, (V1, V2)).version("notes") == 2  # applied once: re-running V2 would fail on the column


def test_a_database_newer_than_the_code_is_refused_with_what_to_do(settings):
    with reopen(settings, (V1, V2)).transaction():  # the next release wrote it
        pass
    with pytest.raises(StateError, match="schema version 2, newer than this code knows \\(1\\): upgrade") as caught:
        reopen(settings, (V1,)).check()
    assert "RAG_DATABASE_URL" in caught.value.message


def test_a_write_is_committed_when_the_call_returns(settings):
    store = ConversationStore(settings)
    conversation = store.create("alice")
    store.append("alice", conversation.conversation_id, "q?", Answer("q?", "a", False, (), (), "B1", 0.5))
    close_pools()  # every connection of this process gone: only what was committed remains
    assert [t.question for t in ConversationStore(settings).get("alice", conversation.conversation_id).turns] == ["q?"]


def test_concurrent_appends_to_one_conversation_get_distinct_turns(settings):
    store = ConversationStore(settings.replace(conversation_max_turns=100))
    conversation = store.create("alice")
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        try:
            for k in range(5):
                q = f"q{n}.{k}"
                store.append("alice", conversation.conversation_id, q, Answer(q, "a", False, (), (), "B1", 0.5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = store.get("alice", conversation.conversation_id).turns
    assert [t.n for t in turns] == list(range(1, 21)) and len({t.question for t in turns}) == 20


def test_an_unreachable_database_is_named_without_its_password(tmp_path):
    from tests.e2e_helpers import free_port

    url = f"postgresql://rag:s3cret@127.0.0.1:{free_port()}/rag?connect_timeout=1"
    with pytest.raises(StateError, match="check RAG_DATABASE_URL") as caught:
        ConversationStore(Settings.from_env({}, state_dir=tmp_path, database_url=url))
    assert "s3cret" not in caught.value.message and redact(url) in caught.value.message
