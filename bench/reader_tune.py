"""What `rag tune --reader` buys on organisations the packaged reader never saw: the right sentence ranked first.

For each synthetic organisation named (default: the four held out of the packaged reader's training), its questions'
candidate lists (built and cached in build/reader/ by `scripts/train_reader.py`'s `lists_for`) are split as
`rag tune` splits gold rows (`rag.tune.data.held_out`, 30%); the reader is trained on the 70% continuing from the
packaged weights (the `rag tune --reader` settings and two stronger ones) and from nothing, and each is judged on the
30% with the judge of `scripts/train_reader.py` (right sentence first with the reader mixed in at 0.5, and the
answerability AUC of its best probability). Prints one line per organisation and reader, then `RESULT {json}`.

    .venv/bin/python bench/reader_tune.py [--orgs northfield-hospital tidewater-bank ...]

Takes a minute or two per organisation on a CPU once its lists are cached (building them embeds its documents).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from rag.answer.reader import PACKAGED, VectorReader  # noqa: E402
from rag.tune.data import held_out  # noqa: E402
from rag.tune.reader_vectors import VectorReaderConfig, score_vector_lists, train_vector_reader  # noqa: E402
from rag.tune.reader_workflow import FINE_TUNE  # noqa: E402
from train_reader import judge, lists_for  # noqa: E402

HELD_OUT_ORGS = ("northfield-hospital", "tidewater-bank", "greystone-construction", "keystone-insurance")
VARIANTS = {"tuned (rag tune --reader)": FINE_TUNE, "12 passes, lr 1e-3": VectorReaderConfig(epochs=12, lr=1e-3),
            "30 passes, lr 1e-3": VectorReaderConfig(epochs=30, lr=1e-3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", nargs="*", default=list(HELD_OUT_ORGS))
    parser.add_argument("--share", type=float, default=0.3, help="share held out, as `rag tune --holdout`")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "reader")
    args = parser.parse_args()
    import threadpoolctl
    import torch

    threadpoolctl.threadpool_limits(1)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    packaged = VectorReader(PACKAGED).weights
    results = {}
    for org in args.orgs:
        folder = REPO / "eval" / "train" / "synthetic" / org
        lists = lists_for(folder / "questions.jsonl", folder / "docs", org, args.work, 20)
        train = [x for x in lists if not held_out(x.id, args.share)]
        held = [x for x in lists if held_out(x.id, args.share)]
        readers = {"packaged": packaged}
        readers |= {name: train_vector_reader(train, config, None, packaged)[0] for name, config in VARIANTS.items()}
        readers["from nothing"] = train_vector_reader(train, VectorReaderConfig(), None, None)[0]
        results[org] = {}
        for name, weights in readers.items():
            figures = judge(held, score_vector_lists(weights, held))
            results[org][name] = {"top1": round(figures["top1_w0.5"], 4), "auc": round(figures["auc_reader"], 4), "n": figures["n"]}
            print(f"{org:24} {name:28} right first {figures['top1_w0.5']:.3f}  answerability AUC {figures['auc_reader']:.3f}"
                  f"  (n={int(figures['n'])})", flush=True)
    print("RESULT " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
