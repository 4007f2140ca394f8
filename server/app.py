"""The FastAPI retrieval service.

Owns HTTP only: routes, request validation, the single JSON error shape
(`{"error": {"type", "message", "status"}}`) for every failure, and running
each question in a pool of worker threads (`RAG_SERVER_THREADS`) so the event
loop never blocks and concurrent questions share one model call (the
assistant's micro-batching). The index and model load once at start-up;
answers come from `rag.assistant.Assistant`; metrics and the access log from
`server.telemetry`; server-sent events from `server.streaming`; stored
conversations' routes from `server.conversations`; feedback on answers from
`server.feedback`; the OpenAI-compatible routes from `server.openai_api`; uploads, background builds and `/v1/me` from
`server.uploads` (the build worker runs while the app does); the
web chat page at `/` from `server.web`; who a request speaks for (API keys, admin routes, rate limits), body limits
and security headers from `server.auth` and `server.guard`: every route passes the request's `Access` to the
assistant.
"""


import asyncio
import logging
import os
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, AsyncIterator, Callable
from urllib.parse import quote

from fastapi import Body, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from rag.chat.streaming import final_answer
from rag.config import Settings
from rag.errors import RagError
from rag.indexing.embedding import Embedder
from rag.indexing.originals import MEDIA_TYPES
from rag.lifecycle.health import health_report
from rag.models import Document
from rag.uploads.jobs import JobStore
from rag.uploads.worker import BuildWorker
from server.auth import Authenticator, access_of
from server.conversations import add_conversation_routes
from server.feedback import add_feedback_routes
from server.guard import document_security, install_guard
from server.openai_api import add_openai_routes
from server.schemas import SSE_EVENT, AnswerOut, DocumentOut, ErrorOut, SearchOut, ask_model, filters_of, query_model
from server.streaming import event_stream
from server.telemetry import Telemetry
from server.uploads import add_upload_routes
from server.web import add_web_routes

log = logging.getLogger("rag.server")
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 404, 422, 502, 503, 504)}
STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"schema": {**SSE_EVENT, "description": (
    "With \"stream\": true: `event: delta` / `data: {\"text\": str}` for each piece of the answer (sentence by sentence), "
    "then `event: citations` / `data: {\"citations\": [Citation]}`, `event: answer` / `data: Answer` (the JSON body of the "
    "call without stream), for conversation messages `event: turn` / `data: {n, question, created_at, build_id}`, "
    "and `event: done` / `data: {}`. A failure after the stream started is `event: error` / `data: {\"error\": {...}}`.")}}}}}


ORIGINAL_TYPES = {media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(set(MEDIA_TYPES.values()))}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, "status": status}}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        hint = " (send a JSON object with the header content-type: application/json)" if where == "body" else ""
        if where == "question" and err.get("type") == "string_too_long":
            hint = ": shorten it to the point you want answered (the limit is RAG_MAX_QUESTION_CHARS)"
        if where == "comment" and err.get("type") == "string_too_long":
            hint = ": shorten it to what was wrong or right (the limit is RAG_FEEDBACK_MAX_COMMENT_CHARS)"
        if where == "as_of":
            hint = ": write the day as YYYY-MM-DD, e.g. 2024-06-01"
        if where == "question" and err.get("type") in ("string_pattern_mismatch", "string_too_short"):  # "" or "   "
            parts.append("question: is empty: ask about the documents, e.g. 'How long are payroll records kept?'")
            continue
        parts.append(f"{where}: {err.get('msg', 'invalid')}{hint}")
    return "; ".join(dict.fromkeys(parts)) + " (the request schema is at /openapi.json)"  # "" breaks two rules, one message


ROUTES_HINT = ("the chat page is at /; the API is POST /v1/ask and POST /v1/search (JSON body), GET /v1/documents, "
               "/v1/conversations, /v1/feedback, POST /v1/chat/completions; all routes are in /openapi.json")


def _http_message(request: Request, exc: StarletteHTTPException) -> str:
    """What went wrong at the HTTP level, and what to send instead."""
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        return f"{request.method} is not allowed on {request.url.path} (use {allowed or 'another method'}); {ROUTES_HINT}"
    if exc.status_code == 404:
        return f"no route {request.url.path}: {ROUTES_HINT}"
    return str(exc.detail)


