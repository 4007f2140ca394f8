"""Real `rag serve` replicas for the scale-out tests: one index folder, one PostgreSQL database, each its own port and
(empty, unused) state folder; started, killed with SIGKILL and restarted like an operator's processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from rag.config import Settings
from rag.indexing import builds
from rag.indexing.passage_encoder import make_passage_embedder
from tests.conftest import FIXTURES
from tests.e2e_helpers import free_port, stop, wait_until_up


def build_mini(root: Path, database_url: str) -> Settings:
    """The mini corpus built with the real model into `root/index`; the settings every replica shares."""
    shutil.copytree(FIXTURES / "mini", root / "corpus")
    settings = Settings.from_env({}, corpus_dir=root / "corpus", index_dir=root / "index", state_dir=root / "tests-state",
                                 database_url=database_url)
    builds.promote(settings.index_dir, builds.build(settings, make_passage_embedder(settings)).build_id)
    return settings


def replica_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "RAG_INDEX_DIR": str(settings.index_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir),
            "RAG_DATABASE_URL": settings.database_url, "RAG_THREADS": "1", **extra}


class Replica:
    """One `rag serve` process on its own port."""

    def __init__(self, name: str, root: Path, env: dict[str, str], *args: str) -> None:
        self.name, self.root, self.args = name, root / name, args
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "RAG_STATE_DIR": str(self.root / "state")}  # nothing may land here: the state is shared
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> "Replica":
        self.starts += 1
        self.log_path = self.root / f"server{self.starts}.log"
        self._log = open(self.log_path, "wb")  # a file, not a pipe: a full pipe would stall the server
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(self.port), *self.args],
                                     env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def wait(self, seconds: float = 240) -> "Replica":
        assert self.proc is not None
        wait_until_up(f"{self.url}/readyz", self.proc, self.log_path, seconds, f"replica {self.name}")
        return self

    def ready(self) -> bool:
        """Whether it answers now (a restart in progress does not)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, no flush
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self._log.close()
