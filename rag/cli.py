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
    from rag.cli_eval import format_headline
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
        lines = [answer.answer, *(["", "Closest passages:"] if answer.passages else [])]
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
    from rag.cli_eval import calibrate_command, eval_command
    from rag.cli_feedback import feedback_command
    from rag.cli_tune import tune_command

    cli.add_command(eval_command)
    cli.add_command(calibrate_command)
    cli.add_command(tune_command)
    cli.add_command(feedback_command)
    cli.add_command(keys)
    cli.add_command(audit)


_register_commands()


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    sys.exit(main())
