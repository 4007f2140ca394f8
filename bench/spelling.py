"""What reading misspelt words costs: the speller's start-up and its time per question, and the whole in-process ask
with it and without it, interleaved, over one gold set.

Two assistants over the same build (`RAG_SPELLING=false`; the default) answer every first question in turn, `--repeat`
times, so a busy machine slows both alike. Prints the speller's warm-up (the English word list and the build's word
counts), its p50 read per question, the ask p50 of each and the per-question extra, and every change it made (typed ->
read), so a person can judge them. The last line printed is `RESULT {json}`.

Usage:
  .venv/bin/python bench/spelling.py --index-dir DIR --gold eval/gold/docs_corpus_natural.jsonl [--repeat 2]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import load_gold  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from reader_latency import gold_parser, timed  # noqa: E402


def main() -> None:
    args = gold_parser(__doc__, repeat=2).parse_args()
    base = Settings.from_env(index_dir=args.index_dir)
    off = Assistant(base.replace(spelling=False))
    on = Assistant(base, embedder=off.embedder)
    off.warm_up()
    speller = on.snapshot.speller
    assert speller is not None, "RAG_SPELLING is off in this environment: unset it"
    started = time.perf_counter()
    speller.warm()
    warm_ms = (time.perf_counter() - started) * 1000
    on.warm_up()
    rows = [r for r in load_gold(args.gold, off.snapshot.index.documents) if not r.history]
    reads, changes = [], []
    for row in rows:
        ms, read = timed(lambda: speller.read(row.question))
        reads.append(ms)
        changes += list(read.changes)
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.repeat):
        for row in rows:
            for name, assistant in (("off", off), ("on", on)):
                times[name].append(timed(lambda: assistant.ask(row.question))[0])
    extra = [b - a for b, a in zip(times["on"], times["off"])]
    result = {"questions": len(rows), "repeat": args.repeat, "warm_ms": round(warm_ms, 1),
              "read_p50_ms": round(statistics.median(reads), 3), "read_max_ms": round(max(reads), 3),
              "off_p50_ms": round(statistics.median(times["off"]), 2), "on_p50_ms": round(statistics.median(times["on"]), 2),
              "extra_p50_ms": round(statistics.median(extra), 2), "changes": len(changes)}
    print(f"{len(rows)} first questions x {args.repeat}: speller warm-up {result['warm_ms']} ms, read p50 "
          f"{result['read_p50_ms']} ms (max {result['read_max_ms']}); ask p50 without {result['off_p50_ms']} ms, with "
          f"{result['on_p50_ms']} ms (extra p50 {result['extra_p50_ms']} ms); {len(changes)} words read otherwise:")
    for typed, read in changes:
        print(f"  {typed} -> {read}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
