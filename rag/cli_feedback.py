"""`rag feedback export`: the operator's end of the web page's thumbs up and down (a thin layer over `rag.chat.feedback`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("feedback")
def feedback_command() -> None:
    """Feedback left on answers (thumbs up or down, with comments) in the state folder."""


@feedback_command.command("export")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="JSONL file to write (replaced whole): one gold row per rating, to review before it joins a gold set.")
@click.option("--rating", type=click.Choice(["up", "down"]), default=None, help="Only thumbs up, or only thumbs down [default: both].")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The service's state folder [default: state/, RAG_STATE_DIR].")
def export_command(out: Path, rating: str | None, state_dir: Path | None) -> None:
    """Write the feedback as gold rows: the question, its history, and the cited evidence of a thumbs up."""
    from rag.chat.feedback import FeedbackStore
    from rag.config import Settings

    settings = Settings.from_env(state_dir=state_dir)
    counts = FeedbackStore(settings).export(out, rating)
    click.echo(f"wrote {counts['rows']} rows to {out} ({counts['up']} thumbs up, {counts['down']} thumbs down); "
               "review each (meta.review says what to check), then add them to a gold set and pass it to the gate "
               "(RAG_GOLD_FILES or rag index build --gold)")
