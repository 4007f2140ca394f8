"""The `rag` command line: a thin layer over the library.

Owns argument parsing, progress bars, human-readable and `--json` output, and
the single place where `RagError`s become a one-line message and exit code 1.
Heavy imports (torch, FAISS, the server) happen inside the commands that need
them, so `rag --help` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from rag.cli_access import audited, key_access
from rag.config import Settings
from rag.errors import ConfigError, RagError
from rag.models import Answer, SearchResult


class RagGroup(click.Group):
    """The one catch point: library errors print their next step and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; the live index is unchanged", err=True)
            ctx.exit(130)


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder [default: index/, RAG_INDEX_DIR].")(func)
    func = click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder [default: docs_corpus/, RAG_CORPUS_DIR].")(func)
    return func


def make_settings(corpus: Path | None, index_dir: Path | None, **extra: Any) -> Settings:
    return Settings.from_env(corpus_dir=corpus, index_dir=index_dir, **extra)



@click.group(cls=RagGroup)
@click.version_option(package_name="rag")
def cli() -> None:
    """Grounded answers with cited passages over policy documents."""


@cli.group()
def index() -> None:
    """Build, inspect and switch index builds."""


@index.command("build")
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
    for name, summary in (outcome.summaries or {}).items():
        click.echo(f"{name}: {format_headline(summary)}")
    if not outcome.promoted:
        report_refusal(outcome)
    click.echo(f"promoted {outcome.build_id}" + ("" if outcome.decision else f" ({outcome.manifest['gate']['reason']})"))
    removed = builds.prune(settings.index_dir, settings.keep_builds)
    if removed:
        dropped = builds.prune_cache(settings)
        click.echo(f"pruned {len(removed)} old build(s) and {dropped} cached vectors no kept build uses")


def build_report(build_id: str, manifest: dict[str, Any]) -> list[str]:
    """What a build did: counts, vectors reused, and every file skipped, noted or changed, with the reason."""
    counts, corpus = manifest["counts"], manifest["corpus"]
    lines = [f"built {build_id}: {counts['documents']} documents, {counts['chunks']} chunks, "
             f"{counts['tokens']} tokens, {counts['chunks_over_window']} over the model window"]
    cache = manifest.get("embedding_cache")
    if cache:
        lines.append(f"  embedded {cache['embedded']} new or changed texts, reused {cache['reused']} from the cache")
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


def build_embedder(settings: Settings) -> Any:
    from rag.indexing.passage_encoder import make_passage_embedder

    return make_passage_embedder(settings)


def default_golds(settings: Settings) -> list[Path]:
    """The project's gold sets apply when the corpus is the default docs_corpus/."""
    default_corpus = Settings().corpus_dir.resolve()
    if Path(settings.corpus_dir).resolve() != default_corpus:
        return []
    golds = [Path(p.strip()) for p in settings.gold_files.split(",") if p.strip()]
    for gold in golds:
        if not gold.is_file():
            raise ConfigError(f"gold set {gold} not found (RAG_GOLD_FILES): run from the project root, pass --gold FILE, or --no-gate")
    return golds


def report_refusal(outcome: Any) -> None:
    from rag.errors import RagError

    decision = outcome.decision
    lines = [f"gate failed: build {outcome.build_id} was NOT promoted; the live build is unchanged"]
    lines += [f"  - {failure}" for failure in decision.failures]
    if decision.regressed_questions:
        lines.append(f"  regressed questions ({len(decision.regressed_questions)}): {', '.join(decision.regressed_questions[:20])}")
    click.echo("\n".join(lines), err=True)
    raise RagError("gate failed: fix the regression, or promote anyway with `rag index build --no-gate`")


@index.command("status")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the live manifest as JSON.")
def index_status(corpus: Path | None, index_dir: Path | None, as_json: bool) -> None:
    """Show the live build and check it against the settings."""
    from rag.errors import IndexNotFoundError
    from rag.indexing.builds import BUILDS, current_build_id
    from rag.indexing.store import check_manifest, read_manifest

    settings = make_settings(corpus, index_dir)
    build_id = current_build_id(settings.index_dir)
    if build_id is None:
        raise IndexNotFoundError(f"no index at {settings.index_dir}/current: run `rag index build`")
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
    check_manifest(manifest, settings)
    if not as_json:
        click.echo("settings: the live build matches them (model, chunker, format)")


@index.command("list")
@common_options
def index_list(corpus: Path | None, index_dir: Path | None) -> None:
    """List kept builds, newest first; * marks the live one."""
    from rag.indexing.builds import list_builds

    settings = make_settings(corpus, index_dir)
    for row in list_builds(settings.index_dir):
        m = row["manifest"]
        mark = "*" if row["live"] else " "
        click.echo(f"{mark} {row['build_id']}  {m['counts']['documents']} docs  {m['counts']['chunks']} chunks  gate: {m['gate']['status']}")


