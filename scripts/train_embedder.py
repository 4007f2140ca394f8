#!/usr/bin/env python3
"""Train an adapted embedder (a LoRA adapter of MiniLM, as `rag tune` trains one) on the synthetic world, leaving
whole organisations out, so it can be judged on organisations and gold sets it never saw.

Steps:
  1. every training organisation of eval/train/synthetic/ is built into its own index (cached under --work, shared
     with scripts/train_reader.py) and its answerable questions become triples as `rag tune` makes them
     (`rag.tune.data.training_triples`: the question, its evidence headed by title and section, a sentence the
     current model ranks high that is not evidence);
  2. the triples train one adapter (`rag.tune.train.train_adapter`: multiple-negatives ranking loss, in-batch and
     hard negatives), with a progress bar, written to --out with a card (organisations, counts, settings, seconds).
Judge it with `RAG_ADAPTER=<out> rag index build` over a held-out organisation or docs_corpus and `rag eval`
(bench/README "Adapted embedder" has the figures and commands).

Usage:
  .venv/bin/python scripts/train_embedder.py --out build/embedder --hold-out northfield-hospital tidewater-bank \
      greystone-construction keystone-insurance [--limit 250] [--epochs 1] [--minutes 60]
On two cores a step of 32 questions takes about 6 s: the eleven training organisations (about 6,000 answerable
questions) take about 20 minutes a pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.tune.data import Triple, training_triples  # noqa: E402
from rag.tune.train import TrainConfig, train_adapter  # noqa: E402
from train_reader import build_index, progress_bar  # noqa: E402


def org_triples(folder: Path, work: Path, limit: int) -> list[Triple]:
    """The triples of one organisation's answerable questions over its own build (built once under --work)."""
    from rag.assistant import Assistant
    from rag.config import Settings
    from rag.evaluate.gold import load_gold

    index_dir = work / f"index-{folder.name}"
    if not (index_dir / "current").exists():
        build_index(folder / "docs", index_dir)
    settings = Settings.from_env().replace(index_dir=index_dir, corpus_dir=folder / "docs", reader="off", adapter="none")
    assistant = Assistant(settings)
    rows = [r for r in load_gold(folder / "questions.jsonl", assistant.snapshot.index.documents)
            if r.answerable and not r.history and any(e.found for e in r.evidence)]
    return training_triples(assistant.snapshot.index, rows[: limit or None], assistant.snapshot.retriever.embed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="adapter folder to write")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "reader", help="where organisation builds are cached")
    ap.add_argument("--hold-out", nargs="*", default=[], help="organisations never trained on")
    ap.add_argument("--limit", type=int, default=0, help="questions per organisation (0: all)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--minutes", type=float, default=60.0, help="stop training after this long (the adapter is what was learnt)")
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args()

    from tqdm import tqdm

    from rag.config import Settings
    from rag.indexing.embedding import resolve_model_path

    folders = sorted(p for p in (ROOT / "eval" / "train" / "synthetic").iterdir()
                     if (p / "questions.jsonl").is_file() and p.name not in args.hold_out)
    args.work.mkdir(parents=True, exist_ok=True)
    triples: list[Triple] = []
    for folder in tqdm(folders, desc="triples", unit="org"):
        triples += org_triples(folder, args.work, args.limit)
    print(f"organisations: {len(folders)}, triples: {len(triples)}", flush=True)
    config = TrainConfig(epochs=args.epochs, minutes=args.minutes, learning_rate=args.lr)
    result = train_adapter(resolve_model_path(Settings.from_env().model), triples, args.out, config, progress_bar("training"))
    card = {"data": "eval/train/synthetic (first turns, answerable)", "organisations": [f.name for f in folders],
            "held_out": args.hold_out, "triples": len(triples), "steps": result.steps, "planned_steps": result.planned_steps,
            "seconds": round(result.seconds, 1), "first_loss": round(result.first_loss, 4),
            "last_loss": round(result.last_loss, 4), "stopped_early": result.stopped_early}
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
