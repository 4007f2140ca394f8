"""Measure the check of generated sentences (`rag.generate.verify`) on the labelled set: what it catches, what it keeps.

Each row of eval/verify/labelled.jsonl (built by make_labelled.py) is checked as the generative backend checks a
sentence: the row's sentence, embedded by the build's model, citing one passage, the build's chunk that holds the
row's `cite` sentence (for wrong_passage: a chunk that holds it but not the evidence), with the row's question.
Prints, per perturbation kind and split, how many supported rows were kept and unsupported rows caught, and the
targets of issue 15 (caught >= 90% of number, amount, date and entity rows; kept >= 95% of supported rows).
Thresholds are the settings' (RAG_VERIFY_COVERAGE, RAG_VERIFY_SIMILARITY) unless given; the index is RAG_INDEX_DIR's
live build of docs_corpus/.

    RAG_INDEX_DIR=index python eval/verify/measure.py [--labelled eval/verify/labelled.jsonl] [--split all|dev|test]
        [--coverage 0.6] [--similarity 0.55] [--misses 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.generate.sentences import Generated  # noqa: E402
from rag.generate.verify import Verdict, Verifier, VerifyConfig  # noqa: E402
from rag.indexing.store import LoadedIndex  # noqa: E402
from rag.models import Passage  # noqa: E402

TARGETED = ("number", "amount", "date", "entity")  # the kinds the catch target covers
ORDER = ("evidence", "reworded", "number", "amount", "date", "entity", "negation", "wrong_passage")


def cited_passage(index: LoadedIndex, row: dict[str, Any]) -> Passage | None:
    """The build's chunk holding the cited sentence (and, for wrong_passage, not the evidence), as passage 1."""
    cite, evidence = row["cite"], row["evidence"]
    for chunk in index.chunks:
        if chunk.doc_id != row["doc"] or not (chunk.start <= cite["start"] and cite["end"] <= chunk.end):
            continue
        if row["kind"] == "wrong_passage" and chunk.start < evidence["end"] and evidence["start"] < chunk.end:
            continue
        return Passage(chunk, 1.0, 1, 0.5)
    return None


def verdicts(rows: list[dict[str, Any]], assistant: Assistant, config: VerifyConfig) -> list[tuple[dict, Verdict]]:
    snapshot = assistant.snapshot
    index, verifier = snapshot.index, Verifier(snapshot.index, config)
    vectors = snapshot.retriever.embed_all([r["sentence"] for r in rows])
    out = []
    for row, vector in zip(rows, vectors):
        passage = cited_passage(index, row)
        if passage is None:
            continue
        sources = verifier.sources([passage], [1])
        out.append((row, verifier.check(Generated(row["sentence"], (1,)), vector, sources, row["question"])))
    return out


def report(results: list[tuple[dict, Verdict]], misses: int) -> bool:
    """Print the table and the targets; True when both targets are met."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for row, verdict in results:
        by_kind[row["kind"]].append(verdict.supported == row["supported"])
    print(f"{'kind':<14} {'rows':>5} {'right':>6} {'share':>6}  (supported kinds: kept; unsupported kinds: caught)")
    for kind in sorted(by_kind, key=lambda k: ORDER.index(k) if k in ORDER else 99):
        right = by_kind[kind]
        print(f"{kind:<14} {len(right):>5} {sum(right):>6} {sum(right) / len(right):>6.3f}")
    kept = [ok for row, v in results if row["supported"] for ok in [v.supported]]
    caught = [not v.supported for row, v in results if row["kind"] in TARGETED]
    every = [not v.supported for row, v in results if not row["supported"]]
    kept_share, caught_share = sum(kept) / max(len(kept), 1), sum(caught) / max(len(caught), 1)
    print(f"\nsupported kept: {sum(kept)}/{len(kept)} = {kept_share:.3f} (target >= 0.95)")
    print(f"numbers, amounts, dates, entities caught: {sum(caught)}/{len(caught)} = {caught_share:.3f} (target >= 0.90)")
    print(f"every unsupported kind caught: {sum(every)}/{len(every)} = {sum(every) / max(len(every), 1):.3f}")
    wrong = [(row, v) for row, v in results if v.supported != row["supported"]]
    for row, verdict in wrong[:misses]:
        said = "kept" if verdict.supported else f"removed ({verdict.reason})"
        print(f"  miss {row['id']}: {said}: {row['sentence'][:140]}")
    return kept_share >= 0.95 and caught_share >= 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labelled", type=Path, default=ROOT / "eval/verify/labelled.jsonl")
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--coverage", type=float, help="RAG_VERIFY_COVERAGE to measure (default: the settings')")
    parser.add_argument("--similarity", type=float, help="RAG_VERIFY_SIMILARITY to measure (default: the settings')")
    parser.add_argument("--misses", type=int, default=5, help="how many wrong verdicts to print")
    args = parser.parse_args()
    settings = Settings.from_env()
    config = VerifyConfig(settings.verify_coverage if args.coverage is None else args.coverage,
                          settings.verify_similarity if args.similarity is None else args.similarity)
    rows = [json.loads(line) for line in args.labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if args.split == "all" or r["split"] == args.split]
    print(f"{len(rows)} labelled rows ({args.split}), coverage {config.coverage:g}, similarity {config.similarity:g}")
    results = verdicts(rows, Assistant(settings), config)
    print(f"{len(results)} checked ({len(rows) - len(results)} without a build chunk holding the cited sentence)\n")
    sys.exit(0 if report(results, args.misses) else 1)


if __name__ == "__main__":
    main()
