"""Extractive, grounded answers: quote the sentences that answer, or abstain.

Owns choosing answer sentences from retrieved passages and composing the
`Answer`: each candidate sentence is scored by its embedding similarity to the
question, by how much of the question's specific vocabulary (IDF-weighted over
the index) it covers, and by its passage's cosine to the question. The best sentences
are quoted with `[n]` markers whose citations give the exact character span.
When the best score is under the calibrated threshold the answer abstains and
returns the closest passages instead. No generative model is involved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Collection, Sequence

import numpy as np

from rag.answer.abstention import AbstentionModel, Evidence, idf_share
from rag.answer.antecedents import antecedent_span
from rag.answer.lists import item_spans, lead_in_span
from rag.answer.late import LateReader
from rag.answer.reader import Reader
from rag.config import Settings
from rag.indexing.store import LoadedIndex
from rag.indexing.term_stats import TermStats
from rag.ingest.text import content_words, is_table_header
from rag.models import Answer, Citation, Passage, section_label
from rag.search.amounts import Interval, build_currency, follow_up_intervals, holds_amount, intervals, question_intervals
from rag.search.query_terms import question_words
from rag.search.references import Reference, extract_references, named_versions, names_version

REFERRED_SENTENCES = 8  # a referred document is searched in the chunks holding its sentences closest to the question
REFERRED_TOPIC_SHARE = 0.25  # IDF-weighted share of the referring sentence's words a referred sentence must hold
ABSTAIN_TEXT = "The documents do not answer this question. The closest passages are listed below; check them or rephrase."
UNCERTAIN_TEXT = "These clauses may answer it; check them:"
NO_MATCH_TEXT = ("No document you can read matches these filters, so nothing was searched: check the document ids "
                 "(GET /v1/documents or `rag index status` lists them) and the metadata values, or drop the filters.")
WEIGHTS = {"dense": 0.45, "coverage": 0.35, "passage": 0.20, "quantity": 0.05, "reference": 0.15, "amount": 0.10}
_QUANTITY_QUESTION = re.compile(
    r"\b(how (many|much|long|often|soon|quickly|far|old|frequently)|within (how|what)|"
    r"(above|below|over|under|after|before|by|until) (what|how|when)|what (percentage|proportion|date|time))\b"
    r"|\bwhen (do|does|did|is|are|am|was|were|must|should|would|will|can|could|may|has|have)\b"  # 'when' asking, not 'when assessing'
    r"|\b(what|which)\b[^?]{0,40}?\b(maximum|minimum|limits?|deadlines?|thresholds?|caps?|periods?|rates?|fees?|amounts?|"
    r"numbers?|values?|"
    r"percentages?|frequency|frequencies|lengths?|sizes?|allowances?|budgets?|durations?|max)\b",
    re.IGNORECASE,
)
_LEADING_NUMBER = re.compile(r"^\s*\**(?:\d+(?:\.\d+)*\.?|[a-z]\)|\([a-z0-9]+\))\**\s+")  # '6.4 ', '1. ', '**6.4** ', 'a) ', '(ii) '
_CODE = re.compile(r"\b[A-Z]{2,}(?:-[A-Z0-9]+)+\b")  # document codes such as MHG-CRS-013
_QUANTITY = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|sixty|ninety|hundred|"
    r"once|twice|annually|monthly|weekly|daily|quarterly|yearly|fortnightly|immediately|permanently|indefinitely|"
    r"(every|each|per|a|an) (minute|hour|day|week|fortnight|month|quarter|year))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Reading:
    """Another reading of the question, with its share in every sentence's score: a follow-up's standalone form
    ('who runs it? if something big goes down, how quickly does the crisis management team have to get together?')."""

    text: str
    vector: np.ndarray
    weight: float


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage, scored against the question."""

    doc_id: str
    start: int
    end: int
    passage: Passage
    dense: float
    coverage: float
    score: float
    text: str = ""
    in_named_clause: bool = False  # the question names the clause or article (or version) this sentence belongs to
    typed: bool = True  # carries the kind of answer the question asks for (see `carries_answer_type`)
    read: float | None = None  # the reader's probability that this sentence answers the question (None: not read)
    base: float | None = None  # the score before the reader's probability was mixed in (None: not read)
    late: float | None = None  # late interaction's coverage of the question by this sentence (None: not read)


