"""Answers a language model writes, shown one verified sentence at a time.

Owns `GenerativeBackend`, the `AnswerBackend` of RAG_ANSWERER=openai, and `Draft`, one answer being written. For each
question the extractive answer is made first (milliseconds): when it is the calibrated refusal, that refusal is the
answer and no model is asked, so both backends refuse the same questions. Otherwise the model gets the prompt
(`rag.generate.prompt`) and its reply is cut into sentences as it streams; each sentence is embedded, checked against
the passages it cites (`rag.generate.verify`), and, when supported, shown at once with a citation of the exact span
that supports it (an unsupported one is left out, or shown marked [unverified] with RAG_VERIFY_MODE=mark), so a
reader never sees a sentence that is then taken back. Supported sentences are held back until RAG_VERIFY_MIN_KEPT of
them passed; when fewer pass, or the model says the passages do not answer, the extractive answer is given instead and
`fallback` says why. Passages of chunks the build flagged as reading like instructions are kept from the model
(RAG_LLM_FLAGGED=withhold, the default; the extractive answer may still quote them, and when all are flagged no model is
asked, `fallback` "flagged") or shown to it with a warning (`note`). A server that is down, slow past RAG_LLM_TIMEOUT
or answers garbage before anything was shown gives the extractive answer too (`fallback`), or, with
RAG_LLM_FALLBACK=error, its `LLMError`; after sentences were shown, they are the answer and `stopped` says why it
ended early. Closing the event iterator closes the model's stream.
Leaves retrieval and the refusal decision to the caller and `rag.answer`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Collection, Generator, Iterator, Sequence

import numpy as np

from rag.access.injection import flagged_reasons
from rag.answer.extractive import ExtractiveAnswerer, Reading
from rag.chat.streaming import AnswerEvent, Completed, Heartbeat, TextDelta, answer_events
from rag.config import Settings
from rag.errors import LLMError
from rag.generate.client import ChatClient
from rag.generate.prompt import Budget, Prompt, answer_prompt
from rag.generate.sentences import Generated, SentenceCutter, declines
from rag.generate.verify import Source, Verdict, Verifier, VerifyConfig
from rag.indexing.store import LoadedIndex
from rag.models import Answer, Citation, Message, Notice, Passage, SentenceCheck, section_label

BACKEND = "openai"
UNVERIFIED = "[unverified]"


class Draft:
    """One generated answer as it is written: every sentence's check, the citations given, the text shown or held."""

    def __init__(self, verifier: Verifier, sources: dict[int, list[Source]], mode: str, min_kept: int) -> None:
        self.verifier, self.sources, self.mode, self.min_kept = verifier, sources, mode, min_kept
        self.checks: list[SentenceCheck] = []
        self.citations: list[Citation] = []
        self.shown: list[str] = []
        self.held: list[str] = []
        self.supported = 0
        self.declined = False

    @property
    def committed(self) -> bool:
        """Enough sentences passed: what is shown stays shown."""
        return self.supported >= self.min_kept

    def add(self, sentence: Generated, verdict: Verdict) -> list[str]:
        """Record one checked sentence; the text pieces to show now (none while held back, or when it is left out)."""
        cited = (self._cite(verdict.source),) if verdict.supported and verdict.source else ()
        kept = verdict.supported or self.mode == "mark"
        self.checks.append(SentenceCheck(sentence.text, sentence.passages, cited, verdict.support, verdict.supported, kept,
                                         verdict.reason))
        if not kept:
            return []
        self.supported += verdict.supported
        marker = " ".join(f"[{n}]" for n in cited) or UNVERIFIED
        self.held.append((" " if self.shown or self.held else "") + f"{sentence.text} {marker}")
        if not self.committed:
            return []
        out, self.held = self.held, []
        self.shown += out
        return out

    def _cite(self, source: Source) -> int:
        """The citation number of a source's span, a new one the first time it is used."""
        for citation in self.citations:
            if (citation.doc_id, citation.start, citation.end) == (source.passage.chunk.doc_id, source.start, source.end):
                return citation.n
        doc = self.verifier.index.documents[source.passage.chunk.doc_id]
        first, last = doc.page_span(source.start, source.end)
        self.citations.append(Citation(len(self.citations) + 1, doc.doc_id, doc.title, section_label(doc.section_at(source.start)),
                                       first, source.start, source.end, doc.text[source.start:source.end],
                                       source.passage.rank, last))
        return len(self.citations)

    def answer(self, quoted: Answer, model: str, stopped: Notice | None) -> Answer:
        """The generated answer (`quoted`, the extractive one, lends the question, passages, build and confidence)."""
        return replace(quoted, answer="".join(self.shown), citations=tuple(self.citations), backend=BACKEND, model=model,
                       stopped=stopped, sentences=tuple(self.checks))

    def discarded(self) -> tuple[SentenceCheck, ...]:
        """The checks as they stand when the extractive answer replaces this one: nothing of it was shown."""
        return tuple(replace(c, kept=False, citations=()) for c in self.checks)


