"""`rag serve`: the HTTP API of `server/` on one address, in one process or `--workers N`.

Owns its options, the checks made before the server starts (a non-loopback address needs keys, `server.auth.check_bind`;
the port must be free, `check_port_free`; every store's schema, `server.app.check_state`), the request log on standard
error, and starting N worker processes: the settings travel to them as `RAG_*` variables, and each worker writes its
metrics into one fresh `PROMETHEUS_MULTIPROC_DIR`, so `/metrics` on any of them adds up all. Leaves the app to
`server.app`; the server and uvicorn are imported only when it starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click

from rag.cli.shared import common_options, make_settings
from rag.config import Settings
from rag.errors import ConfigError

METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@click.command("serve")
@common_options
@click.option("--host", default=None, help="Bind address [default: 127.0.0.1, RAG_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: 8000, RAG_PORT].")
@click.option("--workers", type=int, default=None, help="Server processes on the port, each with the index and model "
              "loaded [default: 1, RAG_WORKERS].")
def serve_command(corpus: Path | None, index_dir: Path | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API."""
    import logging

    import uvicorn

    from rag.access.keys import KeyStore
    from server.app import check_state, create_app
    from server.auth import check_bind

    settings = make_settings(corpus, index_dir, host=host, port=port, workers=workers)
    protection = check_bind(settings, KeyStore(settings))  # refuses a non-loopback address with no keys
    check_port_free(settings.host, settings.port)
    check_state(settings)  # a database newer than this code stops here
    click.echo(f"access: {protection}", err=True)
    if settings.workers > 1:
        serve_workers(settings)
        return
    app = create_app(settings, announce_access=False)  # said just above
    access = logging.getLogger("rag.access")  # one JSON line per request, on stderr (replaces uvicorn's access log)
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler())
    access.propagate = False
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


def serve_workers(settings: Settings) -> None:
    """uvicorn's N worker processes on one socket, each building the app from the `RAG_*` variables set here."""
    import uvicorn

    for name, value in (("corpus_dir", settings.corpus_dir), ("index_dir", settings.index_dir), ("host", settings.host),
                        ("port", settings.port), ("workers", settings.workers)):
        os.environ[f"RAG_{name.upper()}"] = str(value)
    metrics = tempfile.mkdtemp(prefix="rag-metrics-")  # fresh: counts of an earlier run must not add in
    os.environ[METRICS_DIR] = metrics
    click.echo(f"workers: {settings.workers} processes on {settings.host}:{settings.port}; metrics added up in {metrics}", err=True)
    try:
        uvicorn.run("server.app:served_app", factory=True, workers=settings.workers, host=settings.host,
                    port=settings.port, log_level="info", access_log=False)
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


def check_port_free(host: str, port: int) -> None:
    """Fail early, with the fix, when another process holds the address."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): another process uses it; "
                              f"pick another port with --port or RAG_PORT (e.g. RAG_PORT={port + 1} make run)") from None