def expects_quantity(question: str) -> bool:
    """Questions asking for a number, period, date or limit."""
    return bool(_QUANTITY_QUESTION.search(question))


def carries_quantity(text: str) -> bool:
    """A sentence stating a number, period, frequency or date ('within 48 hours', 'every quarter', '£2,500'); the
    clause number it starts with and document codes ('MHG-CRS-013') do not count."""
    return bool(_QUANTITY.search(_CODE.sub(" ", _LEADING_NUMBER.sub("", text))))


def carries_answer_type(text: str, doc_id: str, index: LoadedIndex) -> bool:
    """Whether a sentence can answer a question asking for a quantity: it states one, or it defers to another
    document by title ('kept for the period in the Records Retention Schedule'), which the answer then quotes."""
    return carries_quantity(text) or referred_document(text, index, exclude={doc_id}) is not None


class ExtractiveAnswerer:
    def __init__(self, settings: Settings, stats: TermStats, model: AbstentionModel | None = None,
                 reader: Reader | None = None, late: LateReader | None = None) -> None:
        self.settings = settings
        self.stats = stats
        self.reader = reader
        self.late = late
        self.model = model or AbstentionModel.for_settings(settings.abstain_model, reader is not None)
        self.threshold = settings.abstain_threshold or self.model.threshold
        follow = self.model.follow_up_threshold
        self.follow_up_threshold = settings.abstain_threshold or (follow if follow is not None else self.model.threshold)
        self.answer_threshold = settings.answer_threshold or self.model.answer_threshold or 0.0

    def candidates(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex,
                   amounts: Sequence[Interval] | None = None) -> list[Candidate]:
        """Quotable sentences of the passages, best first (sentence vectors come from the build); `amounts`: the
        money amounts to prefer a limit-table row for (None: those the question names)."""
        shares = self.stats.shares(question_words(question))  # a sentence's coverage: the shares of the words it holds
        quantity = expects_quantity(question)
        clauses = [r for r in extract_references(question) if r.kind == "number"]
        versions = named_versions(question)
        amounts = question_intervals(question, build_currency(index)) if amounts is None else amounts
        seen: set[int] = set()
        out = []
        for passage in passages:
            doc = index.documents[passage.chunk.doc_id]
            for row in index.sentences.rows_within(doc.doc_id, passage.chunk.start, passage.chunk.end):
                if int(row) in seen:
                    continue
                seen.add(int(row))
                a, b = int(index.sentences.starts[row]), int(index.sentences.ends[row])
                text, words = index.sentence_text(int(row))
                section = doc.section_at(a)
                if _is_heading(text, doc.title, section) or is_table_header(doc.text, a):
                    continue  # a title, heading or table header names a topic; it never answers a question
                dense = float(index.sentences.vectors[row] @ vector)
                coverage = sum(shares[w] for w in shares.keys() & words)
                score = WEIGHTS["dense"] * dense + WEIGHTS["coverage"] * coverage + WEIGHTS["passage"] * passage.dense
                if quantity and re.search(r"\d", text):
                    score += WEIGHTS["quantity"]
                if amounts and holds_amount(amounts, intervals(text)):
                    score += WEIGHTS["amount"]  # the row of a limit table whose range holds the amount asked about
                named = (bool(clauses) and _in_named_clause(clauses, section, doc.text[a:b])
                         or bool(versions) and names_version(text, versions))  # 'version 3.2' names its history row
                score += WEIGHTS["reference"] if named else 0.0
                typed = not quantity or carries_answer_type(text, doc.doc_id, index)
                out.append(Candidate(doc.doc_id, a, b, passage, dense, coverage, score, text, named, typed))
        return sorted(out, key=lambda c: c.score, reverse=True)

    def evidence(self, question: str, ranked: Sequence[Candidate], passages: Sequence[Passage], read: float = 0.0) -> Evidence:
        """The abstention model's features for one answer attempt."""
        q_words = question_words(question)
        passage_words = set().union(*(content_words(p.chunk.text) for p in passages)) if passages else set()
        unknown = {w for w in q_words if not self.stats.df.get(w)}
        best, second = (ranked[0].score if ranked else 0.0), (ranked[1].score if len(ranked) > 1 else 0.0)
        return Evidence(
            best_score=best,
            best_cosine=max((c.dense for c in ranked), default=0.0),
            best_coverage=max((c.coverage for c in ranked), default=0.0),
            passage_cosine=max((p.dense for p in passages), default=0.0),
            missing_share=idf_share(q_words, q_words - passage_words, self.stats.idf),
            unknown_share=idf_share(q_words, unknown, self.stats.idf),
            margin=best - second,
            type_gap=max(0.0, best - max((c.score for c in ranked if c.typed), default=0.0)),
            reader=read,
        )

    def answer(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex, *,
               allowed: Collection[str] | None, reading: Reading | None = None) -> Answer:
        """Quote the best sentences, or abstain. A quoted sentence that defers to another document ('kept for the
        period in the Records Retention Schedule') brings that document's best sentences too, if in `allowed`
        (None: every document may be searched; callers pass the request's filters, so none is ever skipped). With a
        `reading`, each sentence's score mixes in its score for that reading too (a follow-up's standalone form), and
        the refusal model judges each sentence by the better of its two readings: a follow-up that leaves its subject
        unsaid ('who runs it?') is judged by what it means in its conversation."""
        if allowed is not None and not allowed:  # a mistyped filter must not read as "the policies do not say"
            return Answer(question, NO_MATCH_TEXT, True, (), (), index.build_id, 0.0, ())
        ranked, judged = self.ranked(question, vector, passages, index, reading)
        evidence = self.evidence(question, judged, passages, max((c.read for c in ranked if c.read is not None), default=0.0))
        confidence = self.model.probability(evidence) if ranked else 0.0
        features = tuple(evidence.to_dict().items())
        # the clause the question names, found in the document it names: answer, whatever the model's doubt
        one_document = len({p.chunk.doc_id for p in passages}) == 1  # e.g. a filter chose the document
        named_hit = bool(ranked) and ranked[0].in_named_clause and (one_document or self._title_match(question, ranked[0], index) > 0)
        cut = self.threshold if reading is None else self.follow_up_threshold  # a follow-up has a cut of its own
        if not ranked or (confidence < cut and not named_hit):
            return Answer(question, ABSTAIN_TEXT, True, (), tuple(passages), index.build_id, confidence, features)
        limit = self.settings.answer_sentences
        chosen = _with_lists(_select(ranked, limit, self.settings.answer_margin, _quota(ranked, limit, self.settings.answer_margin)),
                             ranked, index, limit)
        chosen += self._referred(question, vector, chosen, index, allowed)
        citations = tuple(_citation(n, c, index) for n, c in enumerate(chosen, start=1))
        text = " ".join(f"{cand.text} [{n}]" for n, cand in enumerate(chosen, start=1))
        uncertain = confidence < self.answer_threshold and not named_hit
        text = f"{UNCERTAIN_TEXT} {text}" if uncertain else text
        return Answer(question, text, False, citations, tuple(passages), index.build_id, confidence, features, uncertain=uncertain)


    def ranked(self, question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex,
               reading: Reading | None = None) -> tuple[list[Candidate], list[Candidate]]:
        """(the sentences to quote from, best first; the ranking the refusal model judges). With a reader, its
        probability that a sentence answers is mixed into the quoting scores of the best `RAG_READER_DEPTH` sentences;
        then late interaction reorders the best few of a first question (`rag.answer.late`)."""
        pool = list(passages) + _clause_passages(question, vector, passages, index)
        # a follow-up's own amounts ('what if it's more, like 300?') come before those of the turns before it
        currency = build_currency(index)  # thousands typed without a currency ('a 5k sponsorship') are in the build's
        amounts = (follow_up_intervals(question, reading.text, currency) if reading is not None
                   else question_intervals(question, currency))
        ranked = self.candidates(question, vector, pool, index, amounts)
        judged = ranked  # the ranking the refusal model judges
        if reading is not None and reading.weight > 0:
            theirs = self.candidates(reading.text, reading.vector, pool, index, amounts or None)
            ranked, judged = _mixed(ranked, theirs, reading.weight), _mixed(ranked, theirs, 1.0)
        followed = reading is not None and reading.weight > 0  # the reader reads a follow-up in its standalone form
        asked, asked_vector = (reading.text, reading.vector) if followed and reading else (question, vector)
        if self.reader is not None and ranked:
            ranked = self.reader.rerank(asked, asked_vector, [ranked], index)[0]
        if self.late is not None and not followed:  # measured on follow-ups: no better (their standalone form is long)
            ranked = self.late.rerank(question, ranked, index)
        return self._named_clause_first(question, ranked, index), judged

    def _named_clause_first(self, question: str, ranked: list[Candidate], index: LoadedIndex) -> list[Candidate]:
        """'What does clause 6.4 say?' is answered from clause 6.4: its sentences go first, from the document
        whose title the question names best (several policies may have a clause 6.4)."""
        named = [c for c in ranked if c.in_named_clause]
        if not named:
            return ranked
        doc_id = max(named, key=lambda c: (self._title_match(question, c, index), c.score)).doc_id
        first = [c for c in named if c.doc_id == doc_id]
        return first + [c for c in ranked if not (c.in_named_clause and c.doc_id == doc_id)]


    def _referred(self, question: str, vector: np.ndarray, chosen: list[Candidate], index: LoadedIndex,
                  allowed: Collection[str] | None) -> list[Candidate]:
        """The best sentences (one, or two close ones) of the document the first quoted sentence refers to by title
        ('CCTV footage is kept only for the period in the Records Retention Schedule'), when that document is not quoted
        yet and may be searched, among the sentences of its chunks nearest the question that hold a good share of the
        referring sentence's own topic ('CCTV footage')."""
        referring = chosen[0]
        target = referred_document(referring.text, index, exclude={c.doc_id for c in chosen})
        if target is None or (allowed is not None and target not in allowed):
            return []
        topic = self.stats.shares(set(content_words(referring.text)) - set(content_words(index.documents[target].title)))
        rows = _chunks_of_closest_sentences(index, target, vector, REFERRED_SENTENCES)
        pool = [Passage(index.chunks[row], 0.0, 0, float(c)) for row, c in zip(rows, index.cosines(vector, rows))]
        found = [replace(c, in_named_clause=False) for c in self.candidates(question, vector, pool, index)]
        on_topic = [c for c in found if sum(topic.get(w, 0.0) for w in question_words(c.text)) >= REFERRED_TOPIC_SHARE]
        return _select(on_topic, 2, self.settings.answer_margin) if on_topic else []

    def _title_match(self, question: str, cand: Candidate, index: LoadedIndex) -> float:
        """IDF-weighted share of the question's words found in the candidate's document title."""
        return self.stats.coverage(question_words(question), set(content_words(index.documents[cand.doc_id].title)))


