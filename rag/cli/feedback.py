"""`rag feedback export`: the operator's end of the web page's thumbs up and down (a thin layer over `rag.chat.feedback`).

With `RAG_API_KEY` the export is that key's: it holds only the rows every document of which the key may read (by the
groups the live build records for each document; a document no longer in it counts as unreadable). Scoped by the
documents, not by who rated: that is the promise an auditor checks ("a key sees the documents of its groups and
nothing else"), and a row quotes its documents whoever rated it, so a row of the key's own could still quote a
document its groups no longer reach; while a reviewer responsible for some documents wants everyone's ratings of
them, not only their own. Rows left out are counted, never named; the export is one record of the audit trail
(route `rag feedback export`, the documents the written rows quote). Owns this command, its output and the scoping
of an export; leaves storing and writing the feedback to `rag.chat.feedback`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from rag.cli.shared import key_access
from rag.config import Settings
from rag.models import Access


@click.group("feedback")
def feedback_group() -> None:
    """Feedback left on answers (thumbs up or down, with comments) in the state folder."""


@feedback_group.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="JSONL file to write (replaced whole): one gold row per rating, to review before it joins a gold set.")
@click.option("--rating", type=click.Choice(["up", "down"]), default=None, help="Only thumbs up, or only thumbs down [default: both].")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The service's state folder [default: state/, RAG_STATE_DIR].")
def export_command(out: Path, rating: str | None, state_dir: Path | None) -> None:
    """Write the feedback as gold rows: the question, its history, and the cited evidence of a thumbs up. With
    RAG_API_KEY, only the rows whose documents that key may read."""
    from rag.chat.feedback import FeedbackStore

    settings = Settings.from_env(state_dir=state_dir)
    access = key_access(settings, "rag feedback export")
    readable = None if access is None else readable_by(settings, access)
    counts = FeedbackStore(settings).export(out, rating, readable, None if access is None else audit_export(settings, access))
    scope = "" if access is None else f", readable with key {access.name!r}; {counts['left_out']} left out"
    click.echo(f"wrote {counts['rows']} rows to {out} ({counts['up']} thumbs up, {counts['down']} thumbs down{scope}); "
               "review each (meta.review says what to check), then add them to a gold set and pass it to the gate "
               "(RAG_GOLD_FILES or rag index build --gold)")


def readable_by(settings: Settings, access: Access) -> Callable[[str], bool]:
    """Whether `access` may read a document id, by the groups the live build recorded for it."""
    from rag.errors import ConfigError
    from rag.indexing.builds import live_build

    live = live_build(settings.index_dir)
    if live is None:
        raise ConfigError(f"no live index build in {settings.index_dir} to say which documents key {access.name!r} may "
                          "read: build one with `rag index build` (or set RAG_INDEX_DIR), or unset RAG_API_KEY")
    recorded = live.manifest.get("access", {}).get("documents", {})
    return lambda doc_id: doc_id in recorded and access.sees(tuple(recorded[doc_id]))


def audit_export(settings: Settings, access: Access) -> Callable[[list[str]], None]:
    """Record a key's export in the audit trail: who, and the documents its rows quote."""
    from rag.access.audit import AuditLog, AuditRecord
    from rag.indexing.builds import current_build_id

    def record(documents: list[str]) -> None:
        build = current_build_id(settings.index_dir) or ""
        AuditLog(settings).record(AuditRecord(access.name, access.route, build, tuple(documents)))

    return record
