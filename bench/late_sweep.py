"""Late interaction on candidate lists: how often the right sentence comes first, by weight, depth and margin.

For each set (a synthetic organisation under eval/train/synthetic/, or a gold set over its corpus), the candidate lists
of `scripts/train_reader.py` (today's ranking with the reader off, 20 sentences a question, cached under --work) are
scored as answers score them: half today's score, half the packaged vector reader's probability. Then the best
`depth` sentences within `margin` of the first get `weight` x (late coverage - the best coverage among them), with
`rag.answer.late.late_coverage` over the torch model's token states (word-piece IDF from the set's build) and the
answerable questions with a right candidate are counted: the share whose first sentence is right. Choose settings on
organisations the packaged reader was trained on; judge on the others and on the gold sets.

Usage:
  .venv/bin/python bench/late_sweep.py --orgs ashworth-council marlow-hotels northfield-hospital \\
      --judge eval/gold/docs_corpus_natural.jsonl --judge-corpus docs_corpus
Encoding every distinct candidate text takes 2-4 minutes per organisation on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from train_reader import lists_for  # noqa: E402

from rag.answer.late import PieceIdf, late_coverage  # noqa: E402
from rag.answer.reader import PACKAGED  # noqa: E402
from rag.indexing.builds import current_build_id  # noqa: E402
from rag.indexing.embedding import SentenceTransformerEmbedder  # noqa: E402
from rag.indexing.store import read_chunks  # noqa: E402
from rag.tune.reader_vectors import score_vector_lists  # noqa: E402

GRID = [(0.0, 4, 0.2), (1.0, 4, 0.2), (1.5, 4, 0.2), (2.0, 4, 0.2), (1.5, 3, 9.0), (1.5, 5, 9.0), (1.5, 5, 0.2),
        (1.5, 4, 0.1), (1.5, 8, 0.2), (1.5, 20, 9.0)]


def sweep(name: str, lists: list, index_dir: Path, model: SentenceTransformerEmbedder) -> None:
    weights = dict(np.load(PACKAGED / "weights.npz"))
    chunks = read_chunks(index_dir / "builds" / str(current_build_id(index_dir)))
    idf = PieceIdf([c.text for c in chunks], lambda texts: [e.tokens for e in model.tokenizer.encode_batch(list(texts))])
    texts = sorted({t for x in lists for t in x.texts})
    read = dict(zip(texts, model.token_states(texts)))
    asked = model.token_states([x.question for x in lists])
    rows = []
    for x, q, probs in zip(lists, asked, score_vector_lists(weights, lists)):
        if x.answerable and x.positives:
            score = 0.5 * np.array(x.scores) + 0.5 * np.array(probs)
            rows.append((x, score, np.array([late_coverage(q, read[t], idf) for t in x.texts])))
    cells = []
    for weight, depth, margin in GRID:
        right = 0
        for x, score, cover in rows:
            order = [int(i) for i in np.argsort(-score)[:depth] if score.max() - score[i] <= margin]
            moved = score[order] + weight * (cover[order] - cover[order].max())
            right += x.labels[order[int(np.argmax(moved))]]
        cells.append(f"w{weight:g} d{depth} m{margin:g}: {right / max(1, len(rows)):.3f}")
    print(f"{name} ({len(rows)} answerable with a right candidate): " + "  ".join(cells), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orgs", nargs="*", default=[], help="organisation names under eval/train/synthetic/")
    ap.add_argument("--judge", type=Path, nargs="*", default=[], help="gold sets")
    ap.add_argument("--judge-corpus", type=Path, nargs="*", default=[], help="the corpus of each --judge set")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "reader")
    args = ap.parse_args()
    model = SentenceTransformerEmbedder()
    sets = [(o, ROOT / "eval" / "train" / "synthetic" / o / "questions.jsonl", ROOT / "eval" / "train" / "synthetic" / o / "docs")
            for o in args.orgs] + [(g.stem, g, c) for g, c in zip(args.judge, args.judge_corpus)]
    for name, gold, corpus in sets:
        lists = lists_for(gold, corpus, name, args.work, 20)
        sweep(name, lists, args.work / f"index-{name}", model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
