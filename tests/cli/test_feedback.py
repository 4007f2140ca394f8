"""`rag feedback export`, run as a real subprocess over a state folder with stored feedback (no model needed)."""

import json
import os

from rag.access.audit import AuditLog
from rag.chat.feedback import FeedbackStore
from rag.chat.store import ConversationStore
from rag.config import Settings
from rag.models import Answer, Citation
from tests.cli import rag


def test_export_writes_the_gold_rows_and_says_what_to_do_with_them(tmp_path):
    settings = Settings.from_env({}, state_dir=tmp_path / "state")
    conversations = ConversationStore(settings)
    cid = conversations.create("alice").conversation_id
    cite = Citation(1, "retention.md", "Retention", "2. Records", None, 0, 37, "2.2 CCTV footage is kept for 30 days.")
    conversations.append("alice", cid, "How long is CCTV kept?",
                         Answer("How long is CCTV kept?", f"{cite.quote} [1]", False, (cite,), (), "B1", 0.8))
    FeedbackStore(settings).rate(conversations.get("alice", cid), 1, "up", "right")
    out = tmp_path / "feedback.jsonl"
    result = rag("feedback", "export", "--out", str(out), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    assert f"wrote 1 rows to {out} (1 thumbs up, 0 thumbs down)" in result.stdout and "--gold" in result.stdout
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["question"] == "How long is CCTV kept?" and row["evidence"] == [{"doc": "retention.md", "text": cite.quote}]
    assert row["meta"]["comment"] == "right"
    only_down = rag("feedback", "export", "--out", str(out), "--rating", "down", "--state-dir", str(tmp_path / "state"))
    assert only_down.returncode == 0 and out.read_text(encoding="utf-8") == ""


def test_export_without_feedback_writes_an_empty_file_and_a_bad_path_is_one_line(tmp_path):
    result = rag("feedback", "export", "--out", str(tmp_path / "none.jsonl"), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0 and "wrote 0 rows" in result.stdout
    (tmp_path / "file").write_text("x")
    bad = rag("feedback", "export", "--out", str(tmp_path / "file" / "out.jsonl"), "--state-dir", str(tmp_path / "state"))
    assert bad.returncode == 1 and bad.stderr.startswith("error: cannot write") and bad.stderr.strip().count("\n") == 0


def test_feedback_is_listed_in_the_help():
    assert "feedback" in rag("--help").stdout


def cited(doc_id: str, quote: str) -> Answer:
    cite = Citation(1, doc_id, doc_id, "1. Files", None, 0, len(quote), quote)
    return Answer("q", f"{quote} [1]", False, (cite,), (), "B1", 0.8)


def rated(settings, owner: str, answers: list[Answer], rating: str = "up") -> str:
    """A conversation of `owner` with `answers` as its turns, its last turn rated; the conversation's id."""
    conversations = ConversationStore(settings)
    cid = conversations.create(owner).conversation_id
    for n, answer in enumerate(answers, 1):
        conversations.append(owner, cid, f"question {n} of {cid}?", answer)
    FeedbackStore(settings).rate(conversations.get(owner, cid), len(answers), rating)
    return cid


def test_with_a_key_the_export_holds_only_rows_whose_documents_it_may_read(settings, fake_embedder, tmp_path):
    from tests.server.access_corpus import build_with_keys

    keys = build_with_keys(settings, fake_embedder)
    staff_row = rated(settings, "staffer", [cited("retention.md", "Payroll records are kept for 6 years.")])
    hr_row = rated(settings, "hr-lead", [cited("hr/casework.md", "Casework files are kept for 6 years.")], "down")
    follow_up = rated(settings, "hr-lead", [cited("hr/casework.md", "Quokkaplan hearings review payroll records."),
                                            cited("retention.md", "Payroll records are kept for 6 years.")])
    gone = rated(settings, "staffer", [cited("retention.md", "A."), cited("retention.md", "B.")])
    ConversationStore(settings).delete("staffer", gone)  # its history can no longer be checked
    out = tmp_path / "out.jsonl"

    def export(key: str | None) -> tuple[str, set[str]]:
        env = {**os.environ, "RAG_STATE_DIR": str(settings.state_dir), "RAG_INDEX_DIR": str(settings.index_dir),
               "RAG_API_KEY": key or ""}
        done = rag("feedback", "export", "--out", str(out), env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout, {json.loads(line)["meta"]["conversation_id"] for line in out.read_text().splitlines()}

    said, rows = export(keys.staff)
    assert rows == {staff_row} and "readable with key 'staffer'; 3 left out" in said
    text = out.read_text()
    assert "hr/casework.md" not in text and "Casework" not in text and "Quokkaplan" not in text
    [audited] = AuditLog(settings).search(key="staffer")
    assert audited.route == "rag feedback export" and audited.documents == ("retention.md",)
    assert export(keys.hr)[1] == {staff_row, hr_row, follow_up}  # everyone's rows on hr and staff documents
    assert export(keys.board)[1] == set()
    assert export(None)[1] == {staff_row, hr_row, follow_up, gone}  # no key: the operator's whole export
    refused = rag("feedback", "export", "--out", str(out), env={**os.environ, "RAG_STATE_DIR": str(settings.state_dir),
                                                                "RAG_API_KEY": keys.staff[:-3] + "zzz"})
    assert refused.returncode == 1 and "rag keys add" in refused.stderr and keys.staff[:-3] not in refused.stderr
