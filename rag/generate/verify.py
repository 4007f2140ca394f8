"""Is a generated sentence supported by the passage it cites? The check, and the exact span that supports it.

Owns `Verifier`. The sources of a cited passage are its quotable sentences (display text: a table row carries its
header labels) and each pair of adjacent ones, as exact spans of the document. A sentence is supported by a source
when every one of these holds:
- it cites a passage the prompt held;
- every number and amount it states is in the source (or in its document title or section, not counting heading
  numbers such as '8.' or 'Article 5'), normalised (`facts`); an amount the question itself names also passes when the
  source states a range that holds it ('a £1,200 claim' and '£500.01 to £2,500'); of a pair, a number (or a negation)
  only one sentence states counts only when the claim restates what only that sentence says (`PAIR_SHARE`);
- every name it uses (capitalised words, acronyms: roles, teams, documents, places, months) is in the source, its title
  or its section;
- it makes no more negations than the source;
- the IDF-weighted share of its content words found in the source, title and section is at least RAG_VERIFY_COVERAGE;
- the cosine of its embedding to the source's (the embedding model's; a pair: its two sentences' mean) is at least
  RAG_VERIFY_SIMILARITY.
Its support score is the mean of that coverage and that cosine for the best source (0 when a hard check failed), and
the supporting source's span becomes its citation. Leaves cutting the reply into sentences to
`rag.generate.sentences` and embedding them to the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from rag.search.amounts import holds_amount, intervals
from rag.config import Settings
from rag.generate.facts import Facts, facts, names_in, negations, numbers
from rag.generate.sentences import Generated
from rag.indexing.store import LoadedIndex
from rag.ingest.text import content_words
from rag.models import Passage, section_label

PAIR_SHARE = 0.5  # least IDF-weighted share of the words only one sentence of a pair has that a claim taking a number
# (or a negation) only that sentence states must restate
_HEADING_NUMBER = re.compile(r"(?:^|(?<=> ))(?:(?:Article|Section|Part|Chapter|Appendix)\s+)?\d+(?:\.\d+)*\.?(?:\s+-)?(?=\s|$)",
                             re.IGNORECASE)


@dataclass(frozen=True)
class VerifyConfig:
    coverage: float  # least IDF-weighted share of the sentence's content words the source holds
    similarity: float  # least cosine between the sentence and the source
    infer_uncited: bool = True  # a sentence citing nothing is checked against every passage held (RAG_VERIFY_UNCITED)

    @classmethod
    def from_settings(cls, settings: Settings) -> VerifyConfig:
        return cls(settings.verify_coverage, settings.verify_similarity, settings.verify_uncited == "infer")


@dataclass(frozen=True)
class Half:
    """One sentence of a pair source: what a claim borrowing from it must restate of it."""

    numbers: frozenset[str]
    words: frozenset[str]
    negations: int


@dataclass(frozen=True)
class Source:
    """A span of a cited passage that may support a sentence: one quotable sentence, or two adjacent ones."""

    number: int  # the passage's number in the prompt
    passage: Passage
    start: int
    end: int
    text: str  # what it says (table rows with their header labels)
    where: str  # its document's title and section: names and words may come from there too
    vocabulary: frozenset[str]  # content words of text and where
    numbers: frozenset[str]
    negations: int
    vector: np.ndarray
    halves: tuple[Half, ...] = ()  # a pair's two sentences


@dataclass(frozen=True)
class Measure:
    """A sentence against one source: the hard check that failed ("" none), word coverage, cosine."""

    source: Source
    failure: str
    coverage: float
    cosine: float


@dataclass(frozen=True)
class Verdict:
    supported: bool
    support: float
    reason: str  # "" when supported
    source: Source | None = None  # the best source (the one that supports it, when supported)
    cosine: float = 0.0  # to that source


class Verifier:
    """Checks generated sentences against the passages of one answer over one build."""

    def __init__(self, index: LoadedIndex, config: VerifyConfig) -> None:
        self.index = index
        self.config = config

    def sources(self, passages: Sequence[Passage], numbers_held: Sequence[int]) -> dict[int, list[Source]]:
        """Number -> the sources of each passage the prompt held (`numbers_held`, positions from 1)."""
        return {n: self._passage_sources(n, passages[n - 1]) for n in numbers_held}

    def _passage_sources(self, number: int, passage: Passage) -> list[Source]:
        chunk, index = passage.chunk, self.index
        rows = [int(r) for r in index.sentences.rows_within(chunk.doc_id, chunk.start, chunk.end)]
        where = " ".join(part for part in (chunk.title, section_label(chunk.section)) if part)
        headed = numbers(chunk.title) | numbers(_unnumbered(section_label(chunk.section)))
        singles = [(r,) for r in rows]
        pairs = [(a, b) for a, b in zip(rows, rows[1:])]
        return [self._source(number, passage, group, where, headed) for group in singles + pairs]

    def _source(self, number: int, passage: Passage, rows: tuple[int, ...], where: str, headed: set[str]) -> Source:
        index = self.index
        text = " ".join(index.sentence_text(r)[0] for r in rows)
        vector = index.sentences.vectors[list(rows)].sum(axis=0)
        vector = vector / (np.linalg.norm(vector) or 1.0)
        vocabulary = frozenset(set().union(*(index.sentence_text(r)[1] for r in rows)) | set(content_words(where)))
        start, end = int(index.sentences.starts[rows[0]]), int(index.sentences.ends[rows[-1]])
        halves = tuple(_half(*index.sentence_text(r)) for r in rows) if len(rows) > 1 else ()
        return Source(number, passage, start, end, text, where, vocabulary, frozenset(numbers(text) | headed),
                      negations(text), vector, halves)

    def check(self, sentence: Generated, vector: np.ndarray, sources: Mapping[int, list[Source]], question: str = "") -> Verdict:
        """The verdict on one sentence; `vector` is its unit embedding, `question` what was asked."""
        if not sentence.passages:
            if not (self.config.infer_uncited and sources):
                return Verdict(False, 0.0, "cites no passage")
            sentence = Generated(sentence.text, tuple(sources))  # its citation is the passage that supports it, if any
        if not any(sources.get(n) for n in sentence.passages):
            return Verdict(False, 0.0, f"cites {_numbers(sentence.passages)}, which the prompt did not hold")
        if not content_words(sentence.text):
            return Verdict(False, 0.0, "states nothing that can be checked")
        verdicts = [self.judged(m) for m in self.measures(sentence, vector, sources, question)]
        return max(verdicts, key=lambda v: (v.supported, v.support, v.cosine))

    def measures(self, sentence: Generated, vector: np.ndarray, sources: Mapping[int, list[Source]],
                 question: str = "") -> list[Measure]:
        """The sentence measured against every source of the passages it cites (what the thresholds then judge)."""
        claim = facts(sentence.text)
        words = set(content_words(sentence.text))
        return [self._measure(claim, words, vector, source, question) for n in sentence.passages for source in sources.get(n, ())]

    def _measure(self, claim: Facts, words: set[str], vector: np.ndarray, source: Source, question: str) -> Measure:
        excused = _asked_amounts(question, source)
        if excused:  # the question's own amount, within a range the source states: not a word it must hold
            words = {w for w in words if not (any(ch.isdigit() for ch in w) and numbers(w) & excused)} or words
        coverage = self.index.term_stats.coverage(words, source.vocabulary)
        failure = self._hard_failure(claim, source, excused) or self._unjoined(claim, words, source, excused)
        return Measure(source, failure, coverage, float(np.dot(vector, source.vector)))

    def _unjoined(self, claim: Facts, words: set[str], source: Source, excused: frozenset[str]) -> str:
        """Why a pair cannot support the claim: it takes a number, or a negation, that only one of the two sentences
        states, yet restates little of what only that sentence says (a neighbour's number or 'not' borrowed into the
        other's claim)."""
        for this, other in zip(source.halves, source.halves[::-1]):
            borrowed = sorted(claim.numbers & this.numbers - other.numbers - excused)
            negated = claim.negations > other.negations and this.negations > 0
            own = set(this.words - other.words)  # what only that sentence says ('Firewall logs' of two table rows)
            if (borrowed or negated) and own and self.index.term_stats.coverage(own, words) < PAIR_SHARE:
                what = ", ".join(borrowed) if borrowed else "its negation"
                return f"{what} is stated by another sentence of [{source.number}] than the one it restates"
        return ""

    def judged(self, m: Measure) -> Verdict:
        """The verdict of one measure under the thresholds."""
        support = 0.0 if m.failure else (m.coverage + max(m.cosine, 0.0)) / 2
        number = m.source.number
        if m.failure:
            return Verdict(False, 0.0, m.failure, m.source, m.cosine)
        if m.coverage < self.config.coverage:
            return Verdict(False, support, f"{m.coverage:.2f} of its words are in [{number}] "
                                           f"(RAG_VERIFY_COVERAGE {self.config.coverage:g})", m.source, m.cosine)
        if m.cosine < self.config.similarity:
            return Verdict(False, support, f"cosine {m.cosine:.2f} to its source in [{number}] "
                                           f"(RAG_VERIFY_SIMILARITY {self.config.similarity:g})", m.source, m.cosine)
        return Verdict(True, support, "", m.source, m.cosine)

    def _hard_failure(self, claim: Facts, source: Source, excused: frozenset[str]) -> str:
        """Why the source cannot support the claim whatever the words: a number, a name, a negation it lacks."""
        missing = sorted(claim.numbers - source.numbers - excused)
        if missing:
            return f"{', '.join(missing)} not in [{source.number}]"
        absent = names_in(claim.names, source.text + " " + source.where)
        if absent:
            return f"names {', '.join(repr(n) for n in absent)}, not in [{source.number}]"
        if claim.negations > source.negations:
            return f"negates what [{source.number}] states"
        return ""


def _half(text: str, words: frozenset[str]) -> Half:
    return Half(frozenset(numbers(text)), words, negations(text))


def _unnumbered(section: str) -> str:
    """A section label without its heading numbers ('8. Security > 8.7', 'Article 5 - Backup'): a claim's number
    must come from what the document states, not from how it numbers its headings."""
    return " > ".join(_HEADING_NUMBER.sub(" ", part) for part in section.split(" > "))


def _asked_amounts(question: str, source: Source) -> frozenset[str]:
    """The question's numbers, when the source states a range holding an amount the question names ('£1,200' and
    '£500.01 to £2,500'); else none."""
    if not question or not holds_amount(intervals(question), intervals(source.text)):
        return frozenset()
    return frozenset(numbers(question))


def _numbers(passages: Sequence[int]) -> str:
    return " ".join(f"[{n}]" for n in passages)
