"""The audit trail: appended, rotated by size, searched by document, questions left out on request; the same reads
from the JSONL file (SQLite settings) and from the table of a real PostgreSQL database."""

import pytest

from rag.access.audit import AuditLog, AuditRecord


def record(n, doc="a.md", question="q?"):
    return AuditRecord(f"key{n}", "POST /v1/ask", "b1", (doc,), (f"{doc}#0",), question)


def test_records_are_kept_rotated_and_searchable(settings):
    log = AuditLog(settings.replace(audit_max_bytes=1000, audit_keep=2))
    for n in range(40):
        log.record(record(n, "a.md" if n % 2 else "b.md"))
    files = sorted(p.name for p in log.path.parent.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size <= 1000 for p in log.path.parent.iterdir())
    kept = list(log.records())
    assert [r.key for r in kept] == [f"key{n}" for n in range(40 - len(kept), 40)]  # oldest dropped, order kept
    assert [r.key for r in log.tail(3)] == ["key37", "key38", "key39"]
    assert {r.documents for r in log.search("a.md")} == {("a.md",)}
    assert [r.key for r in log.search(key="key39")] == ["key39"]


def test_both_backends_keep_search_and_tail_the_same_records(settings, database_url):
    log = AuditLog(settings.replace(database_url=database_url))
    for n in range(6):
        log.record(record(n, "a.md" if n % 2 else "b.md", question=f"q{n}?"))
    again = AuditLog(settings.replace(database_url=database_url))  # another process, another replica
    assert [r.key for r in again.records()] == [f"key{n}" for n in range(6)]
    assert [r.key for r in again.tail(2)] == ["key4", "key5"] and again.tail(1)[0].question == "q5?"
    assert [r.key for r in again.search("a.md")] == ["key1", "key3", "key5"]
    assert [r.key for r in again.search("b.md", key="key2")] == ["key2"] and again.search(key="nobody") == []
    assert again.tail(1)[0].chunks == ("a.md#0",) and again.tail(1)[0].status == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_questions_can_be_left_out(settings, backend, request):
    if backend == "postgresql":
        settings = settings.replace(database_url=request.getfixturevalue("postgres_url"))
    log = AuditLog(settings.replace(audit_questions=False))
    log.record(record(1, question="who is being disciplined?"))
    assert log.tail(1)[0].question is None
    assert "disciplined" not in (log.path.read_text() if log.table is None else repr(log.tail(5)))


def test_a_torn_line_is_skipped(settings):
    log = AuditLog(settings)
    log.record(record(1))
    with log.path.open("a") as f:
        f.write('{"key": "half')
    assert [r.key for r in log.records()] == ["key1"]


def test_a_stream_left_early_is_audited_with_what_it_was_given(settings, fake_embedder):
    from rag.assistant import Assistant
    from rag.models import Access
    from tests.server.access_corpus import HR_WORD, build_with_keys

    build_with_keys(settings, fake_embedder)
    assistant = Assistant(settings, embedder=fake_embedder)
    assistant.audit = AuditLog(settings)
    access = Access("hr-lead", frozenset({"hr"}), route="POST /v1/ask")
    events = assistant.stream(f"What do {HR_WORD} hearings review?", access=access)
    next(events)
    events.close()
    [record] = AuditLog(settings).tail()
    assert record.status == 499 and record.documents == ("hr/casework.md",) and record.key == "hr-lead"
    list(assistant.stream(f"What do {HR_WORD} hearings review?", access=access))
    assert AuditLog(settings).tail(1)[0].status == 200
