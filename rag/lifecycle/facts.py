"""Document facts: the title, code, version, dates, owner and status a policy states about itself, and its history.

Owns reading those facts from a document's metadata (front matter, DOCX properties, the `Key: value` lines ingest
already read) and from its own header lines (a "Next review date:" line), parsing dates written the ways policies
write them, the rows of a "Document history" / change-log table, and grouping the copies of one policy into a
version family (same code, else same title and owner) with each copy's standing on a given day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from rag.ingest.text import is_table_row, table_cells
from rag.models import Document

_HEADER_LINES = 40
_KEY_LINE = re.compile(r"^[\s|*\-•]*([A-Za-z][A-Za-z /]{1,30}?)\s*\**\s*:\s*\**\s*(.+?)[\s*|]*$")
_KEYS = {
    "code": ("document id", "document code", "document_id", "document number", "reference", "policy number", "code"),
    "version": ("version", "version number"),
    "effective": ("effective date", "effective_date", "effective from", "in force from", "date effective"),
    "next_review": ("next review date", "next review", "next_review_date", "review date", "review_date", "review due"),
    "owner": ("owner", "policy owner", "document owner"),
    "status": ("status", "document status"),
}
_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d, %Y", "%B %d %Y", "%b %d, %Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%B %Y")
_HISTORY_HEADING = re.compile(r"(document|version|revision|change)\s+(history|log|record)|change\s*log", re.IGNORECASE)
_HISTORY_LINE = re.compile(r"^\s*(?:[-*•]\s*)?Version\s+([\w.]+)\s*,\s*([^:]{4,40}):\s*(.+)$", re.IGNORECASE)
INACTIVE_STATUS = ("superseded", "withdrawn", "retired", "archived", "obsolete", "replaced")


@dataclass(frozen=True)
class Span:
    """Where a finding's text lies: document, section path, characters `[start, end)` and the quoted text."""

    doc_id: str
    title: str
    section: tuple[str, ...]
    start: int
    end: int
    quote: str

    @classmethod
    def of(cls, doc: Document, start: int, end: int) -> "Span":
        return cls(doc.doc_id, doc.title, doc.section_at(start), start, end, " ".join(doc.text[start:end].split()))

    def to_dict(self) -> dict[str, object]:
        return {"doc_id": self.doc_id, "title": self.title, "section": list(self.section), "start": self.start,
                "end": self.end, "quote": self.quote}


@dataclass(frozen=True)
class ChangeRow:
    """One row of a document's history: version, date (as written), and what changed."""

    version: str
    date: str
    summary: str


@dataclass(frozen=True)
class DocumentFacts:
    doc_id: str
    title: str
    code: str
    version: str
    effective: date | None
    next_review: date | None
    owner: str
    status: str
    history: tuple[ChangeRow, ...]
    review_span: tuple[int, int] | None  # where the next review date is written

    def to_dict(self) -> dict[str, object]:
        return {"doc_id": self.doc_id, "title": self.title, "code": self.code, "version": self.version,
                "effective": _iso(self.effective), "next_review": _iso(self.next_review), "owner": self.owner,
                "status": self.status, "history": [vars(row) for row in self.history]}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def parse_date(text: str) -> date | None:
    """A date as policies write it ('1 September 2025', '2025-09-01', 'September 1, 2025', '01/09/2025'); else None."""
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().strip(".,;"))
    cleaned = " ".join(cleaned.replace(",", ", ").split()).replace(" ,", ",")
    for candidate in (cleaned, cleaned.split(",")[0], cleaned.split(" (")[0]):
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(candidate.strip(), fmt).date()
            except ValueError:
                continue
    return None


def header_values(doc: Document) -> dict[str, tuple[str, tuple[int, int]]]:
    """`Key: value` lines of the document's first lines, by lower-case key, with the line's character span."""
    found: dict[str, tuple[str, tuple[int, int]]] = {}
    offset = 0
    for n, line in enumerate(doc.text.split("\n")):
        if n >= _HEADER_LINES:
            break
        match = _KEY_LINE.match(line)
        if match:
            key = " ".join(match.group(1).lower().split())
            found.setdefault(key, (match.group(2).strip(), (offset + len(line) - len(line.lstrip()), offset + len(line.rstrip()))))
        offset += len(line) + 1
    return found