def _mixed(ranked: list[Candidate], other: list[Candidate], weight: float) -> list[Candidate]:
    """Each sentence's scores (total, cosine, coverage) mixed with its scores for another reading (weight 1: the better
    of the two), best first."""
    theirs = {(c.doc_id, c.start): c for c in other}
    out = []
    for c in ranked:
        o = theirs.get((c.doc_id, c.start), c)
        if weight >= 1:  # the better reading of each sentence
            best = o if o.score > c.score else c
            out.append(replace(c, score=best.score, dense=best.dense, coverage=best.coverage, typed=c.typed or o.typed))
            continue
        out.append(replace(c, score=(1 - weight) * c.score + weight * o.score, dense=(1 - weight) * c.dense + weight * o.dense,
                           coverage=(1 - weight) * c.coverage + weight * o.coverage, typed=c.typed or o.typed))
    return sorted(out, key=lambda c: c.score, reverse=True)


def _clause_passages(question: str, vector: np.ndarray, passages: Sequence[Passage], index: LoadedIndex) -> list[Passage]:
    """Chunks holding a clause number (or a history-table version) the question names that retrieval did not
    return, so 'what does clause 6.4 of the physical security policy say' can quote it even when other policies'
    clause 6.4 ranked higher."""
    numbers = [r.label for r in extract_references(question) if r.kind == "number"] + list(named_versions(question))
    seen = {p.chunk.chunk_id for p in passages}
    rows = [row for row in index.rows_holding_clauses(numbers, {p.chunk.doc_id for p in passages})  # documents retrieval
            if index.chunks[row].chunk_id not in seen]                                             # surfaced: filters hold
    if not rows:
        return []
    cosines = index.cosines(vector, rows)
    return [Passage(index.chunks[row], 0.0, len(passages) + i + 1, float(c)) for i, (row, c) in enumerate(zip(rows, cosines))]


