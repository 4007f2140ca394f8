"""The data model shared unchanged by the library, the CLI and the HTTP API.

Frozen dataclasses only; `to_dict()` gives the JSON shape that `rag ask --json`
prints and that the server returns, so both are the same object by construction.
Nothing here loads files or models.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Section:
    """A character range of a document and the heading path it belongs to."""

    start: int
    end: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One source document: id is its path relative to the corpus root."""

    doc_id: str
    title: str
    text: str
    sections: tuple[Section, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    source_format: str = "text"
    pages: tuple[int, ...] = ()  # start offset of each page in `text` (PDF); empty when the format has no pages

    def page_at(self, offset: int) -> int | None:
        """1-based page number holding `offset`, or None for formats without pages."""
        if not self.pages:
            return None
        return bisect.bisect_right(self.pages, offset) or 1

    def page_span(self, start: int, end: int) -> tuple[int | None, int | None]:
        """First and last page of the range `[start, end)`."""
        return self.page_at(start), self.page_at(max(start, end - 1))

    def section_at(self, offset: int) -> tuple[str, ...]:
        """Heading path of the section holding `offset` (empty when none); a binary search over the sorted sections."""
        i = self.section_index(offset)
        return self.sections[i].path if i is not None else ()

    def section_index(self, offset: int) -> int | None:
        """Index in `sections` of the section holding `offset`, or None."""
        i = bisect.bisect_right(self._section_starts, offset) - 1
        return i if i >= 0 and self.sections[i].start <= offset < self.sections[i].end else None

    @cached_property
    def _section_starts(self) -> list[int]:
        return [section.start for section in self.sections]

    def summary(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "metadata": dict(self.metadata),
            "content_hash": self.content_hash,
            "format": self.source_format,
            "chars": len(self.text),
            "pages": len(self.pages) or None,
        }


@dataclass(frozen=True)
class Chunk:
    """A span of a document: `doc.text[start:end] == text`."""

    chunk_id: str
    doc_id: str
    title: str
    section: tuple[str, ...]
    start: int
    end: int
    text: str
    page: int | None = None
    n_tokens: int = 0
    page_end: int | None = None  # last page when the chunk crosses a page break
    context: str = ""  # text carried from outside the span: a table's header row for a piece of a split table

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["section"] = list(self.section)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return cls(**{**data, "section": tuple(data["section"])})


@dataclass(frozen=True)
class Citation:
    """A quoted span backing one answer sentence: `quote == doc.text[start:end]`."""

    n: int
    doc_id: str
    title: str
    section: str
    page: int | None
    start: int
    end: int
    quote: str
    passage_rank: int = 0  # 0: from a document another quote refers to by title, not among the returned passages
    page_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pages": page_label(self.page, self.page_end)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Citation":
        return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its ranking score, its rank (1-based) and its cosine to the question."""

    chunk: Chunk
    score: float
    rank: int
    dense: float = 0.0  # cosine similarity to the question, whatever the ranking method

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "dense_score": round(self.dense, 6),
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "title": self.chunk.title,
            "section": section_label(self.chunk.section),
            "page": self.chunk.page,
            "page_end": self.chunk.page_end,
            "pages": page_label(self.chunk.page, self.chunk.page_end),
            "table_header": self.chunk.context or None,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Passage":
        """The passage `to_dict` wrote (a stored answer's); the chunk's token count is not kept."""
        section = tuple(data["section"].split(" > ")) if data["section"] else ()
        chunk = Chunk(data["chunk_id"], data["doc_id"], data["title"], section, data["start"], data["end"], data["text"],
                      data.get("page"), 0, data.get("page_end"), data.get("table_header") or "")
        return cls(chunk, data["score"], data["rank"], data.get("dense_score", 0.0))


@dataclass(frozen=True)
class SearchResult:
    """What `search` returns: the passages and the build that produced them."""

    query: str
    passages: tuple[Passage, ...]
    build_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "passages": [p.to_dict() for p in self.passages],
            "build_id": self.build_id,
        }


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence a language model wrote, as verification judged it against the passages it cited."""

    text: str  # the sentence, its [n] markers removed
    passages: tuple[int, ...]  # the passages it cited: their numbers in the prompt, the `rank` of the answer's passages
    citations: tuple[int, ...]  # the answer's citations (exact spans) it is shown with; empty when not supported
    support: float  # 0-1: how well the best source sentence of a cited passage supports it (0 when a hard check failed)
    supported: bool  # passed every check
    kept: bool  # in the answer text (a supported sentence, or an unsupported one marked [unverified] by RAG_VERIFY_MODE=mark)
    reason: str = ""  # why it failed ("" when supported)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "passages": list(self.passages), "citations": list(self.citations),
                "support": round(self.support, 4), "supported": self.supported, "kept": self.kept, "reason": self.reason or None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SentenceCheck":
        return cls(data["text"], tuple(data["passages"]), tuple(data["citations"]), data["support"], data["supported"],
                   data["kept"], data.get("reason") or "")


@dataclass(frozen=True)
class Notice:
    """Why a generated answer is not (all) the model's: `reason` for machines, `message` for people."""

    reason: str  # unreachable | timeout | http_error | bad_response | declined | unverified | flagged | length
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Notice | None":
        return cls(data["reason"], data["message"]) if data else None


@dataclass(frozen=True)
class AnswerNote:
    """One line an answer carries about what it cites: `kind` is overdue (its review date has passed), superseded (a
    newer copy is in force today), not_in_force (its effective date is after the day asked about) or conflict (another
    document's sentence, cited as `citations`, disagrees with a cited one)."""

    kind: str
    doc_id: str
    message: str
    citations: tuple[int, ...] = ()  # the answer's citations the note speaks of (a conflict: the cited one, the other)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "doc_id": self.doc_id, "message": self.message, "citations": list(self.citations)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnswerNote":
        return cls(data["kind"], data["doc_id"], data["message"], tuple(data.get("citations", ())))


@dataclass(frozen=True)
class Answer:
    """A grounded answer: every sentence of `answer` carries `[n]` markers."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    build_id: str
    confidence: float = 0.0  # the abstention model's probability that the documents answer
    evidence: tuple[tuple[str, float], ...] = ()  # its input features (see rag.answer.abstention), not part of the API
    standalone_question: str = ""  # what retrieval searched for: the question with what it needs of the conversation
    backend: str = "extractive"  # what wrote `answer`: "extractive" (quotes, refusals, fallbacks) or "openai" (a model)
    model: str = ""  # the language model asked, when one was ("" for a purely extractive answer)
    fallback: Notice | None = None  # why the extractive answer stands in for the model's
    stopped: Notice | None = None  # why the model's answer ended early (its verified sentences so far are the answer)
    sentences: tuple[SentenceCheck, ...] = ()  # every sentence the model wrote, verified, in order
    uncertain: bool = False  # the quotes may answer: confidence between the refusal cut and the confident-answer cut
    notes: tuple[AnswerNote, ...] = ()  # what the cited documents' lifecycle says of them (rag.lifecycle.notes)
    as_of: str = ""  # the day (YYYY-MM-DD) whose versions of the documents answered

    @property
    def status(self) -> str:
        """`answered` (confident), `uncertain` (the quoted clauses may answer: places to look) or `refused` (the
        documents do not answer)."""
        return "refused" if self.abstained else "uncertain" if self.uncertain else "answered"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question or self.question,
            "answer": self.answer,
            "status": self.status,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 6),
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "build_id": self.build_id,
            "backend": self.backend,
            "model": self.model or None,
            "fallback": self.fallback.to_dict() if self.fallback else None,
            "stopped": self.stopped.to_dict() if self.stopped else None,
            "sentences": [s.to_dict() for s in self.sentences],
            "notes": [n.to_dict() for n in self.notes],
            "as_of": self.as_of or None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Answer":
        """The answer `to_dict` wrote (a stored conversation's turn); the refusal model's features are not kept."""
        return cls(data["question"], data["answer"], data["abstained"], tuple(Citation.from_dict(c) for c in data["citations"]),
                   tuple(Passage.from_dict(p) for p in data["passages"]), data["build_id"], data.get("confidence", 0.0),
                   standalone_question=data.get("standalone_question", ""), backend=data.get("backend", "extractive"),
                   model=data.get("model") or "", fallback=Notice.from_dict(data.get("fallback")),
                   stopped=Notice.from_dict(data.get("stopped")),
                   sentences=tuple(SentenceCheck.from_dict(s) for s in data.get("sentences", ())),
                   uncertain=data.get("status") == "uncertain",
                   notes=tuple(AnswerNote.from_dict(n) for n in data.get("notes") or ()), as_of=data.get("as_of") or "")


ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Message:
    """One turn of a conversation as a caller sends it: who spoke and what was said. An assistant message may carry
    the citations of the answer it was (a stored conversation keeps them), which tell follow-ups where it looked."""

    role: str  # "user" or "assistant"
    content: str
    citations: tuple[Citation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Turn:
    """One exchange of a stored conversation: the question asked, the whole answer, and when."""

    n: int  # 1-based position in the conversation
    question: str
    answer: Answer
    created_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "question": self.question, "created_at": self.created_at, "build_id": self.answer.build_id,
                "answer": self.answer.to_dict()}

    def messages(self) -> tuple[Message, Message]:
        """The turn as history: the user's question, then the answer with its citations."""
        return Message("user", self.question), Message("assistant", self.answer.answer, self.answer.citations)


@dataclass(frozen=True)
class Conversation:
    """A stored conversation: its owner (who may read it) and its turns, oldest first."""

    conversation_id: str
    owner: str
    title: str
    created_at: str
    updated_at: str
    turns: tuple[Turn, ...] = ()
    n_turns: int = 0  # how many turns it has (set when `turns` are left out, as in a listing)

    def history(self) -> tuple[Message, ...]:
        return tuple(m for turn in self.turns for m in turn.messages())

    def to_dict(self, with_turns: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.conversation_id, "owner": self.owner, "title": self.title,
                                "created_at": self.created_at, "updated_at": self.updated_at,
                                "turn_count": max(self.n_turns, len(self.turns))}
        if with_turns:
            data["turns"] = [t.to_dict() for t in self.turns]
        return data


RATINGS = ("up", "down")


@dataclass(frozen=True)
class Feedback:
    """A person's rating of one answered turn, kept with everything needed to make it a gold question: the question,
    the conversation before it, the whole answer and the build that gave it (copies: they outlive the conversation)."""

    feedback_id: str
    owner: str
    conversation_id: str
    turn: int  # the rated turn's `n`
    rating: str  # "up" or "down"
    comment: str
    question: str
    history: tuple[Message, ...]  # the conversation before the question, oldest first
    answer: Answer
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        """The HTTP shape: what was rated and how, without the stored copies of the answer and history."""
        return {"id": self.feedback_id, "conversation_id": self.conversation_id, "turn": self.turn, "rating": self.rating,
                "comment": self.comment, "question": self.question, "build_id": self.answer.build_id,
                "created_at": self.created_at, "updated_at": self.updated_at}


EVERY_GROUP = "*"  # a key holding this group reads every document


@dataclass(frozen=True)
class Access:
    """Who a call acts for and which document groups it may read: the key's name (never the key), its groups (None:
    every document, as when no API keys are configured or the library is called directly), whether it may change the
    service's state, and the route or command it came through (for the audit trail)."""

    name: str = "anonymous"
    groups: frozenset[str] | None = None
    admin: bool = False
    route: str = ""

    def sees(self, doc_groups: "tuple[str, ...] | frozenset[str]") -> bool:
        """Whether a document of `doc_groups` is readable with this access."""
        return self.groups is None or EVERY_GROUP in self.groups or not self.groups.isdisjoint(doc_groups)


@dataclass(frozen=True)
class ApiKey:
    """A stored API key, as `rag keys list` shows it: never the key itself, only a short id that is its prefix."""

    name: str
    key_id: str
    groups: tuple[str, ...]
    admin: bool
    created_at: str
    revoked_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "groups": list(self.groups)}

    def access(self, route: str = "") -> Access:
        return Access(self.name, frozenset(self.groups), self.admin, route)


BUILD_STATES = ("queued", "building", "gate_failed", "live", "failed")


@dataclass(frozen=True)
class BuildJob:
    """A background build an upload started: `state` is one of BUILD_STATES; while building, `stage` and `done` of
    `total` say how far it is; `result` holds the gate's verdict and figures (gate failed, live); `error` why it failed."""

    id: str
    state: str
    created_at: str
    updated_at: str
    requested_by: str
    documents: tuple[str, ...]
    stage: str = ""
    done: int = 0
    total: int = 0
    build_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("gate_failed", "live", "failed")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "documents": list(self.documents), "finished": self.finished}


def page_label(first: int | None, last: int | None = None) -> str | None:
    """'p. 3', 'pp. 3-4', or None for formats without pages."""
    if first is None:
        return None
    return f"pp. {first}-{last}" if last is not None and last != first else f"p. {first}"


def section_label(path: tuple[str, ...]) -> str:
    """Human label for a heading path: 'Part 4 > 4.2 Passwords'."""
    return " > ".join(path)
