"""The web chat page: `GET /` and its static files, under a strict Content Security Policy.

Owns serving `server/static/` (HTML, CSS and plain JavaScript modules, no build step, nothing fetched from another
origin) at `/` and `/static/{path}`, and the headers that make the page safe to show untrusted document text: a
Content Security Policy that allows scripts, styles, images and connections from this origin only, no inline script
or style, no plugins, no framing, and Trusted Types required (so a stray `innerHTML` fails loudly instead of
running markup), plus `nosniff` and no referrer. A file name outside the folder is a 404. Leaves the API the page
calls to the other route modules.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from rag.errors import NotFoundError

STATIC = Path(__file__).resolve().parent / "static"
CSP = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
    "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    "require-trusted-types-for 'script'", "trusted-types 'none'",
))
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml"}


def static_file(name: str) -> Path:
    """The file `name` inside the static folder, or `NotFoundError` (never a path outside it, never a folder)."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file() or path.suffix not in MEDIA_TYPES:
        raise NotFoundError(f"no page file {name!r}: the chat page is at /")
    return path


def page_response(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


def add_web_routes(app: FastAPI) -> None:
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return page_response(static_file("index.html"))

    @app.api_route("/static/{name:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        return page_response(static_file(name))
