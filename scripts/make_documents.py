#!/usr/bin/env python3
"""Render the policy sources in scripts/doc_sources/ to PDF and DOCX files.

Each source is Markdown with a YAML front matter block::

    ---
    title: Anti-Bribery and Corruption Policy
    document_id: MHG-ABC-014
    version: "1.2"
    effective_date: 1 February 2026
    owner: Head of Compliance
    classification: Internal
    format: pdf            # or docx
    tags: [anti-bribery, corruption]
    company: Meridian Harbour Group plc   # optional: the running header's organisation
    ---

The body uses a small Markdown subset: `## 4. Heading` (level 1), `### 6.1 Heading`
(level 2), paragraphs (one clause each, separated by blank lines), numbered lists
(`1. item`), bullet lists (`- item`) and pipe tables with a header row.

`<stem>.md` becomes `<out>/<stem>.pdf` (fpdf2, A4, Helvetica, running header and
footer) or `<out>/<stem>.docx` (python-docx, built-in Title/Heading/List Number
styles, Table Grid tables). Output is deterministic: fixed creation dates (the
document's effective date), and DOCX zip members get a fixed timestamp, so
rerunning the script gives byte-identical files.

Usage: .venv/bin/python scripts/make_documents.py [--out DIR] [--sources DIR] [SOURCE ...]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SOURCES = HERE / "doc_sources"
DEFAULT_OUT = ROOT / "docs_corpus"
COMPANY = "Meridian Harbour Group plc"
PRODUCER = "Meridian Harbour Group document builder (scripts/make_documents.py)"

# Metadata lines printed under the title, in this order, like the Markdown/text/HTML policies.
META_LINES = (
    ("document_id", "Document ID"),
    ("version", "Version"),
    ("effective_date", "Effective date"),
    ("next_review_date", "Next review date"),
    ("owner", "Owner"),
    ("approved_by", "Approved by"),
    ("classification", "Classification"),
)
REQUIRED = ("title", "version", "effective_date", "owner", "tags", "classification", "format")


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    kind: str  # "h1" | "h2" | "para" | "numbered" | "bullets" | "table"
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Source:
    path: Path
    meta: dict
    blocks: list[Block]

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def fmt(self) -> str:
        return str(self.meta["format"]).lower()

    @property
    def title(self) -> str:
        return str(self.meta["title"])

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.meta["tags"]]

    def meta_lines(self) -> list[str]:
        return [f"{label}: {self.meta[key]}" for key, label in META_LINES if self.meta.get(key)]

    def fixed_datetime(self) -> datetime:
        """The effective date, 09:00 UTC: used as creation and modification date."""
        return datetime.strptime(str(self.meta["effective_date"]), "%d %B %Y").replace(hour=9, tzinfo=UTC)


_NUMBERED_ITEM = re.compile(r"^\d+\.\s+(.*)$")
_BULLET_ITEM = re.compile(r"^[-*]\s+(.*)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _split_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_source(path: Path) -> Source:
    text = path.read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    if not match:
        raise SystemExit(f"{path}: no YAML front matter block")
    meta = yaml.safe_load(match.group(1)) or {}
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise SystemExit(f"{path}: front matter lacks {', '.join(missing)}")
    if str(meta["format"]).lower() not in ("pdf", "docx"):
        raise SystemExit(f"{path}: format must be pdf or docx, not {meta['format']!r}")
    if isinstance(meta["tags"], str):
        meta["tags"] = [t.strip() for t in meta["tags"].split(",") if t.strip()]
    body = match.group(2)
    try:
        body.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = body[exc.start : exc.end]
        raise SystemExit(f"{path}: non-latin-1 character {bad!r} (the PDF core fonts cannot show it)") from None

    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", body):
        lines = [ln.rstrip() for ln in chunk.strip("\n").split("\n") if ln.strip()]
        if not lines:
            continue
        first = lines[0]
        if first.startswith("# "):
            continue  # a document title line: the title comes from the front matter
        if first.startswith("### "):
            blocks.append(Block("h2", first[4:].strip()))
        elif first.startswith("## "):
            blocks.append(Block("h1", first[3:].strip()))
        elif first.startswith("|"):
            if len(lines) < 3 or not _TABLE_RULE.match(lines[1]):
                raise SystemExit(f"{path}: table without a header rule: {first[:60]!r}")
            rows = [_split_row(lines[0])] + [_split_row(ln) for ln in lines[2:]]
            width = len(rows[0])
            for row in rows:
                if len(row) != width:
                    raise SystemExit(f"{path}: table row has {len(row)} cells, header has {width}: {row[0][:40]!r}")
            blocks.append(Block("table", rows=rows))
        elif all(_NUMBERED_ITEM.match(ln) for ln in lines) and len(lines) > 1:
            blocks.append(Block("numbered", items=[_NUMBERED_ITEM.match(ln).group(1) for ln in lines]))
        elif all(_BULLET_ITEM.match(ln) for ln in lines):
            blocks.append(Block("bullets", items=[_BULLET_ITEM.match(ln).group(1) for ln in lines]))
        else:
            blocks.append(Block("para", " ".join(ln.strip() for ln in lines)))
    return Source(path, meta, blocks)


def word_count(src: Source) -> int:
    words = len(src.title.split()) + sum(len(line.split()) for line in src.meta_lines())
    for b in src.blocks:
        words += len(b.text.split())
        words += sum(len(i.split()) for i in b.items)
        words += sum(len(c.split()) for row in b.rows for c in row)
    return words


def _col_weights(rows: list[list[str]]) -> list[float]:
    """Relative column widths: proportional to the longest words and average text of each column."""
    weights = []
    for col in range(len(rows[0])):
        cells = [row[col] for row in rows]
        avg = sum(len(c) for c in cells) / len(cells)
        longest_word = max(len(w) for c in cells for w in (c.split() or [""]))
        weights.append(max(avg, longest_word * 1.3, 8.0))
    return weights


def _pdf_col_widths(pdf, rows: list[list[str]], padding: float, short: int = 30) -> list[float]:
    """Column widths in mm: columns whose cells are all short (dates, amounts, names) get the
    width their longest cell needs, so they do not wrap; the other columns share the rest."""
    weights = _col_weights(rows)
    fixed: dict[int, float] = {}
    for col in range(len(rows[0])):
        body = [row[col] for row in rows[1:]]
        if max(len(c) for c in body) <= short:
            need = max(pdf.get_string_width(c) for c in body)
            pdf.set_font(style="B")  # the heading may wrap between words, not inside one
            need = max([need] + [pdf.get_string_width(w) for w in rows[0][col].split()])
            pdf.set_font(style="")
            fixed[col] = need + 2 * (padding + pdf.c_margin) + 1.0
    rest = pdf.epw - sum(fixed.values())
    flexible = [w for col, w in enumerate(weights) if col not in fixed]
    if not flexible or rest < 0.25 * pdf.epw:
        total = sum(weights)
        return [pdf.epw * w / total for w in weights]
    total = sum(flexible)
    return [fixed[col] if col in fixed else rest * w / total for col, w in enumerate(weights)]


# --------------------------------------------------------------------------- PDF


def render_pdf(src: Source, out: Path) -> int:
    from fpdf import FPDF, FontFace

    company = src.meta.get("company", COMPANY)
    header_text = f"{company} - {src.title}"
    classification = str(src.meta["classification"])

    class PolicyPDF(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, header_text, align="L", new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(160, 160, 160)
            self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
            self.set_text_color(0, 0, 0)
            self.ln(6)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", "", 8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, f"{classification} | Page {self.page_no()} of {{nb}}", align="C")
            self.set_text_color(0, 0, 0)

    pdf = PolicyPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(20, 15, 20)
    pdf.set_auto_page_break(auto=True, margin=22)
    pdf.set_title(src.title)
    pdf.set_author(str(src.meta["owner"]))
    pdf.set_subject(str(src.meta.get("subject") or src.title))
    pdf.set_keywords(", ".join(src.tags))
    pdf.set_creator(company)
    pdf.set_producer(PRODUCER)
    pdf.set_creation_date(src.fixed_datetime())
    pdf.set_lang("en-GB")
    pdf.add_page()

    body_size, line_h = 10.5, 5.4

    def heading(p, text: str, size: float, space_before: float) -> None:
        if p.get_y() > p.t_margin + 12:
            p.ln(space_before)
        p.set_font("Helvetica", "B", size)
        p.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        p.ln(2)

    def draw(p, block: Block) -> None:
        """Render one block on `p` (the PDF, or the dummy of `offset_rendering`)."""
        if block.kind == "h1":
            heading(p, block.text, 13, 4)
        elif block.kind == "h2":
            heading(p, block.text, 11.5, 2)
        elif block.kind == "para":
            p.set_font("Helvetica", "", body_size)
            p.multi_cell(0, line_h, block.text, align="L", new_x="LMARGIN", new_y="NEXT")
            p.ln(2.5)
        elif block.kind in ("numbered", "bullets"):
            p.set_font("Helvetica", "", body_size)
            indent = 7
            for n, item in enumerate(block.items, 1):
                marker = f"{n}." if block.kind == "numbered" else "-"
                p.set_x(p.l_margin + indent)
                p.multi_cell(p.epw - indent, line_h, f"{marker} {item}", align="L", new_x="LMARGIN", new_y="NEXT")
                p.ln(1)
            p.ln(1.5)
        elif block.kind == "table":
            p.set_font("Helvetica", "", 9)
            with p.table(
                col_widths=_pdf_col_widths(p, block.rows, padding=1.2),
                text_align="LEFT",
                v_align="TOP",
                line_height=4.6,
                first_row_as_headings=True,
                repeat_headings=1,
                headings_style=FontFace(emphasis="BOLD", fill_color=(225, 231, 240)),
                padding=1.2,
            ) as table:
                for row in block.rows:
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
            p.ln(4)
        else:  # pragma: no cover
            raise AssertionError(block.kind)

    def small(block: Block) -> bool:
        """Blocks short enough to be kept on one page with what introduces them."""
        return block.kind in ("para", "numbered", "bullets") or (block.kind == "table" and len(block.rows) <= 8)

    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, src.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10)
    for line in src.meta_lines():
        pdf.multi_cell(0, 5, line, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    blocks = src.blocks
    for i, block in enumerate(blocks):
        # Keep a heading with what follows it, an introduction ending in ':' with its
        # table or list, and a short table in one piece: start a new page if they do not fit.
        group = [block]
        j = i + 1
        while j < len(blocks) and (group[-1].kind in ("h1", "h2") or (group[-1].kind == "para" and group[-1].text.endswith(":"))):
            if not small(blocks[j]):
                break
            group.append(blocks[j])
            j += 1
        if len(group) > 1 or (block.kind == "table" and small(block)):
            with pdf.offset_rendering() as dummy:
                for b in group:
                    draw(dummy, b)
            if dummy.page_break_triggered and pdf.get_y() > pdf.t_margin + 20:
                pdf.add_page()
        draw(pdf, block)

    out.write_bytes(bytes(pdf.output()))
    return pdf.page_no()


# --------------------------------------------------------------------------- DOCX


def _mark_header_row(row) -> None:
    """Repeat the row at the top of every page and mark it as the table header."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