def read_facts(doc: Document) -> DocumentFacts:
    """The facts a document states about itself: metadata first, then its header lines."""
    lines = header_values(doc)
    meta = {" ".join(k.lower().replace("_", " ").split()): str(v) for k, v in doc.metadata.items()}

    def value(field: str) -> tuple[str, tuple[int, int] | None]:
        for key in _KEYS[field]:
            key = key.replace("_", " ")
            if key in lines:
                return lines[key][0], lines[key][1]
            if key in meta and meta[key].strip():
                return meta[key].strip(), None
        return "", None

    review, review_span = value("next_review")
    return DocumentFacts(doc.doc_id, doc.title, value("code")[0].upper(), value("version")[0], parse_date(value("effective")[0]),
                         parse_date(review), value("owner")[0], value("status")[0], history_rows(doc), review_span)


def history_rows(doc: Document) -> tuple[ChangeRow, ...]:
    """Rows of the document's history: a table under a 'Document history' / 'Change log' heading, or
    'Version 2.3, 1 October 2023: ...' lines."""
    rows: list[ChangeRow] = []
    heading = next((m for m in _HISTORY_HEADING.finditer(doc.text)
                    if re.fullmatch(r"[\s#*\d.]*", doc.text[doc.text.rfind("\n", 0, m.start()) + 1 : m.start()])), None)
    if heading is None:
        return ()
    for line in doc.text[heading.end():].split("\n")[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        if is_table_row(stripped):
            cells = [c.strip() for c in table_cells(stripped)]
            if len(cells) >= 3 and re.match(r"^v?\d+(\.\d+)*$", cells[0], re.IGNORECASE) and parse_date(cells[1]):
                rows.append(ChangeRow(cells[0], cells[1], "; ".join(cells[2:])))
            continue
        match = _HISTORY_LINE.match(stripped)
        if match:
            rows.append(ChangeRow(match.group(1).rstrip(".,"), match.group(2).strip(), match.group(3).strip()))
        elif rows or re.match(r"^#|^\d+\.\s+[A-Z]", stripped):
            break  # the next section
    return tuple(rows)


def normal_title(title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    return " ".join(w for w in words if w not in ("the", "and", "of", "draft", "copy", "old", "superseded", "v", "version"))


@dataclass(frozen=True)
class Standing:
    """One copy of a policy on a day: `current`, `superseded` (a newer effective copy exists, or its status says so),
    `not yet in force` (effective after the day), or `only copy`."""

    facts: DocumentFacts
    standing: str
    current: str  # the doc_id of the family's current copy ('' when none is in force)


def version_families(facts: list[DocumentFacts], today: date) -> list[list[Standing]]:
    """Copies of one policy (same code; else same title and a named owner: untitled or unowned documents are no
    family, since a title alone ('1) Introduction') is shared by unrelated guidance), two or more, each with its
    standing on `today`. A copy is superseded only by a newer dated copy in force, or by its own status."""
    groups: dict[str, list[DocumentFacts]] = {}
    for f in facts:
        key = f"code:{f.code}" if f.code else f"title:{normal_title(f.title)}|{f.owner.lower()}" if f.owner and f.title else f"doc:{f.doc_id}"
        groups.setdefault(key, []).append(f)
    families = []
    for members in groups.values():
        if len(members) < 2:
            continue
        in_force = [f for f in members if f.effective and f.effective <= today and f.status.lower() not in INACTIVE_STATUS]
        current = max(in_force, key=lambda f: (f.effective, _version_key(f.version)), default=None)
        rows = []
        for f in sorted(members, key=lambda f: (f.effective or date.min, f.doc_id)):
            if f.effective and f.effective > today:
                standing = "not yet in force"
            elif current is None:  # no dated copy in force: nothing says these are older than another
                standing = "superseded" if f.status.lower() in INACTIVE_STATUS else "current"
            elif f.doc_id == current.doc_id:
                standing = "current"
            else:
                standing = "superseded"
            rows.append(Standing(f, standing, current.doc_id if current else ""))
        families.append(rows)
    return families


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version)) or (0,)
