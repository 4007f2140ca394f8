"""References to other documents that point nowhere: a title, a document code, or a clause of a named document.

Owns finding the mentions (a capitalised name ending in Policy, Standard, Procedure, ...; a code such as MHG-AUP-003;
'clause 6.3 of the Acceptable Use Policy', 'Information Security Policy (MHG-ISP-001), section 7') and resolving each
against the corpus: a title resolves when its words all appear in one document's title of the same kind, a code when a
document states it, a clause when the resolved document has a section or line numbered so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from rag.lifecycle.facts import DocumentFacts, Span
from rag.models import Document

_KIND_WORDS = r"(?:Policy|Standard|Procedure|Schedule|Framework|Guidelines?|Charter|Manual|Handbook|Code of Conduct|Plan)"
_NAME_WORD = r"(?:[A-Z][\w'’&-]*|and|of|for|&|the)"
TITLE = re.compile(r"\b((?:[A-Z][\w'’&-]*\s+)(?:" + _NAME_WORD + r"\s+){0,6}?" + _KIND_WORDS + r")\b(?!\s+[A-Z][a-z])")
CODE = re.compile(r"\b([A-Z]{2,6}(?:-[A-Z0-9]{2,6})*-\d{2,4})\b")
_CLAUSE_WORD = r"(?:clause|section|paragraph|para\.?)"
_CLAUSE_OF = re.compile(_CLAUSE_WORD + r"\s+(\d+(?:\.\d+)*)\s+of\s+(?:the\s+|our\s+)?", re.IGNORECASE)
_CLAUSE_AFTER = re.compile(r"^\s*(?:\([A-Z0-9-]+\))?\s*,?\s*" + _CLAUSE_WORD + r"\s+(\d+(?:\.\d+)*)", re.IGNORECASE)
_GENERIC_FIRST = {"this", "that", "these", "the", "our", "each", "any", "every", "a", "an", "all", "group", "its", "their",
                  "relevant", "applicable", "other", "such", "local", "new", "same", "in", "under", "see"}
_SMALL = {"and", "of", "for", "&", "the"}


@dataclass(frozen=True)
class BrokenReference:
    """A mention that resolves to nothing: `kind` is title, code or clause; `target` as written; `span` the sentence."""

    kind: str
    target: str
    clause: str
    span: Span

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "target": self.target, "clause": self.clause, "span": self.span.to_dict()}


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _SMALL]


class Resolver:
    """The corpus's titles, codes and clause numbers, to resolve mentions against."""

    def __init__(self, documents: Iterable[Document], facts: dict[str, DocumentFacts]) -> None:
        self.documents = {d.doc_id: d for d in documents}
        self.titles = {doc_id: _words(d.title) for doc_id, d in self.documents.items()}
        self.codes = {f.code: doc_id for doc_id, f in facts.items() if f.code}

    def title(self, name: str) -> str | None:
        """The document a title names: every word of the mention is in its title and the kind word agrees."""
        words = _words(name)
        for doc_id, title in self.titles.items():
            if title and words and words[-1] == title[-1] and set(words) <= set(title):
                return doc_id
        for doc_id, title in self.titles.items():  # 'the Password Policy' for a 'Password Standard'
            if title and set(words[:-1]) and set(words[:-1]) <= set(title) and len(words) > 2:
                return doc_id
        return None

    def has_clause(self, doc_id: str, number: str) -> bool:
        doc = self.documents[doc_id]
        if any(re.match(rf"^(?:section\s+)?{re.escape(number)}\b", part, re.IGNORECASE) for s in doc.sections for part in s.path):
            return True
        return re.search(rf"(?m)^[\s#*|>-]*(?:section\s+|clause\s+)?{re.escape(number)}(?:\.|\s|\)|:)", doc.text, re.IGNORECASE) is not None


def mentioned_titles(text: str) -> list[re.Match[str]]:
    """Title-like mentions, a leading generic word ('This Policy', 'the Group Policy') trimmed or refused."""
    found = []
    for match in TITLE.finditer(text):
        words = match.group(1).split()
        if words[0].lower() in _GENERIC_FIRST or len(words) < 2:
            continue
        found.append(match)
    return found


def broken_references(doc: Document, sentences: list[tuple[int, int]], resolver: Resolver) -> list[BrokenReference]:
    """The mentions in `doc`'s sentences that resolve to nothing in the corpus, one per target per sentence."""
    out: list[BrokenReference] = []
    own_title = set(_words(doc.title))
    for start, end in sentences:
        text = doc.text[start:end]
        seen: set[tuple[str, str]] = set()

        def add(kind: str, target: str, clause: str = "") -> None:
            if (kind, target) not in seen:
                seen.add((kind, target))
                out.append(BrokenReference(kind, target, clause, Span.of(doc, start, end)))

        for match in CODE.finditer(text):
            if match.group(1) not in resolver.codes and not re.fullmatch(r"[A-Z]+-\d{4}", match.group(1)):
                add("code", match.group(1))
        for match in mentioned_titles(text):
            name = " ".join(match.group(1).split())
            target = resolver.title(name)
            if target is None and set(_words(name)) != own_title:
                add("title", name)
            clause = _clause_of(text, match)
            if target is not None and clause and not resolver.has_clause(target, clause):
                add("clause", name, clause)
    return out


def _clause_of(text: str, match: re.Match[str]) -> str:
    """The clause number a title mention is cited with: 'clause 6.3 of the X Policy' or 'X Policy (CODE), section 7'."""
    before = text[max(0, match.start() - 40) : match.start()]
    found = list(_CLAUSE_OF.finditer(before))
    if found and found[-1].end() == len(before):
        return found[-1].group(1)
    after = _CLAUSE_AFTER.match(text[match.end() : match.end() + 40])
    return after.group(1) if after else ""


def cited_clauses(doc: Document, sentences: list[tuple[int, int]], resolver: Resolver) -> list[tuple[int, int, str, str]]:
    """(start, end, target doc_id, clause) for each sentence citing a clause of a document the corpus holds."""
    out = []
    for start, end in sentences:
        text = doc.text[start:end]
        for match in mentioned_titles(text):
            target, clause = resolver.title(" ".join(match.group(1).split())), _clause_of(text, match)
            if target is not None and target != doc.doc_id and clause:
                out.append((start, end, target, clause))
    return out


def clause_of_section(path: tuple[str, ...], clause: str) -> bool:
    """Whether a section path lies in clause `clause` ('6.3' holds '6.3' and '6.3.1')."""
    return any(re.match(rf"^(?:section\s+|clause\s+)?{re.escape(clause)}(?:\.\d+)*(?:\.|\s|$|:)", part, re.IGNORECASE) for part in path)
