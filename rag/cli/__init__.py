"""The `rag` command line: a thin layer over the library, one module per command group.

Owns the `rag` group and `main` (the console script `rag = "rag.cli:main"`, and `python -m rag.cli`), nothing else:
each command lives in its own module (`index`: index build, status, list, rollback; `ask`: ask and search; `chat`;
`eval`: eval and calibrate; `tune`; `corpus`: corpus check; `keys`: keys and audit; `feedback`; `serve`; `settings`), and what they share
(the common options, settings from options, the one place a library error becomes `error: ...` and exit code 1,
output formatting) lives in `shared`. Imports run from this package to the command modules and from them to
`shared`, never back. Leaves everything else to the library: heavy imports (torch, FAISS, the server) happen inside
the commands that need them, so `rag --help` is instant.
"""

from __future__ import annotations

import click

from rag.cli.ask import ask_command, search_command
from rag.cli.chat import chat_command
from rag.cli.corpus import corpus_group
from rag.cli.eval import calibrate_command, eval_command
from rag.cli.feedback import feedback_group
from rag.cli.index import index_group
from rag.cli.keys import audit_group, keys_group
from rag.cli.serve import serve_command
from rag.cli.settings import settings_command
from rag.cli.shared import RagGroup
from rag.cli.tune import tune_command


@click.group(cls=RagGroup)
@click.version_option(package_name="rag")
def cli() -> None:
    """Grounded answers with cited passages over policy documents."""


for _command in (index_group, search_command, ask_command, chat_command, serve_command, settings_command, eval_command,
                 calibrate_command, tune_command, feedback_group, keys_group, audit_group, corpus_group):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="rag")
