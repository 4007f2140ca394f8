"""Scale curve of the vector stores: build seconds, index bytes, memory, search latency and recall@10 from 10k to 1M chunks.

What it does. A base set of real vectors: the chunks of docs_corpus and of eval/train/synthetic's documents, embedded by
the real passage encoder (RAG_PASSAGE_ENCODER, onnx-int8 by default), plus ../shared/data's policyqa and doc2dial
corpora when that folder is there, and real questions (1,000 of the gold and training sets' questions, embedded by
the same encoder) as queries; cached in --cache after the first run. Each size is the
base set extended by perturbed copies: row i is base row i mod B plus Gaussian noise of norm --noise, made unit
again. Rows belong to documents of 20 rows; document k is in group g(k mod 10), so the group filter (g0) keeps 10%.

Each (size, engine) runs in a fresh process through the vector-store interface (`VectorBackend.write`, `.open`,
`VectorStore.search` with and without `doc_ids`), so the figures are the ones the service would see:
  build s    `write` (train, add, write the file)      bytes      what it wrote in the build folder
  RSS        peak RSS of that process (the vectors, the build and the search) and the opened store's own RSS growth
  p50/p99    one question at a time on one thread (FAISS's OpenMP set to 1 for searching: the other core answers
             another request), all rows, and with the group filter (the g0 documents' ids as `doc_ids`)
  recall@10  against exact top 10 by numpy over the same rows (the flat engine is exact: its 1.0 checks the method)
Approximate engines are swept over --ef (HNSW efSearch) or --nprobe (IVF) from one build.

Engines: faiss-flat, faiss-hnsw, faiss-ivf (RAG_FAISS_* settings), and any name in EXTRA_ENGINES, a hook for other
`VectorBackend`s: milvus-lite-flat and milvus-lite-auto (RAG_MILVUS_INDEX flat / autoindex; a Milvus Lite file in the
run's folder, so its bytes count; peak RSS adds the Milvus engine process's own peak). Milvus Lite inserts slowly
(1.4 to 4.5 s per 1,000 rows at 10k, 11.6 s at 100k here), so it is not in the default --engines.

Usage: nice .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--engines faiss-flat,faiss-ivf,faiss-hnsw]
       [--queries 200] [--plot docs/scaling.png] [--json bench/results/scale.json]
A quick run: --sizes 10000 (under a minute once the base set is cached). The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402

ROWS_PER_DOC, GROUPS, QUESTIONS = 20, 10, 1000
SHARED = REPO.parent / "shared" / "data"
ENGINES: dict[str, dict[str, Any]] = {
    "faiss-flat": {"vector_store": "faiss", "faiss_exact_below": 10**12},
    "faiss-hnsw": {"vector_store": "faiss", "faiss_exact_below": 0, "faiss_approximate": "hnsw"},
    "faiss-ivf": {"vector_store": "faiss", "faiss_exact_below": 0, "faiss_approximate": "ivf"},
    # every group filter through FAISS's selector, however few rows it leaves (RAG_FAISS_FILTER_EXACT_ROWS=0)
    "faiss-ivf-select": {"vector_store": "faiss", "faiss_exact_below": 0, "faiss_approximate": "ivf", "faiss_filter_exact_rows": 0},
}
EXTRA_ENGINES: dict[str, dict[str, Any]] = {  # other vector stores' settings, by engine name (see the docstring)
    "milvus-lite-flat": {"vector_store": "milvus", "milvus_index": "flat"},
    "milvus-lite-auto": {"vector_store": "milvus", "milvus_index": "autoindex"},
}
SWEEPS = {"faiss-hnsw": "faiss_ef_search", "faiss-ivf": "faiss_nprobe", "faiss-ivf-select": "faiss_nprobe"}
SWEEP_ARGS = {"faiss_ef_search": "ef", "faiss_nprobe": "nprobe"}


def base_set(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, question vectors) of the real corpus text, embedded once and kept in `cache`."""
    if cache.exists():
        data = np.load(cache)
        return data["passages"], data["questions"]
    from rag.indexing.chunks import chunk_corpus
    from rag.indexing.passage_encoder import make_passage_embedder
    from rag.ingest.chunking import embedding_text
    from rag.ingest.corpus import load_corpus

    settings = Settings.from_env()
    embedder = make_passage_embedder(settings)
    texts: list[str] = []
    folders = [REPO / "docs_corpus"] + sorted(p / "sources" for p in (REPO / "eval/train/synthetic").iterdir() if (p / "sources").is_dir())
    folders += [p for p in (SHARED / "policyqa/corpus", SHARED / "doc2dial/corpus") if p.is_dir()]  # when ../shared is there
    for folder in folders:
        chunks, _ = chunk_corpus(load_corpus(folder), settings, embedder)
        texts += [embedding_text(c) for c in chunks]
    asked = sorted({json.loads(line)["question"] for f in [*REPO.glob("eval/gold/*.jsonl"), *REPO.glob("eval/train/**/questions.jsonl")]
                    for line in f.read_text(encoding="utf-8").splitlines() if line.strip() and "question" in json.loads(line)})
    questions = [asked[i] for i in np.random.default_rng(0).permutation(len(asked))[:QUESTIONS]]
    started = time.perf_counter()
    passages = embedder.encode(texts)
    seconds = time.perf_counter() - started
    print(f"embedded {len(texts)} chunks in {seconds:.1f} s ({len(texts) / seconds:.1f} chunks/s on CPU)", flush=True)
    question_vectors = embedder.encode(questions)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, passages=passages, questions=question_vectors, chunks_per_second=len(texts) / seconds)
    return passages, question_vectors


