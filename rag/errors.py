"""The one error tree of the library.

Every failure a user can cause or meet is a `RagError` subclass. Each carries an
HTTP status (used by the server's single exception handler), a short machine
`kind`, and a message that ends with the next step to take. The CLI prints
`error: <message>` and exits non-zero; the server answers `{"error": {...}}`.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: a problem the user can act on."""

    status: int = 500
    kind: str = "rag_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"type": self.kind, "message": self.message, "status": self.status}


class ConfigError(RagError):
    """A setting has a bad value; the message names the `RAG_*` key."""

    status = 500
    kind = "config_error"


class CorpusError(RagError):
    """The corpus folder is missing, empty or unreadable."""

    status = 400
    kind = "corpus_error"


class DocumentError(RagError):
    """One document could not be read or decoded."""

    status = 422
    kind = "document_error"


class IndexNotFoundError(RagError):
    """There is no live index to serve from."""

    status = 503
    kind = "index_not_found"


class IndexMismatchError(RagError):
    """The live index was built with settings that differ from the current ones."""

    status = 503
    kind = "index_mismatch"


class IndexCorruptError(RagError):
    """An index build folder is incomplete or damaged."""

    status = 503
    kind = "index_corrupt"


class BuildLockedError(RagError):
    """Another build holds the index lock."""

    status = 409
    kind = "build_locked"


class InvalidRequestError(RagError):
    """A question or request parameter is unusable (empty, too long, bad filter)."""

    status = 422
    kind = "invalid_request"


class NotConfiguredError(RagError):
    """A feature needs a setting the operator has not given (uploads without a gold set to gate their builds)."""

    status = 409
    kind = "not_configured"


class NotFoundError(RagError):
    """A named document or build does not exist."""

    status = 404
    kind = "not_found"


class ModelError(RagError):
    """The embedding model could not be loaded."""

    status = 503
    kind = "model_error"


class ConversationFullError(RagError):
    """A conversation has reached its most turns."""

    status = 409
    kind = "conversation_full"


class StateError(RagError):
    """The state (SQLite files or the PostgreSQL database) cannot be opened, written, or is newer than the code."""

    status = 503
    kind = "state_error"


class AuthError(RagError):
    """A request needs an API key and sent none, or one that is malformed, unknown or revoked."""

    status = 401
    kind = "unauthorized"


class ForbiddenError(RagError):
    """The key is valid but may not do this (an admin route called with a key that is not an admin's)."""

    status = 403
    kind = "forbidden"


class RateLimitedError(RagError):
    """A key made more requests than RAG_RATE_LIMIT allows; `retry_after` says in how many seconds to try again."""

    status = 429
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLargeError(RagError):
    """The request body is larger than RAG_MAX_BODY_BYTES."""

    status = 413
    kind = "payload_too_large"


class LLMError(RagError):
    """The language model server (RAG_ANSWERER=openai) failed: unreachable, an error status, or a reply that is not an
    OpenAI chat completion. `reason` names the failure for the answer's `fallback` and for metrics."""

    status = 502
    kind = "llm_error"
    reason = "bad_response"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class LLMUnavailableError(LLMError):
    """The language model server could not be reached."""

    status = 503
    kind = "llm_unavailable"
    reason = "unreachable"


class LLMTimeoutError(LLMError):
    """The language model did not finish within RAG_LLM_TIMEOUT."""

    status = 504
    kind = "llm_timeout"
    reason = "timeout"
