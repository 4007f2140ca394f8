"""Dialogue sweep: how follow-up questions are best retrieved, rankings computed once and mixed many ways.

For tuning `rag.chat` (which earlier turns make the standalone question, the weight of the contextual ranking, the
boost of the documents earlier answers cited) without re-running `rag eval` for every value. The build is loaded
once; for every gold row the question alone and each context variant's standalone question (the question followed
by the last one, two or all earlier user turns, with or without the last answer) are embedded once, as they are
(`RAG_CONTEXT_VECTOR` aside: measure the shipped vectors with `rag eval`), and ranked once through the real
`Retriever.scored`; then every (variant, gate, weight, boost) combination mixes those rankings as
`rag.chat.retrieval` does: `share * ((1 - w) * alone + w * contextual + b * prior(document))`-style, with the
new-topic share of `context_share` when a gate `LOW-HIGH` is given, and the prior the recency-weighted share of the
earlier answers located in each document. Metrics (hit@1, hit@5, mrr@10) are split by first turns, follow-ups and
topic switches (`meta.kind` topic_switch), scored by `rag.evaluate.runner.score_question` as in `rag eval`.

Usage:
  .venv/bin/python bench/dialogue_sweep.py --index-dir DIR --gold FILE [--limit N]
      [--variants u1,u2,uall,uall+a1] [--gates none,5-10] [--weights 0,0.3,0.5] [--boosts 0,0.2]

The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.assistant import Assistant  # noqa: E402
from rag.chat.context import ContextConfig, build_context  # noqa: E402
from rag.chat.retrieval import context_share, mix_rankings  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import GoldRow, load_gold  # noqa: E402
from rag.evaluate.runner import RANK_DEPTH, QuestionResult, score_question  # noqa: E402
from rag.search.retrieval import clean_question  # noqa: E402

METRICS = ("hit@1", "hit@5", "mrr@10")
GROUPS = ("first", "follow_up", "switch")  # switch: follow-ups tagged meta.kind topic_switch (also in follow_up)


def groups_of(row: GoldRow) -> list[str]:
    if not row.follow_up:
        return ["first"]
    return ["follow_up"] + (["switch"] if "topic_switch" in (row.meta.get("kind") or []) else [])


def variant_config(name: str, base: Settings) -> ContextConfig:
    """'u2+a1': the last 2 user turns and the last answer; 'uall': every earlier user turn."""
    users, _, answers = name.partition("+a")
    turns = 0 if users == "u0" else (base.max_history_messages if users == "uall" else int(users[1:]))
    return ContextConfig(turns, int(answers or 0), base.context_decay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--gold", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--variants", default="u1,uall,uall+a1")
    parser.add_argument("--weights", default="0,0.5,1")
    parser.add_argument("--boosts", default="0,0.2")
    parser.add_argument("--gates", default="none", help="'none' or LOW-HIGH specific words (rag.chat.retrieval.context_share)")
    args = parser.parse_args()

    settings = Settings.from_env(index_dir=args.index_dir)
    assistant = Assistant(settings)
    snap = assistant.snapshot
    rows = [r for r in load_gold(args.gold, snap.index.documents)[: args.limit] if r.answerable and r.evidence]
    started = time.perf_counter()
    depth = max(RANK_DEPTH, settings.candidates)
    alone, contextual, priors = [], {}, {}
    for row in rows:
        q = clean_question(row.question, settings)
        alone.append(snap.retriever.scored(q, snap.retriever.embed(q), depth, None))
    for name in args.variants.split(","):
        config = variant_config(name, settings)
        ranked, prior = [], []
        for row in rows:
            q = clean_question(row.question, settings)
            context = build_context(q, row.history, snap.index, config)
            ranked.append(snap.retriever.scored(context.text, snap.retriever.embed(context.text), depth, None)
                          if context.follow_up else None)
            prior.append(context.documents)
        contextual[name], priors[name] = ranked, prior
    print(f"build {snap.index.build_id}: {len(rows)} rows ranked in {time.perf_counter() - started:.1f} s", flush=True)

    zero = snap.retriever.embed("zero") * 0  # cosines to the question do not change a ranking metric
    results: list[dict[str, Any]] = []
    print("| variant | w | b | " + " | ".join(f"{g} {m}" for g in GROUPS for m in METRICS) + " |")
    for name, gate, w, b in itertools.product(args.variants.split(","), args.gates.split(","), map(float, args.weights.split(",")),
                                              map(float, args.boosts.split(","))):
        sums: dict[str, dict[str, float]] = {g: dict.fromkeys(METRICS, 0.0) for g in GROUPS}
        counts = dict.fromkeys(GROUPS, 0)
        for i, row in enumerate(rows):
            ctx = contextual[name][i]
            share = 1.0
            if ctx is not None and gate != "none":
                low, high = map(int, gate.split("-"))
                share = context_share(row.question, alone[i], priors[name][i], snap.index, (low, high))
            ranked = alone[i] if ctx is None else mix_rankings(alone[i], ctx, w * share, b * share, priors[name][i], snap.index)
            result = QuestionResult(row, snap.retriever.passages(ranked, zero, RANK_DEPTH))
            score_question(result, snap)
            for group in groups_of(row):
                counts[group] += 1
                for m in METRICS:
                    sums[group][m] += result.retrieval[m]
        figures = {g: {m: round(v / max(1, counts[g]), 4) for m, v in sums[g].items()} for g in sums if counts[g]}
        print(f"| {name} {gate} | {w} | {b} | " + " | ".join(f"{figures[g][m]:.3f}" for g in figures for m in METRICS) + " |", flush=True)
        results.append({"variant": name, "gate": gate, "weight": w, "boost": b, **figures})
    print("RESULT " + json.dumps({"build_id": snap.index.build_id, "rows": len(rows), "runs": results}))


if __name__ == "__main__":
    main()
