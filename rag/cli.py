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

from rag.config import Settings
from rag.errors import RagError
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
def index_build(corpus: Path | None, index_dir: Path | None) -> None:
    """Build an index of the corpus and make it live."""
    from rag import builds
    from rag.assistant import Assistant
    from rag.progress import TqdmProgress

    settings = make_settings(corpus, index_dir)
    embedder = Assistant(settings).embedder
    with TqdmProgress() as progress:
        result = builds.build(settings, embedder, progress)
    builds.promote(settings.index_dir, result.build_id, {"gate": {"status": "skipped", "reason": "no eval gate yet"}})
    removed = builds.prune(settings.index_dir, settings.keep_builds)
    counts = result.manifest["counts"]
    click.echo(
        f"built and promoted {result.build_id}: {counts['documents']} documents, {counts['chunks']} chunks, "
        f"{counts['tokens']} tokens, {counts['chunks_over_window']} over the model window"
    )
    for skipped in result.manifest["corpus"]["skipped"]:
        click.echo(f"  skipped {skipped['path']}: {skipped['reason']}")
    if removed:
        click.echo(f"pruned {len(removed)} old build(s)")


@index.command("status")
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print the live manifest as JSON.")
def index_status(corpus: Path | None, index_dir: Path | None, as_json: bool) -> None:
    """Show the live build and check it against the settings."""
    from rag.builds import BUILDS, current_build_id
    from rag.errors import IndexNotFoundError
    from rag.index import check_manifest, read_manifest

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
    check_manifest(manifest, settings)


@index.command("list")
@common_options
def index_list(corpus: Path | None, index_dir: Path | None) -> None:
    """List kept builds, newest first; * marks the live one."""
    from rag.builds import list_builds

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
    from rag.builds import rollback

    settings = make_settings(corpus, index_dir)
    click.echo(f"live build is now {rollback(settings.index_dir, build_id)}")


def _filters(doc: tuple[str, ...], meta: tuple[str, ...]) -> Any:
    from rag.retrieval import Filters

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
    func = click.option("-k", "k", type=int, default=None, help="Passages to retrieve [default: RAG_TOP_K].")(func)
    return common_options(func)


@cli.command()
@click.argument("question")
@query_options
def search(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...], meta: tuple[str, ...]) -> None:
    """Retrieve the passages closest to QUESTION."""
    from rag.assistant import Assistant

    result = Assistant(make_settings(corpus, index_dir)).search(question, k, _filters(doc, meta))
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) if as_json else format_search(result))


@cli.command()
@click.argument("question")
@query_options
def ask(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...], meta: tuple[str, ...]) -> None:
    """Answer QUESTION from the documents, with numbered citations."""
    from rag.assistant import Assistant

    answer = Assistant(make_settings(corpus, index_dir)).ask(question, k, _filters(doc, meta))
    click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if as_json else format_answer(answer))


@cli.command()
@common_options
@click.option("--host", default=None, help="Bind address [default: 127.0.0.1, RAG_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: 8000, RAG_PORT].")
def serve(corpus: Path | None, index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API and chat page."""
    import uvicorn

    from server.app import create_app

    settings = make_settings(corpus, index_dir, host=host, port=port)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


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
        lines.append(f"\n[{p.rank}] {d['title']} ({d['doc_id']}) {d['section']}  score {p.score:.3f}  chars {d['start']}-{d['end']}")
        lines.append("    " + " ".join(p.chunk.text.split())[:400])
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    if answer.abstained:
        lines = [answer.answer, "", "Closest passages:"]
        for p in answer.passages[:3]:
            lines.append(f"  - {p.chunk.title} ({p.chunk.doc_id}) {' > '.join(p.chunk.section)}: {' '.join(p.chunk.text.split())[:160]}")
        return "\n".join(lines)
    lines = [answer.answer, "", "Sources:"]
    for c in answer.citations:
        where = f", {c.section}" if c.section else ""
        page = f", p. {c.page}" if c.page else ""
        lines.append(f"  [{c.n}] {c.title} ({c.doc_id}{where}{page}), chars {c.start}-{c.end}")
        lines.append(f"      \"{' '.join(c.quote.split())}\"")
    lines.append(f"\n(build {answer.build_id}, confidence {answer.confidence:.2f})")
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    sys.exit(main())