class GenerativeBackend:
    """Verified sentences from a language model, with the extractive answer as the refusal and the fallback."""

    name = "openai"  # RAG_ANSWERER's value; the audit trail records it

    def __init__(self, answerer: ExtractiveAnswerer, client: ChatClient, settings: Settings,
                 embed: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.answerer, self.client, self.settings, self.embed = answerer, client, settings, embed
        self.budget = Budget.from_settings(settings)
        self.config = VerifyConfig.from_settings(settings)

    def stream(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex, *,
               allowed: Collection[str] | None, reading: Reading | None = None,
               history: Sequence[Message] = ()) -> Iterator[AnswerEvent]:
        quoted = self.answerer.answer(question, vector, passages, index, allowed=allowed, reading=reading)
        if quoted.abstained or quoted.uncertain or not passages:
            yield from answer_events(quoted)  # the calibrated refusal, or clauses that may answer: no model is asked
            return
        flagged = flagged_reasons(index.manifest)
        given = self._for_model(passages, flagged)
        if not given:
            notice = Notice("flagged", "every passage found reads as instructions to a model (RAG_LLM_FLAGGED=withhold); no "
                            "model was asked and the extractive answer is given instead")
            yield from answer_events(replace(quoted, model=self.client.model, fallback=notice))
            return
        prompt = answer_prompt(question, given, history, self.budget, flagged)
        verifier = Verifier(index, self.config)
        draft = Draft(verifier, verifier.sources(given, prompt.numbers), self.settings.verify_mode, self.settings.verify_min_kept)
        notice = None
        try:
            finish = yield from self._write(prompt, draft, question)
            if finish == "length":
                notice = Notice("length", f"the model reached RAG_LLM_MAX_TOKENS={self.settings.llm_max_tokens} mid-answer")
        except LLMError as exc:
            if not draft.committed and self.settings.llm_fallback == "error":  # only then is the fallback a next step
                raise type(exc)(f"{exc.message}; or set RAG_LLM_FALLBACK=extractive to answer from the documents alone",
                                exc.reason) from exc
            notice = Notice(exc.reason, exc.message)
        if draft.committed:
            yield Completed(draft.answer(quoted, self.client.model, notice))
            return
        fallback = self._fallback_notice(draft, notice)
        yield from answer_events(replace(quoted, model=self.client.model, fallback=fallback, sentences=draft.discarded()))

    def _for_model(self, passages: Sequence[Passage], flagged: dict[str, list[str]]) -> list[Passage]:
        """The passages the model is shown: all (flagged ones carry a warning, RAG_LLM_FLAGGED=note) or the unflagged."""
        if self.settings.llm_flagged == "note":
            return list(passages)
        return [p for p in passages if p.chunk.chunk_id not in flagged]

    def _write(self, prompt: Prompt, draft: Draft, question: str) -> Generator[AnswerEvent, None, str | None]:
        """Stream the reply, yielding each sentence's text once it is verified; returns the server's finish reason."""
        s = self.settings
        cutter, finish = SentenceCutter(), None
        reply = self.client.stream(prompt.messages, max_tokens=s.llm_max_tokens, temperature=s.llm_temperature, timeout=s.llm_timeout)
        try:
            for delta in reply:
                finish = delta.finish or finish
                pieces = self._taken(cutter.feed(delta.text), draft, question) if delta.text else []
                if draft.declined:
                    return finish
                yield from [TextDelta(p) for p in pieces] or [Heartbeat()]
            yield from (TextDelta(p) for p in self._taken(cutter.close(), draft, question))
        finally:
            reply.close()  # a client that left, or a decline: the server stops generating
        return finish

    def _taken(self, sentences: list[Generated], draft: Draft, question: str) -> list[str]:
        pieces: list[str] = []
        for sentence in sentences:
            if not draft.checks and declines(sentence):
                draft.declined = True
                return []
            vector = self.embed([sentence.text])[0]
            pieces += draft.add(sentence, draft.verifier.check(sentence, vector, draft.sources, question))
        return pieces

    def _fallback_notice(self, draft: Draft, failure: Notice | None) -> Notice:
        if failure is not None and failure.reason != "length":  # a cut reply with nothing verified: say that (below)
            return Notice(failure.reason, failure.message + "; the extractive answer is given instead")
        if draft.declined:
            return Notice("declined", "the model said the passages do not answer; the extractive answer is given instead")
        total = len(draft.checks)
        return Notice("unverified", f"{draft.supported} of {total} generated sentence{'s' * (total != 1)} passed verification "
                      f"(RAG_VERIFY_MIN_KEPT={self.settings.verify_min_kept}); the extractive answer is given instead")
