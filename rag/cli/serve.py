"""`rag serve`: the HTTP API of `server/` on one address.

Owns its options, the checks made before the server starts (a non-loopback address needs keys, `server.auth.check_bind`;
the port must be free, `check_port_free`) and the request log on standard error. Leaves the app to `server.app`; the
server and uvicorn are imported only when it starts.
"""

from __future__ import annotations

from pathlib import Path

import click

from rag.cli.shared import common_options, make_settings
from rag.errors import ConfigError


@click.command("serve")
@common_options
@click.option("--host", default=None, help="Bind address [default: 127.0.0.1, RAG_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: 8000, RAG_PORT].")
def serve_command(corpus: Path | None, index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API."""
    import logging

    import uvicorn

    from rag.access.keys import KeyStore
    from server.app import create_app
    from server.auth import check_bind

    settings = make_settings(corpus, index_dir, host=host, port=port)
    protection = check_bind(settings, KeyStore(settings))  # refuses a non-loopback address with no keys
    check_port_free(settings.host, settings.port)
    click.echo(f"access: {protection}", err=True)
    app = create_app(settings, announce_access=False)  # said just above
    access = logging.getLogger("rag.access")  # one JSON line per request, on stderr (replaces uvicorn's access log)
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler())
    access.propagate = False
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


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
