"""The OpenAI-compatible API: `POST /v1/chat/completions` (streamed or not) and `GET /v1/models`.

Owns turning chat `messages` into the library's question and history (the last message is the user's question;
earlier user and assistant messages are the history; `system` and `developer` messages are ignored: answers come
from the documents, quoted or written under the assistant's own instructions and verified, never a caller's), the
`chat.completion` body and the `chat.completion.chunk` stream (every chunk has `choices`; the last one before `data: [DONE]` also carries `citations` and `answer`), and
the extra fields: `filters` (what the `openai` client's `extra_body` sends), `k` and `as_of` in the request, `citations` (the
same objects as `/v1/ask`) and `answer` (the whole answer object) in the response. Sampling fields (`temperature`,
`top_p`, `max_tokens`, ...) are accepted and ignored. Leaves answering to the assistant.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Iterable, Literal

from fastapi import Body, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.assistant import Assistant
from rag.chat.streaming import Completed, TextDelta, final_answer
from rag.config import Settings
from rag.errors import InvalidRequestError, RagError
from rag.ingest.chunking import count_tokens
from rag.models import Answer, Message
from server.auth import access_of
from server.schemas import AS_OF_HELP, SSE_EVENT, AnswerOut, AsOf, CitationOut, FiltersIn, filters_of, json_int
from server.streaming import event_stream, sse

MODEL_ID = "policy-assistant"  # the one model: answers over the live index build (RAG_ANSWERER writes them)
CHUNKS: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"schema": {**SSE_EVENT, "description": (
    "With \"stream\": true: `data: chat.completion.chunk` lines, every one with `choices` (the first delta carries the "
    "role, then one delta per sentence of the answer); the last chunk has `finish_reason: \"stop\"`, `citations` and "
    "`answer`; then `data: [DONE]`. A failure after the stream started is a `data: {\"error\": {...}}` line.")}}}}}
IGNORED_ROLES = ("system", "developer")


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # name, tool_call_id and the like are accepted and ignored

    role: Literal["user", "assistant", "system", "developer"] = Field(description="user, assistant, or system/developer (ignored).")
    content: str | list[TextPart] | None = Field(default=None, description="Text, or a list of {type: text, text} parts.")


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra={"examples": [{
        "model": MODEL_ID, "stream": False, "filters": {"doc_ids": ["travel-and-expenses-policy.html"]},
        "messages": [{"role": "user", "content": "What is the hotel limit in London?"}]}]})

    model: str = Field(default=MODEL_ID, description=f"Any value; answers come from `{MODEL_ID}` (see GET /v1/models).")
    messages: list[ChatMessageIn] = Field(min_length=1, description="The conversation; the last message is the question.")
    stream: bool = Field(default=False, description="Stream `chat.completion.chunk` objects as server-sent events.")
    filters: FiltersIn | None = Field(default=None, description="Restrict retrieval by document id or metadata (extra_body).")
    k: json_int(1) | None = Field(default=None, description="Passages to retrieve (extra_body).")  # type: ignore[valid-type]
    as_of: AsOf | None = Field(default=None, description=AS_OF_HELP + " (extra_body)")  # type: ignore[valid-type]


class ChoiceMessage(BaseModel):
    role: str
    content: str


class Choice(BaseModel):
    index: int
    message: ChoiceMessage
    finish_reason: str


class ChatCompletionOut(BaseModel):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: dict[str, int]
    citations: list[CitationOut] = Field(description="The answer's citations, as in /v1/ask.")
    answer: AnswerOut = Field(description="The whole answer object, as /v1/ask returns it.")


def split_messages(messages: list[ChatMessageIn]) -> tuple[str, list[Message]]:
    """(the question, the history before it) from chat messages; system and developer messages are ignored."""
    kept = [(m.role, _text(m, i)) for i, m in enumerate(messages) if m.role not in IGNORED_ROLES]
    for i, (role, _) in enumerate(kept):
        if role not in ("user", "assistant"):
            raise InvalidRequestError(f"messages: role {role!r} is not supported; send user and assistant messages "
                                      "(system and developer messages are ignored)")
    if not kept or kept[-1][0] != "user":
        raise InvalidRequestError("messages: the last message must be the user's question (role 'user')")
    return kept[-1][1], [Message(role, text) for role, text in kept[:-1]]


def _text(message: ChatMessageIn, i: int) -> str:
    if isinstance(message.content, str) or message.content is None:
        return message.content or ""
    return "\n".join(part.text for part in message.content)


def completion(answer: Answer, completion_id: str, created: int, history: list[Message]) -> dict[str, Any]:
    prompt = count_tokens(answer.question) + sum(count_tokens(m.content) for m in history)
    output = count_tokens(answer.answer)
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "system_fingerprint": answer.build_id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
            "citations": [c.to_dict() for c in answer.citations], "answer": answer.to_dict()}


class ChunkFramer:
    """`chat.completion.chunk` frames of one streamed completion."""

    def __init__(self, completion_id: str, created: int) -> None:
        self.head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return sse(None, {**self.head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra})

    def frames(self, event: Any) -> Iterable[str]:
        if isinstance(event, TextDelta):
            yield self.chunk({"content": event.text})
        elif isinstance(event, Completed):
            yield self.chunk({}, "stop", system_fingerprint=event.answer.build_id,
                             citations=[c.to_dict() for c in event.answer.citations], answer=event.answer.to_dict())

    def error(self, exc: BaseException) -> str:
        body = exc.to_dict() if isinstance(exc, RagError) else {"type": "internal_error", "message": "unexpected server error", "status": 500}
        return sse(None, {"error": body})


def add_openai_routes(app: FastAPI, assistant: Assistant, settings: Settings, errors: dict[int | str, Any]) -> None:
    @app.get("/v1/models", summary="The models /v1/chat/completions answers with (OpenAI-compatible)")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag"}]}

    @app.post("/v1/chat/completions", response_model=ChatCompletionOut, responses={**errors, **CHUNKS},
              summary="OpenAI-compatible chat: the last user message answered in the light of the earlier ones")
    async def chat_completions(request: Request, body: ChatCompletionIn = Body(...)) -> Any:
        question, history = split_messages(body.messages)
        request.state.question = question
        events = await run_in_threadpool(assistant.stream, question, body.k, filters_of(body), history, access_of(request))
        completion_id, created = "chatcmpl-" + secrets.token_hex(12), int(time.time())
        if body.stream:
            framer = ChunkFramer(completion_id, created)
            return event_stream(request, events, framer.frames, first=[framer.chunk({"role": "assistant", "content": ""})],
                                last=[sse(None, "[DONE]")], on_error=framer.error)
        answer = await run_in_threadpool(final_answer, events)
        return JSONResponse(completion(answer, completion_id, created, history))
