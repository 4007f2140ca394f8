"""`rag search` and `rag ask`: one question, its passages or its cited answer.

Owns their arguments (the question, `--history FILE` for `ask`), reading a history file, and their plain output
(`format_search`: ranked passages with scores and spans; `format_answer`: the answer, its numbered sources, or a
refusal with the closest passages); with `--json` each prints the object the HTTP API returns. Leaves answering to
`rag.assistant` and the shared options, settings and access to `rag.cli.shared`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from rag.cli.shared import audited, format_notes, format_sources, generation_note, key_access, parse_filters, query_options, query_settings
from rag.models import Answer, SearchResult


@click.command("search")
@click.argument("question")
@query_options
def search_command(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...],
                   meta: tuple[str, ...], as_of: datetime | None) -> None:
    """Retrieve the passages closest to QUESTION."""
    from rag.assistant import Assistant

    settings = query_settings(corpus, index_dir)
    access = key_access(settings, "cli search")
    result = audited(Assistant(settings), access).search(question, k, parse_filters(doc, meta, as_of), access)
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) if as_json else format_search(result))


@click.command("ask")
@click.argument("question")
@query_options
@click.option("--history", "history_file", type=click.File("r", encoding="utf-8"), default=None, metavar="FILE",
              help='The conversation before QUESTION: a JSON list of {"role": "user"|"assistant", "content": ...}, '
                   "oldest first (- reads standard input).")
def ask_command(question: str, corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...],
                meta: tuple[str, ...], as_of: datetime | None, history_file: IO[str] | None) -> None:
    """Answer QUESTION from the documents, with numbered citations."""
    from rag.assistant import Assistant

    history = read_history(history_file) if history_file is not None else None
    settings = query_settings(corpus, index_dir)
    access = key_access(settings, "cli ask")
    answer = audited(Assistant(settings), access).ask(question, k, parse_filters(doc, meta, as_of), history, access)
    click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if as_json else format_answer(answer))


def read_history(stream: IO[str]) -> list[Any]:
    """The messages of a --history file: a JSON list, oldest first (each message is checked by the assistant)."""
    from rag.errors import InvalidRequestError

    try:
        history = json.load(stream)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"--history {stream.name}: not JSON ({exc}); send a list of "
                                  '{"role": "user"|"assistant", "content": "..."}, oldest first') from None
    if not isinstance(history, list):
        raise InvalidRequestError(f"--history {stream.name}: expected a JSON list of messages, oldest first")
    return history


def format_search(result: SearchResult) -> str:
    """Ranked passages: document, section, pages, score, span and the first 400 characters."""
    lines = [f"{len(result.passages)} passages (build {result.build_id})"]
    for p in result.passages:
        d = p.to_dict()
        pages = f"  {d['pages']}" if d["pages"] else ""
        lines.append(f"\n[{p.rank}] {d['title']} ({d['doc_id']}) {d['section']}{pages}  score {p.score:.3f}  chars {d['start']}-{d['end']}")
        lines.append("    " + " ".join(p.chunk.text.split())[:400])
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    """The answer and its notes, its numbered sources, build and confidence (and who wrote it); a refusal with the
    closest passages."""
    if answer.abstained:
        lines = [answer.answer, *(["", "Closest passages:"] if answer.passages else [])]
        for p in answer.passages[:3]:
            lines.append(f"  - {p.chunk.title} ({p.chunk.doc_id}) {' > '.join(p.chunk.section)}: {' '.join(p.chunk.text.split())[:160]}")
        return "\n".join(lines)
    searched = answer.standalone_question
    lines = [f"(searched for: {searched})", ""] if searched and searched != answer.question else []  # a slip read, a follow-up completed
    lines += [answer.answer, *format_notes(answer), "", "Sources:", *format_sources(answer)]
    lines.append(f"\n(build {answer.build_id}, confidence {answer.confidence:.2f})")
    note = generation_note(answer)
    return "\n".join(lines + ([note] if note else []))
