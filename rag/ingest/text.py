"""Text segmentation with character offsets: paragraphs, lines, sentences, words.

Owns finding sentence spans in policy text (abbreviations, clause numbers,
list items and table rows kept intact) and the word normalisation used for
lexical overlap. Every function returns `(start, end)` offsets into the text it
was given, so callers can quote spans exactly. No tokenizer or model here.
"""

from __future__ import annotations

import re
from functools import lru_cache

Span = tuple[int, int]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_BREAK = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "no", "nos", "mr", "mrs", "ms", "dr", "st", "vs", "approx", "cf", "inc", "ltd",
    "co", "art", "arts", "sec", "para", "paras", "fig", "p", "pp", "vol", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.u", "min", "max", "ref",
}
_LINE_ITEM = re.compile(r"^\s*(?:[-*+•|>#]|\(?[0-9a-zA-Z]{1,4}[.)]\s|\d+(?:\.\d+)+\s)")
_WORD = re.compile(r"[A-Za-z0-9£$€%]+(?:[.,'][A-Za-z0-9]+)*")
STOPWORDS = frozenset(
    """a an the of to in on for and or but if is are was were be been being by with as at from that this these
    those it its into than then there their they them we our you your i me my he she his her what which who
    whom whose when where why how do does did doing have has had having can could should would may might must
    shall will not no any all each every some such so about over under out up down also only other more most
    own same too very s t just don now policy""".split()
)


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Blocks separated by blank lines, whitespace trimmed."""
    end = len(text) if end is None else end
    spans, cursor = [], start
    for match in _PARAGRAPH_BREAK.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def line_units(text: str, start: int, end: int) -> list[Span]:
    """Lines of a paragraph, joining a wrapped line with its lowercase continuation."""
    units: list[Span] = []
    cursor = start
    for line_end in [m.start() for m in re.finditer("\n", text[start:end])] + [end - start]:
        a, b = cursor, start + line_end
        cursor = b + 1
        if a >= b:
            continue
        if units and _continues(text, units[-1], (a, b)):
            units[-1] = (units[-1][0], b)
        else:
            units.append((a, b))
    return [s for s in (_trim(text, a, b) for a, b in units) if s[1] > s[0]]


def _continues(text: str, previous: Span, line: Span) -> bool:
    prev_text = text[previous[0]:previous[1]].rstrip()
    line_text = text[line[0]:line[1]].lstrip()
    if not prev_text or not line_text or _LINE_ITEM.match(line_text) or is_table_row(prev_text) or is_table_row(line_text):
        return False
    return not prev_text.endswith((".", ":", ";", "!", "?", "|")) and line_text[0].islower()


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of text[start:end], never crossing a paragraph or list line."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for p_start, p_end in paragraph_spans(text, start, end):
        for l_start, l_end in line_units(text, p_start, p_end):
            spans.extend(_split_sentences(text, l_start, l_end))
    return spans


def _split_sentences(text: str, start: int, end: int) -> list[Span]:
    spans, cursor = [], start
    for match in _SENTENCE_BREAK.finditer(text, start, end):
        if _is_abbreviation(text, cursor, match.start()):
            continue
        spans.append(_trim(text, cursor, match.start() + 1 + _closing_len(match.group())))
        cursor = match.end()
    spans.append(_trim(text, cursor, end))
    return [s for s in spans if s[1] > s[0]]


def _closing_len(separator: str) -> int:
    return len(separator[1:].rstrip()) if separator else 0


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    """A dot that ends an abbreviation, an initial, or a leading list number ('1. Purpose')."""
    before = text[start:dot].split()
    if not before:
        return False
    word = before[-1].lower().lstrip("(\"'")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    return len(before) == 1 and bool(re.fullmatch(r"\d+(\.\d+)*", word))


def word_spans(text: str, start: int, end: int) -> list[Span]:
    """Whitespace-separated words of text[start:end]."""
    return [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def content_words(text: str) -> list[str]:
    """Lower-cased words minus stopwords, lightly stemmed, for lexical overlap."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


@lru_cache(maxsize=1 << 17)  # a corpus repeats its words: stemming each once makes whole-build passes cheap
def stem(word: str) -> str:
    """A tiny suffix stripper: enough to match 'records'/'record', 'retained'/'retain'."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def is_table_row(line: str) -> bool:
    """A Markdown table row (`| a | b |`) or an extracted HTML row (`a | b`)."""
    stripped = line.strip()
    return stripped.startswith("|") or " | " in stripped


def table_blocks(text: str) -> list[list[Span]]:
    """Runs of two or more consecutive table-row lines; each table is the list of its row spans (header first)."""
    tables: list[list[Span]] = []
    run: list[Span] = []
    offset = 0
    for line in text.split("\n") + [""]:
        span = _trim(text, offset, min(offset + len(line), len(text)))
        if line.strip() and is_table_row(line):
            run.append(span)
        else:
            if len(run) >= 2:
                tables.append(run)
            run = []
        offset += len(line) + 1
    return tables


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def is_table_header(text: str, row_start: int) -> bool:
    """Whether the line at `row_start` is the header row of a table: a row with no row above it and one below."""
    line_start = text.rfind("\n", 0, row_start) + 1
    line_end = text.find("\n", row_start)
    if line_end < 0 or not is_table_row(text[line_start:line_end]):
        return False
    above = text[text.rfind("\n", 0, line_start - 1) + 1 : line_start - 1] if line_start else ""
    below_end = text.find("\n", line_end + 1)
    below = text[line_end + 1 : below_end if below_end >= 0 else len(text)]
    return not (line_start and is_table_row(above)) and is_table_row(below)


def table_header(text: str, row_start: int) -> list[str] | None:
    """Header cells of the table whose row starts at `row_start` (None if not a table row or it is the header)."""
    line_start = text.rfind("\n", 0, row_start) + 1
    line_end = text.find("\n", row_start)
    if not is_table_row(text[line_start : line_end if line_end >= 0 else len(text)]):
        return None
    first = line_start
    while first > 0:
        prev_start = text.rfind("\n", 0, first - 1) + 1
        if not is_table_row(text[prev_start : first - 1]):
            break
        first = prev_start
    if first == line_start:
        return None
    header_end = text.find("\n", first)
    return table_cells(text[first:header_end])
