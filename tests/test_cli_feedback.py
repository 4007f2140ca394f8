"""`rag feedback export`, run as a real subprocess over a state folder with stored feedback (no model needed)."""

import json

from rag.chat.feedback import FeedbackStore
from rag.chat.store import ConversationStore
from rag.config import Settings
from rag.models import Answer, Citation
from tests.test_cli import rag


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
