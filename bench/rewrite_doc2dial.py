"""Does the model's rewrite of follow-ups retrieve better than the rewrite without a model? Measured on doc2dial.

Over a build of the doc2dial corpus (RAG_INDEX_DIR), every Nth follow-up of the gold file (rows with history) is
retrieved twice through `rag.chat.retrieval.ContextualRetrieval` as a conversation is: with the rewrite without a model
(`HistoryRewriter`, the default) and with `ModelRewriter` (RAG_LLM_REWRITE=true: the model at RAG_LLM_BASE_URL writes a
standalone question, used only when it passes its checks; the rows it fails on are the same for both). Prints hit@1, hit@5 and mrr@10 of both on the same rows, how
many model rewrites passed their checks (and why the others did not), and the rows where the two differ at rank 1,
then `RESULT {json}`.

    RAG_INDEX_DIR=DIR RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAG_LLM_MODEL=smollm2 \\
        .venv/bin/python bench/rewrite_doc2dial.py --gold /work/shared/data/doc2dial/gold-dev.jsonl [--sample 40]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.assistant import Assistant  # noqa: E402
from rag.chat.context import Context  # noqa: E402
from rag.chat.history import checked_history, latest_within  # noqa: E402
from rag.chat.retrieval import ContextualRetrieval  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import GoldRow, load_gold  # noqa: E402
from rag.evaluate.runner import RANK_DEPTH, QuestionResult, score_question  # noqa: E402
from rag.generate.client import ChatClient  # noqa: E402
from rag.generate.rewrite import ModelRewriter  # noqa: E402
from rag.search.retrieval import Filters, clean_question  # noqa: E402

METRICS = ("hit@1", "hit@5", "mrr@10")


def scored(chat: ContextualRetrieval, assistant: Assistant, row: GoldRow, context: Context) -> dict[str, float]:
    """The row's retrieval metrics, ranked through `chat` with `context` (its standalone question)."""
    found = chat.retrieve(context, chat.vectors(context), RANK_DEPTH, Filters())
    result = QuestionResult(row, passages=found.passages)
    score_question(result, assistant.snapshot)
    return result.retrieval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, required=True, help="doc2dial gold JSONL (e.g. /work/shared/data/doc2dial/gold-dev.jsonl)")
    parser.add_argument("--sample", type=int, default=40, help="about how many follow-ups to measure")
    parser.add_argument("--show", type=int, default=8, help="rows to print where the two differ at rank 1")
    args = parser.parse_args()
    settings = Settings.from_env()
    if not settings.llm_base_url or not settings.llm_model:
        sys.exit("set RAG_LLM_BASE_URL and RAG_LLM_MODEL (see README 'Generated answers')")
    assistant = Assistant(settings)
    snap = assistant.snapshot
    follow_ups = [r for r in load_gold(args.gold, snap.index.documents) if r.follow_up and r.answerable and r.evidence]
    rows = follow_ups[:: max(1, len(follow_ups) // args.sample)][: args.sample]
    model = ModelRewriter(ChatClient.from_settings(settings), settings)
    chat = ContextualRetrieval(snap.retriever, settings)
    totals = {"plain": Counter(), "model": Counter()}
    verdicts: Counter[str] = Counter()
    differ = []
    for n, row in enumerate(rows, start=1):
        question = clean_question(row.question, settings)
        history = checked_history(latest_within(row.history, settings), settings)
        text, why = model.attempt(question, history)  # what ModelRewriter.rewrite does, with the reason kept
        verdicts["used" if text else why.split(":")[0][:60]] += 1
        without = chat.context(question, history)
        rewritten = Context(question, text, without.documents) if text else without
        plain = scored(chat, assistant, row, without)
        ranked = scored(chat, assistant, row, rewritten) if text else plain
        model_text = rewritten.text
        for key in METRICS:
            totals["plain"][key] += plain.get(key, 0.0)
            totals["model"][key] += ranked.get(key, 0.0)
        if plain.get("hit@1") != ranked.get("hit@1"):
            differ.append((row.question, model_text, plain.get("hit@1"), ranked.get("hit@1")))
        print(f"[{n}/{len(rows)}] hit@1 plain {plain.get('hit@1', 0):.0f} model {ranked.get('hit@1', 0):.0f}"
              f"{'' if text else ' (rewrite not used)'}", flush=True)
    means = {name: {k: totals[name][k] / len(rows) for k in METRICS} for name in totals}
    print(f"\n{len(rows)} doc2dial follow-ups; model rewrites: {dict(verdicts)}")
    for name in ("plain", "model"):
        print(f"{name:>6}: " + ", ".join(f"{k} {means[name][k]:.3f}" for k in METRICS))
    for question, rewrite, a, b in differ[: args.show]:
        print(f"  {'better' if (b or 0) > (a or 0) else 'worse'}: {question!r} -> {rewrite!r}")
    print("RESULT " + json.dumps({"rows": len(rows), "rewrites": dict(verdicts), **means}))


if __name__ == "__main__":
    main()
