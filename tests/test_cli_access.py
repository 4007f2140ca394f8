"""`rag keys` and `rag audit` as real subprocesses; `RAG_API_KEY` scoping the library calls the CLI makes."""

import os
import subprocess
import sys

import pytest

from rag.access.audit import AuditLog
from rag.assistant import Assistant
from rag.cli.shared import audited, key_access
from rag.errors import AuthError
from tests.server.access_corpus import HR_WORD, build_with_keys


def rag(*args, state):
    env = {**os.environ, "RAG_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, timeout=120)


def test_keys_add_list_revoke(tmp_path):
    added = rag("keys", "add", "alice", "--groups", "hr,staff", state=tmp_path)
    assert added.returncode == 0, added.stderr
    key = added.stdout.rstrip("\n").split("\n")[-1]
    assert key.startswith("rag_") and " " not in key
    listed = rag("keys", "list", state=tmp_path)
    assert "alice" in listed.stdout and "hr,staff" in listed.stdout and key not in listed.stdout
    assert key not in (tmp_path / "keys.sqlite").read_bytes().decode("latin-1")
    assert rag("keys", "add", "alice", "--groups", "x", state=tmp_path).returncode == 1
    assert rag("keys", "revoke", "alice", state=tmp_path).returncode == 0
    assert "revoked" in rag("keys", "list", state=tmp_path).stdout
    missing = rag("keys", "revoke", "nobody", state=tmp_path)
    assert missing.returncode == 1 and "rag keys list" in missing.stderr


def test_a_cli_key_scopes_the_library_and_is_audited(settings, fake_embedder):
    keys = build_with_keys(settings, fake_embedder)
    staff = settings.replace(api_key=keys.staff)
    access = key_access(staff, "cli search")
    assistant = audited(Assistant(staff, embedder=fake_embedder), access)
    result = assistant.search(f"{HR_WORD} payroll records", 20, None, access)
    assert result.passages and all(p.chunk.doc_id != "hr/casework.md" for p in result.passages)
    assert [(r.key, r.route) for r in AuditLog(staff).tail()] == [("staffer", "cli search")]
    assert key_access(settings, "cli") is None
    with pytest.raises(AuthError):
        key_access(settings.replace(api_key="rag_nope"), "cli")


def test_audit_tail_and_search(settings, fake_embedder):
    keys = build_with_keys(settings, fake_embedder)
    hr = settings.replace(api_key=keys.hr)
    access = key_access(hr, "cli ask")
    audited(Assistant(hr, embedder=fake_embedder), access).ask(f"What do {HR_WORD} hearings review?", access=access)
    tail = rag("audit", "tail", state=settings.state_dir)
    assert "hr-lead\tcli ask\t200" in tail.stdout and "hr/casework.md" in tail.stdout
    found = rag("audit", "search", "--doc", "hr/casework.md", state=settings.state_dir)
    assert found.stdout.count("\n") == 1 and "hr-lead" in found.stdout
    assert rag("audit", "search", "--doc", "travel.txt", "--key", "staffer", state=settings.state_dir).stdout == ""


def test_rag_chat_with_a_key_stays_in_scope_and_is_audited(settings, fake_embedder, capsys):
    import io

    from rag.search.retrieval import Filters
    from rag.cli.chat import run_chat

    keys = build_with_keys(settings, fake_embedder)
    staff = settings.replace(api_key=keys.staff)
    access = key_access(staff, "cli chat")
    assistant = audited(Assistant(staff, embedder=fake_embedder), access)
    run_chat(staff, None, Filters(), True, io.StringIO(f"What do {HR_WORD} hearings review?\n"), assistant, access)
    out = capsys.readouterr().out
    assert out and "Quokkaplan hearings" not in out and "hr/casework.md" not in out
    assert [(r.key, r.route) for r in AuditLog(staff).tail()] == [("staffer", "cli chat")]

