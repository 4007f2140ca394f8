#!/usr/bin/env python3
"""Train, judge and export the learned map of late interaction (`rag.answer.late.LateModel`) from the synthetic world
and half of each public set given.

Steps, each cached under --work so a rerun redoes only what changed:
  1. lists: every organisation of eval/train/synthetic/ (or --orgs) and every --judge gold set, built and run through
     today's ranking, exactly as `scripts/train_reader.py` does (the same cache);
  2. states: each list's question and best candidates read by the embedding model's ONNX question encoder, token by
     token, as answers read them (about 15 s per organisation on two cores; cached);
  3. train on every organisation but the --hold-out ones, and on half the documents of each --public set (a folder in
     the ../shared/data layout: first turns only, scoped by `meta.scope_doc` where a row has one; the halves split by
     each question's document, so no document is on both sides); print the share of answerable questions whose first
     sentence is right after late interaction, plain and learned, on the held-out organisations, the other half of
     each public set and the --judge sets (never trained on), and with --export write the model and its card there.

Usage:
  .venv/bin/python scripts/train_late.py --hold-out northfield-hospital tidewater-bank greystone-construction \\
      keystone-insurance --public ../shared/data/policyqa ../shared/data/doc2dial \\
      --judge eval/gold/docs_corpus_natural.jsonl --judge-corpus docs_corpus --export rag/answer/late_model
Only sets whose licence allows training belong in --public (PolicyQA: MIT; doc2dial: CC BY 3.0; never ObliQA).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from rag.answer.reader import CARD, PACKAGED  # noqa: E402
from rag.tune.late import LateConfig, LateExample, export_late, late_examples, late_top1, train_late  # noqa: E402
from rag.tune.reader_data import Listed  # noqa: E402
from rag.tune.reader_vectors import score_vector_lists  # noqa: E402
from train_reader import digest, lists_for, progress_bar  # noqa: E402


SCOPE = "meta.scope_doc"
LICENCES = {  # written to the card for every set trained on
    "synthetic": "eval/train/synthetic: written for this project, under the project's licence",
    "policyqa": "PolicyQA (Ahmad, Chi, Tian, Chang, Findings of EMNLP 2020; github.com/wasiahmad/PolicyQA): MIT licence, "
                "Copyright (c) 2020 Wasi Ahmad; its policy texts come from OPP-115 (Wilson et al., ACL 2016)",
    "doc2dial": "doc2dial v1.0.1 (Feng et al., EMNLP 2020): CC BY 3.0, attribution: IBM Research, doc2dial",
}


@functools.cache
def packaged_reader() -> tuple[float, dict[str, np.ndarray]]:
    """The packaged vector reader's weight in a sentence's score, and its weights (read once)."""
    with np.load(PACKAGED / "weights.npz") as data:
        return float(json.loads((PACKAGED / CARD).read_text(encoding="utf-8"))["weight"]), dict(data)


def deployed_scores(lists: list[Listed]) -> list[list[float]]:
    """Each candidate's score as late interaction sees it: today's score mixed with the packaged reader's probability."""
    w, weights = packaged_reader()
    return [[(1 - w) * s + w * p for s, p in zip(x.scores, probs)] for x, probs in zip(lists, score_vector_lists(weights, lists))]


def examples_for(group: str, key: str, corpus: Path, lists: list[Listed], work: Path, index: str = "") -> list[LateExample]:
    """The group's late examples, read once per content by the late reader of an assistant over its own build (that of
    `index` when given)."""
    cache = work / f"late-{group}-{key}.pkl"
    if cache.is_file():
        with cache.open("rb") as f:
            return pickle.load(f)
    from rag.assistant import Assistant
    from rag.config import Settings

    settings = Settings.from_env().replace(index_dir=work / f"index-{index or group}", corpus_dir=corpus, reader="off", late_model="plain")
    late = Assistant(settings).snapshot.answerer.late
    if late is None:
        raise SystemExit("late interaction is off (RAG_LATE_WEIGHT=0, or a question encoder without token states)")
    examples = late_examples(lists, deployed_scores(lists), late.states, late.idf)
    with cache.open("wb") as f:
        pickle.dump(examples, f)
    return examples