def allowed_methods(request: Request) -> str:
    """The methods some route serves at the request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


EXAMPLE_BODIES = {  # a valid body for each POST route, quoted when a request's body is no JSON at all
    "/v1/chat/completions": '{"model": "rag", "messages": [{"role": "user", "content": "How long are payroll records kept?"}]}',
    "/v1/conversations": '{"title": "Gifts from a supplier"}',
    "/v1/feedback": '{"conversation_id": "...", "turn": 1, "rating": "up"}',
}


def example_body(path: str) -> str:
    """A valid request body for the POST route at `path` (a question for /v1/ask, /v1/search and conversation messages)."""
    return EXAMPLE_BODIES.get(path.rstrip("/"), '{"question": "How long are payroll records kept?"}')


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(_: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return error_response(400, "invalid_json", "the body is not valid JSON; send a JSON object such as "
                                  f"{example_body(request.url.path)} with content-type: application/json")
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, kind, _http_message(request, exc))
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)  # every method of the path, not only the first route's
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "unexpected server error; the log has details")


def worker_threads(settings: Settings) -> int:
    return settings.server_threads or 2 * (os.cpu_count() or 1)


def check_state(settings: Settings) -> None:
    """Apply or check every store's schema before serving: a database newer than this code stops the server here,
    saying what to do (SQLite files that do not exist yet are created on first use instead)."""
    from rag.access.keys import KeyStore
    from rag.access.rate import StoredBuckets
    from rag.chat.feedback import FeedbackStore
    from rag.chat.store import ConversationStore
    from rag.uploads.jobs import JobStore

    for database in (ConversationStore(settings).database, FeedbackStore(settings).database, KeyStore(settings).database,
                     JobStore(settings).database):
        database.check()
    if settings.database_url:
        StoredBuckets(settings, settings.rate_limit, settings.rate_burst).database.check()
        AuditLog(settings)  # its table, migrated on opening


def served_app() -> FastAPI:
    """The app one `rag serve --workers N` process serves (uvicorn's factory): settings from the `RAG_*` variables
    `rag serve` set, and the request log on standard error."""
    access = logging.getLogger("rag.access")  # one JSON line per request (replaces uvicorn's access log)
    access.setLevel(logging.INFO)
    if not access.handlers:
        access.addHandler(logging.StreamHandler())
    access.propagate = False
    return create_app(Settings.from_env(), announce_access=False)


def passage_embedder(settings: Settings) -> Callable[[], Embedder]:
    """What the background builds embed passages with, loaded on the first one."""
    def load() -> Embedder:
        from rag.indexing.passage_encoder import make_passage_embedder

        embedder: Embedder = make_passage_embedder(settings)
        return embedder

    return load


def create_app(settings: Settings | None = None, assistant: Assistant | None = None, announce_access: bool = True,
               build_embedder: Callable[[], Embedder] | None = None) -> FastAPI:
    """The HTTP app; it logs at start whether keys are required unless its caller has said so (`rag serve` does).
    Uploads' builds run in a background thread while the app runs (`build_embedder` makes their model)."""
    settings = settings or Settings.from_env()
    check_state(settings)
    jobs = JobStore(settings)
    worker = BuildWorker(settings, build_embedder or passage_embedder(settings), jobs)
    assistant = assistant or Assistant(settings, batch_questions=True)
    telemetry = Telemetry(settings, assistant)
    assistant.observe, assistant.observe_batch = telemetry.observe_stage, telemetry.observe_batch
    assistant.audit = assistant.audit or AuditLog(settings)
    auth = Authenticator(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads(settings)
        if announce_access:
            log.warning("access: %s", "API keys required" if auth.keys_required() else
                        "no API keys configured: every document is served to any caller (loopback only; `rag keys add` to require keys)")
        try:
            await run_in_threadpool(assistant.warm_up)
            log.info("serving index build %s", assistant.build_id)
        except RagError as exc:
            log.error("not ready: %s", exc.message)
        watcher = asyncio.create_task(watch_promotions(assistant, settings.reload_interval)) if settings.reload_interval else None
        worker.start()
        yield
        await run_in_threadpool(worker.stop)
        if watcher:
            watcher.cancel()

    app = FastAPI(
        title="Policy document assistant",
        version="0.1.0",
        description="Grounded answers with cited passages over an organisation's policy documents.",
        lifespan=lifespan,
    )
    app.state.assistant = assistant
    install_error_handlers(app)
    install_guard(app, settings, auth)
    document_security(app)
    telemetry.install(app)  # outside the guard: refused requests are counted and logged too
    add_routes(app, assistant, query_model(settings), ask_model(settings))
    add_conversation_routes(app, assistant, settings, ERRORS, STREAMED)
    add_feedback_routes(app, assistant, settings, ERRORS)
    add_openai_routes(app, assistant, settings, ERRORS)
    add_upload_routes(app, settings, jobs, worker.wake, ERRORS)
    add_web_routes(app)

    @app.get("/metrics", summary="Prometheus metrics: requests, latency, time per answering step, micro-batch sizes, live build",
             response_class=PlainTextResponse)
    async def metrics() -> Any:
        return telemetry.exposition()

    return app


async def watch_promotions(assistant: Assistant, interval: float) -> None:
    """Swap in a newly promoted build; requests in flight finish on the build they started with."""
    while True:
        await asyncio.sleep(interval)
        try:
            if await run_in_threadpool(assistant.reload):
                log.info("now serving index build %s", assistant.build_id)
        except Exception as exc:  # keep watching whatever went wrong with one build
            message = exc.message if isinstance(exc, RagError) else repr(exc)
            log.error("the promoted build failed to load (%s); still serving the previous one, if any", message)


def _summary(doc: Document) -> dict[str, Any]:
    return {**doc.summary(), "original_url": f"/v1/documents/{quote(doc.doc_id)}/original"}


def add_routes(app: FastAPI, assistant: Assistant, QueryIn: Any, AskIn: Any) -> None:
    @app.post("/v1/search", response_model=SearchOut, responses=ERRORS, summary="Retrieve cited passages")
    async def search(request: Request, body: QueryIn = Body(...)) -> JSONResponse:  # type: ignore[valid-type]
        request.state.question = body.question
        result = await run_in_threadpool(assistant.search, body.question, body.k, filters_of(body), access_of(request))
        return JSONResponse(result.to_dict())

    @app.post("/v1/ask", response_model=AnswerOut, responses={**ERRORS, **STREAMED},
              summary="Answer with citations, or abstain; with the conversation so far in `history`, and streamed with `stream`")
    async def ask(request: Request, body: AskIn = Body(...)) -> Any:  # type: ignore[valid-type]
        request.state.question = body.question
        history = [m.model_dump() for m in body.history]
        events = await run_in_threadpool(assistant.stream, body.question, body.k, filters_of(body), history, access_of(request))
        if body.stream:
            return event_stream(request, events)
        return JSONResponse((await run_in_threadpool(final_answer, events)).to_dict())

    @app.get("/v1/documents", response_model=list[DocumentOut], summary="List indexed documents")
    async def documents(request: Request) -> JSONResponse:
        docs = await run_in_threadpool(assistant.documents, access_of(request))
        return JSONResponse([_summary(d) for d in docs])

    @app.get("/v1/documents/{doc_id:path}/original", responses={**ERRORS, 200: {"content": ORIGINAL_TYPES, "description": (
             "The file, with the media type of its format (one of these).")}},
             summary="The original file (PDF, DOCX, ...) exactly as this build indexed it")
    async def original(request: Request, doc_id: str) -> FileResponse:
        doc, path = await run_in_threadpool(assistant.original, doc_id, access_of(request))
        active = doc.source_format == "html"  # corpus HTML must never run as this API's origin
        media_type = MEDIA_TYPES.get(doc.source_format, "application/octet-stream")
        response = FileResponse(path, media_type=media_type, filename=doc_id.rsplit("/", 1)[-1],
                                content_disposition_type="attachment" if active else "inline",
                                headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})
        response.headers["content-type"] = media_type  # no charset claim: a text original may not be UTF-8
        return response

    @app.get("/v1/documents/{doc_id:path}", response_model=DocumentOut, responses=ERRORS,
             summary="A document's extracted text, sections, page starts and metadata")
    async def document(request: Request, doc_id: str) -> JSONResponse:
        doc = await run_in_threadpool(assistant.document, doc_id, access_of(request))
        sections = [{"start": s.start, "end": s.end, "path": list(s.path)} for s in doc.sections]
        return JSONResponse({**_summary(doc), "text": doc.text, "sections": sections, "page_starts": list(doc.pages)})

    @app.post("/v1/admin/reload", summary="Load the live index build if it changed")
    async def reload() -> dict[str, Any]:
        changed = await run_in_threadpool(assistant.reload)
        return {"reloaded": changed, "build_id": assistant.build_id}

    @app.get("/v1/corpus/health", responses=ERRORS,
             summary="Corpus health (admin keys): overdue reviews, broken references, superseded copies, candidate conflicts")
    async def corpus_health(today: date | None = None) -> JSONResponse:
        index = (await run_in_threadpool(lambda: assistant.snapshot)).index
        return JSONResponse(await run_in_threadpool(health_report, index, today))

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="An index is loaded and the model answers", responses={503: {"model": ErrorOut}})
    async def readyz(request: Request) -> JSONResponse:
        snap = await run_in_threadpool(lambda: assistant.snapshot)  # IndexNotFoundError -> 503 with the next step
        body: dict[str, Any] = {"status": "ready", "build_id": snap.index.build_id}
        if access_of(request).groups is None:  # the build's size only where every document is readable (no keys)
            body |= {"documents": len(snap.index.documents), "chunks": len(snap.index.chunks)}
        return JSONResponse(body)
