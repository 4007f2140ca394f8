"""Lists in policy text: which sentence introduces a list, and which sentences are its items.

A list item means little without what introduces it: "3. Comment on the Group's share price" is a rule only under
"7.2 When using social media, staff must not:", and "Loyalty scheme membership fees and airport lounge access." is
an exclusion only under the heading "13. Items that are not reimbursed". This module finds, over one document's
quotable sentences, the lead-in of an item (a sentence ending with a colon or a dash, or the heading of a section that is
nothing but a run of lines) and the items after a lead-in (numbered "1." or "a)" markers, sub-clauses of the
lead-in's own clause such as 4.1.1 under 4.1, table rows and plain lines, until a clause of its own starts or the
section ends). It returns character spans; quoting them is `rag.answer.extractive`'s job.
"""

from __future__ import annotations

import re

from rag.indexing.store import LoadedIndex
from rag.ingest.text import is_table_header, is_table_row
from rag.models import Document

LIST_ITEMS = 6  # most items quoted after the sentence that introduces them
ITEMS_BACK = 20  # most items walked back over to find the lead-in of an item
LINE_ITEM_FORMATS = ("html", "docx")  # their text puts list items on lines of their own and paragraphs apart
Span = tuple[int, int]

_CLAUSE = re.compile(r"^\s*\**(\d+(?:\.\d+)*(?:\.?\(\w+\))*)\.?\**\s+")  # '6.4 ', '1. ', '**6.4** ', '1.2.1.(2) '
_MARKER = re.compile(r"^\s*(?:[a-z]\)|\([a-z0-9]+\)|[-*•]\s)")  # 'a) ', '(ii) ', '- '


def clause_number(text: str) -> str | None:
    """The clause number a sentence starts with ('6.4', '1'), or None."""
    match = _CLAUSE.match(text)
    return match.group(1) if match else None


def continues_list(lead: str, item: str) -> bool:
    """Whether `item` can be an item of the list `lead` introduces: it has no clause number, or a list marker ('1.',
    'a)', '(ii)'), or a sub-clause number of the lead-in's own clause (4.1.1 under 4.1); a clause of its own (5.4
    after 5.3) ends the list."""
    number = clause_number(item)
    if number is None or "." not in number or _MARKER.match(item):
        return True
    own = clause_number(lead)
    return own is not None and number.startswith(own + ".")


def introduces_list(text: str) -> bool:
    """A lead-in ends with a colon, or with a dash as rules are drafted ('the Regulator may cause a Provisional
    Valuation to be carried out of—')."""
    return text.rstrip().endswith((":", "\u2014", "\u2013"))


def _follows(doc: Document, lead: str, prev: Span, span: Span, after_lead: bool) -> bool:
    """Whether the sentence at `span` continues, as the next item, the list whose previous item (or lead-in, when
    `after_lead`) ends `prev`: it starts a line, and a blank line may come before it only after the lead-in or
    when it is marked as an item (a list marker, or a sub-clause of the lead-in's clause: 9.1.2 under 9.1); a
    sentence going on in the same paragraph is no item."""
    text = doc.text[span[0]:span[1]]
    gap = doc.text[prev[1]:span[0]]
    if "\n" not in gap or not continues_list(lead, text):
        return False
    marked = clause_number(text) is not None or bool(_MARKER.match(text))  # a number that continues the list marks it
    return after_lead or "\n\n" not in gap or marked  # a marked item may stand apart ('1.', '2.' a blank line apart in a PDF)


def _sentences(index: LoadedIndex, doc: Document, start: int, end: int) -> list[tuple[Span, str]]:
    rows = index.sentences.rows_within(doc.doc_id, start, end).tolist()
    return [((int(index.sentences.starts[r]), int(index.sentences.ends[r])), index.sentence_text(r)[0]) for r in rows]


def _region(doc: Document, offset: int) -> Span:
    """The span of the run of sections around `offset` under the same top-level heading (its clauses included: 9.1.2
    is a section of its own beside 9.1), or the whole document when `offset` lies in no section."""
    i = doc.section_index(offset)
    if i is None:
        return 0, len(doc.text)
    top, first, last = doc.sections[i].path[:1], i, i
    while first > 0 and doc.sections[first - 1].path[:1] == top:
        first -= 1
    while last + 1 < len(doc.sections) and doc.sections[last + 1].path[:1] == top:
        last += 1
    return doc.sections[first].start, doc.sections[last].end


