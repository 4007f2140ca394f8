"""Feedback on answers, and turning it into gold questions for the gate.

Owns the store `feedback` (`feedback.sqlite` in `RAG_STATE_DIR`, created on first use, or its table in
`RAG_DATABASE_URL`; apart from the conversations, so a conversation that expires or is deleted keeps its feedback), recording a thumbs up or down with an optional comment
on one turn of a stored conversation (`FeedbackStore.rate`: the question, the conversation before it, the whole
answer object and its build are copied in; rating the same turn again replaces the rating), checking it (the rating,
the comment's length against `RAG_FEEDBACK_MAX_COMMENT_CHARS`, the turn), and the export (`export`, `gold_row`): one
JSONL row per rating in the gold format of `rag.evaluate.gold` (`{id, question, history, answers, evidence,
answerable, meta}`), to be reviewed by an operator before it joins a gold set. A thumbs-up row carries the cited
spans as its evidence (none, and `answerable: false`, for an upheld refusal); a thumbs-down row carries no evidence
and no `answerable`, with the comment, the answer given and what it cited in `meta`, for the reviewer to fill in.
An export made for a key (`readable`) keeps only the rows every document of which the key may read
(`carried_documents`: the rated answer's citations and closest passages, and for a follow-up the earlier turns'
too). Leaves conversations to `rag.chat.store`, which documents a key reads to `rag.access`, and HTTP to `server/`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, ContextManager, Iterable

from rag.chat.store import ConversationStore, checked_owner, now
from rag.config import Settings
from rag.errors import InvalidRequestError, NotFoundError
from rag.models import RATINGS, Answer, Conversation, Feedback, Message
from rag.state.database import Migration, Tx, open_database

FILE = "feedback.sqlite"
MIGRATIONS = (Migration(1, """
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, conversation_id TEXT NOT NULL, turn INTEGER NOT NULL,
    rating TEXT NOT NULL, comment TEXT NOT NULL, question TEXT NOT NULL, history TEXT NOT NULL, answer TEXT NOT NULL,
    build_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (owner, conversation_id, turn));
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (created_at);
"""),)
COLUMNS = "id, owner, conversation_id, turn, rating, comment, question, history, answer, created_at, updated_at"
REVIEW_UP = ("thumbs up: check that the evidence answers the question, add the short expected answers to `answers`, "
             "then move the row into a gold set")
REVIEW_UP_REFUSAL = "thumbs up on a refusal: confirm the documents do not answer it, then move the row into a gold set"
REVIEW_DOWN = ("thumbs down: write the evidence the answer should have quoted ({doc, text}) and the expected `answers`, "
               "or set `answerable` to false if the documents do not answer it; `meta` has the comment and what was cited")


class FeedbackStore:
    """Every owner's feedback; safe to share between threads (one connection per call)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = Path(settings.state_dir) / FILE  # the SQLite file, when RAG_DATABASE_URL is not set
        self.database = open_database(settings, "feedback", FILE, MIGRATIONS, "feedback store")

    def _db(self) -> ContextManager[Tx]:
        return self.database.transaction()

    def rate(self, conversation: Conversation, turn: int, rating: str, comment: str = "") -> Feedback:
        """Record the owner's rating of turn `turn` of `conversation` (replacing an earlier rating of that turn)."""
        rating, comment = self.checked(rating, comment)
        rated = next((t for t in conversation.turns if t.n == turn), None)
        if rated is None:
            raise NotFoundError(f"conversation {conversation.conversation_id} has no turn {turn} (it has "
                                f"{len(conversation.turns)}): rate a turn listed by GET /v1/conversations/{conversation.conversation_id}")
        history = [m.to_dict() for t in conversation.turns if t.n < turn for m in t.messages()]
        stamp = now()
        row = ("fb_" + secrets.token_hex(12), checked_owner(conversation.owner), conversation.conversation_id, turn, rating,
               comment, rated.question, json.dumps(history, ensure_ascii=False),
               json.dumps(rated.answer.to_dict(), ensure_ascii=False), rated.answer.build_id, stamp, stamp)
        with self._db() as db:
            db.execute("INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, conversation_id, turn) "
                       "DO UPDATE SET rating = excluded.rating, comment = excluded.comment, updated_at = excluded.updated_at", row)
            found = db.execute(f"SELECT {COLUMNS} FROM feedback WHERE owner = ? AND conversation_id = ? AND turn = ?",
                               row[1:4]).fetchone()
        return _feedback(found)

    def checked(self, rating: str, comment: str) -> tuple[str, str]:
        """The rating and the stripped comment, or `InvalidRequestError` saying what to send."""
        if rating not in RATINGS:
            raise InvalidRequestError(f"rating {rating!r} is not one of {', '.join(RATINGS)}: send \"up\" or \"down\"")
        comment = (comment or "").strip()
        limit = self.settings.feedback_max_comment_chars
        if len(comment) > limit:
            raise InvalidRequestError(f"the comment is {len(comment)} characters; the limit is {limit} "
                                      "(RAG_FEEDBACK_MAX_COMMENT_CHARS): shorten it to what was wrong or right")
        return rating, comment

    def list(self, owner: str, conversation_id: str | None = None) -> list[Feedback]:
        """The owner's feedback, oldest first; of one conversation when `conversation_id` is given."""
        query, args = f"SELECT {COLUMNS} FROM feedback WHERE owner = ?", [checked_owner(owner)]
        if conversation_id is not None:
            query, args = query + " AND conversation_id = ?", args + [conversation_id]
        with self._db() as db:
            return [_feedback(r) for r in db.execute(query + " ORDER BY created_at, turn", args).fetchall()]

    def everyone(self, rating: str | None = None) -> list[Feedback]:
        """All owners' feedback, oldest first (an operator's export), of one rating when given."""
        if rating is not None and rating not in RATINGS:
            raise InvalidRequestError(f"rating {rating!r} is not one of {', '.join(RATINGS)}")
        where, args = ("WHERE rating = ?", [rating]) if rating else ("", [])
        with self._db() as db:
            return [_feedback(r) for r in db.execute(f"SELECT {COLUMNS} FROM feedback {where} ORDER BY created_at, id", args)]

    def export(self, out: Path, rating: str | None = None, readable: Callable[[str], bool] | None = None,
               exported: Callable[[list[str]], None] | None = None) -> dict[str, int]:
        """Write every rating (or those of one kind) as gold rows to `out` (JSONL, replaced whole); returns the counts.
        With `readable` (may the key read this document id?), only the rows all of whose documents it may read
        (`left_out` counts the others), and `exported` is told the documents the written rows carry (for the audit)."""
        rows = self.everyone(rating)
        every = len(rows)
        if readable is not None:
            conversations = ConversationStore(self.settings)
            carried = [(f, carried_documents(f, conversations)) for f in rows]
            kept = [(f, docs) for f, docs in carried if docs is not None and all(readable(d) for d in docs)]
            rows = [f for f, _ in kept]
            if exported is not None:
                exported(sorted(set().union(*(docs for _, docs in kept))))
        write_jsonl(Path(out), (gold_row(f) for f in rows))
        return {"rows": len(rows), "left_out": every - len(rows), **{r: sum(1 for f in rows if f.rating == r) for r in RATINGS}}