def synthetic(base: np.ndarray, size: int, noise: float, seed: int = 0) -> np.ndarray:
    """`size` unit rows: row i is base row i mod B plus Gaussian noise of norm about `noise`, renormalised (the base rows
    themselves first)."""
    rng = np.random.default_rng(seed)
    out = np.empty((size, base.shape[1]), dtype=np.float32)
    for lo in range(0, size, 100_000):
        index = np.arange(lo, min(size, lo + 100_000))
        rows = base[index % len(base)] + (index >= len(base))[:, None] * rng.normal(
            0, noise / np.sqrt(base.shape[1]), size=(len(index), base.shape[1])).astype(np.float32)
        out[lo : lo + len(index)] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def doc_ids(size: int) -> list[str]:
    return [f"doc-{i // ROWS_PER_DOC}" for i in range(size)]


def groups(size: int) -> list[tuple[str, ...]]:
    return [(f"g{(i // ROWS_PER_DOC) % GROUPS}",) for i in range(size)]


def exact_top(data: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[set[int]]:
    """The exact top `k` rows for each query (over `rows` only, when given), by blocks of 100k rows."""
    ids = np.arange(len(data)) if rows is None else rows
    best_ids, best_scores = np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    for lo in range(0, len(ids), 100_000):
        block = ids[lo : lo + 100_000]
        scores = queries @ data[block].T  # (queries, block)
        top = np.argpartition(-scores, min(k, len(block)) - 1, axis=1)[:, :k]
        best_ids = np.hstack([best_ids, block[top]])
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
    keep = np.argsort(-best_scores, axis=1)[:, :k]
    return [set(np.take_along_axis(best_ids, keep, axis=1)[i].tolist()) for i in range(len(queries))]


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_search(store: Any, queries: np.ndarray, k: int, allowed: list[str] | None) -> tuple[list[set[int]], list[float]]:
    hits, times = [], []
    for q in queries:
        started = time.perf_counter()
        found = store.search(q, k, allowed)
        times.append((time.perf_counter() - started) * 1000)
        hits.append({row for row, _ in found})
    return hits, times


def measure(store: Any, queries: np.ndarray, truth: list[set[int]], truth_g: list[set[int]], allowed: list[str]) -> dict[str, float]:
    store.search(queries[0], 10, None)  # warm
    hits, times = timed_search(store, queries, 10, None)
    hits_g, times_g = timed_search(store, queries, 10, allowed)
    recall = float(np.mean([len(h & t) / 10 for h, t in zip(hits, truth)]))
    recall_g = float(np.mean([len(h & t) / 10 for h, t in zip(hits_g, truth_g)]))
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "p50_group_ms": float(np.percentile(times_g, 50)), "p99_group_ms": float(np.percentile(times_g, 99)),
            "recall10": round(recall, 4), "recall10_group": round(recall_g, 4)}