_CAPTION = re.compile(r"(?:table|figure|exhibit|chart)\s+[\w.-]{1,8}\s*[:.–—-]\s+\S", re.IGNORECASE)


def _chunks_of_closest_sentences(index: LoadedIndex, doc_id: str, vector: np.ndarray, n: int) -> list[int]:
    """Rows of the document's chunks that hold one of its `n` sentences closest to the question."""
    sentences = index.sentences.rows_within(doc_id, 0, len(index.documents[doc_id].text))
    if not len(sentences):
        return []
    best = sentences[np.argsort(-(index.sentences.vectors[sentences] @ vector))[:n]]
    starts = index.sentences.starts[best]
    return [int(row) for row in index.rows_of([doc_id])
            if any(index.chunks[row].start <= a < index.chunks[row].end for a in starts.tolist())]


def referred_document(text: str, index: LoadedIndex, exclude: Collection[str] = ()) -> str | None:
    """The document `text` names by its title as written (two words or more: 'the Records Retention Schedule'), the
    longest title when several match; None when none does or when that one is excluded (a sentence naming its own
    document, or one already quoted, refers to nothing new)."""
    spaced = " ".join(text.split())
    named = [(len(title), doc_id) for doc_id, title in index.titles.items()
             if title in spaced and re.search(rf"(?<![\w]){re.escape(title)}(?![\w])", spaced)]
    if not named:
        return None
    doc_id = max(named)[1]
    return None if doc_id in exclude else doc_id


