"""What the reader costs: each question of a gold set asked in-process without the reader and with it, interleaved.

Two assistants over the same build, one with `RAG_READER=off` and one with the reader (`--reader`, default the packaged
one), answer every question in turn (`--repeat` times), so a busy machine slows both alike. Prints the medians and p90
of the whole `Assistant.ask` (embedding, retrieval, answering) and of the per-question differences, in milliseconds,
and how often the two quote a different first sentence. Also times building the reader's session (the first question
with it pays that). The last line printed is `RESULT {json}`.

Usage:
  .venv/bin/python bench/reader_latency.py --index-dir DIR --gold eval/gold/docs_corpus_natural.jsonl [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.answer.reader import PACKAGED  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import load_gold  # noqa: E402


def timed(call) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = call()
    return (time.perf_counter() - started) * 1000, out


def gold_parser(doc: str | None, repeat: int) -> argparse.ArgumentParser:
    """The options every in-process latency bench over a build and a gold set takes: --index-dir, --gold, --repeat."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True)
    parser.add_argument("--reader", default=str(PACKAGED))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    base = Settings.from_env(index_dir=args.index_dir)
    plain = Assistant(base.replace(reader="off"))
    reading = Assistant(base.replace(reader=args.reader), embedder=plain.embedder)
    plain.warm_up()
    reading.warm_up()
    reader = reading.reader
    load_ms, _ = timed(lambda: (reader.weights if hasattr(reader, "weights") else reader.session) if reader else None)
    rows = load_gold(args.gold, plain.snapshot.index.documents)
    rows = rows[: args.limit] if args.limit else rows
    off, on, extra, changed = [], [], [], 0
    for repeat in range(args.repeat):
        for row in rows:
            a, first = timed(lambda: plain.ask(row.question, history=row.history))
            b, second = timed(lambda: reading.ask(row.question, history=row.history))
            off.append(a)
            on.append(b)
            extra.append(b - a)
            if repeat == 0 and first.citations[:1] != second.citations[:1]:  # type: ignore[attr-defined]
                changed += 1
    result = {"questions": len(rows), "repeat": args.repeat, "reader": args.reader, "reader_load_ms": round(load_ms, 1),
              "off_p50_ms": round(statistics.median(off), 2), "on_p50_ms": round(statistics.median(on), 2),
              "off_p90_ms": round(p90(off), 2), "on_p90_ms": round(p90(on), 2),
              "extra_p50_ms": round(statistics.median(extra), 2), "first_citation_changed": changed}
    print(f"{len(rows)} questions x {args.repeat}: without the reader p50 {result['off_p50_ms']} ms (p90 {result['off_p90_ms']}), "
          f"with it p50 {result['on_p50_ms']} ms (p90 {result['on_p90_ms']}), extra per question p50 {result['extra_p50_ms']} ms; "
          f"first citation changed for {changed}; reader session built in {result['reader_load_ms']} ms")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
