"""Stored conversations over HTTP: create, list, read, delete, and ask the next question.

Owns the routes `POST /v1/conversations`, `GET /v1/conversations`, `GET|DELETE /v1/conversations/{id}` and
`POST /v1/conversations/{id}/messages` (the answer JSON with the stored turn, or server-sent events with `stream`),
and who a request speaks for (`request_owner`: the API key's name, or with no keys configured the `X-Rag-Owner` header,
else `anonymous`; see `server.auth`): a conversation belongs to the key that made it. Leaves storing to
`rag.chat.store` and answering to the assistant.
"""


from typing import Any

from fastapi import Body, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rag.assistant import Assistant
from rag.config import Settings
from rag.models import Turn
from server.auth import access_of
from server.schemas import ConversationIn, ConversationListOut, ConversationOut, TurnOut, filters_of, message_model
from server.streaming import event_stream


def request_owner(request: Request) -> str:
    """Whose conversations a request reads and writes: its API key's name (with no keys configured, whoever the
    X-Rag-Owner header names)."""
    return access_of(request).name


def add_conversation_routes(app: FastAPI, assistant: Assistant, settings: Settings, errors: dict[int | str, Any],
                            streamed: dict[int | str, Any]) -> None:
    MessageIn = message_model(settings)
    store = assistant.conversations

    @app.post("/v1/conversations", response_model=ConversationOut, status_code=201, responses=errors,
              summary="Start a conversation (stored in SQLite; it survives a restart)")
    async def create(request: Request, body: ConversationIn = Body(default_factory=ConversationIn)) -> JSONResponse:
        conversation = await run_in_threadpool(store.create, request_owner(request), body.title)
        return JSONResponse(conversation.to_dict(), status_code=201)

    @app.get("/v1/conversations", response_model=ConversationListOut, summary="Your conversations, most recently used first")
    async def listing(request: Request) -> JSONResponse:
        rows = await run_in_threadpool(store.list, request_owner(request))
        return JSONResponse({"conversations": [c.to_dict(with_turns=False) for c in rows]})

    @app.get("/v1/conversations/{conversation_id}", response_model=ConversationOut, responses=errors,
             summary="A conversation with every turn: the question, the whole answer and the build that answered")
    async def read(request: Request, conversation_id: str) -> JSONResponse:
        conversation = await run_in_threadpool(store.get, request_owner(request), conversation_id)
        return JSONResponse(conversation.to_dict())

    @app.delete("/v1/conversations/{conversation_id}", status_code=204, responses=errors, summary="Delete a conversation")
    async def delete(request: Request, conversation_id: str) -> Response:
        await run_in_threadpool(store.delete, request_owner(request), conversation_id)
        return Response(status_code=204)

    @app.post("/v1/conversations/{conversation_id}/messages", response_model=TurnOut, responses={**errors, 409: errors[404], **streamed},
              summary="Ask the next question; the earlier turns are its history, and the answer is stored as a turn")
    async def message(request: Request, conversation_id: str, body: MessageIn = Body(...)) -> Any:  # type: ignore[valid-type]
        request.state.question = body.question
        events = await run_in_threadpool(assistant.reply, request_owner(request), conversation_id, body.question, body.k,
                                         filters_of(body), access_of(request))
        if body.stream:
            return event_stream(request, events)
        turn = await run_in_threadpool(_last_turn, events)
        return JSONResponse({"conversation_id": conversation_id, **turn.to_dict()})


def _last_turn(events: Any) -> Turn:
    """The stored turn at the end of a reply's events."""
    turns = [event for event in events if isinstance(event, Turn)]
    if not turns:
        raise RuntimeError("the conversation's answer was not recorded")
    return turns[-1]
