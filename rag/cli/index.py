"""`rag index build`, `status`, `list` and `rollback`: making, inspecting and switching index builds.

Owns their options and output: what a build did (`build_report`: counts, vectors reused, every file skipped, noted or
changed), its corpus health section (`health_report`), the gate's figures and refusal, the live manifest (`status --json`). Leaves the build, its gate and its
promotion to `rag.pipeline.rebuild` and `rag.indexing.builds`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rag.cli.shared import build_embedder, common_options, default_golds, format_headline, json_option, make_settings, report_refusal


@click.group("index")
def index_group() -> None:
    """Build, inspect and switch index builds."""


@index_group.command("build")
@common_options
@click.option("--gold", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="Gold set to gate on; repeat for several, each must pass [default for docs_corpus/: RAG_GOLD_FILES].")
@click.option("--gate", "gate_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Gate thresholds [default: eval/gate.toml].")
@click.option("--no-gate", is_flag=True, help="Promote without evaluating (recorded in the manifest).")
@click.option("--strict", is_flag=True, help="Fail (and keep the live build) if any file cannot be indexed or changes during the build.")
def index_build(corpus: Path | None, index_dir: Path | None, gold: tuple[Path, ...], gate_file: Path | None, no_gate: bool,
                strict: bool) -> None:
    """Build an index of the corpus; it goes live only if the eval gate passes."""
    from rag.indexing import builds
    from rag.pipeline import rebuild
    from rag.progress import TqdmProgress

    settings = make_settings(corpus, index_dir, gate_file=gate_file)
    golds = list(gold) or ([] if no_gate else default_golds(settings))
    with TqdmProgress() as progress:
        outcome = rebuild(settings, build_embedder(settings), golds, settings.gate_file, no_gate, progress, strict)
    click.echo("\n".join(build_report(outcome.build_id, outcome.manifest)))
    click.echo("\n".join(health_report(Path(settings.index_dir) / builds.BUILDS / outcome.build_id)))
    for name, summary in (outcome.summaries or {}).items():
        click.echo(f"{name}: {format_headline(summary)}")
    if not outcome.promoted:
        report_refusal(outcome)
    click.echo(f"promoted {outcome.build_id}" + ("" if outcome.decision else f" ({outcome.manifest['gate']['reason']})"))
    removed = builds.prune(settings.index_dir, settings.keep_builds, settings)
    if removed:
        dropped = builds.prune_cache(settings)
        click.echo(f"pruned {len(removed)} old build(s) and {dropped} cached vectors no kept build uses")


def build_report(build_id: str, manifest: dict[str, Any]) -> list[str]:
    """What a build did: counts, vectors reused, and every file skipped, noted or changed, with the reason."""
    counts, corpus = manifest["counts"], manifest["corpus"]
    lines = [f"built {build_id}: {counts['documents']} documents, {counts['chunks']} chunks, "
             f"{counts['tokens']} tokens, {counts['chunks_over_window']} over the model window"]
    carried = (manifest.get("carry") or {}).get("carried") or {}
    if carried.get("embedded"):
        lines.append(f"  carried {carried['embedded']} unchanged documents' vectors and sentences from the live build")
    cache = manifest.get("embedding_cache")
    if cache:
        lines.append(f"  embedded {cache['embedded']} new or changed texts; {cache['reused']} more were in the embedding cache")
    changes = corpus.get("changes") or {}
    for kind in ("added", "changed", "removed"):
        if changes.get(kind):
            lines.append(f"  {kind} since build {changes['since']}: {', '.join(changes[kind])}")
    sections = (("skipped", corpus.get("skipped", [])), ("note", corpus.get("notes", [])),
                ("changed during the build", corpus.get("changed_during_build", [])))
    for label, rows in sections:
        lines += [f"  {label} {row['path']}: {row['reason']}" for row in rows]
    lines += [f"  reads as instructions to a model {row['doc_id']} (chunk {row['chunk_id']}): {'; '.join(row['reasons'])}: {row['excerpt']!r}"
              for row in manifest.get("injection") or []]
    return lines


def health_report(folder: Path) -> list[str]:
    """The build's corpus health section: counts, overdue reviews, broken references, superseded copies and the first
    candidate conflicts (all of them: `rag corpus check --all`)."""
    from rag.lifecycle.health import health_lines, read_health

    report = read_health(folder)
    return health_lines(report) if report else []


@index_group.command("status")
@common_options
@json_option("Print the live manifest as JSON.")
def index_status(corpus: Path | None, index_dir: Path | None, as_json: bool) -> None:
    """Show the live build and check it against the settings."""
    from rag.errors import IndexNotFoundError
    from rag.indexing.builds import BUILDS, current_build_id
    from rag.indexing.store import check_manifest, read_manifest

    settings = make_settings(corpus, index_dir)
    build_id = current_build_id(settings.index_dir)
    if build_id is None:
        raise IndexNotFoundError(f"no index at {settings.index_dir}/current: run "
                                 f"`rag index build --corpus {settings.corpus_dir} --index-dir {settings.index_dir}`")
    manifest = read_manifest(Path(settings.index_dir) / BUILDS / build_id)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
    else:
        counts = manifest["counts"]
        click.echo(f"live build: {build_id} (created {manifest['created_at']})")
        click.echo(f"model: {manifest['model']['name']} ({manifest['model']['dimension']} dims)")
        click.echo(f"chunker: {manifest['chunker']['max_tokens']} tokens, overlap {manifest['chunker']['overlap_tokens']}")
        click.echo(f"documents: {counts['documents']}, chunks: {counts['chunks']}, tokens: {counts['tokens']}")
        for doc_id in sorted(manifest["corpus"]["documents"]):
            click.echo(f"  {doc_id}")
        for line in build_report(build_id, manifest)[1:]:  # cache reuse, skipped, noted and changed files
            click.echo(line)
        if "reader" in manifest:
            reader = manifest["reader"]
            click.echo("reader: none (built and gated without one)" if reader is None else
                       f"reader: {reader['kind']} {reader['sha256'][:16]} (weight {reader['weight']}, reads {reader['depth']})")
        if "late" in manifest:
            click.echo(late_line(manifest["late"]))
    check_manifest(manifest, settings)
    if not as_json:
        click.echo("settings: the live build matches them (model, chunker, format)")


def late_line(late: dict[str, Any] | None) -> str:
    if late is None:
        return "late interaction: off"
    model = late["model"]
    mapped = f"learned map {model['sha256'][:16]}" if model else "plain token states"
    return f"late interaction: weight {late['weight']}, reads {late['depth']}, {mapped}"


@index_group.command("list")
@common_options
def index_list(corpus: Path | None, index_dir: Path | None) -> None:
    """List kept builds, newest first; * marks the live one."""
    from rag.indexing.builds import list_builds

    settings = make_settings(corpus, index_dir)
    for row in list_builds(settings.index_dir):
        m = row["manifest"]
        mark = "*" if row["live"] else " "
        click.echo(f"{mark} {row['build_id']}  {m['counts']['documents']} docs  {m['counts']['chunks']} chunks  gate: {m['gate']['status']}")


@index_group.command("rollback")
@common_options
@click.argument("build_id", required=False)
def index_rollback(corpus: Path | None, index_dir: Path | None, build_id: str | None) -> None:
    """Make an older build live (the previous one by default)."""
    from rag.indexing.builds import rollback

    settings = make_settings(corpus, index_dir)
    click.echo(f"live build is now {rollback(settings.index_dir, build_id, settings)}")
