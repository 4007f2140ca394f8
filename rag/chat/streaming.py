"""Answers as they are written: the events an answer backend yields, and the extractive backend.

Owns the event types (`TextDelta`: the next piece of answer text; `Heartbeat`: still working, no text yet, so a front
end can notice a client that left while a model thinks; `Completed`: the whole `Answer`, citations included), the
`AnswerBackend` interface every way of answering implements (the streaming code in the server and
`rag chat` only ever iterates its events, and stops iterating when the client goes away, which ends the work), and
`ExtractiveBackend`, which quotes with `rag.answer.extractive` and yields the answer sentence by sentence, each with
its `[n]` markers. A generative backend (`rag.generate.backend`) yields each sentence the model writes once it is
verified, behind the same interface. Leaves
retrieval to `rag.chat.retrieval` and the wire formats (server-sent events, OpenAI chunks) to `server/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection, Iterable, Iterator, Protocol, Sequence

import numpy as np

from rag.answer.extractive import ExtractiveAnswerer, Reading
from rag.indexing.store import LoadedIndex
from rag.models import Answer, Message, Passage

_AFTER_MARKERS = re.compile(r"(?<=\])\s+(?=[^\s\[])")  # between 'sentence [1] [2]' and the next sentence


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the answer text; the pieces of one answer, joined, are its `answer` exactly."""

    text: str


@dataclass(frozen=True)
class Completed:
    """The finished answer: the text again, its citations and passages, the build that answered."""

    answer: Answer


@dataclass(frozen=True)
class Heartbeat:
    """No text yet: the backend is still working (a model writing a sentence not yet verified). Front ends send nothing
    for it; pulling it lets them stop the work soon after a client leaves."""


AnswerEvent = TextDelta | Heartbeat | Completed


class AnswerBackend(Protocol):
    """Turns retrieved passages into an answer, yielding text as it is ready and the `Answer` last. `reading` is a
    follow-up's standalone form (what the question means in its conversation), with the share it deserves; `history`
    the conversation before the question (checked, oldest first), which a generative backend shows its model."""

    name: str  # what the audit trail records as the backend

    def stream(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex, *,
               allowed: Collection[str] | None, reading: Reading | None = None,
               history: Sequence[Message] = ()) -> Iterator[AnswerEvent]: ...


class ExtractiveBackend:
    """Quoted sentences with exact-span citations (or a refusal), streamed sentence by sentence."""

    name = "extractive"  # RAG_ANSWERER's value; the audit trail records it

    def __init__(self, answerer: ExtractiveAnswerer) -> None:
        self.answerer = answerer

    def stream(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex, *,
               allowed: Collection[str] | None, reading: Reading | None = None,
               history: Sequence[Message] = ()) -> Iterator[AnswerEvent]:
        yield from answer_events(self.answerer.answer(question, vector, passages, index, allowed=allowed, reading=reading))


def answer_events(answer: Answer) -> Iterator[AnswerEvent]:
    """A finished answer as events: its text sentence by sentence (`sentence_pieces`), then the answer."""
    for piece in sentence_pieces(answer.answer):
        yield TextDelta(piece)
    yield Completed(answer)


def sentence_pieces(text: str) -> list[str]:
    """The answer cut after each sentence's citation markers, the space kept with the sentence before it, so that
    `"".join(pieces) == text`; a text without markers (a refusal) is one piece."""
    pieces, start = [], 0
    for gap in _AFTER_MARKERS.finditer(text):
        pieces.append(text[start:gap.end()])
        start = gap.end()
    return pieces + [text[start:]] if text[start:] or not pieces else pieces


def final_answer(events: Iterable[AnswerEvent]) -> Answer:
    """The `Answer` at the end of a stream of events."""
    for event in events:
        if isinstance(event, Completed):
            return event.answer
    raise RuntimeError("the answer backend ended without an answer")