def _is_heading(text: str, title: str, section: tuple[str, ...]) -> bool:
    """A title, heading or caption ('Table 1: Maximum hotel room rates'): it names a topic, it answers nothing."""
    plain = text.strip().rstrip(":")
    if _CAPTION.match(plain) and not plain.endswith(".") and len(plain.split()) <= 12:
        return True  # "Chart 3: Overtime is paid at 1.5 times the hourly rate." is a sentence, not a caption
    return plain == title.strip() or any(plain == label.strip() for label in section)


def _in_named_clause(clauses: Sequence[Reference], section: tuple[str, ...], raw: str) -> bool:
    """A sentence of the clause or article the question names (its section label or its own start carries it)."""
    return any(ref.defined_by(raw) or any(ref.defined_by(label) for label in section) for ref in clauses)


def _quota(ranked: list[Candidate], limit: int, margin: float) -> int | None:
    """How many sentences the ranking without the reader would quote (None when the reader read none): the reader
    chooses which sentences, not how many, since its probabilities spread the scores wider than the margin was set for."""
    if not any(c.read is not None for c in ranked):
        return None
    before = sorted((replace(c, score=c.base if c.base is not None else c.score) for c in ranked), key=lambda c: c.score, reverse=True)
    return len(_select(before, limit, margin))


