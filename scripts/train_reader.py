#!/usr/bin/env python3
"""Train, validate and export the reader (the cross-encoder of `rag.answer.reader`) from the synthetic world.

Steps, each cached under --work so a rerun redoes only what changed:
  1. lists: every organisation of eval/train/synthetic/ (or --orgs) is built into its own index (`rag index build`)
     and its questions run through today's ranking (`rag.tune.reader_data`); likewise every --judge gold set over
     its --judge-corpus (sets that are never trained on: the docs_corpus gold sets, the shared dev sets).
  2. --folds K: leave-organisation-out validation: K folds of whole organisations; for each, train on the others and
     score the held-out ones. Prints, per fold and for every --judge set, the share of answerable questions whose top
     candidate is right by today's ranking, by the reader alone and by mixes of the two, the reader's answerability
     AUC, and the spread of its scores within a question (a collapsed reader scores all candidates alike).
  3. --export DIR: train on every organisation but the --hold-out ones and write the reader with its card (the held-out
     organisations' figures go in the card).
--kind vectors (the default) trains the vector reader (seconds); --kind cross-encoder the MiniLM cross-encoder (hours on
two cores).

Usage:
  .venv/bin/python scripts/train_reader.py --folds 3 --judge eval/gold/docs_corpus_natural.jsonl --judge-corpus docs_corpus
  .venv/bin/python scripts/train_reader.py --export rag/answer/reader_model --weight 0.5
Listing takes about a minute per organisation (cached under --work); the vector reader trains in about a minute; the
cross-encoder takes 2-7 s per step of four questions on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.tune.reader import ReaderConfig, export_reader, score_lists, train_reader  # noqa: E402
from rag.tune.reader_data import Listed, candidate_lists, save_vectors, with_vectors  # noqa: E402
from rag.tune.reader_vectors import VectorReaderConfig, export_vector_reader, score_vector_lists, train_vector_reader  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file():
                h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def build_index(corpus: Path, index_dir: Path) -> None:
    """`rag index build` of one corpus into its own index folder, ungated (the sets here are not its gold)."""
    rag = str(Path(sys.executable).with_name("rag"))
    subprocess.run([rag, "index", "build", "--corpus", str(corpus), "--index-dir", str(index_dir), "--no-gate"], check=True,
                   stdout=subprocess.DEVNULL)


def lists_for(gold: Path, corpus: Path, group: str, work: Path, depth: int, scope_field: str | None = None,
              first_turns: bool = False) -> list[Listed]:
    """Candidate lists of one gold file over one corpus (built and listed once per content); `scope_field` names the
    row field that scopes a question to one document (PolicyQA's `meta.scope_doc`); `first_turns` leaves follow-ups out."""
    key = digest(gold, corpus) + (f"-{scope_field}" if scope_field else "") + ("-first" if first_turns else "")
    out = work / f"{group}-{key}.jsonl"
    arrays = out.with_suffix(".npz")
    if not out.is_file() or not arrays.is_file():
        index_dir = work / f"index-{group}"
        build_index(corpus, index_dir)
        from rag.assistant import Assistant
        from rag.config import Settings
        from rag.evaluate.gold import load_gold

        assistant = Assistant(Settings.from_env().replace(index_dir=index_dir, corpus_dir=corpus, reader="off"))
        rows = [r for r in load_gold(gold, assistant.snapshot.index.documents, scope_field) if not (first_turns and r.history)]
        listed = candidate_lists(assistant, rows, group, depth)
        out.write_text("".join(json.dumps(x.to_dict()) + "\n" for x in listed), encoding="utf-8")
        save_vectors(listed, arrays)
    return with_vectors([Listed.from_dict(json.loads(line)) for line in out.read_text(encoding="utf-8").splitlines() if line], arrays)


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def judge(lists: list[Listed], probs: list[list[float]]) -> dict[str, float]:
    """Top-1 right (answerable questions with a right candidate listed) by today's order, the reader and mixes;
    answerability AUC of today's best score and of the reader's best probability; mean within-question spread."""
    out: dict[str, float] = {}
    answerable = [(x, p) for x, p in zip(lists, probs) if x.answerable and any(x.labels)]
    for w in WEIGHTS:
        right = 0
        for x, p in answerable:
            mixed = [(1 - w) * s + w * q for s, q in zip(x.scores, p)]
            right += x.labels[max(range(len(mixed)), key=mixed.__getitem__)]
        out[f"top1_w{w}"] = right / max(1, len(answerable))
    best = [(x.answerable, max(x.scores, default=0.0), max(p, default=0.0)) for x, p in zip(lists, probs)]
    out["auc_today"] = auc([s for a, s, _ in best if a], [s for a, s, _ in best if not a])
    out["auc_reader"] = auc([r for a, _, r in best if a], [r for a, _, r in best if not a])
    spreads = [max(p) - min(p) for p in probs if len(p) > 1]
    out["spread"] = sum(spreads) / max(1, len(spreads))
    out["n"] = len(answerable)
    return out


def show(name: str, figures: dict[str, float]) -> None:
    print(f"{name}: n={int(figures['n'])} " + " ".join(f"{k}={v:.3f}" for k, v in figures.items() if k != "n"), flush=True)


def progress_bar(label: str):
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="step", dynamic_ncols=True)

    def tick(step: int, steps: int, loss: float) -> None:
        bar.total = steps
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.update(1)
        if step == steps:
            bar.close()

    return tick


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orgs", type=Path, nargs="*", default=None, help="organisation folders (default: every one under eval/train/synthetic)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "reader")
    ap.add_argument("--depth", type=int, default=20, help="candidates listed per question")
    ap.add_argument("--folds", type=int, default=0, help="leave-organisation-out folds to validate (0: none)")
    ap.add_argument("--judge", type=Path, nargs="*", default=[], help="gold sets to judge on, never trained on")
    ap.add_argument("--judge-corpus", type=Path, nargs="*", default=[], help="the corpus of each --judge set")
    ap.add_argument("--export", type=Path, default=None, help="train on every organisation and write the reader here")
    ap.add_argument("--epochs", type=float, default=0, help="passes over the data (0: the kind's default: 12 for vectors, 1 for the cross-encoder)")
    ap.add_argument("--weight", type=float, default=0.5, help="the reader's share in a sentence's score, written to the card")
    ap.add_argument("--read-depth", type=int, default=12, help="sentences read per question at answer time, written to the card")
    ap.add_argument("--kind", choices=("vectors", "cross-encoder"), default="vectors", help="which reader to train")
    ap.add_argument("--layers", type=int, default=6, help="transformer layers of MiniLM kept (fewer: faster)")
    ap.add_argument("--hold-out", nargs="*", default=None, help="organisations to hold out as one validation fold (instead of --folds)")
    ap.add_argument("--limit", type=int, default=0, help="questions per organisation (0: all; for a quick trial)")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    folders = args.orgs or sorted(p for p in (ROOT / "eval" / "train" / "synthetic").iterdir() if (p / "questions.jsonl").is_file())
    orgs = {f.name: lists_for(f / "questions.jsonl", f / "docs", f.name, args.work, args.depth) for f in folders}
    if args.limit:
        orgs = {k: v[: args.limit] for k, v in orgs.items()}
    judged = {g.stem: lists_for(g, c, g.stem, args.work, args.depth) for g, c in zip(args.judge, args.judge_corpus)}
    print(f"organisations: {len(orgs)}, questions: {sum(len(v) for v in orgs.values())}", flush=True)
    if args.kind == "vectors":
        vconfig = VectorReaderConfig(epochs=int(args.epochs)) if args.epochs >= 1 else VectorReaderConfig()
        train = lambda lists, label: train_vector_reader(lists, vconfig, progress_bar(label))  # noqa: E731
        score = score_vector_lists
        export = lambda model, facts: export_vector_reader(model, args.export, args.weight, args.read_depth, facts)  # noqa: E731
    else:
        config = ReaderConfig(epochs=args.epochs or 1.0, layers=args.layers)
        train = lambda lists, label: train_reader(lists, config, progress_bar(label))  # noqa: E731
        score = lambda model, lists: score_lists(model, lists, config.window)  # noqa: E731
        export = lambda model, facts: export_reader(model, args.export, config.window, args.weight, args.read_depth, facts)  # noqa: E731
    names = sorted(orgs)
    plans = [names[fold :: args.folds] for fold in range(args.folds)] or ([args.hold_out] if args.hold_out and not args.export else [])
    for fold, held in enumerate(plans):
        model, facts = train([x for n in names if n not in held for x in orgs[n]], f"fold {fold + 1}/{len(plans)}")
        print(f"fold {fold + 1}: held out {held}; {facts['steps']} steps, {facts['seconds']} s", flush=True)
        for n in held:
            show(f"  held-out {n}", judge(orgs[n], score(model, orgs[n])))
        for n, lists in judged.items():
            show(f"  judge {n}", judge(lists, score(model, lists)))
    if args.export:
        trained_on = [n for n in names if n not in (args.hold_out or [])]
        model, facts = train([x for n in trained_on for x in orgs[n]], "export")
        facts |= {"organisations": trained_on, "held_out": args.hold_out or [], "questions": sum(len(orgs[n]) for n in trained_on)}
        for n, lists in [*((n, orgs[n]) for n in (args.hold_out or [])), *judged.items()]:
            figures = judge(lists, score(model, lists))
            show(f"  judge {n}", figures)
            facts[f"judge_{n}"] = {k: round(v, 4) for k, v in figures.items()}
        export(model, facts)
        print(f"reader written to {args.export}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
