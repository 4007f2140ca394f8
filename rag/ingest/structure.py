"""Document structure: where headings and numbered clauses start, and the section map.

Owns recognising Markdown headings, plain-text headings (`1. PURPOSE`,
`Article 12 - Scope`, `Section 3: Reporting`, ALL-CAPS lines) and numbered
clause paragraphs (`4.2.1 Staff must ...`), and turning those markers into
non-overlapping `Section` ranges with heading paths. Format-specific text
extraction (HTML) lives elsewhere and hands its markers here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.ingest.text import is_table_row
from rag.models import Section

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBER = r"(\d{1,3}(?:\.\d{1,3})*)"
_NUMBERED = re.compile(rf"^{_NUMBER}\.?\s+(\S.*)$")
_NAMED = re.compile(
    r"^(part|chapter|article|section|schedule|annex|appendix|clause|rule)\s+([0-9]+[A-Za-z]?|[IVXLC]+)\b[\s.:\-–—]*(.*)$",
    re.IGNORECASE,
)
_NAMED_LEVEL = {"part": 1, "chapter": 1, "schedule": 1, "annex": 1, "appendix": 1, "article": 2, "section": 2, "clause": 3, "rule": 3}
_SENTENCE_END = (".", ";", ",", ":")


@dataclass(frozen=True)
class Marker:
    """A structural boundary: a heading (opens a level) or a clause (a leaf)."""

    offset: int
    level: int
    label: str
    kind: str  # "heading" | "clause"


@dataclass
class Extracted:
    """What a format reader hands to corpus loading: citable text and what it learnt about structure.

    `markers` may be empty (structure is then found from the text); `pages` holds page start offsets."""

    text: str
    title: str = ""
    markers: list[Marker] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    pages: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)  # things worth reporting about a usable file


def _lines(text: str) -> list[tuple[int, str]]:
    out, offset = [], 0
    for line in text.split("\n"):
        out.append((offset, line))
        offset += len(line) + 1
    return out


def markdown_markers(text: str) -> list[Marker]:
    markers: list[Marker] = []
    in_fence = False
    for offset, line in _lines(text):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            markers.append(Marker(offset, len(heading.group(1)), _clean(heading.group(2)), "heading"))
        elif (clause := _clause_number(line)) is not None:
            markers.append(Marker(offset, 99, clause, "clause"))
    return markers


def clause_markers(text: str) -> list[Marker]:
    """Numbered clause paragraphs only (for text whose headings come from elsewhere, e.g. HTML)."""
    return [
        Marker(offset, 99, clause, "clause")
        for offset, line in _lines(text)
        if not is_table_row(line) and (clause := _clause_number(line)) is not None
    ]


def text_markers(text: str) -> list[Marker]:
    markers: list[Marker] = []
    previous_blank = True
    for offset, line in _lines(text):
        stripped = line.strip()
        prose = bool(stripped) and not is_table_row(stripped)  # table rows are never headings or clauses
        marker = _text_heading(stripped, previous_blank) if prose else None
        if marker is None and prose and (clause := _clause_number(stripped)) is not None:
            marker = (99, clause, "clause")
        if marker is not None:
            markers.append(Marker(offset + len(line) - len(line.lstrip()), *marker))
        previous_blank = not stripped
    return _rank_named_levels(markers)


def _rank_named_levels(markers: list[Marker]) -> list[Marker]:
    """Named headings nest by rank among the kinds a document uses: Part > Article, or Article alone at the top."""
    named = sorted({m.level for m in markers if m.kind == "heading" and _NAMED.match(m.label)})
    rank = {level: i + 1 for i, level in enumerate(named)}
    return [
        Marker(m.offset, rank[m.level], m.label, m.kind) if m.kind == "heading" and _NAMED.match(m.label) else m
        for m in markers
    ]


def _text_heading(line: str, previous_blank: bool) -> tuple[int, str, str] | None:
    if len(line) > 90 or line.endswith(_SENTENCE_END) and not _NAMED.match(line):
        return None
    named = _NAMED.match(line)
    if named:
        return _NAMED_LEVEL[named.group(1).lower()], _clean(line), "heading"
    numbered = _NUMBERED.match(line)
    if numbered and _looks_like_title(numbered.group(2)):
        return numbered.group(1).count(".") + 1, _clean(line), "heading"
    letters = [c for c in line if c.isalpha()]
    if previous_blank and len(letters) >= 4 and all(c.isupper() for c in letters):
        return 1, _clean(line), "heading"
    return None


def _looks_like_title(rest: str) -> bool:
    words = rest.split()
    return 0 < len(words) <= 10 and not rest.endswith(_SENTENCE_END)


def _clause_number(line: str) -> str | None:
    """`4.2.1 Staff must ...` -> '4.2.1' (a numbered paragraph, not a heading)."""
    match = re.match(rf"^\s*(?:\*\*)?{_NUMBER}(?:\*\*)?\.?\s+\S", line)
    if match and "." in match.group(1):
        return match.group(1)
    return None


def _clean(label: str) -> str:
    return re.sub(r"[*_`]+", "", label).strip().rstrip(":").strip()


def build_sections(text: str, markers: list[Marker]) -> tuple[Section, ...]:
    """Cover `text` with sections: each marker runs until the next one."""
    ordered = sorted(markers, key=lambda m: m.offset)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    start, path = 0, ()
    for marker in ordered:
        if marker.offset > start:
            sections.append(Section(start, marker.offset, path))
        if marker.kind == "heading":
            stack = [entry for entry in stack if entry[0] < marker.level] + [(marker.level, marker.label)]
            path = tuple(label for _, label in stack)
        else:
            path = tuple(label for _, label in stack) + (marker.label,)
        start = marker.offset
    if start < len(text):
        sections.append(Section(start, len(text), path))
    return tuple(sections)
