"""`rag corpus check`: the health of the live build's documents, for a compliance officer or an auditor.

Owns the command's options and output: overdue reviews (date, owner), references to documents or clauses not in the
corpus, superseded and not-yet-in-force copies, and candidate conflicts ranked with both spans; `--json` prints the
object `GET /v1/corpus/health` returns. Leaves the findings to `rag.lifecycle.health`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from rag.cli.shared import Day, index_dir_option, json_option, make_settings


@click.group("corpus")
def corpus_group() -> None:
    """Check what the indexed documents say about themselves and each other."""


@corpus_group.command("check")
@index_dir_option
@json_option("Print the report as JSON (what GET /v1/corpus/health returns).")
@click.option("--today", type=Day(), default=None,
              help="The day reviews and effective dates are judged on (YYYY-MM-DD) [default: today].")
@click.option("--all", "show_all", is_flag=True, help="Print every candidate conflict, not only the first 15.")
def corpus_check(index_dir: Path | None, as_json: bool, today: object, show_all: bool) -> None:
    """Overdue reviews, broken references, superseded copies and candidate conflicts in the live build."""
    from rag.indexing.builds import load_current
    from rag.lifecycle.health import SHOWN, check_corpus, health_lines

    settings = make_settings(None, index_dir)
    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    report = check_corpus(load_current(settings), day).to_dict()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo("\n".join(health_lines(report, len(report["conflicts"]) if show_all else SHOWN)))
