"""A real PostgreSQL server for the tests: initdb in a temporary folder, a free loopback port, trust auth, stopped at
the end. Run as the `postgres` user when the tests run as root (the server refuses root); no system service, no fixed
port. `find_binaries` says where the server is, or why none can be had (the tests that need it then skip)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.e2e_helpers import free_port


def find_binaries() -> tuple[Path | None, str]:
    """The folder of initdb and pg_ctl, or None and the reason none can be used."""
    found = [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))]
    on_path = shutil.which("pg_ctl")
    folder = found[-1] if found else Path(on_path).parent if on_path else None
    if folder is None or not (folder / "initdb").exists():
        return None, "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's `postgresql` package (.ci/run does)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return None, "running as root and no `runuser` to start PostgreSQL as the postgres user"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no `postgres` user to run the server as (the server refuses root)"
    return folder, ""


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int = 0
    _names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t{next(self._names)}_{os.getpid()}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def start_server() -> PostgresServer:
    folder, reason = find_binaries()
    if folder is None:
        raise LookupError(reason)
    server = PostgresServer(folder, Path(tempfile.mkdtemp(prefix="rag-pg-")))
    server.start()
    return server