def run_one(size: int, engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One size and engine, in this process: build, open, search (and sweep); one row per search setting."""
    import faiss

    from rag.indexing.vector_store import backend

    passages, questions = base_set(Path(args.cache))
    queries = questions[: args.queries]
    data = synthetic(passages, size, args.noise)
    ids, grouped = doc_ids(size), groups(size)
    allowed = sorted({d for d, g in zip(ids, grouped) if g == ("g0",)})
    allowed_rows = np.flatnonzero(np.array([g == ("g0",) for g in grouped]))
    truth, truth_g = exact_top(data, queries, 10), exact_top(data, queries, 10, allowed_rows)
    settings = Settings.from_env({}, **{**ENGINES, **EXTRA_ENGINES}[engine])
    with tempfile.TemporaryDirectory(prefix="rag-scale-") as tmp:
        folder = Path(tmp)
        if settings.vector_store == "milvus":
            settings = settings.replace(milvus_uri=str(folder / "milvus.db"))
        started = time.perf_counter()
        entry = backend(settings.vector_store).write(folder, data, ids, grouped, settings, build_id=f"scale-{size}")
        build_s = time.perf_counter() - started
        del data
        gc.collect()
        written = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        faiss.omp_set_num_threads(1)  # one question per thread: on 2 busy cores two OpenMP threads per search ran 3.6x slower
        sweep = SWEEPS.get(engine)
        values: list[Any] = [None] if sweep is None else [int(v) for v in getattr(args, SWEEP_ARGS[sweep]).split(",")]
        rows = []
        for value in values:
            tuned = settings if sweep is None else settings.replace(**{sweep: value})
            before = rss_mib()
            store = backend(tuned.vector_store).open(folder, {"index": entry}, tuned, ids)
            opened = rss_mib() - before
            row = {"size": size, "engine": engine, "kind": entry.get("kind"), "param": f"{SWEEP_ARGS[sweep]}={value}" if sweep else "",
                   "build_s": round(build_s, 2), "bytes": written, "store_rss_mib": round(opened, 1),
                   **measure(store, queries, truth, truth_g, allowed)}
            del store
            gc.collect()
            rows.append(row)
        engine_peak = children_peak_mib()  # Milvus Lite's engine process, while it still runs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + engine_peak
    return [{**r, "peak_rss_mib": round(peak, 1)} for r in rows]


def children_peak_mib() -> float:
    """Peak RSS (VmHWM, MiB) of this process's running children: Milvus Lite runs its engine in a process of its own."""
    total = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and "VmHWM" in fields:
            total += int(fields["VmHWM"].split()[0]) / 1024
    return total


def child(size: int, engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """`run_one` in a fresh process, so peak RSS is this size and engine's alone."""
    command = [sys.executable, __file__, "--one", f"{size}:{engine}", "--cache", args.cache, "--queries", str(args.queries),
               "--noise", str(args.noise), "--ef", args.ef, "--nprobe", args.nprobe]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return [{"size": size, "engine": engine, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}]
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'chunks':>9} {'engine':<12} {'param':<12} {'build s':>8} {'MiB':>7} {'peak RSS':>9} {'p50 ms':>7} {'p99 ms':>7} " \
           f"{'p50 grp':>8} {'p99 grp':>8} {'recall':>7} {'rec grp':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['size']:>9} {r['engine']:<12} error: {r['error']}")
            continue
        lines.append(f"{r['size']:>9} {r['engine']:<12} {r['param']:<12} {r['build_s']:>8.1f} {r['bytes'] / 2**20:>7.0f} "
                     f"{r['peak_rss_mib']:>9.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['p50_group_ms']:>8.2f} "
                     f"{r['p99_group_ms']:>8.2f} {r['recall10']:>7.3f} {r['recall10_group']:>7.3f}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """p50 latency and recall@10 against chunks, one line per engine (its first swept setting reaching 0.95, else its best)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for engine in dict.fromkeys(r["engine"] for r in rows if "error" not in r):
        points = []
        for size in sorted({r["size"] for r in rows if r["engine"] == engine and "error" not in r}):
            runs = [r for r in rows if r["engine"] == engine and r["size"] == size and "error" not in r]
            good = [r for r in runs if r["recall10"] >= 0.95]
            points.append(good[0] if good else max(runs, key=lambda r: r["recall10"]))
        sizes = [p["size"] for p in points]
        left.plot(sizes, [p["p50_ms"] for p in points], marker="o", label=engine)
        left.plot(sizes, [p["p50_group_ms"] for p in points], marker="x", linestyle="--", label=f"{engine} (group filter)")
        right.plot(sizes, [p["recall10"] for p in points], marker="o", label=engine)
    for axis, label in ((left, "search p50 (ms), one question"), (right, "recall@10 against exact")):
        axis.set_xscale("log")
        axis.set_xlabel("chunks")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    left.set_yscale("log")
    left.legend(fontsize=7)
    fig.suptitle("bench/scale.py: vector stores on two cores")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--engines", default="faiss-flat,faiss-ivf,faiss-hnsw")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.5, help="norm of the noise added to a base vector (before renormalising)")
    parser.add_argument("--ef", default="32,64,128,256", help="HNSW efSearch values swept")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF nprobe values swept")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rag-bench-scale" / "base.npz"))
    parser.add_argument("--plot", default="", help="write the PNG plot here (e.g. docs/scaling.png)")
    parser.add_argument("--json", default="", help="write all rows here as JSON")
    parser.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, engine = args.one.split(":")
        print(json.dumps(run_one(int(size), engine, args)))
        return
    passages, questions = base_set(Path(args.cache))
    print(f"base set: {len(passages)} real chunk vectors, {len(questions)} real questions ({min(args.queries, len(questions))} "
          f"asked); noise {args.noise}; {os.cpu_count()} cores", flush=True)
    rows: list[dict[str, Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for engine in args.engines.split(","):
            started = time.perf_counter()
            rows += child(size, engine, args)
            print(table([r for r in rows if r["size"] == size and r["engine"] == engine]).splitlines()[-1 if rows else 0],
                  f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, Path(args.plot))
    print("RESULT " + json.dumps(rows))


if __name__ == "__main__":
    main()
