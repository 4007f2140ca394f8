"""Server-sent events: an answer's events on the wire, and stopping the work when the client goes away.

Owns `event_stream`, which pulls the library's events (`rag.chat.streaming`) one at a time in a worker thread, so
the event loop never blocks, turns each into wire frames with a route's `encode`, and closes the library's iterator
(which ends the answering) as soon as the client disconnects or the stream ends; `sse` frames one event; the
response headers (`Cache-Control: no-cache`, `X-Accel-Buffering: no`, so no proxy holds the text back). The event
names of `/v1/ask` and conversation messages are `delta`, `citations`, `answer`, `turn` (conversations only), `done`
and `error`; OpenAI chunks are framed by `server.openai_api`. Leaves what the events mean to the library.
"""

from __future__ import annotations

import json
import logging
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from rag.chat.streaming import Completed, TextDelta
from rag.errors import RagError
from rag.models import Turn

log = logging.getLogger("rag.server")
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
_END = object()


def sse(event: str | None, data: Any) -> str:
    """One server-sent event; `event=None` sends a bare `data:` line (the OpenAI stream's framing)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def ask_frames(item: Any) -> Iterable[str]:
    """Frames of `/v1/ask` and conversation-message streams."""
    if isinstance(item, TextDelta):
        yield sse("delta", {"text": item.text})
    elif isinstance(item, Completed):
        yield sse("citations", {"citations": [c.to_dict() for c in item.answer.citations]})
        yield sse("answer", item.answer.to_dict())
    elif isinstance(item, Turn):
        yield sse("turn", {k: v for k, v in item.to_dict().items() if k != "answer"})


def error_frame(exc: BaseException) -> str:
    if isinstance(exc, RagError):
        return sse("error", {"error": exc.to_dict()})
    log.exception("unexpected error while streaming", exc_info=exc)
    return sse("error", {"error": {"type": "internal_error", "message": "unexpected server error; the log has details", "status": 500}})


def event_stream(request: Request, events: Iterator[Any], encode: Callable[[Any], Iterable[str]] = ask_frames,
                 first: Iterable[str] = (), last: Iterable[str] = (sse("done", {}),),
                 on_error: Callable[[BaseException], str] = error_frame) -> StreamingResponse:
    """A `text/event-stream` response of `first` frames, the frames of every event, then `last` frames."""

    async def frames() -> AsyncIterator[str]:
        try:
            for frame in first:
                yield frame
            while not await request.is_disconnected():
                item = await run_in_threadpool(next, events, _END)
                if item is _END:
                    for frame in last:
                        yield frame
                    return
                for frame in encode(item):
                    yield frame
        except Exception as exc:  # the headers are sent: the failure becomes the stream's last event
            yield on_error(exc)
        finally:  # no worker thread runs the iterator now: a cancelled pull waits for its thread before it ends
            close = getattr(events, "close", None)
            if close is not None:
                close()  # a generator stops where it is: no more answering, nothing recorded

    return StreamingResponse(frames(), media_type="text/event-stream", headers=HEADERS)
