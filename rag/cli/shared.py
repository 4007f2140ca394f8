"""What the `rag` commands share; every command module imports from here, and this module imports none of them.

Owns the options several commands take (`--corpus`, `--index-dir`, `--doc`, `--meta`, `--json`, and `-k` and
`--as-of` with them in `query_options`; `Day`, the type of a YYYY-MM-DD option), settings from those options
(`make_settings`; `query_settings` for a question, which refuses a --corpus the live build was not made from), `--doc`
and `--meta` as search filters (`parse_filters`), the one place a library error ends a command (`RagGroup`: a
`RagError` prints `error: ...` on standard error and exits 1, Ctrl-C exits 130), the access a command acts with
(`key_access`: `RAG_API_KEY`, else every document; `audited`), what a build or an eval needs (`build_embedder`,
`default_golds`, `report_refusal`) and the output more than one command prints (`format_headline`, `format_notes`,
`format_sources`, `generation_note`). Imports only the kernel at module level, so `rag --help` loads no model.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar

import click

from rag.config import Settings
from rag.errors import ConfigError, RagError
from rag.models import Access, Answer

if TYPE_CHECKING:
    from rag.assistant import Assistant
    from rag.indexing.embedding import Embedder
    from rag.pipeline import RebuildOutcome
    from rag.search.retrieval import Filters

F = TypeVar("F", bound=Callable[..., Any])


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


def corpus_option(func: F) -> F:
    return click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder [default: docs_corpus/, RAG_CORPUS_DIR].")(func)


def index_dir_option(func: F) -> F:
    return click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder [default: index/, RAG_INDEX_DIR].")(func)


def common_options(func: F) -> F:
    """--corpus and --index-dir, in that order."""
    return corpus_option(index_dir_option(func))


def json_option(help: str) -> Callable[[F], F]:
    """The --json flag (`as_json`), with what it prints."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def doc_option(func: F) -> F:
    return click.option("--doc", multiple=True, metavar="DOC_ID", help="Only these documents (repeatable).")(func)


def meta_option(help: str = "Only documents whose metadata matches (repeatable).") -> Callable[[F], F]:
    """--meta KEY=VALUE, repeatable (`meta`); read by `parse_filters`."""
    return click.option("--meta", multiple=True, metavar="KEY=VALUE", help=help)


class Day(click.DateTime):
    """A day written YYYY-MM-DD (a `datetime` at midnight); anything else is a usage error that says how to write it, as
    the HTTP API's `as_of` does, rather than in strptime's notation."""

    name = "day"

    def __init__(self) -> None:
        super().__init__(formats=["%Y-%m-%d"])

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not a day: write it as YYYY-MM-DD, e.g. 2024-06-01", param, ctx)


def as_of_option(func: F) -> F:
    """--as-of DATE (`as_of`): answer from the versions in force on that day; read by `parse_filters`."""
    return click.option("--as-of", "as_of", type=Day(), default=None, metavar="YYYY-MM-DD",
                        help="Answer from the versions of the documents in force on this day [default: today, RAG_TODAY].")(func)


def query_options(func: F) -> F:
    """The options of a question (`rag search`, `rag ask`, `rag chat`): --corpus, --index-dir, -k, --json, --doc, --meta,
    --as-of."""
    func = as_of_option(func)
    func = meta_option()(func)
    func = doc_option(func)
    func = json_option("Print the JSON object the HTTP API returns.")(func)
    func = click.option("-k", "k", type=click.IntRange(min=1), default=None, help="Passages to retrieve [default: RAG_TOP_K].")(func)
    return common_options(func)


def make_settings(corpus: Path | None, index_dir: Path | None, **extra: Any) -> Settings:
    """The settings of `RAG_*` variables, overridden by the options given (None: not given)."""
    return Settings.from_env(corpus_dir=corpus, index_dir=index_dir, **extra)


def query_settings(corpus: Path | None, index_dir: Path | None) -> Settings:
    """The settings of a question (`rag search`, `ask`, `chat`), which is answered from the live build of the index
    folder: a --corpus that build was not made from is an error, rather than answered from the build's own documents."""
    settings = make_settings(corpus, index_dir)
    if corpus is None:
        return settings
    from rag.indexing.builds import BUILDS, current_build_id
    from rag.indexing.store import read_manifest

    build_id = current_build_id(settings.index_dir)
    if build_id is None:
        return settings  # the command says there is no index, and which build to run
    root = read_manifest(Path(settings.index_dir) / BUILDS / build_id).get("corpus", {}).get("root")
    if root and Path(root).resolve() != Path(corpus).resolve():
        raise ConfigError(f"--corpus {corpus}: the live build in {settings.index_dir} was made from {root}, and questions are "
                          f"answered from a build, not a folder; build it into an index of its own with `rag index build "
                          f"--corpus {corpus} --index-dir INDEX` and ask with --index-dir INDEX, or leave --corpus out")
    return settings


