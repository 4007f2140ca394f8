"""The corpus health report: overdue reviews, broken references, versions and superseded copies, candidate conflicts.

Owns gathering the findings of one loaded build on a given day (`check_corpus`, or the build's stored report of that
day: `health_report`; `today` is a parameter so a test or
`rag corpus check --today` can fix it), their JSON form (the same for `rag corpus check --json`, the build folder's
`health.json` and `GET /v1/corpus/health`), the short summary a build's manifest keeps, and the text lines the CLI and
the build report print. Leaves each kind of finding to its module (`facts`, `references`, `conflicts`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rag.indexing.sentences import sentence_display
from rag.indexing.store import LoadedIndex
from rag.lifecycle.conflicts import Conflict, SentenceRow, find_conflicts
from rag.lifecycle.facts import INACTIVE_STATUS, DocumentFacts, Span, normal_title, read_facts, version_families
from rag.lifecycle.references import BrokenReference, Resolver, broken_references, cited_clauses, clause_of_section

HEALTH = "health.json"
SHOWN = 15  # conflicts printed in text; --json and the file keep them all


@dataclass(frozen=True)
class Overdue:
    facts: DocumentFacts
    days: int
    span: Span | None

    def to_dict(self) -> dict[str, object]:
        return {"doc_id": self.facts.doc_id, "title": self.facts.title, "next_review": self.facts.next_review.isoformat()
                if self.facts.next_review else None, "owner": self.facts.owner, "days_overdue": self.days,
                "span": self.span.to_dict() if self.span else None}


@dataclass(frozen=True)
class Superseded:
    """A copy of a policy that should not answer: `standing` is superseded or not yet in force; `current` the copy that does."""

    doc_id: str
    title: str
    version: str
    effective: str | None
    standing: str
    current: str

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


@dataclass(frozen=True)
class CorpusHealth:
    today: date
    documents: tuple[DocumentFacts, ...]
    overdue: tuple[Overdue, ...]
    references: tuple[BrokenReference, ...]
    superseded: tuple[Superseded, ...]
    conflicts: tuple[Conflict, ...]

    def counts(self) -> dict[str, int]:
        return {"documents": len(self.documents), "overdue_reviews": len(self.overdue), "broken_references": len(self.references),
                "superseded": len(self.superseded), "conflicts": len(self.conflicts)}

    def to_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "counts": self.counts(),
                "overdue_reviews": [o.to_dict() for o in self.overdue],
                "broken_references": [r.to_dict() for r in self.references],
                "superseded": [s.to_dict() for s in self.superseded],
                "conflicts": [c.to_dict() for c in self.conflicts],
                "documents": [f.to_dict() for f in self.documents]}


def check_corpus(index: LoadedIndex, today: date | None = None) -> CorpusHealth:
    """Every finding of the build `index` on `today` (default: the real today)."""
    today = today or date.today()
    documents = index.documents
    facts = {doc_id: read_facts(doc) for doc_id, doc in documents.items()}
    overdue = [Overdue(f, (today - f.next_review).days, Span.of(documents[f.doc_id], *f.review_span) if f.review_span else None)
               for f in facts.values() if f.next_review and f.next_review < today]
    families = version_families(list(facts.values()), today)
    family_of = {s.facts.doc_id: str(n) for n, members in enumerate(families) for s in members}
    superseded = [_superseded(s.facts, s.standing, s.current) for members in families for s in members if s.standing != "current"]
    superseded += [_superseded(f, f.status.lower(), "") for f in facts.values()
                   if f.status.lower() in INACTIVE_STATUS and f.doc_id not in family_of]
    table = index.sentences
    rows = []
    for d, a, b in zip(table.doc_index, table.starts, table.ends):
        doc_id = table.doc_ids[int(d)]
        rows.append(SentenceRow(doc_id, int(a), int(b), sentence_display(documents[doc_id].text, int(a), int(b))))
    resolver = Resolver(documents.values(), facts)
    spans: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        if not any("history" in part.lower() for part in documents[row.doc_id].section_at(row.start)):
            spans.setdefault(row.doc_id, []).append((row.start, row.end))
    references = [r for doc_id, doc in documents.items() for r in broken_references(doc, spans.get(doc_id, []), resolver)]
    row_at = {(row.doc_id, row.start): n for n, row in enumerate(rows)}
    rows_of: dict[str, list[int]] = {}
    for n, row in enumerate(rows):
        rows_of.setdefault(row.doc_id, []).append(n)
    cited = [(row_at[(doc_id, a)], n) for doc_id, doc in documents.items()
             for a, _, target, clause in cited_clauses(doc, spans.get(doc_id, []), resolver)
             for n in rows_of.get(target, []) if clause_of_section(documents[target].section_at(rows[n].start), clause)]
    out_of_force = {s.doc_id for s in superseded}  # a superseded or future copy is reported as such, not set against others
    conflicts = [c for c in (find_conflicts(documents, rows, table.vectors, lambda d: family_of.get(d, "doc:" + d), cited=cited)
                             if rows else []) if c.a.doc_id not in out_of_force and c.b.doc_id not in out_of_force]
    return CorpusHealth(today, tuple(facts.values()), tuple(sorted(overdue, key=lambda o: -o.days)), tuple(references),
                        tuple(superseded), tuple(conflicts))


def _superseded(facts: DocumentFacts, standing: str, current: str) -> Superseded:
    effective = facts.effective.isoformat() if facts.effective else None
    return Superseded(facts.doc_id, facts.title, facts.version, effective, standing, current)


def write_health(folder: Path, health: CorpusHealth) -> dict[str, Any]:
    """Store the report in a build folder; returns the summary a manifest keeps."""
    (folder / HEALTH).write_text(json.dumps(health.to_dict(), indent=2), encoding="utf-8")
    return {"today": health.today.isoformat(), **health.counts()}


def health_report(index: LoadedIndex, today: date | None = None) -> dict[str, Any]:
    """The report of `index` on `today` as JSON: the one its build stored when it was made that day, else checked now."""
    day = today or date.today()
    stored = read_health(index.folder)
    if stored is not None and stored.get("today") == day.isoformat():
        return stored
    return check_corpus(index, day).to_dict()


def read_health(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / HEALTH
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _where(span: dict[str, Any]) -> str:
    section = " > ".join(span["section"])
    return f"{span['doc_id']}" + (f" [{section}]" if section else "") + f" @{span['start']}-{span['end']}"


def health_lines(report: dict[str, Any], shown: int = SHOWN) -> list[str]:
    """The report as text: counts, then each finding with its spans (the first `shown` conflicts)."""
    counts = report["counts"]
    lines = [f"corpus health on {report['today']}: {counts['documents']} documents, {counts['overdue_reviews']} overdue reviews, "
             f"{counts['broken_references']} broken references, {counts['superseded']} superseded or not yet in force, "
             f"{counts['conflicts']} candidate conflicts"]
    for o in report["overdue_reviews"]:
        lines.append(f"  overdue review: {o['doc_id']} ({o['title']}): next review {o['next_review']}, {o['days_overdue']} days ago; "
                     f"owner {o['owner'] or 'not stated'}" + (f"; {_where(o['span'])}" if o["span"] else ""))
    for r in report["broken_references"]:
        what = f"clause {r['clause']} of {r['target']}" if r["kind"] == "clause" else r["target"]
        lines.append(f"  broken reference ({r['kind']}): {what!r} is not in the corpus; {_where(r['span'])}: {r['span']['quote'][:160]!r}")
    for s in report["superseded"]:
        lines.append(f"  {s['standing']}: {s['doc_id']} (version {s['version'] or '?'}, effective {s['effective'] or '?'})"
                     + (f"; current copy {s['current']}" if s["current"] else ""))
    for n, c in enumerate(report["conflicts"][:shown], 1):
        per = " a year" if c["kinds"][0] == "frequency" else ""
        values = " vs ".join(", ".join(v) + per for v in c["values"])
        lines.append(f"  conflict {n} ({'/'.join(c['kinds'])}: {values}; score {c['score']:.2f}{', cites the clause' if c['cited'] else ''}):")
        lines.append(f"    {_where(c['a'])}: {c['a']['quote'][:200]!r}")
        lines.append(f"    {_where(c['b'])}: {c['b']['quote'][:200]!r}")
    if len(report["conflicts"]) > shown:
        lines.append(f"  ... {len(report['conflicts']) - shown} more candidate conflicts (--json lists them all)")
    return lines
