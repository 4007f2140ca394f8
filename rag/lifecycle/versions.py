"""Versions in answers: which of a build's documents are in force on a day, read once per loaded build.

Owns the build's lifecycle as answering needs it (`BuildLifecycle.of(index)`, kept with the loaded build): each
document's facts (from the build's stored `health.json`, else read from the documents' own header lines), the
candidate conflicts that report stored (by document, to match a cited span), and per day the documents that must not
answer (`out_of_force`): a copy superseded by a newer one in force, a copy not yet in force while another copy is, a
copy whose status says it is withdrawn. A policy with no copy in force that day (its only copy is future-dated) keeps
answering, and the answer says it is not yet in force (`rag.lifecycle.notes`). Leaves the facts and the families to
`rag.lifecycle.facts`, and filtering retrieval to `rag.search.retrieval`, which asks `in_force`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from rag.indexing.store import LoadedIndex
from rag.lifecycle.facts import INACTIVE_STATUS, ChangeRow, DocumentFacts, read_facts, version_families
from rag.lifecycle.health import read_health

_KEY = "lifecycle"
_DAYS_KEPT = 256  # the days asked about whose in-force sets are kept; beyond it they are worked out again
_LOCK = threading.Lock()


@dataclass(frozen=True)
class DayStanding:
    """One document on one day: `in force`, `superseded` (by `by`, in force from `since`), `not yet in force` (from
    `since`), or `withdrawn` (its status says so)."""

    doc_id: str
    standing: str
    by: str = ""
    since: date | None = None


def facts_from_dict(data: Mapping[str, Any]) -> DocumentFacts:
    """The facts `DocumentFacts.to_dict` wrote (a stored health report's); where the review date is written is not kept."""
    history = tuple(ChangeRow(r["version"], r["date"], r["summary"]) for r in data.get("history", ()))
    return DocumentFacts(data["doc_id"], data["title"], data["code"], data["version"], _day(data.get("effective")),
                         _day(data.get("next_review")), data["owner"], data["status"], history, None)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class BuildLifecycle:
    """The facts and stored conflicts of one loaded build, with each day's in-force documents worked out once."""

    def __init__(self, facts: Mapping[str, DocumentFacts], conflicts: list[dict[str, Any]] | None = None) -> None:
        self.facts = dict(facts)
        self.conflicts: dict[str, list[dict[str, Any]]] = {}
        for conflict in conflicts or ():
            for side in ("a", "b"):
                self.conflicts.setdefault(conflict[side]["doc_id"], []).append(conflict)
        self._days: dict[date, tuple[frozenset[str], dict[str, DayStanding]]] = {}
        self._kept: dict[frozenset[str], list[str]] = {}

    @classmethod
    def of(cls, index: LoadedIndex) -> "BuildLifecycle":
        """The build's lifecycle, read on first use and kept with the loaded build."""
        found = index.derived.get(_KEY)
        if found is None:
            with _LOCK:
                found = index.derived.get(_KEY)
                if found is None:
                    found = index.derived[_KEY] = cls.read(index)
        return found  # type: ignore[no-any-return]

    @classmethod
    def read(cls, index: LoadedIndex) -> "BuildLifecycle":
        """From the build's stored health report (facts of every document, conflicts), else the documents themselves."""
        stored = read_health(index.folder)
        if stored is not None and {d.get("doc_id") for d in stored.get("documents", ())} == set(index.documents):
            return cls({d["doc_id"]: facts_from_dict(d) for d in stored["documents"]}, stored.get("conflicts", []))
        return cls({doc_id: read_facts(doc) for doc_id, doc in index.documents.items()})

    def out_of_force(self, day: date) -> frozenset[str]:
        """Documents that must not answer a question about `day`."""
        return self._on(day)[0]

    def in_force(self, out: frozenset[str], documents: Mapping[str, object]) -> list[str] | None:
        """The documents not in `out`, in build order (None: every document), kept per set left out."""
        if not out:
            return None
        found = self._kept.get(out)
        if found is None:
            if len(self._kept) >= _DAYS_KEPT:
                self._kept.clear()
            found = self._kept[out] = [d for d in documents if d not in out]
        return found

    def standing(self, doc_id: str, day: date) -> DayStanding:
        return self._on(day)[1].get(doc_id) or DayStanding(doc_id, "in force")

    def _on(self, day: date) -> tuple[frozenset[str], dict[str, DayStanding]]:
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= _DAYS_KEPT:
                self._days.clear()
            found = self._days[day] = self._work_out(day)
        return found

    def _work_out(self, day: date) -> tuple[frozenset[str], dict[str, DayStanding]]:
        standings: dict[str, DayStanding] = {}
        out: set[str] = set()
        for members in version_families(list(self.facts.values()), day):
            for s in members:
                f = s.facts
                if s.standing == "not yet in force":
                    standings[f.doc_id] = DayStanding(f.doc_id, s.standing, s.current, f.effective)
                    if s.current:
                        out.add(f.doc_id)
                elif s.standing == "superseded":
                    by = _successor(f, [m.facts for m in members], day) or s.current
                    since = self.facts[by].effective if by else None
                    standings[f.doc_id] = DayStanding(f.doc_id, "superseded" if by else "withdrawn", by, since)
                    out.add(f.doc_id)
        for f in self.facts.values():
            if f.doc_id in standings:
                continue
            if f.status.lower() in INACTIVE_STATUS:
                standings[f.doc_id] = DayStanding(f.doc_id, "withdrawn")
                out.add(f.doc_id)
            elif f.effective and f.effective > day:
                standings[f.doc_id] = DayStanding(f.doc_id, "not yet in force", "", f.effective)
        return frozenset(out), standings


def _successor(facts: DocumentFacts, members: list[DocumentFacts], day: date) -> str:
    """The copy that took over from `facts`: the earliest one in force by `day` that became effective after it."""
    later = [m for m in members if m.effective and m.effective <= day and m.doc_id != facts.doc_id
             and (facts.effective is None or m.effective > facts.effective) and m.status.lower() not in INACTIVE_STATUS]
    return min(later, key=lambda m: (m.effective, m.doc_id)).doc_id if later else ""