def parse_filters(doc: tuple[str, ...], meta: tuple[str, ...], as_of: datetime | None = None) -> Filters:
    """--doc, --meta and --as-of as search filters; a --meta that is not KEY=VALUE is a usage error."""
    from rag.search.retrieval import Filters

    pairs = {}
    for item in meta:
        if "=" not in item:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        key, value = item.split("=", 1)
        pairs[key.strip()] = value.strip()
    return Filters(tuple(doc), pairs, as_of=as_of.date() if as_of else None)


def key_access(settings: Settings, route: str) -> Access | None:
    """The access of `RAG_API_KEY` (verified like a request's; a revoked key fails), or None (every document)."""
    if not settings.api_key:
        return None
    from rag.access.keys import KeyStore

    return KeyStore(settings).verify(settings.api_key).access(route)


def audited(assistant: Assistant, access: Access | None) -> Assistant:
    """The assistant, recording into the audit trail when a key is in use."""
    if access is not None:
        from rag.access.audit import AuditLog

        assistant.audit = AuditLog(assistant.settings)
    return assistant


def build_embedder(settings: Settings) -> Embedder:
    """The model that embeds passages for a build or an eval (loaded here, never on the --help path)."""
    from rag.indexing.passage_encoder import make_passage_embedder

    embedder: Embedder = make_passage_embedder(settings)
    return embedder


def default_golds(settings: Settings) -> list[Path]:
    """The project's gold sets apply when the corpus is the default docs_corpus/."""
    from rag.pipeline import default_golds as golds_of

    return golds_of(settings)


def report_refusal(outcome: RebuildOutcome) -> NoReturn:
    """A build the gate refused: why, on standard error, then the error that ends the command."""
    decision: Any = outcome.decision  # a refused build was gated, so it has one
    lines = [f"gate failed: build {outcome.build_id} was NOT promoted; the live build is unchanged"]
    lines += [f"  - {failure}" for failure in decision.failures]
    if decision.regressed_questions:
        lines.append(f"  regressed questions ({len(decision.regressed_questions)}): {', '.join(decision.regressed_questions[:20])}")
    click.echo("\n".join(lines), err=True)
    raise RagError("gate failed: fix the regression, or promote anyway with `rag index build --no-gate`")


def format_headline(summary: dict[str, Any]) -> str:
    """One line of an eval's figures (`rag eval`, and each gold set a build or `rag tune` was gated on)."""
    r, a, ab = summary["retrieval"], summary["answer"], summary["abstention"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    return (f"n={summary['n']} hit@1={f(r['hit@1'])} hit@10={f(r['hit@10'])} mrr@10={f(r['mrr@10'])} ndcg@10={f(r['ndcg@10'])} "
            f"containment={f(a['containment'])} citation_precision={f(a['citation_precision'])} "
            f"abstention_f1={f(ab['f1'])} false_refusals={f(ab['false_refusal_rate'])} p50={summary['latency_ms']['p50']:.0f}ms")


def generation_note(answer: Answer) -> str | None:
    """Who wrote the answer when a language model was asked: its verified share, or why the extractive answer stands."""
    if not answer.model:
        return None
    if answer.fallback:
        return f"(extractive answer: {answer.fallback.message})"
    shown = sum(c.supported for c in answer.sentences)
    note = f"(written by {answer.model}: {shown} of {len(answer.sentences)} sentences verified against their sources"
    return note + (f"; stopped early: {answer.stopped.message})" if answer.stopped else ")")


def format_notes(answer: Answer) -> list[str]:
    """The answer's notes, one line each: overdue, superseded or not yet in force, a conflicting document."""
    return [note.message for note in answer.notes]


def format_sources(answer: Answer) -> list[str]:
    """Numbered sources: document, section, page and the exact quote."""
    lines = []
    for c in answer.citations:
        where = f", {c.section}" if c.section else ""
        page = f", {c.to_dict()['pages']}" if c.page else ""
        lines.append(f"  [{c.n}] {c.title} ({c.doc_id}{where}{page}), chars {c.start}-{c.end}")
        lines.append(f"      \"{' '.join(c.quote.split())}\"")
    return lines
