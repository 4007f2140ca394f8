"""`rag keys` and `rag audit` as real subprocesses (`RAG_API_KEY` scoping a command: tests/cli/test_shared.py)."""

import os

from rag.assistant import Assistant
from rag.cli.shared import audited, key_access
from tests.cli import rag as run
from tests.server.access_corpus import HR_WORD, build_with_keys


def rag(*args, state):
    return run(*args, env={**os.environ, "RAG_STATE_DIR": str(state)})


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
