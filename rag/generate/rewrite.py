"""A follow-up rewritten by the language model into a standalone question, and the checks the rewrite must pass.

Owns `ModelRewriter`, the `QuestionRewriter` of RAG_LLM_REWRITE=true: for a question with history it asks the model
(`prompt.rewrite_messages`, within RAG_LLM_REWRITE_TIMEOUT) and keeps the reply only when `checked_rewrite` accepts
it: one line (a label such as 'Rewritten question:' and quotes removed), not empty, no preamble or refusal ('Sure,
...', 'I cannot ...'), at most `MAX_WORDS` words and RAG_MAX_QUESTION_CHARS characters, at least `KNOWN_SHARE` of its
content words taken from the question and the conversation, and at least `KEPT_SHARE` of the question's own content
words kept. Otherwise, and whenever the model fails, the rewrite without a model (`HistoryRewriter`) is used. The
conversation's documents come from the earlier answers either way. Leaves ranking with the rewrite to
`rag.chat.retrieval`.
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

from rag.chat.context import Context, HistoryRewriter, QuestionRewriter
from rag.config import Settings
from rag.errors import LLMError
from rag.generate.client import ChatClient
from rag.generate.prompt import rewrite_messages
from rag.indexing.store import LoadedIndex
from rag.ingest.text import content_words
from rag.models import Message

log = logging.getLogger("rag.generate")
MAX_WORDS = 40
MAX_TOKENS = 64
KNOWN_SHARE = 0.8  # of the rewrite's content words, found in the question or the conversation
KEPT_SHARE = 0.5  # of the question's content words, kept in the rewrite
_LABEL = re.compile(r"^\s*(?:(?:rewritten|standalone|stand-alone|new|last)?\s*question\s*:\s*)+", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|okay|ok|here|i\b|i'm|i’m|as an|sorry|unfortunately|the rewritten|"
                       r"the standalone|this question|rewrite|note)\b", re.IGNORECASE)


def checked_rewrite(reply: str, question: str, history: Sequence[Message], max_chars: int) -> tuple[str | None, str]:
    """(the rewrite, "") when the reply passes every check, else (None, why not)."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    text = _LABEL.sub("", lines[0].replace("**", "")).strip().strip("\"'“”‘’`").strip() if lines else ""
    if not text:
        return None, "empty"
    if _PREAMBLE.match(text):
        return None, "a preamble or a refusal"
    if len(text) > max_chars or len(text.split()) > MAX_WORDS:
        return None, "too long"
    words = set(content_words(text))
    known = set(content_words(" ".join([question, *(m.content for m in history)])))
    if not words or len(words & known) < KNOWN_SHARE * len(words):
        return None, "words that are not the conversation's"
    asked = set(content_words(question))
    if asked and len(asked & words) < KEPT_SHARE * len(asked):
        return None, "drops the question's own words"
    return " ".join(text.split()), ""


class ModelRewriter:
    """The model's standalone question for a follow-up, checked; `fallback`'s (the rewrite without a model) otherwise."""

    def __init__(self, client: ChatClient, settings: Settings, fallback: QuestionRewriter | None = None) -> None:
        self.client, self.settings = client, settings
        self.fallback: QuestionRewriter = fallback or HistoryRewriter(settings)

    def rewrite(self, question: str, history: Sequence[Message], index: LoadedIndex) -> Context:
        plain = self.fallback.rewrite(question, history, index)
        if not history:
            return plain
        text, why = self.attempt(question, history)
        if text is None:
            log.info("model rewrite not used (%s); the rewrite without a model stands", why)
            return plain
        return Context(question, text, plain.documents)

    def attempt(self, question: str, history: Sequence[Message]) -> tuple[str | None, str]:
        """The model's checked rewrite, or (None, why it is not used)."""
        s = self.settings
        messages = rewrite_messages(question, history, s.llm_history_tokens or 200)
        try:
            reply, _ = self.client.complete(messages, max_tokens=MAX_TOKENS, temperature=0.0, timeout=s.llm_rewrite_timeout)
        except LLMError as exc:
            return None, f"the model failed: {exc.reason}"
        return checked_rewrite(reply, question, history, s.max_question_chars)
