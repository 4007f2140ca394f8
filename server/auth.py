"""Who a request speaks for: API keys, admin routes, per-key rate limits, and whether the server may start open.

Owns `Authenticator.access`: with no API key configured (none in `keys.sqlite`, or all revoked) every request reads
every document, as the owner its `X-Rag-Owner` header names (the server then listens on loopback only, see
`check_bind`); once a key exists, every route but the public ones (health, readiness, the schema, the web page and
its `/static/` files, which hold no document text) needs `Authorization: Bearer <key>` and sees only its key's
groups, as the key's name. Admin routes (`/v1/admin/...`,
`/metrics`, `/v1/corpus/health`, `/v1/builds`, and `POST /v1/documents`) need an admin key. `TokenBucket` paces each key (`RAG_RATE_LIMIT`, `RAG_RATE_BURST`) in this process; with
`RAG_DATABASE_URL` set, the buckets live in the database (`rag.access.rate.StoredBuckets`), so the rate holds across
replicas and workers. Checked keys are remembered for a second on SQLite, so a revocation takes effect within one; on
a shared database every request reads the key, so a revocation on any replica is refused by all at once. Errors never repeat the key sent. Leaves storing
keys to `rag.access.keys` and applying the access to the assistant.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time

from starlette.requests import Request

from rag.access.keys import INVALID, KeyStore
from rag.access.rate import StoredBuckets
from rag.chat.store import DEFAULT_OWNER
from rag.config import Settings
from rag.errors import AuthError, ConfigError, ForbiddenError, RateLimitedError
from rag.models import Access, ApiKey

log = logging.getLogger("rag.server")
OWNER_HEADER = "X-Rag-Owner"
PUBLIC = ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)  # the web page's own files: no document text, and the page must load to ask for a key
ADMIN_PREFIXES = ("/v1/admin/", "/metrics", "/v1/corpus/", "/v1/builds")  # the corpus health report names every document
ADMIN_WRITES = ("/v1/documents",)  # reading is for every key; adding or replacing a document is an admin's
REMEMBER_S = 1.0  # how long a checked key, or whether keys exist, is trusted before the store is read again


def access_of(request: Request) -> Access:
    """The access `server.guard` set for this request (it runs before every route)."""
    return request.state.access


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, store: KeyStore) -> str:
    """Whether `rag serve` may listen on `RAG_HOST`; the start-up line that says how it is protected."""
    if store.active():
        return f"API keys required: each key reads only its groups' documents ({len([k for k in store.list() if not k.revoked_at])} active)"
    if is_loopback(settings.host):
        return ("no API keys configured: serving every document to anyone on this machine, on loopback only "
                f"({settings.host}); add one with `rag keys add NAME --groups GROUP,...` before serving others")
    if not settings.allow_open_access:
        raise ConfigError(f"refusing to serve every document on {settings.host} with no API keys configured: add one with "
                          "`rag keys add NAME --groups GROUP,...`, bind to 127.0.0.1, or set RAG_ALLOW_OPEN_ACCESS=true")
    return f"no API keys configured and RAG_ALLOW_OPEN_ACCESS=true: anyone who reaches {settings.host} reads every document"


def admin_route(method: str, path: str) -> bool:
    """Whether `method path` needs an admin key (once keys exist)."""
    return path.startswith(ADMIN_PREFIXES) or (method.upper() not in ("GET", "HEAD") and path.rstrip("/") in ADMIN_WRITES)


class TokenBucket:
    """Per-name token buckets: `rate` tokens a second, at most `burst` saved up; each request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, name: str, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, when = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Authenticator:
    def __init__(self, settings: Settings, store: KeyStore | None = None) -> None:
        self.store = store or KeyStore(settings)
        self.bucket: TokenBucket | StoredBuckets | None = None
        if settings.rate_limit > 0:
            self.bucket = (StoredBuckets(settings, settings.rate_limit, settings.rate_burst) if settings.database_url
                           else TokenBucket(settings.rate_limit, settings.rate_burst))
        self.remember = 0.0 if settings.database_url else REMEMBER_S  # shared: another replica may revoke at any time
        self._active: tuple[float, bool] = (-math.inf, False)
        self._checked: dict[bytes, tuple[float, ApiKey]] = {}

    def keys_required(self) -> bool:
        when, active = self._active
        now = time.monotonic()
        if now - when > self.remember or not self.remember:
            active = self.store.active()
            self._active = (now, active)
        return active

    def access(self, path: str, method: str, headers: dict[str, str]) -> Access:
        """The access of a request, or the `RagError` that refuses it."""
        route = f"{method} {path}"
        if not self.keys_required():
            return Access(headers.get(OWNER_HEADER.lower(), "").strip()[:200] or DEFAULT_OWNER, None, True, route)
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            return Access("public", frozenset(), False, route)
        key = self._verified(headers.get("authorization", ""))
        if self.bucket is not None:
            wait = self.bucket.take(key.name)
            if wait > 0:
                raise RateLimitedError(f"key {key.name!r} is over its rate (RAG_RATE_LIMIT={self.bucket.rate}/s, burst "
                                       f"{self.bucket.burst}); retry after the Retry-After header's seconds", math.ceil(wait))
        if admin_route(method, path) and not key.admin:
            raise ForbiddenError(f"{route} needs an admin key; key {key.name!r} is not one (an admin makes one with "
                                 "`rag keys add NAME --admin`)")
        return key.access(route)

    def _verified(self, header: str) -> ApiKey:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthError(INVALID)
        fingerprint = hashlib.sha256(key.strip().encode("utf-8", "replace")).digest()
        now = time.monotonic()
        seen = self._checked.get(fingerprint)
        if seen is not None and now - seen[0] <= self.remember:
            return seen[1]
        record = self.store.verify(key.strip())
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[fingerprint] = (now, record)
        return record
