"""`rag chat`: a conversation in the terminal, over the same assistant as `rag ask` and the server.

Owns the command and its read-answer loop (`run_chat`): each line typed is a question asked after the conversation so
far (kept in memory, within the history limits), its answer printed as it is written, sentence by sentence, then its
numbered sources (document, section, page, quote) and its confidence; `/new` forgets the conversation, `/sources`
prints the last sources again, `/quit` or the end of input stops. A bad question prints its error and the loop goes
on. With `--json`, one JSON line per answer (the object `rag ask --json` prints). Leaves answering to `rag.assistant`
and the shared options, settings and source formatting to `rag.cli.shared`; the assistant and the chat modules are
imported when a conversation starts, so `rag --help` loads no model.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

import click

from rag.cli.shared import audited, format_notes, format_sources, generation_note, key_access, parse_filters, query_options, query_settings
from rag.config import Settings
from rag.errors import RagError
from rag.models import Access, Answer, Message

if TYPE_CHECKING:
    from rag.assistant import Assistant
    from rag.search.retrieval import Filters

HELP = "Ask a question. /new starts a new conversation, /sources shows the last sources again, /quit ends."
PROMPT = "you> "
LOW_CONFIDENCE = 0.3  # below it an answer's confidence line says to check the quotes (README: How answers are made)


@click.command("chat")
@query_options
def chat_command(corpus: Path | None, index_dir: Path | None, k: int | None, as_json: bool, doc: tuple[str, ...],
                 meta: tuple[str, ...], as_of: datetime | None) -> None:
    """A conversation in the terminal: follow-ups are answered in the light of the earlier turns.

    Type a question and press Enter; the answer appears sentence by sentence, then its numbered sources.
    /new starts a new conversation, /sources shows the last answer's sources again, /quit (or Ctrl-D) ends.
    With --json, each answer is one line of JSON (the object `rag ask --json` prints)."""
    from rag.assistant import Assistant

    settings = query_settings(corpus, index_dir)
    access = key_access(settings, "cli chat")
    run_chat(settings, k, parse_filters(doc, meta, as_of), as_json, assistant=audited(Assistant(settings), access), access=access)


def lines_of(stream: IO[str]) -> Iterator[str]:
    """Typed lines: with a prompt at a terminal, plain lines from a pipe."""
    if stream.isatty():
        while True:
            try:
                yield input(PROMPT)
            except EOFError:
                return
    else:
        yield from stream


def run_chat(settings: Settings, k: int | None, filters: Filters, as_json: bool, stream: IO[str] | None = None,
             assistant: Assistant | None = None, access: Access | None = None) -> None:
    """The loop over typed lines (standard input unless `stream` is given), until /quit or the end of input; with
    `access`, every answer stays within its groups."""
    from rag.assistant import Assistant
    from rag.chat.history import latest_within

    assistant = assistant or Assistant(settings)
    history: tuple[Message, ...] = ()
    last: Answer | None = None
    if not as_json:
        click.echo(HELP, err=True)
    for raw in lines_of(stream or sys.stdin):
        line = raw.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/new":
            history, last = (), None
            _note("new conversation", as_json)
        elif line == "/sources":
            _sources(last, as_json, alone=True)
        elif line.startswith("/"):
            _note(f"unknown command {line}: {HELP}", as_json)
        else:
            answer = _turn(assistant, line, k, filters, history, as_json, access)
            if answer is not None:
                last = answer
                history = latest_within(history + (Message("user", line), Message("assistant", answer.answer, answer.citations)),
                                        settings)


def _turn(assistant: Assistant, question: str, k: int | None, filters: Filters, history: tuple[Message, ...],
          as_json: bool, access: Access | None = None) -> Answer | None:
    """Ask one question; print the answer as it comes, then its sources. None when the question was refused as bad."""
    from rag.chat.streaming import Completed, TextDelta

    try:
        events = assistant.stream(question, k, filters, history, access)
        answer = None
        for event in events:
            if isinstance(event, TextDelta) and not as_json:
                click.echo(event.text, nl=False)
                sys.stdout.flush()
            elif isinstance(event, Completed):
                answer = event.answer
    except RagError as exc:
        click.echo(json.dumps({"error": exc.to_dict()}) if as_json else f"error: {exc.message}", err=not as_json)
        return None
    if answer is not None:
        if as_json:
            click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            click.echo("")
            _sources(answer, as_json)
    return answer


def _sources(answer: Answer | None, as_json: bool, alone: bool = False) -> None:
    """The answer's notes, numbered sources and confidence (a refusal's closest passages), then a blank line, so that
    piped turns do not run together; `alone` (for /sources) drops the blank line that parts them from the answer."""
    if as_json:
        click.echo(json.dumps({"citations": [c.to_dict() for c in answer.citations] if answer else []}, ensure_ascii=False))
        return
    if answer is None:
        lines = ["(no answer yet)"]
    elif answer.abstained and not answer.passages:
        lines = ["(no passages: nothing was searched)"]
    elif answer.abstained:
        lines = ["", "Closest passages:"]
        for p in answer.passages[:3]:
            pages = p.to_dict()["pages"] if p.chunk.page else ""
            where = "".join(f", {part}" for part in (" > ".join(p.chunk.section), pages) if part)  # no empty section
            lines.append(f"  - {p.chunk.title} ({p.chunk.doc_id}{where}): {' '.join(p.chunk.text.split())[:160]}")
    else:
        note = generation_note(answer)
        lines = [*format_notes(answer), "", "Sources:", *format_sources(answer), *([note] if note else []), _confidence(answer)]
    text = "\n".join(lines)
    click.echo((text.lstrip("\n") if alone else text) + "\n")


def _confidence(answer: Answer) -> str:
    """How sure the answer is, as `rag ask` says it; a low one (under `LOW_CONFIDENCE`) says to check the quotes."""
    low = f": under about {LOW_CONFIDENCE}, check the quotes" if answer.confidence < LOW_CONFIDENCE else ""
    return f"(confidence {answer.confidence:.2f}{low})"


def _note(text: str, as_json: bool) -> None:
    click.echo(json.dumps({"note": text}) if as_json else f"({text})", err=not as_json)
