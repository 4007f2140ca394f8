"""DOCX to citable text: paragraphs, headings, numbered lists and tables in reading order.

Owns reading a Word file with python-docx (maintained, pure Python over lxml): heading
styles become section markers (`Heading 1` opens level 1, `Title` gives the title),
list paragraphs get their rendered number or bullet (`1.`, `a)`, `-`), each table row
becomes one `cell | cell` line so the row and its header stay together, and core
properties (title, author, keywords, version, category, subject) become metadata.
Runs no reader sees (hidden, white, or at most 1 pt) are left out of the text and reported in the notes: hidden
text is how a file smuggles instructions to a language model past its human readers. Refuses damaged or encrypted
files with a reason.
"""

from __future__ import annotations

import io
import re
import zipfile

from rag.errors import DocumentError
from rag.ingest.structure import Extracted, Marker

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


_WHITE = {"FFFFFF", "FFFFFE", "FEFEFE"}
_TINY_HALF_POINTS = 2  # w:sz is in half points: 1 pt or less is unreadable


def extract_docx(raw: bytes, doc_id: str) -> Extracted:
    document = _open(raw, doc_id)
    numbering = _numbering(document)
    counters: dict[tuple[str, int], int] = {}
    parts: list[tuple[str, str]] = []  # (kind, text): kind in title/heading/item/para/row<table number>
    markers_at: list[tuple[int, int, str]] = []  # (part index, level, label)
    for number, block in enumerate(_blocks(document)):
        if hasattr(block, "rows"):
            parts.extend((f"row{number}", row) for row in _table_rows(block))
            continue
        text = _paragraph_text(block._p)
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        level = _heading_level(style)
        if level is not None:
            markers_at.append((len(parts), level, text))
            parts.append(("title" if level == 0 else "heading", text))
        elif (prefix := _list_prefix(block, style, numbering, counters)) is not None:
            parts.append(("item", f"{prefix} {text}"))
        else:
            parts.append(("para", text))
    text, offsets = _join(parts)
    if not text.strip():
        raise DocumentError(f"{doc_id}: the Word file has no text; add content or remove it from the corpus")
    title = next((t for k, t in parts if k == "title"), "") or _core(document, "title")
    markers = [Marker(offsets[i], level, label, "heading") for i, level, label in markers_at if level > 0]
    hidden = " ".join(_hidden_text(document.element.body).split())
    notes = [f"hidden text left out ({len(hidden)} characters): {hidden[:120]!r}"] if hidden else []
    return Extracted(text=text, title=title, markers=markers, metadata=_metadata(document), notes=notes)


def _blocks(document):  # type: ignore[no-untyped-def]
    """Body paragraphs and tables in reading order, including those inside content controls (w:sdt)."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def walk(element):  # type: ignore[no-untyped-def]
        for child in element.iterchildren():
            if child.tag == f"{_W}p":
                yield Paragraph(child, document._body)
            elif child.tag == f"{_W}tbl":
                yield Table(child, document._body)
            elif child.tag == f"{_W}sdt" and (content := child.find(f"{_W}sdtContent")) is not None:
                yield from walk(content)

    yield from walk(document.element.body)


def _paragraph_text(p) -> str:  # type: ignore[no-untyped-def]
    """Visible text of a paragraph element: runs, hyperlinks, tracked insertions; tabs and breaks as spaces
    (deleted text and field codes are other elements, so they are left out)."""
    pieces = []
    for node in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr"):
        if _is_hidden(node.getparent()):
            continue
        pieces.append(node.text or "" if node.tag == f"{_W}t" else " ")
    return " ".join("".join(pieces).split())


def _is_hidden(run) -> bool:  # type: ignore[no-untyped-def]
    """Whether a run's own properties make it invisible: `vanish`, a white font colour, or a size of 1 pt or less."""
    props = run.find(f"{_W}rPr") if run is not None else None
    if props is None:
        return False
    vanish, color, size = props.find(f"{_W}vanish"), props.find(f"{_W}color"), props.find(f"{_W}sz")
    if vanish is not None and _val(vanish, "true") not in ("0", "false"):
        return True
    if color is not None and _val(color, "").upper() in _WHITE:
        return True
    return size is not None and _val(size, "24").isdigit() and int(_val(size, "24")) <= _TINY_HALF_POINTS


def _hidden_text(body) -> str:  # type: ignore[no-untyped-def]
    """The text of every hidden run, for the build report."""
    return " ".join(t.text or "" for t in body.iter(f"{_W}t") if _is_hidden(t.getparent()))


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