def _select(ranked: list[Candidate], limit: int, margin: float, quota: int | None = None) -> list[Candidate]:
    """The best sentence first, then close runners-up in score order (the best `quota` when given); a named clause is
    quoted in text order (its first sentences, whatever their scores)."""
    best = ranked[0]
    if best.in_named_clause:
        clause = [c for c in ranked if c.in_named_clause and c.doc_id == best.doc_id]
        return sorted(clause, key=lambda c: c.start)[:limit]
    if quota is not None:
        return ranked[:quota]
    chosen = [best]
    for cand in ranked[1:]:
        if len(chosen) >= limit or cand.score < best.score - margin:
            break
        chosen.append(cand)
    return chosen


def _with_lists(chosen: list[Candidate], ranked: list[Candidate], index: LoadedIndex, limit: int) -> list[Candidate]:
    """Each chosen sentence with what it needs: a list item after the sentence or heading that introduces it (an
    item means little alone: "3. Comment on the Group's share price" is a rule only under "staff must not:"), a
    lead-in before the items it introduces (a lead-in alone names where the answer is without giving it), a
    sentence opening with 'They' or 'This' after the sentence it points back to; see `rag.answer.lists` and
    `rag.answer.antecedents`. The first sentence's unit is kept whole, and `limit` - 1 more sentences after it (lead-ins
    are not counted: they are context)."""
    by_start = {(c.doc_id, c.start): c for c in ranked}

    def quoted(span: tuple[int, int], like: Candidate) -> Candidate:
        return by_start.get((like.doc_id, span[0])) or replace(
            like, start=span[0], end=span[1], text=_span_text(index, like.doc_id, span), in_named_clause=False)

    units, leads = [], set()
    for cand in chosen:
        doc = index.documents[cand.doc_id]
        lead = lead_in_span(index, doc, (cand.start, cand.end)) or antecedent_span(index, doc, (cand.start, cand.end))
        items = [quoted(span, cand) for span in item_spans(index, doc, (cand.start, cand.end))]
        leads |= {(cand.doc_id, lead[0])} if lead else set()
        units.append(([quoted(lead, cand)] if lead else []) + [cand] + items)
    out = list({(c.doc_id, c.start): c for unit in units for c in unit}.values())
    counted = [i for i, c in enumerate(out) if (c.doc_id, c.start) not in leads]  # a lead-in is context, not an answer
    keep = len([c for c in units[0] if (c.doc_id, c.start) not in leads]) + limit - 1  # the first unit, then runners-up
    return out[: counted[keep - 1] + 1] if len(counted) > keep else out


def _span_text(index: LoadedIndex, doc_id: str, span: tuple[int, int]) -> str:
    """The text of a quotable sentence starting at `span` (table rows read with their headers), or the raw span (a
    heading)."""
    rows = index.sentences.rows_within(doc_id, span[0], span[1])
    if len(rows) and int(index.sentences.starts[rows[0]]) == span[0] and int(index.sentences.ends[rows[0]]) == span[1]:
        return index.sentence_text(int(rows[0]))[0]
    return index.documents[doc_id].text[span[0]:span[1]].strip()


def _citation(n: int, cand: Candidate, index: LoadedIndex) -> Citation:
    doc = index.documents[cand.doc_id]
    first_page, last_page = doc.page_span(cand.start, cand.end)
    return Citation(
        n=n,
        doc_id=doc.doc_id,
        title=doc.title,
        section=section_label(doc.section_at(cand.start)),
        page=first_page,
        start=cand.start,
        end=cand.end,
        quote=doc.text[cand.start : cand.end],
        passage_rank=cand.passage.rank,
        page_end=last_page,
    )

