"""`rag eval` and `rag calibrate`: the evaluation commands of the command line.

Owns their options and output (the metrics table, the headline figures, the JSON and Markdown reports, the fitted
refusal model); the evaluation itself is `rag.pipeline.evaluate_corpus` and `rag.evaluate`, the headline line
`rag.cli.shared.format_headline` (a build's gate prints it too).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from rag.cli.shared import build_embedder, common_options, format_headline, key_access, make_settings, meta_option, parse_filters
from rag.errors import ConfigError


@click.command("eval")
@click.option("--gold", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True, help="Gold JSONL file (see README 'Evaluating').")
@common_options
@click.option("--index", "eval_index", type=click.Path(path_type=Path), help="Evaluate this index folder (default: live if it holds the corpus, else a throw-away build).")
@click.option("--scope-field", default=None, help="Row field naming the one document to search, e.g. meta.scope_doc.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N rows, in file order.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the bootstrap confidence intervals.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the metrics JSON here.")
@click.option("--report", type=click.Path(path_type=Path), help="Write a Markdown report of failed questions here.")
@click.option("--calibrate", "max_false_refusal", type=float, default=None, metavar="RATE",
              help="Also print the abstention threshold with the best refusal F1 at false refusals <= RATE.")
@meta_option("Search only documents whose metadata matches (repeatable).")
def eval_command(gold: Path, corpus: Path | None, index_dir: Path | None, eval_index: Path | None, scope_field: str | None,
                 limit: int | None, seed: int, json_out: Path | None, report: Path | None, max_false_refusal: float | None,
                 meta: tuple[str, ...]) -> None:
    """Score retrieval, answers and abstention on a gold set."""
    from rag.evaluate.report import metrics_table, render_report
    from rag.pipeline import evaluate_corpus
    from rag.progress import TqdmProgress

    settings = make_settings(corpus, index_dir)
    for out in (json_out, report):
        if out is not None and not out.parent.is_dir():
            raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist")
    with TqdmProgress() as progress:
        metadata = dict(parse_filters((), meta).metadata)
        run = evaluate_corpus(settings, build_embedder(settings), gold, eval_index, scope_field, limit, seed, progress, metadata,
                              key_access(settings, "cli eval"))
    click.echo("\n".join(metrics_table(run.summary)))
    click.echo(format_headline(run.summary))
    for name, part in run.summary["by_turn"].items():
        if part["n"] and part["n"] < run.summary["n"]:  # a set with first turns and follow-ups: each apart
            click.echo(f"{name}: {format_headline({**part, 'latency_ms': run.summary['latency_ms']})}")
    for name, part in run.summary["by_day"].items():
        if part["n"] and part["n"] < run.summary["n"]:  # a set with questions about today and `as_of` ones: each apart
            click.echo(f"{name}: {format_headline({**part, 'latency_ms': run.summary['latency_ms']})}")
    if json_out:
        json_out.write_text(json.dumps({**run.summary, "gold": str(gold)}, indent=2), encoding="utf-8")
    if report:
        report.write_text(render_report(run, f"Evaluation of {gold}"), encoding="utf-8")
    if max_false_refusal is not None:
        from rag.evaluate.metrics import calibrate_threshold

        pairs = [(q["answerable"], q["confidence"] or 0.0) for q in run.summary["questions"]]
        best = calibrate_threshold(pairs, max_false_refusal)
        click.echo(f"calibrated: RAG_ABSTAIN_THRESHOLD={best['threshold']:.4f} gives refusal F1 {best['f1']:.3f}, "
                   f"precision {best.get('precision', 0):.3f}, recall {best.get('recall', 0):.3f}, "
                   f"false refusals {best.get('false_refusal_rate', 0):.3f}")
    if run.summary["unresolved_evidence"]:
        where = "listed in the report" if report else "pass --report FILE to list them"
        click.echo(f"warning: evidence of {len(run.summary['unresolved_evidence'])} rows not found in the corpus ({where})", err=True)


@click.command("calibrate")
@click.argument("eval_files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--max-false-refusal", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="Largest false-refusal rate allowed on each eval file.")
@click.option("--features", default="best_score,best_cosine,passage_cosine,type_gap", show_default=True,
              help="Comma-separated evidence features the model may weight (see rag.answer.abstention.FEATURES).")
@click.option("--l2", type=click.FloatRange(min=0), default=1.0, show_default=True, help="L2 penalty on the weights.")
@click.option("--answer-precision", type=click.FloatRange(0, 1), default=None,
              help="Also choose the confident-answer cut: the lowest at which answers cite the evidence at least this share of "
                   "the time over all files (below it, above the refusal cut, answers are 'These clauses may answer it').")
@click.option("--leave-groups-out", is_flag=True, help="Also print each file's figures with the model fitted on the other files.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the fitted model here (rag/answer/abstention_model.json is the packaged one; use it via RAG_ABSTAIN_MODEL).")
def calibrate_command(eval_files: tuple[Path, ...], max_false_refusal: float, features: str, l2: float,
                      answer_precision: float | None, leave_groups_out: bool, out: Path | None) -> None:
    """Fit the abstention model on the evidence features of `rag eval --json` files; print cross-validated figures."""
    import numpy as np

    from rag.answer.abstention import FEATURES, MODEL_FILE
    from rag.evaluate.calibration import calibrate, choose_answer_cut, leave_groups_out as held_out_figures, load_eval_rows, load_right

    names = [f.strip() for f in features.split(",") if f.strip()]
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ConfigError(f"unknown feature {unknown[0]!r}: choose from {', '.join(FEATURES)}")
    loaded = [load_eval_rows(path) for path in eval_files]
    x = np.vstack([rows for rows, _, _ in loaded])
    answerable = np.concatenate([flags for _, flags, _ in loaded])
    follow_up = np.concatenate([follow for _, _, follow in loaded])
    groups = np.concatenate([np.full(len(flags), str(path)) for path, (_, flags, _) in zip(eval_files, loaded)])
    if answerable.all():
        raise ConfigError("no unanswerable questions in these eval files: include a gold set with answerable=false rows")
    note = f"rag calibrate {' '.join(map(str, eval_files))} --max-false-refusal {max_false_refusal} --features {','.join(names)} --l2 {l2}"
    note += f" --answer-precision {answer_precision}" if answer_precision is not None else ""
    result = calibrate(x, answerable, groups, max_false_refusal, l2, [FEATURES.index(n) for n in names], note, follow_up)
    model = result.model
    columns = [FEATURES.index(n) for n in names]
    if answer_precision is not None:
        right = np.concatenate([load_right(path) for path in eval_files])
        model = replace(model, answer_threshold=choose_answer_cut(model.probabilities(x), right, model.threshold, answer_precision))
        click.echo(f"answer confidently when p(answerable) >= {model.answer_threshold:.4f} (answers cite the evidence "
                   f">= {answer_precision:.2f} of the time above it)")
    if leave_groups_out:
        for path, m in held_out_figures(x, answerable, groups, max_false_refusal, l2, columns, follow_up).items():
            click.echo(f"left out: {path}: refusal F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                       f"false refusals {m['false_refusal_rate']:.3f}")
    click.echo("weights: " + ", ".join(f"{f}={w / s:+.3f}" for f, w, s in zip(model.features, model.weights, model.scale) if w)
               + f"; refuse when p(answerable) < {model.threshold:.4f} (a follow-up: < {model.follow_up_threshold:.4f})")
    for label, table in (("fitted", result.fitted), ("cross-validated (5-fold x 10)", result.cross_validated)):
        for path, m in table.items():
            click.echo(f"{label}: {path}: refusal F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                       f"false refusals {m['false_refusal_rate']:.3f}")
    if out:
        out.write_text(json.dumps(model.to_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {out}" + ("" if out.resolve() == MODEL_FILE.resolve() else f"; use it with RAG_ABSTAIN_MODEL={out}"))

