"""Stored conversations: in the state database, so they survive a restart and every replica sees them.

Owns the store `conversations` (`conversations.sqlite` in `RAG_STATE_DIR`, created on first use, or the tables in
`RAG_DATABASE_URL`; `rag.state.database`), its migrations and SQL, its two tables (conversations: id,
owner, title, times; turns: the question, the whole answer object as JSON and the build that answered), and the
bounds: `RAG_CONVERSATION_MAX_TURNS` turns per conversation (the next is refused), `RAG_CONVERSATION_MAX_AGE_DAYS`
since a conversation was last used (older ones are deleted as others are written), `RAG_CONVERSATIONS_PER_OWNER`
(starting one more deletes the owner's least recently used). Every read and write names an owner: another owner's
conversation is not found, never shown. The owner is a plain string today; the access-control issue ties it to API
keys. Leaves answering to the assistant and HTTP to `server/`.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ContextManager

from rag.config import Settings
from rag.errors import ConversationFullError, InvalidRequestError, NotFoundError
from rag.models import Answer, Conversation, Turn
from rag.state.database import Migration, Tx, open_database

FILE = "conversations.sqlite"
DEFAULT_OWNER = "anonymous"  # whoever a request does not name; API keys will name owners (the access-control issue)
TITLE_CHARS = 80
MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated_at);
CREATE INDEX IF NOT EXISTS conversations_by_age ON conversations (updated_at);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE, n INTEGER NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, build_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, n));
"""),)


_last_stamp = datetime.min.replace(tzinfo=timezone.utc)
_stamp_lock = threading.Lock()


def now() -> str:
    """The time in milliseconds, later than any this process gave before: two writes in one millisecond still order by use."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(datetime.now(timezone.utc), _last_stamp + timedelta(milliseconds=1))
        return _last_stamp.isoformat(timespec="milliseconds")


class ConversationStore:
    """Conversations of every owner; safe to share between threads (one connection per call)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = Path(settings.state_dir) / FILE  # the SQLite file, when RAG_DATABASE_URL is not set
        self.database = open_database(settings, "conversations", FILE, MIGRATIONS, "conversation store")

    def _db(self) -> ContextManager[Tx]:
        return self.database.transaction()

    def create(self, owner: str, title: str = "") -> Conversation:
        """A new, empty conversation; the owner's least recently used ones go beyond `RAG_CONVERSATIONS_PER_OWNER`."""
        stamp, conversation_id = now(), "conv_" + secrets.token_hex(12)
        with self._db() as db:
            self._expire(db)
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", (conversation_id, checked_owner(owner), title[:TITLE_CHARS], stamp, stamp))
            db.execute("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE owner = ? "
                       "ORDER BY updated_at DESC, created_at DESC LIMIT 1000000000 OFFSET ?)", (owner, self.settings.conversations_per_owner))
        return Conversation(conversation_id, owner, title[:TITLE_CHARS], stamp, stamp)

    def get(self, owner: str, conversation_id: str) -> Conversation:
        with self._db() as db:
            head = self._head(db, owner, conversation_id)
            rows = db.execute("SELECT n, question, answer, created_at FROM turns WHERE conversation_id = ? ORDER BY n",
                              (conversation_id,)).fetchall()
        turns = tuple(Turn(n, question, Answer.from_dict(json.loads(answer)), created) for n, question, answer, created in rows)
        return Conversation(*head, turns=turns)

    def list(self, owner: str, limit: int = 100) -> list[Conversation]:
        """The owner's conversations, most recently used first, without their turns."""
        with self._db() as db:
            self._expire(db)
            rows = db.execute("SELECT c.id, c.owner, c.title, c.created_at, c.updated_at, COUNT(t.n) FROM conversations c "
                              "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.owner = ? GROUP BY c.id "
                              "ORDER BY c.updated_at DESC, c.created_at DESC LIMIT ?", (checked_owner(owner), limit)).fetchall()
        return [Conversation(*row[:5], n_turns=row[5]) for row in rows]

    def delete(self, owner: str, conversation_id: str) -> None:
        with self._db() as db:
            self._head(db, owner, conversation_id)
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def check_room(self, owner: str, conversation_id: str) -> None:
        """Refuse early (before answering) a message to a conversation that is full or not the owner's."""
        with self._db() as db:
            self._head(db, owner, conversation_id)
            self._next_turn(db, conversation_id)

    def append(self, owner: str, conversation_id: str, question: str, answer: Answer) -> Turn:
        """Record one answered question as the conversation's next turn (titled by its first question)."""
        stamp = now()
        with self._db() as db:
            self._head(db, owner, conversation_id)
            n = self._next_turn(db, conversation_id)
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation_id, n, question, json.dumps(answer.to_dict(), ensure_ascii=False), answer.build_id, stamp))
            db.execute("UPDATE conversations SET updated_at = ?, title = CASE title WHEN '' THEN ? ELSE title END WHERE id = ?",
                       (stamp, " ".join(question.split())[:TITLE_CHARS], conversation_id))
        return Turn(n, question, answer, stamp)

    def _head(self, db: Tx, owner: str, conversation_id: str) -> tuple[str, str, str, str, str]:
        self._expire(db)
        row = db.execute("SELECT id, owner, title, created_at, updated_at FROM conversations WHERE id = ? AND owner = ?"
                         + db.for_update, (conversation_id, owner)).fetchone()  # appends to one conversation queue
        if row is None:
            raise NotFoundError(f"no conversation {conversation_id!r}: list yours with GET /v1/conversations, or start one with "
                                "POST /v1/conversations")
        return row

    def _next_turn(self, db: Tx, conversation_id: str) -> int:
        count = db.execute("SELECT COUNT(*) FROM turns WHERE conversation_id = ?", (conversation_id,)).fetchone()[0]
        if count >= self.settings.conversation_max_turns:
            raise ConversationFullError(f"conversation {conversation_id} has {count} turns, the most one keeps "
                                        "(RAG_CONVERSATION_MAX_TURNS): start a new one with POST /v1/conversations")
        return count + 1

    def _expire(self, db: Tx) -> None:
        days = self.settings.conversation_max_age_days
        if days > 0:
            cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="milliseconds")
            db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,))


def checked_owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
        raise InvalidRequestError("the owner must be a non-empty name of at most 200 characters")
    return owner