def _numbering(document) -> dict[tuple[str, int], tuple[str, int]]:  # type: ignore[no-untyped-def]
    """(numId, level) -> (numFmt, start) from the numbering part: 'decimal', 'bullet', 'lowerLetter', ..."""
    try:
        root = document.part.numbering_part.element
    except (KeyError, NotImplementedError, AttributeError):
        return {}
    abstract = {node.get(f"{_W}abstractNumId"): _levels(node) for node in root.iter(f"{_W}abstractNum")}
    formats = {}
    for num in root.iter(f"{_W}num"):
        levels = dict(abstract.get(_val(num.find(f"{_W}abstractNumId"), ""), {}))
        for override in num.iter(f"{_W}lvlOverride"):
            level = int(override.get(f"{_W}ilvl", "0"))
            start = override.find(f"{_W}startOverride")
            if start is not None and level in levels:
                levels[level] = (levels[level][0], int(_val(start, "1")))
        for level, spec in levels.items():
            formats[(num.get(f"{_W}numId"), level)] = spec
    return formats


def _levels(abstract_num) -> dict[int, tuple[str, int]]:  # type: ignore[no-untyped-def]
    return {int(lvl.get(f"{_W}ilvl", "0")): (_val(lvl.find(f"{_W}numFmt"), "decimal"), int(_val(lvl.find(f"{_W}start"), "1")))
            for lvl in abstract_num.iter(f"{_W}lvl")}


def _val(node, default: str) -> str:  # type: ignore[no-untyped-def]
    return node.get(f"{_W}val", default) if node is not None else default


def _num_pr(paragraph) -> tuple[str, int] | None:  # type: ignore[no-untyped-def]
    """(numId, level) of a list paragraph, set on the paragraph or inherited from its style chain."""
    holders = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None:
        holders.append(style.element.pPr)
        style = style.base_style
    for pPr in holders:
        num_pr = pPr.numPr if pPr is not None else None
        if num_pr is not None and num_pr.numId is not None:
            level = num_pr.ilvl.val if num_pr.ilvl is not None else 0
            return (str(num_pr.numId.val), int(level)) if str(num_pr.numId.val) != "0" else None
    return None


def _list_prefix(paragraph, style: str, numbering: dict[tuple[str, int], tuple[str, int]],  # type: ignore[no-untyped-def]
                 counters: dict[tuple[str, int], int]) -> str | None:
    """The marker Word shows for a list paragraph (numbers continue per list and restart below a higher level),
    or None for ordinary paragraphs."""
    key = _num_pr(paragraph)
    if key is not None:
        fmt, start = numbering.get(key, ("decimal", 1))
    elif "List Number" in style or "List Bullet" in style:
        key, (fmt, start) = (style, 0), ("decimal" if "Number" in style else "bullet", 1)
    else:
        return None
    if fmt in ("bullet", "none"):
        return "-"
    for deeper in [k for k in counters if k[0] == key[0] and k[1] > key[1]]:
        del counters[deeper]
    counters[key] = counters.get(key, start - 1) + 1
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
        cells = [_cell_text(cell).replace("|", "/") for cell in row.cells]  # a merged cell repeats per column
        if any(cells):
            rows.append(" | ".join(cells) if len(cells) > 1 else cells[0])
    return rows


def _cell_text(cell) -> str:  # type: ignore[no-untyped-def]
    """A cell's paragraphs and any nested table's rows, on one line."""
    texts = [_paragraph_text(p._p) for p in cell.paragraphs]
    texts += ["; ".join(_table_rows(nested)) for nested in cell.tables]
    return " ".join(t for t in texts if t)


def _join(parts: list[tuple[str, str]]) -> tuple[str, list[int]]:
    """Blank lines between blocks; list items and table rows of one run on consecutive lines."""
    text, offsets, previous = "", [], ""
    for kind, line in parts:
        if text:
            text += "\n" if kind == previous and (kind == "item" or kind.startswith("row")) else "\n\n"
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
    access = _custom_property(document, "access")  # File > Properties > Custom: the groups that may read it
    if access:
        metadata["access"] = access
    return metadata


def _custom_property(document, name: str) -> str:  # type: ignore[no-untyped-def]
    """A custom document property (docProps/custom.xml), by name, case-insensitively; empty when absent."""
    from xml.etree import ElementTree

    for part in document.part.package.iter_parts():
        if str(part.partname) != "/docProps/custom.xml":
            continue
        try:
            root = ElementTree.fromstring(part.blob)
        except ElementTree.ParseError:
            return ""
        for prop in root:
            if prop.get("name", "").casefold() == name:
                return " ".join("".join(prop.itertext()).split())
    return ""