def public_halves(folder: Path, work: Path) -> dict[str, list[LateExample]]:
    """A public set's first turns as two halves, `NAME-a` (trained on) and `NAME-b` (judged), split by document."""
    gold, corpus, name = folder / "gold-dev.jsonl", folder / "corpus", folder.name
    if not gold.is_file() or not corpus.is_dir():
        raise SystemExit(f"{folder} is not a data set folder (gold-dev.jsonl and corpus/): see ../shared/data/README.md")
    lists = lists_for(gold, corpus, name, work, 20, SCOPE, first_turns=True)
    doc_of = {}
    for line in gold.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        doc_of[row["id"]] = row.get("meta", {}).get("scope_doc") or (row["evidence"][0]["doc"] if row["evidence"] else row["id"])
    key = digest(gold, corpus)
    halves = {}
    for side in ("a", "b"):
        part = [x for x in lists if ("a", "b")[int(hashlib.sha256(doc_of[x.id].encode()).hexdigest(), 16) % 2] == side]
        halves[f"{name}-{side}"] = examples_for(f"{name}-{side}", key, corpus, part, work, index=name)
    return halves


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orgs", type=Path, nargs="*", default=None, help="organisation folders (default: every one under eval/train/synthetic)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "reader")
    ap.add_argument("--hold-out", nargs="*", default=[], help="organisations judged, never trained on")
    ap.add_argument("--public", type=Path, nargs="*", default=[], help="public data set folders (../shared/data layout) to train on half of")
    ap.add_argument("--judge", type=Path, nargs="*", default=[], help="gold sets to judge on, never trained on")
    ap.add_argument("--judge-corpus", type=Path, nargs="*", default=[], help="the corpus of each --judge set")
    ap.add_argument("--epochs", type=int, default=LateConfig.epochs)
    ap.add_argument("--rank", type=int, default=LateConfig.rank, help="rank of the learned update to the identity map")
    ap.add_argument("--lr", type=float, default=LateConfig.lr)
    ap.add_argument("--export", type=Path, default=None, help="write the model and its card here")
    args = ap.parse_args()

    for name in (f.name for f in args.public if f.name not in LICENCES):
        raise SystemExit(f"{name} is not a set whose licence allows training here ({', '.join(n for n in LICENCES if n != 'synthetic')}): "
                         "pass it to --judge instead, or add it to LICENCES with its licence and attribution")
    args.work.mkdir(parents=True, exist_ok=True)
    folders = args.orgs or sorted(p for p in (ROOT / "eval" / "train" / "synthetic").iterdir() if (p / "questions.jsonl").is_file())
    sets = [(f.name, f / "questions.jsonl", f / "docs") for f in folders] + [(g.stem, g, c) for g, c in zip(args.judge, args.judge_corpus)]
    examples = {}
    for name, gold, corpus in sets:
        examples[name] = examples_for(name, digest(gold, corpus), corpus, lists_for(gold, corpus, name, args.work, 20), args.work)
        print(f"{name}: {len(examples[name])} questions read", flush=True)
    for folder in args.public:
        examples |= public_halves(folder, args.work)
    judged = [*args.hold_out, *(f"{f.name}-b" for f in args.public), *(g.stem for g in args.judge)]
    trained_on = [f.name for f in folders if f.name not in judged] + [f"{f.name}-a" for f in args.public]
    config = LateConfig(epochs=args.epochs, rank=args.rank, lr=args.lr)
    model, facts = train_late([ex for n in trained_on for ex in examples[n]], config, progress_bar("training"))
    facts |= {"trained_sets": trained_on, "held_out": args.hold_out, "public": [str(f.name) for f in args.public],
              "counts": {n: len(examples[n]) for n in trained_on},
              "licences": [LICENCES["synthetic"], *(LICENCES.get(f.name, f"{f.name}: see its README.md") for f in args.public)]}
    for name in judged:
        plain, learned = late_top1(None, examples[name]), late_top1(model, examples[name])
        facts[f"judge_{name}"] = {"n": len(examples[name]), "top1_plain": round(plain, 4), "top1_learned": round(learned, 4)}
        print(f"  judge {name}: n={len(examples[name])} first right, plain {plain:.3f} -> learned {learned:.3f}", flush=True)
    if args.export:
        export_late(model, args.export, facts)
        print(f"late-interaction model written to {args.export}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
