"""Tests of the `rag` command line, one module per command module of `rag/cli/` (`test_index`, `test_ask`, `test_chat`,
`test_eval`, `test_keys`, `test_feedback`, `test_settings`), the group itself (`test_main`), and the snapshots of every
command's help and output (`test_snapshot`). `rag(...)` runs the command as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def rag(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`rag ARGS...` as `python -m rag.cli`, its output captured."""
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