def carried_documents(feedback: Feedback, conversations: ConversationStore) -> set[str] | None:
    """Every document whose text a feedback row carries: the rated answer's citations and closest passages, and for a
    follow-up the earlier turns' answers (its history quotes them), read from the stored conversation. None when they
    cannot be known (the conversation expired or was deleted): such a row is never exported for a key."""
    documents = _answer_documents(feedback.answer)
    if not feedback.history:
        return documents
    try:
        earlier = conversations.get(feedback.owner, feedback.conversation_id).turns
    except NotFoundError:
        return None
    for turn in earlier:
        if turn.n < feedback.turn:
            documents |= _answer_documents(turn.answer)
    return documents


def _answer_documents(answer: Answer) -> set[str]:
    return {c.doc_id for c in answer.citations} | {p.chunk.doc_id for p in answer.passages}



def _feedback(row: tuple[Any, ...]) -> Feedback:
    fid, owner, conversation_id, turn, rating, comment, question, history, answer, created, updated = row
    messages = tuple(Message(m["role"], m["content"]) for m in json.loads(history))
    return Feedback(fid, owner, conversation_id, turn, rating, comment, question, messages,
                    Answer.from_dict(json.loads(answer)), created, updated)


def gold_row(feedback: Feedback) -> dict[str, Any]:
    """One feedback as a gold row (`rag.evaluate.gold`'s format), with what a reviewer needs in `meta`."""
    answer = feedback.answer
    cited = [{"doc": c.doc_id, "text": c.quote} for c in answer.citations]
    meta: dict[str, Any] = {"source": "feedback", "rating": feedback.rating, "comment": feedback.comment,
                            "build_id": answer.build_id, "conversation_id": feedback.conversation_id, "turn": feedback.turn,
                            "rated_at": feedback.updated_at, "answer": answer.answer, "abstained": answer.abstained}
    row: dict[str, Any] = {"id": feedback.feedback_id, "question": feedback.question}
    if feedback.history:
        row["history"] = [m.to_dict() for m in feedback.history]
    row["answers"] = []
    if feedback.rating == "up":
        row["evidence"] = [] if answer.abstained else cited
        row["answerable"] = not answer.abstained
        meta["review"] = REVIEW_UP_REFUSAL if answer.abstained else REVIEW_UP
    else:
        row["evidence"] = []
        meta["cited"] = cited
        meta["review"] = REVIEW_DOWN
    row["meta"] = meta
    return row


def write_jsonl(out: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows to `out` through a temporary file beside it, so a reader never sees half a file."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        with open(part, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(part, out)
    except OSError as exc:
        raise InvalidRequestError(f"cannot write {out} ({exc.strerror}): pass --out a file in a writable folder") from None