@index.command("rollback")
@common_options
@click.argument("build_id", required=False)
def index_rollback(corpus: Path | None, index_dir: Path | None, build_id: str | None) -> None:
    """Make an older build live (the previous one by default)."""
    from rag.indexing.builds import rollback

    settings = make_settings(corpus, index_dir)
    click.echo(f"live build is now {rollback(settings.index_dir, build_id)}")


def _filters(doc: tuple[str, ...], meta: tuple[str, ...]) -> Any:
    from rag.search.retrieval import Filters

    pairs = {}
    for item in meta:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        key, value = item.split("=", 1)
        pairs[key.strip()] = value.strip()
    return Filters(tuple(doc), pairs)


def query_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Only documents whose metadata matches (repeatable).")(func)
    func = click.option("--doc", multiple=True, metavar="DOC_ID", help="Only these documents (repeatable).")(func)
    func = click.option("--json", "as_json", is_flag=True, help="Print the JSON object the HTTP API returns.")(func)
    func = click.option("-k", "k", type=click.IntRange(min=1), default=None, help="Passages to retrieve [default: RAG_TOP_K].")(func)
    return common_options(func)


@cli.command()
@click.argument("question")
@query_options
def search(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...], meta: tuple[str, ...]) -> None:
    """Retrieve the passages closest to QUESTION."""
    from rag.assistant import Assistant

    settings = make_settings(corpus, index_dir)
    access = key_access(settings, "cli search")
    result = audited(Assistant(settings), access).search(question, k, _filters(doc, meta), access)
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) if as_json else format_search(result))


@cli.command()
@click.argument("question")
@query_options
@click.option("--history", "history_file", type=click.File("r", encoding="utf-8"), default=None, metavar="FILE",
              help='The conversation before QUESTION: a JSON list of {"role": "user"|"assistant", "content": ...}, '
                   "oldest first (- reads standard input).")
def ask(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...],
        meta: tuple[str, ...], history_file: Any) -> None:
    """Answer QUESTION from the documents, with numbered citations."""
    from rag.assistant import Assistant

    history = read_history(history_file) if history_file is not None else None
    settings = make_settings(corpus, index_dir)
    access = key_access(settings, "cli ask")
    answer = audited(Assistant(settings), access).ask(question, k, _filters(doc, meta), history, access)
    click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if as_json else format_answer(answer))


def read_history(stream: Any) -> list[Any]:
    from rag.errors import InvalidRequestError

    try:
        history = json.load(stream)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"--history {stream.name}: not JSON ({exc}); send a list of "
                                  '{"role": "user"|"assistant", "content": "..."}, oldest first') from None
    if not isinstance(history, list):
        raise InvalidRequestError(f"--history {stream.name}: expected a JSON list of messages, oldest first")
    return history


@cli.command()
@query_options
def chat(corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...], meta: tuple[str, ...]) -> None:
    """A conversation in the terminal: follow-ups are answered in the light of the earlier turns.

    Type a question and press Enter; the answer appears sentence by sentence, then its numbered sources.
    /new starts a new conversation, /sources shows the last answer's sources again, /quit (or Ctrl-D) ends.
    With --json, each answer is one line of JSON (the object `rag ask --json` prints)."""
    from rag.assistant import Assistant
    from rag.terminal import run_chat

    settings = make_settings(corpus, index_dir)
    access = key_access(settings, "cli chat")
    run_chat(settings, k, _filters(doc, meta), as_json, assistant=audited(Assistant(settings), access), access=access)


@cli.command()
@common_options
@click.option("--host", default=None, help="Bind address [default: 127.0.0.1, RAG_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: 8000, RAG_PORT].")
def serve(corpus: Path | None, index_dir: Path | None, host: str | None, port: int | None) -> None:
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
    app = create_app(settings)
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


@cli.command("eval")
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
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Search only documents whose metadata matches (repeatable).")
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
        metadata = dict(_filters((), meta).metadata)
        run = evaluate_corpus(settings, build_embedder(settings), gold, eval_index, scope_field, limit, seed, progress, metadata,
                              key_access(settings, "cli eval"))
    click.echo("\n".join(metrics_table(run.summary)))
    click.echo(format_headline(run.summary))
    for name, part in run.summary["by_turn"].items():
        if part["n"] and part["n"] < run.summary["n"]:  # a set with first turns and follow-ups: each apart
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


@cli.command("calibrate")
@click.argument("eval_files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--max-false-refusal", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="Largest false-refusal rate allowed on each eval file.")
@click.option("--features", default="best_score,best_cosine,passage_cosine,type_gap", show_default=True,
              help="Comma-separated evidence features the model may weight (see rag.answer.abstention.FEATURES).")
