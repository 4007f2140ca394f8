"""Answers that know: the one-line notes an answer carries about the documents it cites.

Owns, for a finished answer and the day it speaks of: a cited copy not yet in force on that day (it takes effect
later), a cited copy superseded today (an `as_of` answer quotes the version then in force: when and by which version
it was replaced), a cited document past its review date today (the date and the owner), and a cited sentence that a
stored candidate conflict sets against a sentence of another document: that sentence joins the citations and the
note says the two disagree and which document is newer. Everything comes from the build's lifecycle
(`rag.lifecycle.versions.BuildLifecycle`, read once per build, conflicts matched by span): no search per question.
Leaves choosing what answers to `rag.search` and `rag.answer`, and showing the notes to the front ends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, Sequence

from rag.indexing.store import LoadedIndex
from rag.lifecycle.facts import DocumentFacts
from rag.lifecycle.versions import BuildLifecycle
from rag.models import Answer, AnswerNote, Citation, section_label


def with_notes(answer: Answer, index: LoadedIndex, day: date, today: date, allowed: Sequence[str] | None = None) -> Answer:
    """`answer` with its notes (and the conflicting sentences it is set against as extra citations); `allowed`: the
    documents the question may quote (None: all), so a conflict never shows a document the caller may not read."""
    if answer.abstained or not answer.citations:
        return answer
    life = BuildLifecycle.of(index)
    citations, disagree = _conflicts(answer.citations, life, index, day, allowed)
    notes = [note for doc_id in dict.fromkeys(c.doc_id for c in citations)
             if (note := standing_note(life, doc_id, [c.n for c in citations if c.doc_id == doc_id], day, today)) is not None]
    return replace(answer, notes=tuple(notes + disagree), citations=tuple(citations))


def _conflicts(cited: Sequence[Citation], life: BuildLifecycle, index: LoadedIndex, day: date,
               allowed: Sequence[str] | None) -> tuple[list[Citation], list[AnswerNote]]:
    """The citations with the other side of each stored conflict a cited sentence is part of (another document in force
    on `day` that the question may quote), and a note for each."""
    citations = list(cited)
    readable = None if allowed is None else set(allowed)
    shown: dict[tuple[str, int], int] = {(c.doc_id, c.start): c.n for c in citations}
    notes, seen = [], set()
    for citation in cited:
        for conflict in life.conflicts.get(citation.doc_id, ()):
            own, other, values = _sides(conflict, citation)
            if own is None or other is None or (readable is not None and other["doc_id"] not in readable) or id(conflict) in seen:
                continue
            if other["doc_id"] not in index.documents or life.standing(other["doc_id"], day).standing != "in force":
                continue
            key = (other["doc_id"], other["start"])
            if key not in shown:
                shown[key] = len(citations) + 1
                citations.append(_citation(index, shown[key], other))
            seen.add(id(conflict))
            notes.append(conflict_note(life, citation, citations[shown[key] - 1], values))
    return citations, notes


def standing_note(life: BuildLifecycle, doc_id: str, cited: list[int], day: date, today: date) -> AnswerNote | None:
    """Not yet in force on `day`, superseded or withdrawn by `today`, or past its review date `today`; else None."""
    facts = life.facts.get(doc_id)
    if facts is None:
        return None
    name, version = _name(facts), f" version {facts.version}" if facts.version else ""
    on_day, now = life.standing(doc_id, day), life.standing(doc_id, today)
    if on_day.standing == "not yet in force":
        return AnswerNote("not_in_force", doc_id, f"Note: {name}{version} is not yet in force on {day.isoformat()}: it takes "
                          f"effect on {_iso(on_day.since)}, so what it says does not apply yet.", tuple(cited))
    if now.standing == "superseded":
        newer = life.facts[now.by]
        return AnswerNote("superseded", doc_id, f"Note: {name}{version} quoted here, in force on {day.isoformat()}, was "
                          f"superseded on {_iso(now.since)} by version {newer.version or '?'} ({now.by}).", tuple(cited))
    if now.standing == "withdrawn":
        return AnswerNote("superseded", doc_id, f"Note: {name}{version} is marked {facts.status or 'superseded'}: "
                          "no copy of it is in force.", tuple(cited))
    if facts.next_review and facts.next_review < today:
        return AnswerNote("overdue", doc_id, f"Note: {name} was due for review on {facts.next_review.isoformat()} "
                          f"(owner: {facts.owner or 'not stated'}).", tuple(cited))
    return None


def conflict_note(life: BuildLifecycle, cited: Citation, other: Citation, values: tuple[list[str], list[str]]) -> AnswerNote:
    """The cited sentence and the other document's disagree: both cited, the differing values, which is newer."""
    mine, theirs = life.facts.get(cited.doc_id), life.facts.get(other.doc_id)
    name, other_name = _name(mine, cited.title), _name(theirs, other.title)
    differ = f" ({', '.join(values[0])} against {', '.join(values[1])})" if values[0] and values[1] else ""
    quote = " ".join(other.quote.split())
    message = (f"Note: {name} [{cited.n}] and {other_name} [{other.n}] disagree{differ}: \u201c{quote}\u201d [{other.n}]. "
               f"{_newer(mine, theirs, name, other_name)}")
    return AnswerNote("conflict", other.doc_id, message, (cited.n, other.n))


def _newer(mine: DocumentFacts | None, theirs: DocumentFacts | None, name: str, other_name: str) -> str:
    a, b = mine.effective if mine else None, theirs.effective if theirs else None
    if a and b and a != b:
        newer, older = ((name, a), (other_name, b)) if a > b else ((other_name, b), (name, a))
        return f"{_capital(newer[0])} is newer (effective {newer[1].isoformat()}; {older[0]}: {older[1].isoformat()})."
    if a and b:
        return f"Both took effect on {a.isoformat()}."
    if a or b:
        known, when = (name, a) if a else (other_name, b)
        return f"Only {known} states an effective date ({when.isoformat() if when else ''}), so which is newer is not known."
    return "Neither states an effective date, so which is newer is not known."


def _sides(conflict: dict[str, Any], cited: Citation) -> tuple[dict[str, Any] | None, dict[str, Any] | None, tuple[list[str], list[str]]]:
    """(the side the citation quotes, the other side, their values in that order), or Nones when it quotes neither."""
    values = conflict.get("values") or [[], []]
    for own, other, pair in (("a", "b", (values[0], values[1])), ("b", "a", (values[1], values[0]))):
        span = conflict[own]
        if span["doc_id"] == cited.doc_id and span["start"] < cited.end and cited.start < span["end"]:
            return span, conflict[other], (list(pair[0]), list(pair[1]))
    return None, None, ([], [])


def _citation(index: LoadedIndex, n: int, span: dict[str, Any]) -> Citation:
    doc = index.documents[span["doc_id"]]
    start, end = int(span["start"]), int(span["end"])
    first, last = doc.page_span(start, end)
    return Citation(n, doc.doc_id, doc.title, section_label(doc.section_at(start)), first, start, end, doc.text[start:end],
                    0, last)


def _name(facts: DocumentFacts | None, title: str = "") -> str:
    """'the Travel Policy' (a title that starts with 'The' keeps its own)."""
    title = (facts.title if facts and facts.title else title) or "the document"
    return title if title.lower().startswith("the ") else f"the {title}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _iso(day: date | None) -> str:
    return day.isoformat() if day else "a later date"