def render_docx(src: Source, out: Path) -> int:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.add_paragraph(src.title, style="Title")
    lines = src.meta_lines()
    for n, line in enumerate(lines, 1):
        p = document.add_paragraph(line)
        p.paragraph_format.space_after = Pt(12 if n == len(lines) else 0)

    for block in src.blocks:
        if block.kind == "h1":
            document.add_heading(block.text, level=1)
        elif block.kind == "h2":
            document.add_heading(block.text, level=2)
        elif block.kind == "para":
            document.add_paragraph(block.text)
        elif block.kind == "numbered":
            for item in block.items:
                document.add_paragraph(item, style="List Number")
        elif block.kind == "bullets":
            for item in block.items:
                document.add_paragraph(item, style="List Bullet")
        elif block.kind == "table":
            rows = block.rows
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = text
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            _mark_header_row(table.rows[0])
        else:  # pragma: no cover
            raise AssertionError(block.kind)

    when = src.fixed_datetime().replace(tzinfo=None)
    props = document.core_properties
    props.title = src.title
    props.author = str(src.meta["owner"])
    props.last_modified_by = str(src.meta["owner"])
    props.subject = str(src.meta.get("subject") or src.title)
    props.keywords = ", ".join(src.tags)
    props.category = str(src.meta["classification"])
    props.version = str(src.meta["version"])
    props.identifier = str(src.meta.get("document_id") or "")
    props.comments = f"Generated from scripts/doc_sources/{src.path.name}"
    props.revision = 1
    props.created = when
    props.modified = when
    props.last_printed = when

    buffer = io.BytesIO()
    document.save(buffer)
    out.write_bytes(_fixed_zip(buffer.getvalue(), when))
    return 0


def _fixed_zip(data: bytes, when: datetime) -> bytes:
    """Rewrite a zip with fixed member timestamps and attributes, in the same member order."""
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default docs_corpus/)")
    ap.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="folder of .md sources")
    ap.add_argument("files", nargs="*", type=Path, help="render only these sources")
    args = ap.parse_args(argv)

    paths = sorted(args.files) if args.files else sorted(args.sources.glob("*.md"))
    if not paths:
        print(f"no sources in {args.sources}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        src = parse_source(path)
        target = args.out / f"{src.stem}.{src.fmt}"
        if src.fmt == "pdf":
            pages = render_pdf(src, target)
            detail = f"{pages} pages"
        else:
            render_docx(src, target)
            detail = f"{sum(1 for b in src.blocks if b.kind == 'table')} tables"
        print(f"wrote {target} ({word_count(src)} words, {detail}, {target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
