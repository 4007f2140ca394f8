"""Corpus check benchmark: precision and recall of each finding kind of `rag corpus check` on the planted corpus.

What it does. It builds tests/fixtures/lifecycle/corpus/ (small hand-written policies: three copies of one policy, a
superseded copy, broken references by title, code and clause, overdue and in-date reviews, seven planted conflicts and
near-identical sentences that do not conflict) with the real embedder into a temp folder, runs
`rag.lifecycle.health.check_corpus` on the gold file's day, and compares each finding kind with
tests/fixtures/lifecycle/gold.json. A conflict matches a gold pair when its two spans hold the gold quotes, in either
order. With --sweep it also prints conflict precision and recall over a grid of the similarity thresholds (how the
defaults in `rag.lifecycle.conflicts` were chosen).

Usage: .venv/bin/python bench/corpus_check.py [--corpus DIR] [--gold FILE] [--sweep]
The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.indexing import builds  # noqa: E402
from rag.indexing.passage_encoder import make_passage_embedder  # noqa: E402
from rag.indexing.store import LoadedIndex  # noqa: E402
from rag.lifecycle import conflicts as finder  # noqa: E402
from rag.lifecycle.health import CorpusHealth, check_corpus  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "lifecycle"


def score(found: set[Any], gold: set[Any]) -> dict[str, float]:
    hits = len(found & gold)
    return {"found": len(found), "gold": len(gold), "hits": hits, "precision": round(hits / len(found), 3) if found else 1.0,
            "recall": round(hits / len(gold), 3) if gold else 1.0}


def conflict_hits(health: CorpusHealth, gold: list[dict[str, Any]]) -> tuple[int, int]:
    """(findings matching a gold pair, gold pairs found)."""
    def holds(span: Any, side: list[str]) -> bool:
        return span.doc_id == side[0] and side[1] in span.quote

    matched_gold = set()
    good = 0
    for c in health.conflicts:
        match = [n for n, g in enumerate(gold) if (holds(c.a, g["a"]) and holds(c.b, g["b"])) or (holds(c.a, g["b"]) and holds(c.b, g["a"]))]
        good += bool(match)
        matched_gold.update(match)
    return good, len(matched_gold)


def evaluate(health: CorpusHealth, gold: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {
        "overdue_reviews": score({o.facts.doc_id for o in health.overdue}, set(gold["overdue_reviews"])),
        "superseded": score({(s.doc_id, s.standing) for s in health.superseded}, {(g["doc_id"], g["standing"]) for g in gold["superseded"]}),
        "broken_references": score({(r.span.doc_id, r.kind, r.target, r.clause) for r in health.references},
                                   {(g["doc_id"], g["kind"], g["target"], g.get("clause", "")) for g in gold["broken_references"]}),
    }
    good, found = conflict_hits(health, gold["conflicts"])
    n = len(health.conflicts)
    out["conflicts"] = {"found": n, "gold": len(gold["conflicts"]), "hits": found, "precision": round(good / n, 3) if n else 1.0,
                        "recall": round(found / len(gold["conflicts"]), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=FIXTURE / "corpus")
    parser.add_argument("--gold", type=Path, default=FIXTURE / "gold.json")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    gold = json.loads(args.gold.read_text(encoding="utf-8"))
    scratch = Path(tempfile.mkdtemp(prefix="rag-corpus-check-"))
    try:
        settings = Settings().replace(corpus_dir=args.corpus, index_dir=scratch)
        result = builds.build(settings, make_passage_embedder(settings))
        index = LoadedIndex.load(result.folder)
        today = date.fromisoformat(gold["today"])
        health = check_corpus(index, today)
        report = evaluate(health, gold)
        for kind, row in report.items():
            print(f"{kind:18s} precision {row['precision']:.3f}  recall {row['recall']:.3f}  (found {row['found']}, gold {row['gold']})")
        for c in health.conflicts:
            print(f"  {c.score:.2f} {'/'.join(c.kinds)}: {c.a.doc_id}: {c.a.quote[:70]!r} | {c.b.doc_id}: {c.b.quote[:70]!r}")
        if args.sweep:
            defaults = (finder.VALUE_SIMILARITY, finder.MODALITY_SIMILARITY)
            for value in (0.45, 0.5, 0.55, 0.6, 0.65):
                for modality in (0.55, 0.6, 0.62, 0.65, 0.7):
                    finder.VALUE_SIMILARITY, finder.MODALITY_SIMILARITY = value, modality
                    finder.find_conflicts.__defaults__ = (value, modality, finder.NEIGHBOURS, ())
                    row = evaluate(check_corpus(index, today), gold)["conflicts"]
                    print(f"  sweep value>={value} modality>={modality}: precision {row['precision']:.3f} recall {row['recall']:.3f} "
                          f"({row['found']} found)")
            finder.VALUE_SIMILARITY, finder.MODALITY_SIMILARITY = defaults
        print("RESULT " + json.dumps(report))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
