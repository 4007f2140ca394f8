"""Retrieval sweep: ranking metrics of one build under several retrieval settings, questions embedded once.

For tuning retrieval (fusion weights, candidate depth, reranking, boosts) without re-running `rag eval`
for every value: the build is loaded once, every gold question is embedded once with the configured
question encoder, and each combination of the `--set` values ranks every question through the real
`rag.search.retrieval.Retriever`. Metrics are scored by `rag.evaluate.runner.score_question` on the top 10, as in `rag eval`
(the first combination reproduces `rag eval`'s retrieval figures for the same settings). Answering,
refusals and latency of the question encoder are left out: use `rag eval` and `bench/query.py`.

Usage:
  .venv/bin/python bench/retrieval_sweep.py --index-dir DIR --gold FILE [--scope-field meta.scope_doc]
      [--limit N] [--set dense_weight=0.3,0.5] [--set rerank_weight=0,0.3]

Each `--set KEY=V1,V2,...` names a Settings field (as in the README's configuration table, without the
`RAG_` prefix); every combination of the listed values is run, in order. Other settings come from the
environment (`RAG_*`), like every other command. The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from rag.assistant import Assistant, Snapshot  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import GoldRow, load_gold  # noqa: E402
from rag.evaluate.runner import RANK_DEPTH, QuestionResult, score_question  # noqa: E402
from rag.search.retrieval import Filters, Retriever, clean_question  # noqa: E402

METRICS = ("hit@1", "hit@10", "mrr@10", "ndcg@10")


def parse_sets(pairs: list[str]) -> list[tuple[str, list[str]]]:
    """`KEY=V1,V2` pairs as (key, values), checked against the Settings fields."""
    known = {f.name for f in dataclasses.fields(Settings)}
    out = []
    for pair in pairs:
        key, _, values = pair.partition("=")
        key = key.strip().lower().removeprefix("rag_")
        if key not in known or not values:
            raise SystemExit(f"--set {pair!r}: expected KEY=V1,V2 with KEY one of the settings (e.g. dense_weight=0.3,0.5)")
        out.append((key, [v.strip() for v in values.split(",")]))
    return out


def combinations(base: dict[str, str], sets: list[tuple[str, list[str]]], index_dir: Path) -> list[tuple[dict[str, str], Settings]]:
    """Every combination of the swept values, as (overrides, settings); a bad value is named by its key."""
    keys = [k for k, _ in sets]
    out = []
    for values in itertools.product(*(v for _, v in sets)) if sets else [()]:
        overrides = dict(zip(keys, values))
        env = {**base, **{f"RAG_{k.upper()}": v for k, v in overrides.items()}}
        out.append((overrides, Settings.from_env(env, index_dir=index_dir)))
    return out


def score(retriever: Retriever, snapshot: Snapshot, rows: list[GoldRow], questions: list[str], vectors: np.ndarray) -> dict[str, float]:
    """Mean ranking metrics over the answerable rows, and milliseconds of ranking per question."""
    totals = dict.fromkeys(METRICS, 0.0)
    started = time.perf_counter()
    for row, question, vector in zip(rows, questions, vectors):
        filters = Filters(doc_ids=(row.scope_doc,)) if row.scope_doc else None
        result = QuestionResult(row, retriever.retrieve(question, vector, RANK_DEPTH, filters))
        score_question(result, snapshot)  # scores retrieval only: the result has no answer
        for key in METRICS:
            totals[key] += result.retrieval[key]
    elapsed = (time.perf_counter() - started) * 1000 / max(1, len(rows))
    return {**{k: round(v / max(1, len(rows)), 4) for k, v in totals.items()}, "ms_per_question": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="index folder with a promoted build")
    parser.add_argument("--gold", type=Path, required=True, help="gold JSONL (the format in the README, 'Evaluating')")
    parser.add_argument("--scope-field", default=None, help="dotted field naming the one document a row is about")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of the gold file only")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=V1,V2", help="setting values to sweep")
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items() if k.startswith("RAG_")}
    runs = combinations(base, parse_sets(args.sets), args.index_dir)
    started = time.perf_counter()
    assistant = Assistant(runs[0][1])
    snap = assistant.snapshot
    rows = load_gold(args.gold, snap.index.documents, args.scope_field)[: args.limit]
    rows = [r for r in rows if r.answerable and r.evidence]
    questions = [clean_question(r.question, runs[0][1]) for r in rows]
    vectors = np.stack([snap.retriever.embed(q) for q in questions]) if questions else np.zeros((0, 1), np.float32)
    print(f"build {snap.index.build_id}: {len(rows)} answerable rows, loaded and embedded in {time.perf_counter() - started:.1f} s")

    results: list[dict[str, Any]] = []
    print("| " + " | ".join(["settings", *METRICS, "ms/question"]) + " |")
    print("|" + "---|" * (len(METRICS) + 2))
    for overrides, settings in runs:
        retriever = Retriever(snap.index, assistant.embedder, settings, snap.retriever.query_encoder)
        found = score(retriever, snap, rows, questions, vectors)
        label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(environment)"
        print(f"| {label} | " + " | ".join(f"{found[k]:.4f}" for k in METRICS) + f" | {found['ms_per_question']:.2f} |", flush=True)
        results.append({"settings": overrides, **found})
    print("RESULT " + json.dumps({"build_id": snap.index.build_id, "rows": len(rows), "runs": results}))


if __name__ == "__main__":
    main()
