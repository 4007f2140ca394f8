"""`rag tune`: the command line of `rag.tune.workflow.tune` (a progress bar while it trains, then what the gate said).

Owns its options and output; leaves training and the gated rebuild to `rag.tune`, the gold sets of the gate and the
report of a refusal to `rag.cli.shared`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from rag.cli.shared import common_options, default_golds, format_headline, make_settings, report_refusal


@click.command("tune")
@click.option("--gold", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="Your gold questions (JSONL, see README 'Evaluating'); a share is held out and never trained on.")
@common_options
@click.option("--scope-field", default=None, help="Row field naming the one document a question is about, e.g. meta.scope_doc.")
@click.option("--holdout", type=click.FloatRange(0.05, 0.9), default=0.3, show_default=True, help="Share of the rows held out.")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Training stops after this long.")
@click.option("--epochs", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Passes over the training rows.")
@click.option("--reader", "train_reader", is_flag=True,
              help="Adapt the answer reader (which sentence answers) instead of the embedding adapter (which passages are found).")
def tune_command(gold: Path, corpus: Path | None, index_dir: Path | None, scope_field: str | None, holdout: float,
                 minutes: float, epochs: float, train_reader: bool) -> None:
    """Train an adapter (or, with --reader, the reader) on your gold questions; a build made with it goes live only if
    the gate passes."""
    from rag.progress import TqdmProgress
    from rag.tune.train import TrainConfig
    from rag.tune.workflow import tune

    settings = make_settings(corpus, index_dir)
    bar: Any = None

    def on_step(step: int, steps: int, loss: float) -> None:
        nonlocal bar
        from tqdm import tqdm

        bar = bar or tqdm(total=steps, desc="training", unit="batch", file=sys.stderr, dynamic_ncols=True)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    if train_reader:
        with TqdmProgress() as progress:
            _tune_reader(settings, gold, scope_field, holdout, progress, on_step)
        if bar is not None:
            bar.close()
        return
    with TqdmProgress() as progress:
        outcome = tune(settings, gold, default_golds(settings), scope_field, holdout, TrainConfig(epochs=epochs, minutes=minutes),
                       progress, on_step)
    if bar is not None:
        bar.close()
    t = outcome.trained
    click.echo(f"adapter {outcome.adapter}: {outcome.triples} training questions ({outcome.training_rows} rows), "
               f"{t.steps}/{t.planned_steps} steps in {t.seconds:.0f} s, loss {t.first_loss:.3f} -> {t.last_loss:.3f}"
               + (" (stopped at the time limit)" if t.stopped_early else ""))
    _report_gate(outcome, "the adapter; servers pick it up (RAG_ADAPTER=live)")


def _tune_reader(settings: Any, gold: Path, scope_field: str | None, holdout: float, progress: Any, on_step: Any) -> None:
    from rag.tune.reader_workflow import tune_reader

    outcome = tune_reader(settings, gold, default_golds(settings), scope_field, holdout, None, progress, on_step)
    f = outcome.facts
    started = f"continued from {outcome.started_from[:16]}" if outcome.started_from else "trained from nothing"
    click.echo(f"reader {outcome.reader}: {outcome.training_rows} training questions, {f['steps']} steps in "
               f"{f['seconds']:.0f} s ({started})")
    _report_gate(outcome, "the reader; servers that leave RAG_READER empty answer with it")


def _report_gate(outcome: Any, promoted_with: str) -> None:
    """The held-out figures before and after, each gold set's headline, then the gate's verdict (a refusal ends the
    command with its error)."""
    click.echo(f"held out ({outcome.held_out_rows} rows): before {outcome.before}, after {outcome.after}")
    for name, summary in (outcome.rebuild.summaries or {}).items():
        click.echo(f"{name}: {format_headline(summary)}")
    if not outcome.rebuild.promoted:
        report_refusal(outcome.rebuild)
    click.echo(f"promoted {outcome.rebuild.build_id} with {promoted_with}")
