"""What late interaction costs: each question of a gold set asked in-process without it, with it and no cache, and with
its cache, interleaved.

Three assistants over the same build (`RAG_LATE_WEIGHT=0`; the default weight with `RAG_LATE_CACHE=0`; the defaults)
answer every question in turn, `--repeat` times, so a busy machine slows all alike. The first pass is cold for the
cached one (every sentence read for the first time in this process), later passes warm. Prints the p50 and p90 of the
whole `Assistant.ask` for each, the p50 of the per-question extra over the first, how many sentences were read per
question on average, and how often the first citation changed. The last line printed is `RESULT {json}`.

Usage:
  .venv/bin/python bench/late_latency.py --index-dir DIR --gold eval/gold/docs_corpus_natural.jsonl [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import load_gold  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from reader_latency import p90, timed  # noqa: E402


def counting(assistant: Assistant) -> list[int]:
    """Counts the texts the assistant's late reader runs through the model (question included), per call."""
    late = assistant.snapshot.answerer.late
    calls: list[int] = []
    if late is not None:
        states = late.states
        late.states = lambda texts: calls.append(len(texts)) or states(texts)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    base = Settings.from_env(index_dir=args.index_dir)
    off = Assistant(base.replace(late_weight=0.0))
    names = ("off", "uncached", "cached")
    assistants = (off, Assistant(base.replace(late_cache=0), embedder=off.embedder), Assistant(base, embedder=off.embedder))
    for assistant in assistants:
        assistant.warm_up()
    reads = {name: counting(a) for name, a in zip(names, assistants)}
    rows = load_gold(args.gold, off.snapshot.index.documents)
    rows = [r for r in rows if not r.history][: args.limit or None]  # late interaction reads first questions only
    times: dict[str, list[list[float]]] = {name: [[] for _ in range(args.repeat)] for name in names}
    changed = 0
    for repeat in range(args.repeat):
        for row in rows:
            answers = []
            for name, assistant in zip(names, assistants):
                ms, answer = timed(lambda: assistant.ask(row.question))
                times[name][repeat].append(ms)
                answers.append(answer)
            if repeat == 0 and answers[0].citations[:1] != answers[2].citations[:1]:  # type: ignore[attr-defined]
                changed += 1
    result: dict[str, object] = {"questions": len(rows), "repeat": args.repeat, "first_citation_changed": changed}
    for name in names:
        result[f"{name}_p50_ms"] = round(statistics.median(sum(times[name], [])), 2)
        result[f"{name}_p90_ms"] = round(p90(sum(times[name], [])), 2)
    for name in names[1:]:
        extra = [b - a for b, a in zip(sum(times[name], []), sum(times["off"], []))]
        result[f"{name}_extra_p50_ms"] = round(statistics.median(extra), 2)
    cold = [b - a for b, a in zip(times["cached"][0], times["off"][0])]
    warm = [b - a for r in range(1, args.repeat) for b, a in zip(times["cached"][r], times["off"][r])]
    result["cached_cold_extra_p50_ms"] = round(statistics.median(cold), 2)
    result["cached_warm_extra_p50_ms"] = round(statistics.median(warm), 2) if warm else None
    asked = len(rows) * args.repeat
    result["texts_read_per_question"] = {name: round(sum(reads[name]) / asked, 2) for name in names[1:]}
    print(f"{len(rows)} first questions x {args.repeat}: without late interaction p50 {result['off_p50_ms']} ms "
          f"(p90 {result['off_p90_ms']}); with it, no cache, p50 {result['uncached_p50_ms']} ms (p90 {result['uncached_p90_ms']}, "
          f"extra p50 {result['uncached_extra_p50_ms']}); with its cache p50 {result['cached_p50_ms']} ms (p90 "
          f"{result['cached_p90_ms']}; extra p50 cold {result['cached_cold_extra_p50_ms']}, warm {result['cached_warm_extra_p50_ms']}); "
          f"texts run per question {result['texts_read_per_question']}; first citation changed for {changed}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
