from rag.ingest.corpus import parse_document
from rag.ingest.frontmatter import split_front_matter


def test_front_matter_becomes_flat_metadata_and_leaves_the_body():
    text = "---\ntitle: Travel Rules\nversion: 2.1\neffective date: 2026-03-01\ntags: [travel, expenses]\n---\n# Travel\n\nBody."
    body, meta, problem = split_front_matter(text)
    assert body == "# Travel\n\nBody." and problem == ""
    assert meta == {"title": "Travel Rules", "version": "2.1", "effective_date": "2026-03-01", "tags": "travel, expenses"}


def test_invalid_front_matter_is_kept_as_text_and_reported():
    text = "---\ntitle: [unclosed\n---\nBody text."
    body, meta, problem = split_front_matter(text)
    assert body == text and meta == {} and "not valid YAML" in problem


def test_front_matter_title_and_tags_reach_the_document():
    doc = parse_document(b"---\ntitle: Clean Desk Rules\nowner: Security\ntags:\n  - desk\n  - paper\n---\nLock paper away at night.",
                         "desk.md", "markdown")
    assert doc.title == "Clean Desk Rules" and doc.text == "Lock paper away at night."
    assert doc.metadata == {"title": "Clean Desk Rules", "owner": "Security", "tags": "desk, paper"}


def test_front_matter_scalars_stay_as_written():
    _, meta, _ = split_front_matter("---\nversion: 1.10\napproved: yes\n---\nBody.")
    assert meta == {"version": "1.10", "approved": "yes"}
