"""Feedback on answers over HTTP: a thumbs up or down, with an optional comment, on one turn of a stored conversation.

Owns the routes `POST /v1/feedback` (201 with the stored rating; rating the same turn again replaces it) and
`GET /v1/feedback?conversation_id=...` (the caller's ratings, so a page can show them again). The caller is
`server.conversations.request_owner`, so only the owner of a conversation can rate its turns. Leaves checking,
storing and the gold export to `rag.chat.feedback`, through the assistant.
"""

from typing import Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rag.assistant import Assistant
from rag.config import Settings
from server.conversations import request_owner
from server.schemas import FeedbackListOut, FeedbackOut, feedback_model


def add_feedback_routes(app: FastAPI, assistant: Assistant, settings: Settings, errors: dict[int | str, Any]) -> None:
    FeedbackIn = feedback_model(settings)

    @app.post("/v1/feedback", response_model=FeedbackOut, status_code=201, responses=errors,
              summary="Rate an answer of a stored conversation: thumbs up or down, with an optional comment")
    async def rate(request: Request, body: FeedbackIn = Body(...)) -> JSONResponse:  # type: ignore[valid-type]
        feedback = await run_in_threadpool(assistant.rate, request_owner(request), body.conversation_id, body.turn,
                                           body.rating, body.comment)
        return JSONResponse(feedback.to_dict(), status_code=201)

    @app.get("/v1/feedback", response_model=FeedbackListOut, summary="Your ratings, oldest first (of one conversation if named)")
    async def listing(request: Request, conversation_id: str | None = Query(default=None, max_length=200)) -> JSONResponse:
        rows = await run_in_threadpool(assistant.feedback.list, request_owner(request), conversation_id)
        return JSONResponse({"feedback": [f.to_dict() for f in rows]})
