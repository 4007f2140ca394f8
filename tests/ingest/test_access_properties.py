"""Document properties name a document's groups: a DOCX custom property `access`, a PDF info entry `/Access`."""

import io
import zipfile

from rag.ingest.docx_text import extract_docx
from rag.ingest.pdf_text import extract_pdf
from tests.docfiles import write_docx, write_pdf

CUSTOM = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
          'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
          '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Access"><vt:lpwstr>hr, managers</vt:lpwstr></property>'
          '</Properties>')


def with_custom_properties(raw: bytes) -> bytes:
    """The .docx with a docProps/custom.xml part, as Word writes File > Properties > Custom."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>')
            if item.filename == "_rels/.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdCustom" Type="http://schemas.openxmlformats.org/'
                                    b'officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/></Relationships>')
            target.writestr(item, data)
        target.writestr("docProps/custom.xml", CUSTOM)
    return out.getvalue()


def test_a_docx_custom_property_names_its_groups(tmp_path):
    raw = write_docx(tmp_path / "a.docx").read_bytes()
    assert "access" not in extract_docx(raw, "a.docx").metadata
    assert extract_docx(with_custom_properties(raw), "a.docx").metadata["access"] == "hr, managers"


def test_a_pdf_info_entry_names_its_groups(tmp_path):
    from pypdf import PdfReader, PdfWriter

    path = write_pdf(tmp_path / "a.pdf", [["Board papers are kept for ten years."]])
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.add_metadata({"/Access": "board"})
    out = io.BytesIO()
    writer.write(out)
    assert extract_pdf(out.getvalue(), "a.pdf").metadata["access"] == "board"
