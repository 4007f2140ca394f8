"""PDF to citable text: the text layer, page by page, with running heads and page numbers removed.

Owns reading a PDF with pypdf (pure Python, maintained, handles encrypted files and
damaged cross-reference tables leniently), removing the lines that repeat at the top
or bottom of most pages (running headers and footers, `Page 3 of 7`), re-flowing
lines that a paragraph wrapped (re-joining words hyphenated at a line end), and
recording where each page starts in the resulting text. Refuses, with a reason, a
PDF that is damaged, password-protected or has no text layer (a scan). Text drawn
white or in an invisible render mode is named in the notes (the build report): no
reader sees it, and hidden text is how a file smuggles instructions to a language
model. Structure (headings, clauses) is found afterwards by `rag.ingest.structure`
on the plain text.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from rag.errors import DocumentError
from rag.ingest.structure import Extracted

_EDGE_LINES = 3  # how many lines at each end of a page may be running heads or footers
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$|^-\s*\d{1,4}\s*-$", re.IGNORECASE)
_PAGE_OF = re.compile(r"\bpage\s+\d{1,4}\s*(?:of|/)\s*\d{1,4}\b", re.IGNORECASE)
_BREAK_BEFORE = re.compile(r"^(?:(?-i:[A-Z][A-Za-z]+(?: [A-Za-z]+){0,3}:\s)|[-*•▪◦]\s|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)]\s|\d+(?:\.\d+)+\s|(?:part|chapter|article|section|schedule|annex|appendix)\s+\w)",
                           re.IGNORECASE)
_MIN_TEXT_CHARS = 20


def extract_pdf(raw: bytes, doc_id: str) -> Extracted:
    """The text of a PDF with page start offsets, its info-dictionary title and metadata."""
    reader = _open(raw, doc_id)
    try:
        pages = [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
        info = reader.metadata or {}
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many exception types on damaged content streams
        raise DocumentError(f"{doc_id}: damaged PDF ({type(exc).__name__}: {exc}); re-export it from its source") from None
    bodies = _strip_running_lines(pages)
    if sum(len(line.strip()) for body in bodies for line in body) < _MIN_TEXT_CHARS:
        raise DocumentError(
            f"{doc_id}: the PDF has no text layer ({len(pages)} pages of images, probably a scan); "
            "run OCR on it (e.g. `ocrmypdf in.pdf out.pdf`) and add the result"
        )
    text, starts = _join_pages(bodies)
    empty = [str(n) for n, body in enumerate(bodies, 1) if not any(line.strip() for line in body)]
    notes = [f"page(s) {', '.join(empty)} have no text layer (images only?); run OCR to index them"] if empty else []
    hidden = _hidden_text(reader.pages)
    if hidden:
        notes.append(f"text no reader sees (white or invisible), still indexed: check it ({len(hidden)} characters): "
                     f"{hidden[:120]!r}")
    return Extracted(text=text, title=_info(info, "/Title"), markers=[], metadata=_pdf_metadata(info), pages=tuple(starts),
                     notes=notes)


_WHITE_FILLS = {(b"rg", (1.0, 1.0, 1.0)), (b"g", (1.0,)), (b"k", (0.0, 0.0, 0.0, 0.0))}
_INVISIBLE_MODES = {3, 7}  # text render modes that paint nothing


def _hidden_text(pages) -> str:  # type: ignore[no-untyped-def]
    """The text drawn white or in an invisible render mode, tracked through the graphics state; '' when none
    (or when a page's content cannot be walked: the text itself was already read)."""
    found: list[str] = []
    for page in pages:
        state: dict[str, object] = {"white": False, "invisible": False}
        stack: list[dict[str, object]] = []

        def before(op: bytes, args: list, cm: object, tm: object) -> None:  # type: ignore[type-arg]
            if op == b"q":
                stack.append(dict(state))
            elif op == b"Q" and stack:
                state.update(stack.pop())
            elif op in (b"rg", b"g", b"k", b"sc", b"scn"):
                state["white"] = (op, tuple(float(a) for a in args if isinstance(a, (int, float)))) in _WHITE_FILLS
            elif op == b"Tr" and args:
                state["invisible"] = int(args[0]) in _INVISIBLE_MODES

        def seen(text: str, cm: object, tm: object, font: object, size: object) -> None:
            if text.strip() and (state["white"] or state["invisible"]):
                found.append(text)
        try:
            page.extract_text(visitor_operand_before=before, visitor_text=seen)
        except Exception:  # noqa: BLE001 - a content stream pypdf cannot walk again: nothing more to report
            continue
    return " ".join(" ".join(found).split())


def _open(raw: bytes, doc_id: str):  # type: ignore[no-untyped-def]
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # damaged files are reported once, by us
    if not raw.lstrip()[:5].startswith(b"%PDF"):
        raise DocumentError(f"{doc_id}: not a PDF (no %PDF header); fix the extension or re-export the file")
    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted and not _decrypts(reader):
            raise DocumentError(f"{doc_id}: the PDF is password-protected; save a copy without a password and add that")
        len(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(f"{doc_id}: damaged PDF ({type(exc).__name__}: {exc}); re-export it from its source") from None
    return reader


def _decrypts(reader) -> bool:  # type: ignore[no-untyped-def]
    """True when the file opens with the empty user password (owner-password-only PDFs do)."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def _info(info, key: str) -> str:  # type: ignore[no-untyped-def]
    value = info.get(key)
    return " ".join(str(value).split()) if value else ""


def _pdf_metadata(info) -> dict[str, str]:  # type: ignore[no-untyped-def]
    keys = {"/Author": "owner", "/Subject": "subject", "/Keywords": "tags", "/Access": "access"}  # /Access: a custom info entry
    metadata = {name: _info(info, key) for key, name in keys.items() if _info(info, key)}
    if "tags" in metadata:
        metadata["tags"] = ", ".join(t.strip() for t in re.split(r"[,;]", metadata["tags"]) if t.strip())
    return metadata


def _shape(line: str) -> str:
    """A line with digits masked, so 'Page 3 of 7' and 'Page 4 of 7' compare equal."""
    return re.sub(r"\d+", "#", " ".join(line.split()).casefold())


def _strip_running_lines(pages: list[str]) -> list[list[str]]:
    """Each page's lines without running headers, footers and bare page numbers."""
    lines = [page.split("\n") for page in pages]
    exact: Counter[str] = Counter()
    masked: Counter[str] = Counter()
    for page in lines:
        body = [ln for ln in page if ln.strip()]
        edge = body[:_EDGE_LINES] + body[-_EDGE_LINES:]
        exact.update({" ".join(ln.split()).casefold() for ln in edge})
        masked.update({_shape(ln) for ln in edge})
    enough = max(2, 0.5 * len(pages))
    repeated = {line for line, n in exact.items() if n >= enough}
    # lines differing only in numbers ('Page 3 of 7') count from 3 pages on, so two numeric table rows never do
    repeated |= {shape for shape, n in masked.items() if len(pages) >= 3 and n >= enough}
    return [_trim_edges(page, repeated) for page in lines]


def _trim_edges(lines: list[str], repeated: set[str]) -> list[str]:
    def running(line: str) -> bool:
        stripped = line.strip()
        return (not stripped or _shape(line) in repeated or " ".join(stripped.split()).casefold() in repeated
                or bool(_PAGE_NUMBER.match(stripped) or _PAGE_OF.search(stripped)))

    body = list(lines)
    for _ in range(_EDGE_LINES * 2):
        if body and running(body[0]):
            body.pop(0)
    for _ in range(_EDGE_LINES * 2):
        if body and running(body[-1]):
            body.pop()
    return body


def _join_pages(pages: list[list[str]]) -> tuple[str, list[int]]:
    """One text: paragraphs separated by blank lines, table rows one per line, page starts recorded."""
    text, starts, last_kind = "", [], ""
    for lines in pages:
        blocks = _blocks(lines)
        if text and blocks:
            first_kind, first = blocks[0]
            continues = first_kind == last_kind == "text" and not _ends_paragraph(text) and not _starts_block(first)
            if continues and re.search(r"[a-z]-$", text) and first[:1].islower():
                text = text[:-1]  # a word hyphenated across the page break
            else:
                text += "\n" if first_kind == last_kind == "row" else " " if continues else "\n\n"
        starts.append(len(text))
        text += "".join(sep + line for sep, line in _separated(blocks))
        last_kind = blocks[-1][0] if blocks else last_kind
    return text, starts


def _blocks(lines: list[str]) -> list[tuple[str, str]]:
    """(kind, text) pieces of a page laid out by pypdf's layout mode: a 'row' has cells apart by 3+ spaces,
    a 'gap' is a blank line, 'text' is a line of prose. A wrapped table cell is put back into its row."""
    blocks: list[tuple[str, str]] = []
    row: list[tuple[int, int, str]] = []  # cells of the last table row: (column start, column end, text)
    for raw in lines:
        cells = [(m.start(), m.end(), " ".join(m.group().split())) for m in re.finditer(r"\S+(?: {1,2}\S+)*", raw)]
        if not cells:
            if blocks and blocks[-1][0] != "gap":
                blocks.append(("gap", ""))
        elif row and blocks[-1][0] == "row" and _continues_row(cells, row):  # no blank line: the row's cells wrapped
            row = _merge_into_row(row, cells)
            blocks[-1] = ("row", " | ".join(c[2] for c in row))
        elif len(cells) >= 2:
            row = cells
            blocks.append(("row", " | ".join(c[2] for c in cells)))
        else:
            row = []
            blocks.append(("text", cells[0][2]))
    while blocks and blocks[-1][0] == "gap":
        blocks.pop()
    return blocks


def _continues_row(fragments: list[tuple[int, int, str]], row: list[tuple[int, int, str]]) -> bool:
    """No more pieces than the row has cells, each starting at one of its columns and ending before the next."""
    if len(fragments) > len(row):
        return False
    starts = [c[0] for c in row] + [10**9]
    for begin, end, _ in fragments:
        column = next((i for i, s in enumerate(starts[:-1]) if abs(s - begin) <= 2), None)
        if column is None or end >= starts[column + 1] - 1:
            return False
    return True


def _merge_into_row(row: list[tuple[int, int, str]], fragments: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    merged = list(row)
    for begin, _, text in fragments:
        i = min(range(len(merged)), key=lambda k: abs(merged[k][0] - begin))
        merged[i] = (merged[i][0], merged[i][1], f"{merged[i][2]} {text}")
    return merged


def _separated(blocks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each line with the separator that goes before it: '' (dehyphenated join), ' ', '\n' or a blank line."""
    out: list[tuple[str, str]] = []
    previous, gap = ("", ""), False
    for kind, line in blocks:
        if kind == "gap":
            gap = True
            continue
        if not out:
            sep = ""
        elif kind == "row" and previous[0] == "row":
            sep = "\n"
        elif kind == "row" or previous[0] == "row" or gap or _starts_block(line) or _is_heading_like(previous[1]):
            sep = "\n\n"
        elif re.search(r"[a-z]-$", previous[1]) and line[:1].islower():
            out[-1] = (out[-1][0], out[-1][1][:-1])  # 'regu-' + 'lation' -> 'regulation'
            sep = ""
        else:
            sep = " "
        out.append((sep, line))
        previous, gap = (kind, line), False
    return out


def _starts_block(line: str) -> bool:
    return bool(_BREAK_BEFORE.match(line.strip()))


def _is_heading_like(line: str) -> bool:
    """A short line without closing punctuation: a title or heading, never wrapped prose."""
    words = line.split()
    return 0 < len(words) <= 8 and not line.endswith((".", ",", ";", ":", "-")) and (line[:1].isupper() or line[:1].isdigit())


def _ends_paragraph(text: str) -> bool:
    last = text.rsplit("\n", 1)[-1]
    return last.rstrip().endswith((".", ":", "?", "!")) or _is_heading_like(last)
