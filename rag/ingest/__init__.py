"""Ingest: files in, documents with exact text, sections, pages and metadata out, then chunks.

Owns reading a corpus folder (`corpus.load_corpus`: which files, bad-file reasons, duplicates, encodings),
the format readers (`pdf_text`, `docx_text`, `html_text`, `frontmatter`), the section structure of headings and
numbered clauses (`structure`), sentence, paragraph and table segmentation (`text`), and cutting documents into
token-counted chunks (`chunking.chunk_document`). Leaves embedding, storage and search to `rag.indexing`.
"""
