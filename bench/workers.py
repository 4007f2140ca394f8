"""Ask throughput of `rag serve --workers 1` and `--workers 2` at 16 concurrent clients, measured in one run.

Builds docs_corpus/ with the real model into a temporary folder (or serves `--index-dir`), then for each worker count
starts `rag serve --workers N` on a free loopback port (state in a temporary folder, no keys, RAG_THREADS=1 per
process), sends `--warmup` questions, then `--n` POST /v1/ask from 16 clients at once (distinct gold questions, each a
little varied per request so no answer comes from a cache of question vectors), and stops it. Prints requests/s of
each and their ratio; the last line is `RESULT {json}`. Bounded: `--n` requests per worker count, loopback only.

Usage: PYTHONPATH=. .venv/bin/python bench/workers.py [--index-dir DIR] [--n 320] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from tests.e2e_helpers import free_port, stop, wait_until_up  # noqa: E402

GOLD = ("eval/gold/docs_corpus.jsonl", "eval/gold/docs_corpus_natural.jsonl")


def questions() -> list[str]:
    out = []
    for name in GOLD:
        out += [json.loads(line)["question"] for line in (ROOT / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def build(index_dir: Path) -> None:
    from rag.indexing import builds
    from rag.indexing.passage_encoder import make_passage_embedder

    settings = Settings.from_env({}, corpus_dir=ROOT / "docs_corpus", index_dir=index_dir)
    builds.promote(index_dir, builds.build(settings, make_passage_embedder(settings)).build_id)


async def load(base: str, asked: list[str], clients: int) -> tuple[float, int]:
    """Seconds to answer every question with `clients` at once; how many were not 200."""
    todo = iter(asked)
    failed = [0]

    async def client(http: httpx.AsyncClient) -> None:
        for question in todo:
            response = await http.post(f"{base}/v1/ask", json={"question": question})
            failed[0] += response.status_code != 200

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - started, failed[0]


def measure(workers: int, index_dir: Path, asked: list[str], warmup: list[str], clients: int, tmp: Path) -> dict[str, float]:
    port = free_port()
    log_path = tmp / f"serve-{workers}.log"
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS_DIR": str(ROOT / "docs_corpus"),
           "RAG_STATE_DIR": str(tmp / f"state-{workers}"), "RAG_THREADS": "1", "RAG_DATABASE_URL": ""}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--workers", str(workers)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/readyz", proc, log_path, 240, f"rag serve --workers {workers}")
            asyncio.run(load(base, warmup, clients))  # every worker loads its model and answers a few
            seconds, failed = asyncio.run(load(base, asked, clients))
        finally:
            stop(proc)
    return {"workers": workers, "requests": len(asked), "seconds": round(seconds, 2), "rps": round(len(asked) / seconds, 2),
            "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=None, help="An index to serve (default: build docs_corpus/ now).")
    parser.add_argument("--n", type=int, default=320, help="Questions asked per worker count.")
    parser.add_argument("--warmup", type=int, default=48)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    pool = questions()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        tmp = Path(folder)
        index_dir = args.index_dir
        if index_dir is None:
            started = time.perf_counter()
            index_dir = tmp / "index"
            build(index_dir)
            print(f"built docs_corpus in {time.perf_counter() - started:.0f} s", flush=True)
        results = []
        for round_, workers in enumerate((1, 2)):
            # distinct text per request and per run: no question is answered from an earlier one's cached vector
            asked = [f"{pool[i % len(pool)]} ({round_}.{i})" for i in range(args.n)]
            warmup = [f"{pool[-1 - i % len(pool)]} (w{round_}.{i})" for i in range(args.warmup)]
            results.append(measure(workers, index_dir, asked, warmup, args.clients, tmp))
            print(f"--workers {workers}: {results[-1]['rps']:.1f} asks/s ({results[-1]['requests']} in "
                  f"{results[-1]['seconds']:.1f} s at {args.clients} clients, {results[-1]['failed']} failed)", flush=True)
    ratio = results[1]["rps"] / results[0]["rps"]
    print(f"ratio --workers 2 / --workers 1: {ratio:.2f}x on {os.cpu_count()} cores")
    print("RESULT " + json.dumps({"clients": args.clients, "cores": os.cpu_count(), "runs": results, "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
