"""What every HTTP request passes before a route sees it, and what every response carries.

Owns one plain ASGI middleware (no per-request task, streams untouched) that, in order: refuses a body over
`RAG_MAX_BODY_BYTES` (RAG_MAX_UPLOAD_BYTES and a little for an upload to `POST /v1/documents`; 413; by its Content-Length, or by counting a chunked body as it is read), asks
`server.auth.Authenticator` who the request speaks for (401, 403, 429 with `Retry-After`, in the API's one error
shape) and leaves the answer in `request.state.access`, and adds the security headers to every response (no
sniffing, no framing, no referrer, no caching of answers, and a Content-Security-Policy that lets nothing run, except
on HTML pages, which set their own). CORS is off unless `RAG_CORS_ORIGINS` names origins. `document_security` writes
all this into the OpenAPI schema: the bearer scheme, and the 401, 403, 413 and 429 answers of every guarded route.
Leaves the routes alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from rag.config import Settings
from rag.errors import PayloadTooLargeError, RagError, RateLimitedError
from server.auth import ADMIN_WRITES, PUBLIC, Authenticator, admin_route

SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-resource-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}
LOCKED_CSP = b"default-src 'none'; frame-ancestors 'none'; sandbox"
PAGE_CSP = b"frame-ancestors 'none'"  # an HTML page (the web page, the schema's docs) sets what it may load


MULTIPART_SLACK = 64 * 1024  # an upload's form fields and part headers, besides the file itself


def too_large(limit: int, upload: bool = False) -> PayloadTooLargeError:
    if upload:
        return PayloadTooLargeError(f"the upload is over {limit - MULTIPART_SLACK} bytes (RAG_MAX_UPLOAD_BYTES): split the "
                                    "document, or ask the operator to raise the limit")
    return PayloadTooLargeError(f"the request body is over {limit} bytes (RAG_MAX_BODY_BYTES): send a shorter question "
                                "and history")


def error_json(exc: RagError) -> JSONResponse:
    response = JSONResponse({"error": exc.to_dict()}, status_code=exc.status)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="rag"'
    return response


class Guard:
    def __init__(self, app: Any, settings: Settings, auth: Authenticator) -> None:
        self.app = app
        self.limit = settings.max_body_bytes
        self.upload_limit = max(settings.max_body_bytes, settings.max_upload_bytes + MULTIPART_SLACK)
        self.auth = auth

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            length = 0
        upload = scope.get("method") == "POST" and scope.get("path", "").rstrip("/") in ADMIN_WRITES
        limit = self.upload_limit if upload else self.limit
        try:
            if length > limit:
                raise too_large(limit, upload)
            access = self.auth.access(scope.get("path", ""), scope.get("method", ""), headers)
        except RagError as exc:
            await error_json(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["access"] = access
        await self.app(scope, _counted(receive, limit, upload), send)


def _with_headers(send: Any) -> Any:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", ())}
            extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
            if b"content-security-policy" not in present:
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in message.get("headers", ()))
                extra.append((b"content-security-policy", PAGE_CSP if html else LOCKED_CSP))
            if b"cache-control" not in present:
                extra.append((b"cache-control", b"no-store"))
            message = {**message, "headers": list(message.get("headers", ())) + extra}
        await send(message)

    return sending


def _counted(receive: Any, limit: int, upload: bool = False) -> Any:
    """`receive` that fails a body growing past `limit` (one sent without Content-Length, or lying about it)."""
    seen = [0]

    async def receiving() -> dict[str, Any]:
        message = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise too_large(limit, upload)
        return message

    return receiving


def install_guard(app: FastAPI, settings: Settings, auth: Authenticator) -> None:
    """The guard outermost but for CORS (so a browser's preflight is answered before any key is asked for)."""
    app.add_middleware(Guard, settings=settings, auth=auth)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)


GUARDED = {401: "No API key, or one that is malformed, unknown or revoked (only once a key is configured).",
           413: "The request body is over RAG_MAX_BODY_BYTES.",
           429: "The key is over its rate (RAG_RATE_LIMIT); the Retry-After header says in how many seconds to try again."}


def document_security(app: FastAPI) -> None:
    """The schema says what the guard does: an optional bearer key on every guarded route, and its refusals."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer", "description": "An API key from `rag keys add` (needed once any key exists)."}
        error = {"$ref": "#/components/schemas/ErrorOut"}
        for path, operations in schema.get("paths", {}).items():
            if path in PUBLIC:
                continue
            for method, operation in operations.items():
                refusals = {**GUARDED, **({403: "The route needs an admin key."} if admin_route(method, path) else {})}
                operation["security"] = [{}, {"bearer": []}]
                for code, text in refusals.items():
                    operation.setdefault("responses", {}).setdefault(str(code), {
                        "description": text, "content": {"application/json": {"schema": error}}})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