@click.option("--l2", type=click.FloatRange(min=0), default=1.0, show_default=True, help="L2 penalty on the weights.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the fitted model here (rag/answer/abstention_model.json is the packaged one; use it via RAG_ABSTAIN_MODEL).")
def calibrate_command(eval_files: tuple[Path, ...], max_false_refusal: float, features: str, l2: float, out: Path | None) -> None:
    """Fit the abstention model on the evidence features of `rag eval --json` files; print cross-validated figures."""
    import numpy as np

    from rag.answer.abstention import FEATURES, MODEL_FILE
    from rag.evaluate.calibration import calibrate, load_eval_rows

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
    result = calibrate(x, answerable, groups, max_false_refusal, l2, [FEATURES.index(n) for n in names], note, follow_up)
    model = result.model
    click.echo("weights: " + ", ".join(f"{f}={w / s:+.3f}" for f, w, s in zip(model.features, model.weights, model.scale) if w)
               + f"; refuse when p(answerable) < {model.threshold:.4f} (a follow-up: < {model.follow_up_threshold:.4f})")
    for label, table in (("fitted", result.fitted), ("cross-validated (5-fold x 10)", result.cross_validated)):
        for path, m in table.items():
            click.echo(f"{label}: {path}: refusal F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                       f"false refusals {m['false_refusal_rate']:.3f}")
    if out:
        out.write_text(json.dumps(model.to_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"wrote {out}" + ("" if out.resolve() == MODEL_FILE.resolve() else f"; use it with RAG_ABSTAIN_MODEL={out}"))


def format_headline(summary: dict[str, Any]) -> str:
    r, a, ab = summary["retrieval"], summary["answer"], summary["abstention"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"n={summary['n']} hit@1={f(r['hit@1'])} hit@10={f(r['hit@10'])} mrr@10={f(r['mrr@10'])} ndcg@10={f(r['ndcg@10'])} "
            f"containment={f(a['containment'])} citation_precision={f(a['citation_precision'])} "
            f"abstention_f1={f(ab['f1'])} false_refusals={f(ab['false_refusal_rate'])} p50={summary['latency_ms']['p50']:.0f}ms")


@cli.command("settings")
def show_settings() -> None:
    """List every setting with its environment variable, current value and help."""
    current = Settings.from_env()
    for key, default, help_text in Settings.describe():
        value = getattr(current, key[4:].lower())
        click.echo(f"{key}={value}  (default {default})\n    {help_text}")


def format_search(result: SearchResult) -> str:
    lines = [f"{len(result.passages)} passages (build {result.build_id})"]
    for p in result.passages:
        d = p.to_dict()
        pages = f"  {d['pages']}" if d["pages"] else ""
        lines.append(f"\n[{p.rank}] {d['title']} ({d['doc_id']}) {d['section']}{pages}  score {p.score:.3f}  chars {d['start']}-{d['end']}")
        lines.append("    " + " ".join(p.chunk.text.split())[:400])
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    if answer.abstained:
        lines = [answer.answer, "", "Closest passages:"]
        for p in answer.passages[:3]:
            lines.append(f"  - {p.chunk.title} ({p.chunk.doc_id}) {' > '.join(p.chunk.section)}: {' '.join(p.chunk.text.split())[:160]}")
        return "\n".join(lines)
    lines = [answer.answer, "", "Sources:", *format_sources(answer)]
    lines.append(f"\n(build {answer.build_id}, confidence {answer.confidence:.2f})")
    note = generation_note(answer)
    return "\n".join(lines + ([note] if note else []))


def generation_note(answer: Answer) -> str | None:
    """Who wrote the answer when a language model was asked: its verified share, or why the extractive answer stands."""
    if not answer.model:
        return None
    if answer.fallback:
        return f"(extractive answer: {answer.fallback.message})"
    shown = sum(c.supported for c in answer.sentences)
    note = f"(written by {answer.model}: {shown} of {len(answer.sentences)} sentences verified against their sources"
    return note + (f"; stopped early: {answer.stopped.message})" if answer.stopped else ")")


def format_sources(answer: Answer) -> list[str]:
    """Numbered sources: document, section, page and the exact quote."""
    lines = []
    for c in answer.citations:
        where = f", {c.section}" if c.section else ""
        page = f", {c.to_dict()['pages']}" if c.page else ""
        lines.append(f"  [{c.n}] {c.title} ({c.doc_id}{where}{page}), chars {c.start}-{c.end}")
        lines.append(f"      \"{' '.join(c.quote.split())}\"")
    return lines


def _register_commands() -> None:
    from rag.cli_access import audit, keys
    from rag.cli_feedback import feedback_command
    from rag.cli_tune import tune_command

    cli.add_command(tune_command)
    cli.add_command(feedback_command)
    cli.add_command(keys)
    cli.add_command(audit)


_register_commands()


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    sys.exit(main())
