"""HTTP request and response schemas (pydantic), for validation and the OpenAPI document.

Responses are produced by the library's `to_dict()` methods; these models
describe that JSON for clients (a test validates real bodies against them, so
they cannot drift). Requests forbid unknown fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from rag.config import Settings


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] = Field(default_factory=list, description="Only passages from these document ids.")
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="Only documents whose metadata has these values (case-insensitive; a list value such as tags matches any item).",
    )


def query_model(settings: Settings) -> type[BaseModel]:
    """The request body of /v1/search and /v1/ask, with limits taken from the settings."""
    return create_model(
        "QueryIn",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"question": "How long are payroll records kept?", "k": 5}]},
        ),
        question=(str, Field(min_length=1, max_length=settings.max_question_chars, description="The question, in plain words.")),
        k=(int | None, Field(default=None, ge=1, le=settings.max_top_k, description=f"Passages to retrieve (default {settings.top_k}).")),
        filters=(FiltersIn | None, Field(default=None, description="Restrict retrieval by document id or metadata.")),
    )


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


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="Answer text; every sentence carries [n] citation markers.")
    abstained: bool = Field(description="True when the documents do not answer the question.")
    confidence: float
    citations: list[CitationOut]
    passages: list[PassageOut]
    build_id: str = Field(description="The index build that answered.")


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
