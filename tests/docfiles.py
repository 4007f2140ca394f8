"""Small PDF and DOCX files written on the fly for tests (fpdf2 and python-docx), with known page contents."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def write_pdf(path: Path, pages: Sequence[Sequence[str]], title: str = "Test Policy", header: str = "Acme plc - Test Policy",
              table: Sequence[Sequence[str]] = (), password: str | None = None, keywords: str = "") -> Path:
    """One page per item of `pages` (each a list of paragraphs), a running header, a 'Page n of N' footer,
    and `table` (header row first) at the end of the last page."""
    from fpdf import FPDF

    class _Pdf(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=8)
            self.cell(0, 8, header, new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Internal | Page {self.page_no()} of {{nb}}", align="C")

    pdf = _Pdf()
    pdf.set_title(title)
    pdf.set_author("Head of Compliance")
    if keywords:
        pdf.set_keywords(keywords)
    pdf.set_creation_date(__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc))
    if password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=password)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    if table:
        with pdf.table() as grid:
            for cells in table:
                row = grid.row()
                for cell in cells:
                    row.cell(cell)
    pdf.output(str(path))
    return path


def write_image_only_pdf(path: Path) -> Path:
    """A 'scanned' PDF: pages with drawings and no text layer."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


def write_docx(path: Path, title: str = "Data Handling Standard") -> Path:
    """Title, two heading levels, a numbered list, a bullet, a table and core properties."""
    import docx

    document = docx.Document()
    document.add_paragraph(title, style="Title")
    document.add_paragraph("Version: 1.3")
    document.add_heading("1. Purpose", level=1)
    document.add_paragraph("This standard sets out how information is classified and handled.")
    document.add_heading("1.1 Labelling steps", level=2)
    document.add_paragraph("Choose the classification level.", style="List Number")
    document.add_paragraph("Apply the sensitivity label before sharing.", style="List Number")
    document.add_paragraph("Ask the owner when unsure.", style="List Bullet")
    document.add_heading("2. Levels", level=1)
    grid = document.add_table(rows=3, cols=2)
    for r, cells in enumerate([("Level", "Encryption"), ("Internal", "Not required"), ("Confidential", "Required in transit")]):
        for c, value in enumerate(cells):
            grid.cell(r, c).text = value
    document.add_heading("3. Owners", level=1)
    document.add_paragraph("2.1 Every information asset has a named owner who reviews access each quarter.")
    props = document.core_properties
    props.title, props.author, props.keywords, props.version, props.category = title, "CISO", "classification; handling", "1.3", "Internal"
    document.save(str(path))
    return path
