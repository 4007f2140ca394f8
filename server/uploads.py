"""New versions over HTTP: `POST /v1/documents` (admin keys), and the background builds it starts.

Owns the routes `POST /v1/documents` (multipart: `file`, and optionally `path`, the name it gets under the corpus
folder, else the file's own name; 202 with the stored document and its queued build, `Location: /v1/builds/{id}`;
the same bytes as the file already there: 200, nothing queued), `GET /v1/builds` (the latest build jobs, newest
first) and `GET /v1/builds/{id}` (queued, building with stage and progress, gate_failed with the verdict and figures,
live, failed with the error), `GET /v1/me` (who the key is and whether it may administer: the web page shows its
Corpus view to admin keys only). The build worker itself is started and stopped with the app (`server.app`). Admin
routes are enforced by `server.auth`; the body limit of uploads (RAG_MAX_UPLOAD_BYTES) by `server.guard`. Leaves naming,
checking and writing the file to `rag.uploads.files`, the queue to `rag.uploads.jobs` and the builds to
`rag.uploads.worker`.
"""

from __future__ import annotations

from typing import Any, Callable

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from rag.config import Settings
from rag.indexing import builds
from rag.uploads.files import StoredUpload, check_size, clean_name, size_limit, store_upload
from rag.uploads.jobs import JobStore
from rag.uploads.worker import gate_golds
from server.auth import access_of


class BuildJobOut(BaseModel):
    id: str
    state: str
    created_at: str
    updated_at: str
    requested_by: str
    documents: list[str]
    stage: str
    done: int
    total: int
    build_id: str | None
    result: dict[str, Any] | None
    error: str | None
    finished: bool


class BuildListOut(BaseModel):
    builds: list[BuildJobOut]


class UploadOut(BaseModel):
    doc_id: str
    replaced: bool
    unchanged: bool
    bytes: int
    content_hash: str
    build: BuildJobOut | None


class MeOut(BaseModel):
    name: str
    admin: bool
    groups: list[str] | None


def _live_documents(settings: Settings) -> dict[str, str]:
    live = builds.live_build(settings.index_dir)
    return dict(live.manifest["corpus"]["documents"]) if live else {}


def add_upload_routes(app: FastAPI, settings: Settings, store: JobStore, wake: Callable[[], None],
                      errors: dict[int | str, Any]) -> None:
    refusals = {**errors, 409: errors[404], 413: errors[404]}

    @app.post("/v1/documents", status_code=202, response_model=UploadOut, responses=refusals,
              summary="Add or replace a document (admin keys); a gated build runs in the background")
    async def upload(request: Request, file: UploadFile = File(..., description="The document (.md, .txt, .html, .pdf, .docx)"),
                     path: str | None = Form(None, max_length=1000, description="Its name under the corpus folder "
                                             "(default: the file's own name), e.g. policies/travel-policy.pdf")) -> JSONResponse:
        name = path if path is not None and path.strip() else (file.filename or "")
        doc_id = clean_name(name)
        await run_in_threadpool(gate_golds, settings)  # refuse before writing when no gate could judge the build
        limit, _ = size_limit(settings)
        raw = await file.read(limit + 1)
        check_size(doc_id, len(raw) if len(raw) <= limit else (file.size or len(raw)), settings)
        indexed = await run_in_threadpool(_live_documents, settings)
        stored: StoredUpload = await run_in_threadpool(store_upload, settings, doc_id, raw, indexed)
        if stored.unchanged:
            return JSONResponse({**stored.to_dict(), "build": None}, status_code=200)
        job = await run_in_threadpool(store.enqueue, access_of(request).name, {stored.doc_id: stored.content_hash})
        wake()
        return JSONResponse({**stored.to_dict(), "build": job.to_dict()}, status_code=202,
                            headers={"Location": f"/v1/builds/{job.id}"})

    @app.get("/v1/builds", response_model=BuildListOut, responses=errors,
             summary="Background builds (admin keys), newest first: queued, building, gate_failed, live or failed")
    async def listing(limit: int = 50) -> JSONResponse:
        jobs = await run_in_threadpool(store.list, max(1, min(limit, 500)))
        return JSONResponse({"builds": [j.to_dict() for j in jobs]})

    @app.get("/v1/builds/{job_id}", response_model=BuildJobOut, responses=errors,
             summary="One background build (admin keys): its state, stage and progress, the gate's verdict, or its error")
    async def one(job_id: str) -> JSONResponse:
        return JSONResponse((await run_in_threadpool(store.get, job_id)).to_dict())

    @app.get("/v1/me", response_model=MeOut, summary="Who this key is, and whether it may administer the corpus")
    async def me(request: Request) -> JSONResponse:
        access = access_of(request)
        return JSONResponse({"name": access.name, "admin": access.admin,
                             "groups": sorted(access.groups) if access.groups is not None else None})
