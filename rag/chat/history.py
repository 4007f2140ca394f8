"""A conversation's history as callers send it, checked before anything is searched.

Owns `checked_history`: a list of `{"role": "user"|"assistant", "content": str}` (or `Message`s), oldest first,
within `RAG_MAX_HISTORY_MESSAGES` messages and `RAG_MAX_HISTORY_CHARS` characters, each user turn non-empty; anything
else is an `InvalidRequestError` that says what to send. Leaves using the history to `rag.chat.context`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rag.config import Settings
from rag.errors import InvalidRequestError
from rag.models import ROLES, Message

SHAPE = 'a list of {"role": "user"|"assistant", "content": "..."}, oldest first'


def checked_history(raw: Sequence[Message | Mapping[str, Any]] | None, settings: Settings) -> tuple[Message, ...]:
    """The history as messages, or the error that says how to fix it."""
    if not raw:
        return ()
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
        raise InvalidRequestError(f"history must be {SHAPE}")
    if len(raw) > settings.max_history_messages:
        raise InvalidRequestError(f"history has {len(raw)} messages; the limit is {settings.max_history_messages} "
                                  "(RAG_MAX_HISTORY_MESSAGES): send only the latest turns, or start a new conversation")
    messages = tuple(_message(item, i) for i, item in enumerate(raw))
    chars = sum(len(m.content) for m in messages)
    if chars > settings.max_history_chars:
        raise InvalidRequestError(f"history holds {chars} characters; the limit is {settings.max_history_chars} "
                                  "(RAG_MAX_HISTORY_CHARS): send only the latest turns, or start a new conversation")
    return messages


def _message(item: Message | Mapping[str, Any], i: int) -> Message:
    if isinstance(item, Message):
        role, content, citations = item.role, item.content, item.citations
    elif isinstance(item, Mapping):
        role, content, citations = item.get("role"), item.get("content"), ()
    else:
        raise InvalidRequestError(f"history[{i}] must be an object with role and content: history is {SHAPE}")
    if role not in ROLES:
        raise InvalidRequestError(f"history[{i}].role is {role!r}; it must be 'user' or 'assistant' (history is {SHAPE})")
    if not isinstance(content, str):
        raise InvalidRequestError(f"history[{i}].content must be a string (history is {SHAPE})")
    if role == "user" and not content.strip():
        raise InvalidRequestError(f"history[{i}] is an empty user turn: drop it, or send what was asked")
    return Message(role, content, citations)


def latest_within(messages: Sequence[Message], settings: Settings) -> tuple[Message, ...]:
    """The most recent messages that fit the history limits (a long stored conversation's tail)."""
    kept: list[Message] = []
    chars = 0
    for message in reversed(messages[-settings.max_history_messages:] if settings.max_history_messages else []):
        chars += len(message.content)
        if chars > settings.max_history_chars:
            break
        kept.append(message)
    return tuple(reversed(kept))
