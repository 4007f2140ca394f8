"""Uploaded files: names kept under the corpus folder, the build's own checks and messages, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.errors import DocumentError, InvalidRequestError, PayloadTooLargeError
from rag.ingest.corpus import load_corpus
from rag.uploads.files import TEMP_PREFIX, clean_name, store_upload, target_path

NEW_TRAVEL = (b"Travel Rules\n\nVersion: 2.1\nOwner: Finance Director\n\n1. PURPOSE\n\n1.1 This document explains what staff may "
              b"claim when they travel for work.\n\nArticle 2 - Hotels\n\n2.1 The nightly hotel limit is 180 pounds in London.\n")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) and its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["../escape.md", "a/../../escape.md", "/etc/escape.md", "C:\\Windows\\escape.md",
                                  "..\\..\\escape.md", "./escape.md", "a//b.md", ".hidden.md", "policies/.git/config.md",
                                  "\u202eescape.md", "nul\x00.md", "tab\there.md", "", "   "])
def test_names_that_leave_the_folder_or_hide_are_refused(name):
    with pytest.raises(InvalidRequestError) as refused:
        clean_name(name)
    assert "plain name such as travel-policy.pdf" in refused.value.message


def test_names_are_cleaned_to_what_every_system_can_hold():
    assert clean_name("policies/travel.md") == "policies/travel.md"
    assert clean_name("Politique de voyage e\u0301te\u0301.md") == "Politique de voyage \u00e9t\u00e9.md"  # NFC
    assert clean_name('what?<now>|"x".md') == "what--now---x-.md"
    assert clean_name("  Travel Policy.docx ") == "Travel Policy.docx"
    assert clean_name("folder\\sub\\x.txt") == "folder/sub/x.txt"


@pytest.mark.parametrize("name,suffix", [("payload.exe", "'.exe'"), ("access.toml", "'.toml'"), ("README", "'(none)'")])
def test_a_type_the_build_never_reads_is_refused_with_the_build_s_message(name, suffix):
    with pytest.raises(DocumentError) as refused:
        clean_name(name)
    assert refused.value.message == f"{name}: unsupported file type {suffix}; supported: .docx, .htm, .html, .markdown, .md, .pdf, .text, .txt"


def test_a_symlinked_folder_inside_the_corpus_is_no_way_out(mini_corpus, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (mini_corpus / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidRequestError, match="symlink"):
        target_path(mini_corpus, "linked/x.md")
    (mini_corpus / "linked.md").symlink_to(outside / "x.md")
    with pytest.raises(InvalidRequestError, match="symlink"):
        target_path(mini_corpus, "linked.md")


def build_reason(settings, name: str, raw: bytes, tmp_path: Path) -> str:
    """What the build says about a file of these bytes (its skipped reason)."""
    folder = tmp_path / "probe"
    folder.mkdir(exist_ok=True)
    (folder / "ok.md").write_text("# Ok\n\nA usable document.\n")
    (folder / name).write_bytes(raw)
    skipped = {s.path: s.reason for s in load_corpus(folder, settings.max_document_bytes).skipped}
    return skipped[name]


@pytest.mark.parametrize("name,raw", [("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage"), ("broken.docx", b"PK\x03\x04 not a zip"),
                                      ("empty.md", b""), ("binary.txt", b"\x00\x01\x02binary"), ("pdf.md", b"%PDF-1.4 text?")])
def test_damaged_files_are_refused_with_the_build_s_message_and_nothing_changes(settings, tmp_path, name, raw):
    before = snapshot(settings.corpus_dir)
    with pytest.raises(DocumentError) as refused:
        store_upload(settings, name, raw)
    assert refused.value.message == f"{name}: {build_reason(settings, name, raw, tmp_path)}"
    assert snapshot(settings.corpus_dir) == before


def test_oversized_uploads_are_refused_naming_the_limit(settings):
    before = snapshot(settings.corpus_dir)
    small = settings.replace(max_upload_bytes=1000)
    with pytest.raises(PayloadTooLargeError, match=r"travel.txt: 1001 bytes is over the limit of 1000 \(RAG_MAX_UPLOAD_BYTES\)"):
        store_upload(small, "travel.txt", b"x" * 1001)
    tighter = settings.replace(max_document_bytes=1000, max_upload_bytes=5000)  # the build would skip it: same limit
    with pytest.raises(PayloadTooLargeError, match="RAG_MAX_DOCUMENT_BYTES"):
        store_upload(tighter, "travel.txt", b"x" * 1001)
    assert snapshot(settings.corpus_dir) == before


def test_a_new_version_replaces_the_file_atomically_and_the_same_bytes_change_nothing(settings):
    stored = store_upload(settings, "travel.txt", NEW_TRAVEL)
    assert stored.replaced and not stored.unchanged and stored.doc_id == "travel.txt"
    assert (settings.corpus_dir / "travel.txt").read_bytes() == NEW_TRAVEL
    assert not [p for p in settings.corpus_dir.rglob(f"{TEMP_PREFIX}*")]
    again = store_upload(settings, "travel.txt", NEW_TRAVEL)
    assert again.unchanged and not again.replaced
    added = store_upload(settings, "policies/new/gifts.md", b"# Gifts\n\n1.1 Gifts over 50 pounds are declared.\n")
    assert not added.replaced and (settings.corpus_dir / "policies" / "new" / "gifts.md").is_file()


def test_a_copy_of_another_indexed_document_is_refused_as_the_build_would_skip_it(settings):
    raw = (settings.corpus_dir / "retention.md").read_bytes()
    import hashlib

    with pytest.raises(DocumentError, match="copy.md: same content as retention.md"):
        store_upload(settings, "copy.md", raw, {"retention.md": hashlib.sha256(raw).hexdigest()})
    assert not (settings.corpus_dir / "copy.md").exists()


def test_a_write_killed_before_the_rename_leaves_the_old_file_and_only_a_hidden_temp(settings, monkeypatch):
    before = snapshot(settings.corpus_dir)

    def killed(src, dst):  # the process dies between writing the temp file and renaming it
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        store_upload(settings, "travel.txt", NEW_TRAVEL)
    monkeypatch.undo()
    assert snapshot(settings.corpus_dir) == before  # the temp file is removed; had it not been, the build ignores it
    (settings.corpus_dir / f"{TEMP_PREFIX}leftover.part").write_bytes(NEW_TRAVEL)
    assert {d.doc_id for d in load_corpus(settings.corpus_dir).documents} == {"conduct.html", "retention.md", "travel.txt"}
