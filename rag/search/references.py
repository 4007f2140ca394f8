"""Exact references named in a question: clause numbers, articles, sections, quoted terms, acronyms.

Owns finding the references a question names ("clause 4.2.1", "Article 21",
"Section 3(b)", "Rule 9.7.3", "GEN 3.3", a quoted defined term, an acronym such
as "DPIA") and deciding whether a passage carries one, so retrieval can lift the
passages that hold exactly what was asked for; and the document versions a
question names ("version 3.2"), which the answerer finds in history tables. A bare number ("48 hours") is not
a reference; a dotted one ("4.2.1") is, with or without a keyword before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEYWORDS = r"clauses?|articles?|art\.|sections?|sec\.|rules?|regulations?|paragraphs?|para\.|parts?|chapters?|schedules?|appendix|annex|§"
_NUMBER = r"\d+[A-Za-z]?(?:\.\d+[A-Za-z]?)*"
_KEYWORD_REF = re.compile(rf"(?<![\w])({_KEYWORDS})\s*\u200e?\s*({_NUMBER})", re.IGNORECASE)
_DOTTED = re.compile(r"(?<![\w.£$€])\d+(?:\.\d+){2,}(?![\w])")  # 4.2.1; "2.5" alone may be a quantity
_MODULE_REF = re.compile(r"\b[A-Z]{2,6}\s+\u200e?(\d+\.\d+(?:\.\d+)*)(?![\w])")  # GEN 3.3, COBS 8.1
_QUOTED = re.compile(r"[\"“‘']([A-Za-z][\w\- ]{1,60}?)[\"”’']")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,7}s?\b")
_VERSION_REF = re.compile(r"(?<![A-Z]{2} )(?<![A-Z]{3} )(?<![A-Z]{4} )(?<![A-Z]{5} )\b[Vv]ersion\s+(\d+(?:\.\d+)*)")
# a document's version ('version 3.2 of the policy'); 'TLS version 1.2' or 'SNMP version 3' names a protocol's
_COMMON_CAPS = frozenset({"I", "A", "OK", "UK", "US", "EU", "IT", "HR", "PM", "AM", "CEO", "FAQ", "NB", "ID"})


@dataclass(frozen=True)
class Reference:
    """One reference of a question, with the regex that finds it in a passage."""

    label: str
    kind: str  # "number" (a clause, article, section ... number), "term" (quoted term or acronym)
    pattern: re.Pattern[str]
    needle: str = ""  # lower-case text every match contains: a cheap test before the regex

    def carried_by(self, text: str, lowered: str | None = None) -> bool:
        """Whether `text` carries the reference (`lowered`: `text.lower()`, when the caller has it already)."""
        if self.needle and self.needle not in (text.lower() if lowered is None else lowered):
            return False
        return self.pattern.search(text) is not None

    def defined_by(self, text: str) -> bool:
        """True where a line of `text` starts with the reference: the clause or article itself, not a mention
        of it ("as required by clause 6.4")."""
        if self.kind != "number":
            return False
        return any(m.start() == _line_start(text, m.start()) for m in self.pattern.finditer(text))


def _line_start(text: str, offset: int) -> int:
    """Offset of the first non-blank, non-markup character of the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    while start < offset and text[start] in " \t*#>|-":
        start += 1
    return start


def _number_pattern(number: str) -> re.Pattern[str]:
    """A number matches itself and its sub-clauses (4.2.1 finds 4.2.1 and 4.2.1(a), not 4.2.10 or 14.2.1)."""
    return re.compile(rf"(?<![\w.]){re.escape(number)}(?![0-9A-Za-z])")


def _keyword_pattern(keyword: str, number: str) -> re.Pattern[str]:
    word = re.escape(_singular(keyword))
    return re.compile(rf"(?<![\w]){word}s?\.?\s*\u200e?\s*{re.escape(number)}(?![\d])", re.IGNORECASE)


def _singular(keyword: str) -> str:
    word = keyword.rstrip(".").lower()
    return word[:-1] if word.endswith("s") and len(word) > 4 else word


def extract_references(question: str) -> tuple[Reference, ...]:
    """The references a question names, each once, in order of appearance."""
    found: dict[str, Reference] = {}
    question = _VERSION_REF.sub(" ", question)  # 'version 1.2.1' names a document version, not clause 1.2.1
    dotted = [m.group(0) for m in _DOTTED.finditer(question)] + [m.group(1) for m in _MODULE_REF.finditer(question)]
    for m in _KEYWORD_REF.finditer(question):
        keyword, number = m.group(1), m.group(2)
        if number in dotted or "." in number:
            found.setdefault(number, Reference(number, "number", _number_pattern(number), number.lower()))
        else:
            label = f"{_singular(keyword).title()} {number}"
            found.setdefault(label.lower(), Reference(label, "number", _keyword_pattern(keyword, number), number.lower()))
    for number in dotted:
        found.setdefault(number, Reference(number, "number", _number_pattern(number), number.lower()))
    for m in _QUOTED.finditer(question):
        term = " ".join(m.group(1).split())
        words = r"\s+".join(re.escape(w) for w in term.split())
        pattern = re.compile(rf"(?<![\w]){words}(?![\w])", re.IGNORECASE)
        found.setdefault(term.lower(), Reference(term, "term", pattern, term.split()[0].lower()))
    for m in _ACRONYM.finditer(question):
        word = m.group(0)
        if word in _COMMON_CAPS or word.lower() in found or any(ch.isdigit() for ch in word):
            continue
        stem = word[:-1] if word.endswith("s") and word[:-1].isupper() else word
        found.setdefault(word.lower(), Reference(stem, "term", re.compile(rf"(?<![\w]){re.escape(stem)}s?(?![\w])"), stem.lower()))
    return tuple(found.values())


def carried_share(references: tuple[Reference, ...], text: str) -> float:
    """Share of the references that `text` (a passage with its section path) carries."""
    if not references:
        return 0.0
    return sum(ref.carried_by(text) for ref in references) / len(references)


def named_versions(question: str) -> tuple[str, ...]:
    """The version numbers a question names ('When did version 3.2 take effect?'), each once."""
    return tuple(dict.fromkeys(m.group(1) for m in _VERSION_REF.finditer(question)))


def names_version(display: str, versions: tuple[str, ...]) -> bool:
    """Whether a sentence is the document-history row of one of `versions`: a table row whose display text is
    labelled 'Version: 3.2; Date: ...' (its front-matter line 'Version: 3.2' alone says nothing about it)."""
    return any(re.match(rf"\s*version:\s*{re.escape(v)}\s*;", display, re.IGNORECASE) for v in versions)
