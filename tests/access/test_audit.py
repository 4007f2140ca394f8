"""The audit trail: appended, rotated by size, searched by document, questions left out on request."""

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


def test_questions_can_be_left_out(settings):
    log = AuditLog(settings.replace(audit_questions=False))
    log.record(record(1, question="who is being disciplined?"))
    assert log.tail(1)[0].question is None
    assert "disciplined" not in log.path.read_text()


def test_a_torn_line_is_skipped(settings):
    log = AuditLog(settings)
    log.record(record(1))
    with log.path.open("a") as f:
        f.write('{"key": "half')
    assert [r.key for r in log.records()] == ["key1"]
