"""DOCX to citable text: paragraphs, headings, numbered lists and tables in reading order.

Owns reading a Word file with python-docx (maintained, pure Python over lxml): heading
styles become section markers (`Heading 1` opens level 1, `Title` gives the title),
list paragraphs get their rendered number or bullet (`1.`, `a)`, `-`), each table row
becomes one `cell | cell` line so the row and its header stay together, and core
properties (title, author, keywords, version, category, subject) become metadata.
Refuses damaged or encrypted files with a reason.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict

from rag.errors import DocumentError
from rag.structure import Extracted, Marker

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def extract_docx(raw: bytes, doc_id: str) -> Extracted:
    document = _open(raw, doc_id)
    numbering = _numbering_formats(document)
    counters: defaultdict[tuple[str, int], int] = defaultdict(int)
    parts: list[tuple[str, str]] = []  # (kind, text): kind in heading/title/item/row/para
    markers_at: list[tuple[int, int, str]] = []  # (part index, level, label)
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            parts.extend(("row", row) for row in _table_rows(block))
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        level = _heading_level(style)
        if level is not None:
            markers_at.append((len(parts), level, text))
            parts.append(("title" if level == 0 else "heading", text))
            counters.clear()
        elif (prefix := _list_prefix(block, style, numbering, counters)) is not None:
            parts.append(("item", f"{prefix} {text}"))
        else:
            parts.append(("para", text))
    text, offsets = _join(parts)
    if not text.strip():
        raise DocumentError(f"{doc_id}: the Word file has no text; add content or remove it from the corpus")
    title = next((t for k, t in parts if k == "title"), "") or _core(document, "title")
    markers = [Marker(offsets[i], level, label, "heading") for i, level, label in markers_at if level > 0]
    return Extracted(text=text, title=title, markers=markers, metadata=_metadata(document))


def _open(raw: bytes, doc_id: str):  # type: ignore[no-untyped-def]
    import docx

    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise DocumentError(f"{doc_id}: an encrypted or legacy (.doc) Word file; save it as an unprotected .docx and add that")
    try:
        return docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(f"{doc_id}: damaged Word file ({type(exc).__name__}: {exc}); re-save it from Word") from None
    except Exception as exc:  # python-docx/lxml raise several types on broken packages
        raise DocumentError(f"{doc_id}: cannot read the Word file ({type(exc).__name__}: {exc}); re-save it from Word") from None


def _heading_level(style: str) -> int | None:
    if style == "Title":
        return 0
    match = re.fullmatch(r"Heading (\d)", style)
    return int(match.group(1)) if match else None


def _numbering_formats(document) -> dict[tuple[str, int], str]:  # type: ignore[no-untyped-def]
    """(numId, level) -> numFmt ('decimal', 'bullet', 'lowerLetter', ...) from the numbering part."""
    try:
        root = document.part.numbering_part.element
    except (KeyError, NotImplementedError, AttributeError):
        return {}
    abstract = {}
    for node in root.iter(f"{_W}abstractNum"):
        levels = {int(lvl.get(f"{_W}ilvl", "0")): _val(lvl.find(f"{_W}numFmt"), "decimal") for lvl in node.iter(f"{_W}lvl")}
        abstract[node.get(f"{_W}abstractNumId")] = levels
    formats = {}
    for num in root.iter(f"{_W}num"):
        ref = num.find(f"{_W}abstractNumId")
        for level, fmt in abstract.get(_val(ref, ""), {}).items():
            formats[(num.get(f"{_W}numId"), level)] = fmt
    return formats


def _val(node, default: str) -> str:  # type: ignore[no-untyped-def]
    return node.get(f"{_W}val", default) if node is not None else default


def _list_prefix(paragraph, style: str, numbering: dict[tuple[str, int], str],  # type: ignore[no-untyped-def]
                 counters: defaultdict[tuple[str, int], int]) -> str | None:
    """The rendered list marker of a list paragraph, or None for ordinary paragraphs."""
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    if num_pr is not None and num_pr.numId is not None:
        key = (str(num_pr.numId.val), int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0)
        fmt = numbering.get(key, "decimal")
    elif "List Number" in style:
        key, fmt = (style, 0), "decimal"
    elif "List Bullet" in style or "List Paragraph" in style:
        key, fmt = (style, 0), "bullet"
    else:
        return None
    if fmt == "bullet":
        return "-"
    counters[key] += 1
    return _format_number(counters[key], fmt)


def _format_number(n: int, fmt: str) -> str:
    if fmt == "lowerLetter":
        return f"{chr(96 + (n - 1) % 26 + 1)})"
    if fmt == "upperLetter":
        return f"{chr(64 + (n - 1) % 26 + 1)})"
    if fmt == "lowerRoman":
        return f"({_roman(n).lower()})"
    return f"{n}."


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def _table_rows(table) -> list[str]:  # type: ignore[no-untyped-def]
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()).replace("|", "/") for cell in row.cells]  # a merged cell repeats per column
        if any(cells):
            rows.append(" | ".join(cells) if len(cells) > 1 else cells[0])
    return rows


def _join(parts: list[tuple[str, str]]) -> tuple[str, list[int]]:
    """Blank lines between blocks; list items and table rows of one run on consecutive lines."""
    text, offsets, previous = "", [], ""
    for kind, line in parts:
        if text:
            text += "\n" if kind == previous and kind in ("row", "item") else "\n\n"
        offsets.append(len(text))
        text += line
        previous = kind
    return text, offsets


def _core(document, name: str) -> str:  # type: ignore[no-untyped-def]
    value = getattr(document.core_properties, name, None)
    return " ".join(str(value).split()) if value else ""


def _metadata(document) -> dict[str, str]:  # type: ignore[no-untyped-def]
    names = {"author": "owner", "keywords": "tags", "version": "version", "category": "classification", "subject": "subject"}
    metadata = {key: _core(document, attr) for attr, key in names.items() if _core(document, attr)}
    if "tags" in metadata:
        metadata["tags"] = ", ".join(t.strip() for t in re.split(r"[,;]", metadata["tags"]) if t.strip())
    return metadata
