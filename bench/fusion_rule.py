"""Fusion rule: does any rule for the dense list's weight serve short, long, formal and colloquial questions alike?

Today the dense list's weight in fusion is 0.5 for a question of up to 6 specific words, falling to 0.2 at 11 or
more (`Retriever.dense_weight`): long questions carry exact terms BM25 matches. That was measured on formal sets;
this script asks whether long colloquial questions want the same, by measurement. For every answerable first-turn row
of each gold set it ranks the question through the real `Retriever.retrieve` at each dense weight 0, 0.1, ..., 1 and
records mrr@10 (scored as `rag eval` scores it) and three per-question features: the count of specific words, the
IDF share of them the index knows, and the IDF share the top BM25 passage holds. It then prints, per set, mrr@10 for
today's rule, for each fixed weight, and for rules `weight = a + b * words + c * feature` (words scaled 3 -> 0, 11 ->
1; a, b, c on a 0.1 grid) fitted on all sets but one and scored on the one left out: a rule that only fits the sets
it was fitted on shows up there.

Usage:
  .venv/bin/python bench/fusion_rule.py --set natural=IDX:eval/gold/docs_corpus_natural.jsonl \\
      --set obliqa=OBLIQA_IDX:../shared/data/obliqa/gold-dev.jsonl::400 \\
      --set policyqa=POLICYQA_IDX:../shared/data/policyqa/gold-dev.jsonl:meta.scope_doc

Each `--set NAME=INDEX_DIR:GOLD[:SCOPE_FIELD[:LIMIT]]` names a promoted build and a gold file. The last line printed
is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate.gold import load_gold  # noqa: E402
from rag.evaluate.runner import RANK_DEPTH, QuestionResult, score_question  # noqa: E402
from rag.ingest.text import content_words  # noqa: E402
from rag.search.query_terms import question_words  # noqa: E402
from rag.search.retrieval import Filters, allowed_documents, clean_question  # noqa: E402

GRID = [round(0.1 * i, 1) for i in range(11)]
FEATURES = ("known", "top_lexical")


def measure(index_dir: Path, gold: Path, scope: str | None, limit: int | None) -> dict[str, np.ndarray]:
    """mrr@10 per row at each grid weight (rows x weights), and the per-row features."""
    settings = Settings.from_env(index_dir=index_dir)
    snap = Assistant(settings).snapshot
    retriever, stats = snap.retriever, snap.index.term_stats
    rows = [r for r in load_gold(gold, snap.index.documents, scope)[:limit] if r.answerable and r.evidence and not r.follow_up]
    questions = [clean_question(r.question, settings) for r in rows]
    vectors = retriever.embed_all(questions)
    mrr, words, known, top = [], [], [], []
    for row, question, vector in zip(rows, questions, vectors):
        filters = Filters(doc_ids=(row.scope_doc,)) if row.scope_doc else None
        specific = question_words(question)
        idf = {w: stats.idf(w) for w in specific}
        total = sum(idf.values()) or 1.0
        doc_ids = allowed_documents(snap.index, filters)
        lexical = snap.index.lexical.search(question, 1, snap.index.rows_of(doc_ids) if doc_ids is not None else None)
        held = set(content_words(snap.index.chunks[lexical[0][0]].text)) if lexical else set()
        words.append(len(specific))
        known.append(sum(v for w, v in idf.items() if stats.df.get(w)) / total)
        top.append(sum(v for w, v in idf.items() if w in held) / total)
        scores = []
        for weight in GRID:
            retriever.dense_weight = lambda _q, w=weight: w  # type: ignore[method-assign]
            result = QuestionResult(row, retriever.retrieve(question, vector, RANK_DEPTH, filters))
            score_question(result, snap)
            scores.append(result.retrieval["mrr@10"])
        mrr.append(scores)
    return {"mrr": np.array(mrr), "words": np.array(words, float), "known": np.array(known), "top_lexical": np.array(top)}


def today(data: dict[str, np.ndarray]) -> np.ndarray:
    return 0.5 - 0.3 * np.clip((data["words"] - 6) / 5, 0, 1)


def rule(data: dict[str, np.ndarray], a: float, b: float, c: float, feature: str) -> np.ndarray:
    return a + b * np.clip((data["words"] - 3) / 8, 0, 1) + c * data[feature]


def score(data: dict[str, np.ndarray], weights: np.ndarray) -> float:
    columns = np.clip(np.rint(weights * 10), 0, 10).astype(int)
    return float(data["mrr"][np.arange(len(columns)), columns].mean()) if len(columns) else 0.0


def fit(sets: dict[str, dict[str, np.ndarray]]) -> tuple[float, float, float, str]:
    """The (a, b, c, feature) with the best mean mrr@10 over `sets`, each set counting once."""
    steps = np.round(np.arange(-0.8, 0.81, 0.1), 1)
    best, params = -1.0, (0.5, 0.0, 0.0, FEATURES[0])
    for a, b, c, feature in itertools.product(np.round(np.arange(0.2, 1.01, 0.1), 1), steps, steps, FEATURES):
        value = float(np.mean([score(d, rule(d, a, b, c, feature)) for d in sets.values()]))
        if value > best:
            best, params = value, (float(a), float(b), float(c), feature)
    return params


def parse(spec: str) -> tuple[str, Path, Path, str | None, int | None]:
    name, _, rest = spec.partition("=")
    parts = rest.split(":")
    if not name or len(parts) < 2:
        raise SystemExit(f"--set {spec!r}: expected NAME=INDEX_DIR:GOLD[:SCOPE_FIELD[:LIMIT]]")
    scope = parts[2] if len(parts) > 2 and parts[2] else None
    limit = int(parts[3]) if len(parts) > 3 and parts[3] else None
    return name, Path(parts[0]), Path(parts[1]), scope, limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="sets", action="append", required=True, metavar="NAME=INDEX:GOLD[:SCOPE[:LIMIT]]")
    args = parser.parse_args()
    sets = {}
    for spec in args.sets:
        name, index_dir, gold, scope, limit = parse(spec)
        sets[name] = measure(index_dir, gold, scope, limit)
        print(f"{name}: {len(sets[name]['mrr'])} answerable first-turn rows, {int((sets[name]['words'] >= 11).sum())} of 11+ words",
              flush=True)
    report: dict[str, dict[str, object]] = {}
    print("| set | today | " + " | ".join(f"w={w}" for w in GRID) + " | fitted on the others | params |")
    print("|" + "---|" * (len(GRID) + 4))
    for name, data in sets.items():
        params = fit({n: d for n, d in sets.items() if n != name}) if len(sets) > 1 else fit(sets)
        fixed = [score(data, np.full(len(data["words"]), w)) for w in GRID]
        held_out = score(data, rule(data, *params))
        report[name] = {"today": score(data, today(data)), "fixed": dict(zip(map(str, GRID), fixed)), "held_out": held_out,
                        "params": params}
        print(f"| {name} | {report[name]['today']:.3f} | " + " | ".join(f"{v:.3f}" for v in fixed)
              + f" | {held_out:.3f} | {params} |")
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    main()
