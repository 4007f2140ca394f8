"""HTTP request and response schemas (pydantic), for validation and the OpenAPI document.

Responses are produced by the library's `to_dict()` methods; these models
describe that JSON for clients (a test validates real bodies against them, so
they cannot drift). Requests forbid unknown fields and take JSON types as they are (strict: `"stream": 0` or `"k": "5"` is refused,
as the schema says). `SSE_EVENT` is the schema of one server-sent event, as clients parse it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from rag.config import Settings
from rag.search.retrieval import Filters


def _json_int(value: Any) -> Any:
    """A JSON integer: an int, or a number with no fraction (JSON Schema's `integer` includes 7.0); never a string."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_int(ge: int, le: int | None = None) -> Any:
    """An integer field within bounds that takes JSON integers (`_json_int`)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_json_int)]
SSE_EVENT = {"type": "object", "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
             "required": ["data"]}


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    doc_ids: list[str] = Field(default_factory=list, description="Only passages from these document ids.")
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="Only documents whose metadata has these values (case-insensitive; a list value such as tags matches any item).",
    )


AS_OF_HELP = ("Answer from the versions of the documents in force on this day (YYYY-MM-DD), e.g. 2024-06-01 (default: "
              "today): superseded copies answer only questions about a day they were in force.")


def _date_text(value: Any) -> Any:
    """A JSON string only (never a number of seconds); the library reads the date and says how to write a bad one."""
    if not isinstance(value, str):
        raise ValueError("a day is a JSON string")
    return value


AsOf = Annotated[date, Field(strict=False), BeforeValidator(_date_text)]


def filters_of(body: Any) -> Filters | None:
    """The library's filters from a request body's `filters` and `as_of` fields (None when both are absent)."""
    as_of = getattr(body, "as_of", None)
    if not body.filters and as_of is None:
        return None
    return Filters(tuple(body.filters.doc_ids), dict(body.filters.metadata), as_of=as_of) if body.filters else Filters(as_of=as_of)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"] = Field(description="Who said it: the user's question or the assistant's answer.")
    content: str = Field(pattern=r"\S", description="What was said, not only spaces (an answer's [n] markers may stay in).")


def query_model(settings: Settings) -> type[BaseModel]:
    """The request body of /v1/search, with limits taken from the settings."""
    return create_model(
        "QueryIn",
        __config__=ConfigDict(
            extra="forbid", strict=True,
            json_schema_extra={"examples": [{"question": "How long are payroll records kept?", "k": 5}]},
        ),
        **_query_fields(settings),
    )


def _query_fields(settings: Settings) -> dict[str, Any]:
    return {
        "question": (str, Field(min_length=1, max_length=settings.max_question_chars, pattern=r"\S",
                                description="The question, in plain words (not only spaces).")),
        "k": (json_int(1, settings.max_top_k) | None,
              Field(default=None, description=f"Passages to retrieve (default {settings.top_k}, at most {settings.max_top_k}).")),
        "filters": (FiltersIn | None, Field(default=None, description="Restrict retrieval by document id or metadata.")),
        "as_of": (AsOf | None, Field(default=None, description=AS_OF_HELP)),
    }


STREAM_HELP = ("Answer as server-sent events (text/event-stream): `delta` events with the answer text as it is ready "
               "(sentence by sentence), then `citations`, then `answer` (the whole answer object), then `done`; "
               "`error` ends a stream that fails part-way.")


def ask_model(settings: Settings) -> type[BaseModel]:
    """The request body of /v1/ask: a question, optionally the conversation before it, optionally streamed."""
    return create_model(
        "AskIn",
        __config__=ConfigDict(
            extra="forbid", strict=True,
            json_schema_extra={"examples": [
                {"question": "How long are payroll records kept?", "k": 5},
                {"question": "and for contractors?", "stream": True, "history": [
                    {"role": "user", "content": "How long are payroll records kept?"},
                    {"role": "assistant", "content": "Record type: Payroll records ...; Retention period: 6 years ... [1]"}]},
            ]},
        ),
        **_query_fields(settings),
        history=(list[MessageIn], Field(default_factory=list, max_length=settings.max_history_messages,
                                        description="The conversation before the question, oldest first (at most "
                                                    f"{settings.max_history_messages} messages, RAG_MAX_HISTORY_MESSAGES).")),
        stream=(bool, Field(default=False, description=STREAM_HELP)),
    )


def message_model(settings: Settings) -> type[BaseModel]:
    """The request body of POST /v1/conversations/{id}/messages: the next question of a stored conversation."""
    return create_model(
        "ConversationMessageIn",
        __config__=ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"question": "and who do I tell?", "stream": False}]}),
        **_query_fields(settings),
        stream=(bool, Field(default=False, description=STREAM_HELP + " A `turn` event (the stored turn) comes before `done`.")),
    )


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"title": "Gifts from a supplier"}]})

    title: str = Field(default="", max_length=80, description="A title (default: the first question, once asked).")


def feedback_model(settings: Settings) -> type[BaseModel]:
    """The request body of POST /v1/feedback: a thumbs up or down, and a comment, on one turn of a stored conversation."""
    return create_model(
        "FeedbackIn",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [
            {"conversation_id": "conv_0123456789abcdef01234567", "turn": 1, "rating": "up"},
            {"conversation_id": "conv_0123456789abcdef01234567", "turn": 2, "rating": "down",
             "comment": "It quoted the UK rate; I asked about Europe."}]}),
        conversation_id=(str, Field(min_length=1, max_length=200, description="The conversation the answer belongs to.")),
        turn=(int, Field(ge=1, description="The answered turn's `n` (from the `turn` event or GET /v1/conversations/{id}).")),
        rating=(Literal["up", "down"], Field(description="Thumbs up (the answer and its citations are right) or down.")),
        comment=(str, Field(default="", max_length=settings.feedback_max_comment_chars,
                            description="What was right or wrong, optional (at most RAG_FEEDBACK_MAX_COMMENT_CHARS).")),
    )


class FeedbackOut(BaseModel):
    id: str
    conversation_id: str
    turn: int
    rating: Literal["up", "down"]
    comment: str
    question: str = Field(description="The rated turn's question.")
    build_id: str = Field(description="The index build that gave the rated answer.")
    created_at: str
    updated_at: str = Field(description="When the rating or comment last changed (rating a turn again replaces it).")


class FeedbackListOut(BaseModel):
    feedback: list[FeedbackOut]


class PassageOut(BaseModel):
    rank: int
    score: float = Field(description="The ranking score (fused, when retrieval is hybrid).")
    dense_score: float = Field(description="Cosine similarity of the passage to the question.")
    chunk_id: str
    doc_id: str
    title: str
    section: str
    page: int | None = Field(description="First page of the passage (PDF), else null.")
    page_end: int | None = Field(description="Last page of the passage (equals page unless it crosses a page break).")
    pages: str | None = Field(description="Page label: 'p. 3' or 'pp. 3-4'; null for formats without pages.")
    table_header: str | None = Field(description="The header row of the table this passage continues, when it is a split table's later piece.")
    start: int = Field(description="Start offset of the passage in the document text.")
    end: int
    text: str


class CitationOut(BaseModel):
    n: int = Field(description="The marker number used in the answer text, as in [1].")
    doc_id: str
    title: str
    section: str
    page: int | None
    page_end: int | None
    pages: str | None = Field(description="Page label: 'p. 3' or 'pp. 3-4'; null for formats without pages.")
    start: int
    end: int
    quote: str = Field(description="Exactly document text[start:end].")
    passage_rank: int = Field(description="Rank of the passage the quote comes from; 0 when it comes from a document "
                                          "another quote refers to by title, outside the returned passages.")


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]
    build_id: str


class SentenceCheckOut(BaseModel):
    text: str = Field(description="A sentence the language model wrote, its [n] markers removed.")
    passages: list[int] = Field(description="The passages it cited: their `rank` in `passages`.")
    citations: list[int] = Field(description="The citations (exact spans) it is shown with; empty when not supported.")
    support: float = Field(description="0-1: the mean of the share of its words and of its cosine to the best source "
                                       "sentence of a cited passage; 0 when a number, name or negation failed.")
    supported: bool = Field(description="Passed every check (see the README's Generative answers).")
    kept: bool = Field(description="In the answer text: supported, or marked [unverified] with RAG_VERIFY_MODE=mark.")
    reason: str | None = Field(description="Why it is not supported (null when it is).")


class NoticeOut(BaseModel):
    reason: str = Field(description="unreachable, timeout, http_error, bad_response, declined, unverified, flagged or length.")
    message: str


class AnswerNoteOut(BaseModel):
    kind: Literal["overdue", "superseded", "not_in_force", "conflict"] = Field(
        description="overdue: the cited document's review date has passed; superseded: a newer copy is in force today; "
                    "not_in_force: it takes effect after the day asked about; conflict: another document's sentence disagrees.")
    doc_id: str = Field(description="The document the note is about (for a conflict: the other document).")
    message: str = Field(description="One line to show under the answer, e.g. 'Note: the Travel Policy was due for review on "
                                     "2025-03-01 (owner: Finance).'")
    citations: list[int] = Field(description="The citations it speaks of (a conflict: the cited sentence, then the other one).")


class AnswerOut(BaseModel):
    question: str
    standalone_question: str = Field(description="What retrieval searched for: the question itself for a first turn (its "
                                                 "misspelt words read as the build's words, RAG_SPELLING); for a follow-up, "
                                                 "the question with the earlier user turns it needs in front.")
    answer: str = Field(description="Answer text; every sentence carries [n] citation markers.")
    status: Literal["answered", "uncertain", "refused"] = Field(
        description="`answered`: the quotes answer, confidently; `uncertain`: the quoted clauses may answer it, shown as "
                    "places to look; `refused`: the documents do not answer (`abstained` is true).")
    abstained: bool = Field(description="True when the documents do not answer the question.")
    confidence: float
    citations: list[CitationOut]
    passages: list[PassageOut]
    build_id: str = Field(description="The index build that answered.")
    backend: Literal["extractive", "openai"] = Field(description="What wrote `answer`: `extractive` (quotes; refusals; "
                                                                 "fallbacks) or `openai` (a language model, verified).")
    model: str | None = Field(description="The language model asked (RAG_LLM_MODEL), null when none was.")
    fallback: NoticeOut | None = Field(description="Why the extractive answer stands in for the model's (null: it does not).")
    stopped: NoticeOut | None = Field(description="Why the model's answer ended early: its sentences verified so far are "
                                                  "the answer (null: it did not).")
    sentences: list[SentenceCheckOut] = Field(description="Every sentence the model wrote, in order, as verification "
                                                          "judged it (empty for extractive answers).")
    notes: list[AnswerNoteOut] = Field(default_factory=list, description="What the cited documents' lifecycle says: overdue, "
                                       "superseded, not yet in force, or a conflicting sentence of another document (cited).")
    as_of: str | None = Field(default=None, description="The day (YYYY-MM-DD) whose versions of the documents answered.")


class TurnOut(BaseModel):
    conversation_id: str | None = Field(default=None, description="The conversation (in the reply to a new message).")
    n: int = Field(description="The turn's place in its conversation, from 1.")
    question: str
    created_at: str
    build_id: str = Field(description="The index build that answered this turn (builds may change during a conversation).")
    answer: AnswerOut


class ConversationOut(BaseModel):
    id: str
    owner: str = Field(description="Who the conversation belongs to: the API key's name (with no keys configured, the X-Rag-Owner header).")
    title: str
    created_at: str
    updated_at: str
    turn_count: int
    turns: list[TurnOut] | None = Field(default=None, description="Every turn, oldest first (left out of listings).")


class ConversationListOut(BaseModel):
    conversations: list[ConversationOut]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    metadata: dict[str, str]
    content_hash: str
    format: str
    chars: int
    pages: int | None = Field(default=None, description="Page count (PDF), else null.")
    original_url: str | None = Field(default=None, description="Where to download the original file this build indexed.")
    page_starts: list[int] | None = Field(default=None, description="Offset in `text` where each page starts (PDF); empty otherwise.")
    text: str | None = None
    sections: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    type: str
    message: str
    status: int


class ErrorOut(BaseModel):
    error: ErrorBody