def _section(doc: Document, offset: int) -> Span:
    i = doc.section_index(offset)
    return (doc.sections[i].start, doc.sections[i].end) if i is not None else (0, len(doc.text))


def with_colon_tail(doc: Document, span: Span) -> Span:
    """`span` extended over the rest of its paragraph line when that rest is a short lead-in the sentence finder did
    not keep ('... likely to happen. Examples include:'), else `span` itself."""
    line_end = doc.text.find("\n", span[1])
    line_end = len(doc.text) if line_end < 0 else line_end
    tail = doc.text[span[1]:line_end].rstrip()
    return (span[0], span[1] + len(tail)) if tail and introduces_list(tail) and len(tail.split()) <= 8 else span


def item_spans(index: LoadedIndex, doc: Document, lead: Span) -> list[Span]:
    """The items right after the lead-in sentence `lead` (up to LIST_ITEMS)."""
    lead = with_colon_tail(doc, lead)
    text = doc.text[lead[0]:lead[1]]
    if not introduces_list(text):
        return []
    out: list[Span] = []
    prev = lead
    for span, _ in _sentences(index, doc, lead[1], _region(doc, lead[0])[1]):
        if is_table_header(doc.text, span[0]):
            continue  # a table's header row names its columns; its rows are the items
        if len(out) >= LIST_ITEMS or not _follows(doc, text, prev, span, prev == lead):
            break
        out.append(span)
        prev = span
    return out


def lead_in_span(index: LoadedIndex, doc: Document, item: Span) -> Span | None:
    """The sentence or heading that introduces the list `item` belongs to, or None when it is no list item (or a
    table row, which reads with its header)."""
    text = doc.text[item[0]:item[1]]
    if introduces_list(text) or is_table_row(_line_at(doc.text, item[0])):
        return None
    chain = [item]  # the item and the sentences before it, last first
    for span, before in reversed(_sentences(index, doc, _region(doc, item[0])[0], item[0])[-ITEMS_BACK:]):
        if is_table_header(doc.text, span[0]):
            continue
        extended = with_colon_tail(doc, span)
        span, before = (extended, doc.text[extended[0]:extended[1]]) if extended != span else (span, before)
        if introduces_list(before):
            spans = [span, *reversed(chain)]
            ok = all(_follows(doc, before, a, b, a == span) for a, b in zip(spans, spans[1:]))
            return span if ok else None
        chain.append(span)
    return _heading_of_lines(doc, _section(doc, item[0]), item)


def _heading_of_lines(doc: Document, section: Span, item: Span) -> Span | None:
    """The heading line of a section that holds nothing but a run of list items up to and around `item` ('13.
    Items that are not reimbursed' over one excluded item per line, no blank line between them): lines marked as
    items ('- ', 'a) '), or any lines of a format that keeps paragraphs apart (LINE_ITEM_FORMATS); None for prose,
    numbered clauses, or a section without a heading of its own. Plain text and PDF lines may be a paragraph's."""
    path, text = doc.section_at(section[0]), doc.text
    heading_end = text.find("\n", section[0], item[0])
    label = path[-1].strip() if path else ""
    if not label or heading_end < 0 or text[section[0]:heading_end].strip().lstrip("#").strip() != label or label == doc.title:
        return None
    heading = text.index(label, section[0], heading_end)
    whole_line = (item[0] == 0 or text[item[0] - 1] == "\n") and text[item[1]:item[1] + 1] in ("\n", "")
    block = text[heading_end:item[0]].lstrip("\n")  # the lines between the heading's blank line and the item
    if not whole_line or "\n" in text[item[0]:item[1]] or "\n\n" in block:
        return None
    lines = block.split("\n")[:-1] + [text[item[0]:item[1]]]
    if text[item[1]:item[1] + 1] == "\n" and text[item[1] + 1:item[1] + 2] not in ("\n", ""):
        lines.append(text[item[1] + 1:].split("\n", 1)[0])  # the next line of the run
    listed = doc.source_format in LINE_ITEM_FORMATS or all(_MARKER.match(line) for line in lines)
    return (heading, heading + len(label)) if len(lines) > 1 and listed and not any(map(clause_number, lines)) else None


def _line_at(text: str, offset: int) -> str:
    end = text.find("\n", offset)
    return text[text.rfind("\n", 0, offset) + 1 : end if end >= 0 else len(text)]
