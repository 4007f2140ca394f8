"""Question encoders side by side: fidelity to the torch model and the encoder's own latency.

For the first N questions of a gold JSONL file (`question` field) or a text file, it embeds every question
with the torch model (`SentenceTransformerEmbedder`, as passages are embedded) and with each ONNX variant
(`rag.indexing.query_encoder`, exported into --cache-dir on first use), then reports the cosine of each variant's
vector to the torch vector (mean, 1st percentile, min) and each encoder's latency per question (p50, p90;
encoders take turns question by question, one thread each, so a busy machine slows them alike).

Usage: .venv/bin/python bench/query_encoder.py --questions FILE [--n 400] [--latency-n 100] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from rag.indexing.embedding import SentenceTransformerEmbedder  # noqa: E402
from rag.indexing.query_encoder import VARIANTS, make_query_encoder  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/query_encoder.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, required=True, help="Gold JSONL (`question` field) or one question a line.")
    parser.add_argument("--n", type=int, default=400, help="Questions compared for fidelity (the first N) [default: 400].")
    parser.add_argument("--latency-n", type=int, default=100, help="Questions timed per encoder [default: 100].")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Where exports are kept [default: a temp folder].")
    return parser.parse_args(argv)


def questions_from(path: Path, n: int) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line)["question"] if line.startswith("{") else line for line in lines][:n]


def percentiles(values: Sequence[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 2) for q in (50, 90)}


def run(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    questions = questions_from(args.questions, args.n)
    torch_model = SentenceTransformerEmbedder(threads=1)
    encoders: dict[str, Any] = {"torch": torch_model}
    for variant in VARIANTS:
        started = time.perf_counter()
        encoders[variant] = make_query_encoder(variant, torch_model, cache, 1)
        print(f"{variant}: ready in {time.perf_counter() - started:.1f} s ({encoders[variant].onnx_file})", flush=True)
    reference = np.stack([torch_model.encode([q])[0] for q in questions])
    result: dict[str, Any] = {"questions": len(questions), "fidelity": {}, "latency": {}}
    for variant in VARIANTS:
        cosines = np.einsum("ij,ij->i", reference, encoders[variant].encode(questions))
        result["fidelity"][variant] = {"mean": round(float(cosines.mean()), 6), "p1": round(float(np.percentile(cosines, 1)), 6),
                                       "min": round(float(cosines.min()), 6)}
    timings: dict[str, list[float]] = {name: [] for name in encoders}
    for question in questions[: args.latency_n]:
        for name, encoder in encoders.items():
            started = time.perf_counter()
            encoder.encode([question])
            timings[name].append(1000 * (time.perf_counter() - started))
    base = float(np.median(timings["torch"]))
    for name, values in timings.items():
        result["latency"][name] = {**percentiles(values), "p50_speedup": round(base / float(np.median(values)), 2)}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rag-query-encoder-") as temp:
        result = run(args, args.cache_dir or Path(temp))
    for variant, f in result["fidelity"].items():
        print(f"cosine to torch, {variant:<9}: mean {f['mean']:.6f}  p1 {f['p1']:.6f}  min {f['min']:.6f}  ({result['questions']} questions)")
    for name, lat in result["latency"].items():
        print(f"encoder alone, {name:<9}: p50 {lat['p50_ms']:.1f} ms  p90 {lat['p90_ms']:.1f} ms  speedup {lat['p50_speedup']:.2f}x")
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
