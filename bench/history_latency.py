"""What answering with history costs: each follow-up of a dialogue gold set asked alone and with its history, in-process.

The two are interleaved question by question (alone, then with history, `--repeat` times), so a busy machine slows
both alike. Before each call the cache of recent question vectors is emptied, and before the call with history the
earlier user turns are embedded untimed, as a live conversation has embedded them when they were asked; the medians and the median of the per-question differences are printed, in milliseconds, for the whole
`Assistant.ask` (embedding, retrieval, answering). The last line printed is `RESULT {json}`.

Usage:
  .venv/bin/python bench/history_latency.py --index-dir DIR --gold eval/gold/docs_corpus_dialogues.jsonl [--repeat 5]
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

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import load_gold  # noqa: E402


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assistant = Assistant(Settings.from_env(index_dir=args.index_dir))
    assistant.warm_up()
    rows = [r for r in load_gold(args.gold, assistant.snapshot.index.documents) if r.follow_up]
    alone, with_history, extra = [], [], []
    chat = assistant.snapshot.chat
    for _ in range(args.repeat):
        for row in rows:
            chat.vector_cache.clear()
            a = timed(lambda: assistant.ask(row.question))
            chat.vector_cache.clear()
            earlier = [" ".join(m.content.split()) for m in row.history if m.role == "user"]
            chat.vector_cache.vectors(earlier, chat.retriever.embed_all)
            h = timed(lambda: assistant.ask(row.question, history=row.history))
            alone.append(a)
            with_history.append(h)
            extra.append(h - a)
    result = {"follow_ups": len(rows), "repeat": args.repeat, "alone_p50_ms": round(statistics.median(alone), 2),
              "with_history_p50_ms": round(statistics.median(with_history), 2),
              "extra_p50_ms": round(statistics.median(extra), 2)}
    print(f"{len(rows)} follow-ups x {args.repeat}: alone p50 {result['alone_p50_ms']} ms, with history p50 "
          f"{result['with_history_p50_ms']} ms, extra per question p50 {result['extra_p50_ms']} ms")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
