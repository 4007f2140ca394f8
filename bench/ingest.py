"""Ingest benchmark: how fast the real build pipeline indexes a corpus, and how close to the machine's peak it runs.

What it measures. It runs `rag.builds.build` (the same code as `rag index build`) with the real
`SentenceTransformerEmbedder` on CORPUS into an index folder, then promotes the build so that
`bench/query.py --index-dir DIR` can use it. The build is observed, not re-implemented:

* stages come from the build's own progress hooks plus a thin pass-through wrapper around the
  embedder (it only records the texts and the time spent in `encode`):
    - loading  = start of `build()` -> `stage("chunking")`  (lock, leftovers, `load_corpus`)
    - chunking = `stage("chunking")` -> start of `encode`   (`chunk_corpus`, incl. window checks)
    - embedding = the `encode` call                        (the model, batch size RAG_EMBED_BATCH_SIZE)
    - writing  = end of `encode` -> `build()` returned     (manifest, FAISS, JSONL, fsync, rename)
  The model is loaded (and run once) before the build, so its load time is reported separately and
  does not count as embedding.
* counts: documents, chunks, cl100k tokens and chunks over the model window come from the build
  manifest; model word pieces are counted on exactly the texts that were encoded, with the model's
  tokenizer.json with truncation and padding switched off. `embedder.token_counts` is also called and
  shown: at the time of writing it returns 128 for every text, because tokenizer.json carries
  `truncation: 128` and `padding: fixed 128`, which `Tokenizer.from_file` keeps (so the build's
  "chunks over window" check can never fire); the bench flags any disagreement.
* peak RSS: `resource.getrusage(RUSAGE_SELF).ru_maxrss`, read right after the build (before the GEMM probe).
* efficiency: achieved model GFLOP/s during embedding, as a share of float32 GEMM GFLOP/s measured in
  this same run (numpy `a @ b`, 2048x2048, best of N; torch's matmul is shown too, since torch runs the model).

FLOP model for all-MiniLM-L6-v2 (BERT encoder: L=6 layers, hidden h=384, intermediate f=1536, 12 heads).
For one sequence of n tokens (word pieces capped at the window, plus [CLS] and [SEP]):

    matmul params per layer  P = 4*h*h (Q, K, V, output) + 2*h*f (FFN up, down) = 1,769,472
    FLOPs(n) = 2 * L * P * n            (every weight is one multiply-add per token)
             + 2 * 2 * L * n^2 * h      (Q.K^T scores and attention-weighted V, all heads together)

Embedding lookups, layer norms, softmax, GELU, biases and pooling are O(n*h) and left out (< 1%).
"useful" FLOPs use each text's own n; "padded" FLOPs use the longest n of each encode batch (the
model pads a batch to its longest member), reconstructing the embedder's length-sorted batches, so
they estimate what the hardware actually computed.

Usage: .venv/bin/python bench/ingest.py CORPUS [--index-dir DIR] [--chunk-tokens N] [--limit-docs N]
The last line printed is `RESULT {json}` with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from rag import builds  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.corpus import SUFFIXES  # noqa: E402
from rag.embedding import ProgressFn, SentenceTransformerEmbedder  # noqa: E402
from rag.errors import RagError  # noqa: E402

LAYERS, HIDDEN, INTERMEDIATE = 6, 384, 1536
MATMUL_PARAMS_PER_LAYER = 4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE
SPECIAL_TOKENS = 2  # [CLS] and [SEP]


# ---------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/ingest.py",
        description="Build an index of CORPUS with the real pipeline and report stage timings, throughput, "
        "peak memory and embedding FLOP/s against the machine's float32 GEMM peak.",
    )
    parser.add_argument("corpus", type=Path, metavar="CORPUS", help="Folder of documents (.md, .txt, .html).")
    parser.add_argument(
        "--index-dir", type=Path, default=None,
        help="Where to build (kept, with the build promoted, for bench/query.py). Default: a temp folder, deleted afterwards.",
    )
    parser.add_argument("--chunk-tokens", type=int, default=None, help="Chunk size in cl100k tokens [default: RAG_CHUNK_TOKENS or 160].")
    parser.add_argument("--limit-docs", type=int, default=None, metavar="N", help="Index only the first N documents (sorted path order).")
    parser.add_argument("--gemm-size", type=int, default=2048, help="Square matrix size for the GEMM peak probe [default: 2048].")
    parser.add_argument("--gemm-repeats", type=int, default=5, help="GEMM probe runs; the best counts [default: 5].")
    return parser.parse_args(argv)


def check_args(corpus: Path, index_dir: Path | None, limit: int | None) -> None:
    if not corpus.is_dir():
        raise SystemExit(f"error: corpus folder {corpus} does not exist: pass a folder of .md/.txt/.html files")
    if limit is not None and limit < 1:
        raise SystemExit("error: --limit-docs must be at least 1")
    if index_dir is not None and index_dir.resolve() == (REPO / "index").resolve():
        raise SystemExit(f"error: refusing to build into the project's live index {index_dir}: pass e.g. --index-dir /tmp/bench-index")


# ---------------------------------------------------------------- corpus subset


def corpus_files(root: Path) -> list[Path]:
    """Supported files under root in the order `rag.corpus.load_corpus` reads them (sorted walk, no dot files)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / n for n in sorted(filenames) if not n.startswith(".") and Path(n).suffix.lower() in SUFFIXES]
    return files


def limited_corpus(root: Path, limit: int, into: Path) -> Path:
    """A folder of symlinks to the first `limit` files, keeping relative paths (so doc ids are unchanged)."""
    for path in corpus_files(root)[:limit]:
        link = into / path.relative_to(root)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    return into


# ---------------------------------------------------------------- observing the build


class StageClock(builds.BuildProgress):
    """Records when the build enters each stage."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.messages: list[str] = []

    def stage(self, name: str, total: int) -> None:
        self.stages[name] = time.perf_counter()

    def message(self, text: str) -> None:
        self.messages.append(text)


@dataclass
class TimedEmbedder:
    """Pass-through to the real embedder that records what `encode` got and how long it took."""

    inner: SentenceTransformerEmbedder
    texts: list[str] = field(default_factory=list)
    batch_size: int = 32
    started: float = 0.0
    finished: float = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def window(self) -> int:
        return self.inner.window

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return self.inner.token_counts(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None) -> np.ndarray:
        self.texts, self.batch_size = list(texts), batch_size
        self.started = time.perf_counter()
        try:
            return self.inner.encode(texts, batch_size, progress)
        finally:
            self.finished = time.perf_counter()


def load_model(embedder: SentenceTransformerEmbedder) -> float:
    """Load tokenizer and model and run them once; seconds taken."""
    started = time.perf_counter()
    embedder.token_counts(["warm up"])
    embedder.encode(["warm up"], 1)
    return time.perf_counter() - started


def run_build(settings: Settings, embedder: TimedEmbedder) -> tuple[builds.BuildResult, dict[str, float]]:
    clock = StageClock()
    started = time.perf_counter()
    result = builds.build(settings, embedder, clock)
    finished = time.perf_counter()
    for text in clock.messages:
        print(f"  build: {text}")
    chunking_at = clock.stages["chunking"]
    timings = {
        "loading_s": chunking_at - started,
        "chunking_s": embedder.started - chunking_at,
        "embedding_s": embedder.finished - embedder.started,
        "writing_s": finished - embedder.finished,
        "build_s": finished - started,
    }
    return result, timings


# ---------------------------------------------------------------- FLOPs


def sequence_flops(n: int) -> float:
    """Forward-pass FLOPs of all-MiniLM-L6-v2 for one sequence of n tokens (see module docstring)."""
    return 2.0 * LAYERS * MATMUL_PARAMS_PER_LAYER * n + 4.0 * LAYERS * n * n * HIDDEN


def true_token_counts(embedder: SentenceTransformerEmbedder, texts: Sequence[str]) -> list[int]:
    """Word pieces per text (no special tokens), without the truncation/padding stored in tokenizer.json."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(embedder.path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [len(e.ids) for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def sequence_lengths(counts: Sequence[int], window: int) -> list[int]:
    """Tokens the model actually runs per text: word pieces capped at the window, plus the special tokens."""
    return [min(c, window) + SPECIAL_TOKENS for c in counts]


def padded_flops(texts: Sequence[str], lengths: Sequence[int], batch_size: int) -> float:
    """FLOPs if each encode batch is padded to its longest member; batches as the embedder forms them
    (texts sorted by character length, longest first, `batch_size` at a time)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    total = 0.0
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        total += len(batch) * sequence_flops(max(lengths[i] for i in batch))
    return total


# ---------------------------------------------------------------- GEMM peak


def best_time(fn: Any, repeats: int) -> float:
    fn()  # warm up (thread pools, page faults)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def numpy_gemm_gflops(size: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2.0 * size**3 / best_time(lambda: a @ b, repeats) / 1e9


def torch_gemm_gflops(size: int, repeats: int) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    with torch.inference_mode():
        return 2.0 * size**3 / best_time(lambda: a @ b, repeats) / 1e9


# ---------------------------------------------------------------- report


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def summarise(result: builds.BuildResult, embedder: TimedEmbedder, timings: dict[str, float]) -> dict[str, Any]:
    counts = result.manifest["counts"]
    pieces = true_token_counts(embedder.inner, embedder.texts)
    library_pieces = embedder.token_counts(embedder.texts)
    lengths = sequence_lengths(pieces, embedder.window)
    embed_s = max(timings["embedding_s"], 1e-9)
    useful = sum(sequence_flops(n) for n in lengths)
    padded = padded_flops(embedder.texts, lengths, embedder.batch_size)
    return {
        "documents": counts["documents"],
        "chunks": counts["chunks"],
        "tokens_cl100k": counts["tokens"],
        "chunks_over_window": counts["chunks_over_window"],
        "word_pieces": sum(pieces),
        "word_pieces_library_token_counts": sum(library_pieces),
        "texts_library_token_counts_wrong": sum(a != b for a, b in zip(pieces, library_pieces)),
        "max_word_pieces": max(pieces, default=0),
        "over_window_true": sum(1 for c in pieces if c > embedder.window),
        "word_pieces_embedded": sum(min(c, embedder.window) for c in pieces),
        "mean_seq_len": sum(lengths) / max(len(lengths), 1),
        "window": embedder.window,
        "embed_batch_size": embedder.batch_size,
        **{k: round(v, 3) for k, v in timings.items()},
        "chunks_per_s": counts["chunks"] / embed_s,
        "chunks_per_s_build": counts["chunks"] / max(timings["build_s"], 1e-9),
        "word_pieces_per_s": sum(min(c, embedder.window) for c in pieces) / embed_s,
        "model_gflop_useful": useful / 1e9,
        "model_gflop_padded": padded / 1e9,
        "achieved_gflops_useful": useful / embed_s / 1e9,
        "achieved_gflops_padded": padded / embed_s / 1e9,
        "peak_rss_mib": peak_rss_mib(),
    }


def add_gemm(summary: dict[str, Any], size: int, repeats: int) -> None:
    import torch

    summary["threads_torch"] = torch.get_num_threads()
    summary["gemm_size"] = size
    summary["gemm_numpy_gflops"] = numpy_gemm_gflops(size, repeats)
    summary["gemm_torch_gflops"] = torch_gemm_gflops(size, repeats)
    peak = summary["gemm_numpy_gflops"]
    summary["share_of_numpy_peak_useful"] = summary["achieved_gflops_useful"] / peak
    summary["share_of_numpy_peak_padded"] = summary["achieved_gflops_padded"] / peak
    summary["share_of_torch_peak_useful"] = summary["achieved_gflops_useful"] / summary["gemm_torch_gflops"]


def print_report(s: dict[str, Any]) -> None:
    rows = [
        ("documents", f"{s['documents']}"),
        ("chunks", f"{s['chunks']}"),
        ("tokens (cl100k)", f"{s['tokens_cl100k']}"),
        ("chunks over model window", f"{s['chunks_over_window']}"),
        ("chunks over window (true count)", f"{s['over_window_true']}  (longest {s['max_word_pieces']} word pieces, window {s['window']})"),
        ("model word pieces (embedded)", f"{s['word_pieces_embedded']}  (mean sequence {s['mean_seq_len']:.1f} incl. [CLS]/[SEP])"),
        ("embedder.token_counts says", f"{s['word_pieces_library_token_counts']} word pieces; wrong for {s['texts_library_token_counts_wrong']} of {s['chunks']} texts"),
        ("model load (not in build)", f"{s['model_load_s']:.2f} s"),
        ("loading", f"{s['loading_s']:.2f} s"),
        ("chunking", f"{s['chunking_s']:.2f} s"),
        ("loading + chunking", f"{s['loading_s'] + s['chunking_s']:.2f} s"),
        ("embedding", f"{s['embedding_s']:.2f} s  (batch {s['embed_batch_size']}, {s['threads_torch']} torch threads)"),
        ("writing", f"{s['writing_s']:.2f} s"),
        ("build total", f"{s['build_s']:.2f} s"),
        ("chunks/s (embedding)", f"{s['chunks_per_s']:.1f}  (whole build: {s['chunks_per_s_build']:.1f})"),
        ("embedded word pieces/s", f"{s['word_pieces_per_s']:.0f}"),
        ("peak RSS", f"{s['peak_rss_mib']:.0f} MiB"),
        ("float32 GEMM peak", f"numpy {s['gemm_numpy_gflops']:.1f} GFLOP/s, torch {s['gemm_torch_gflops']:.1f} GFLOP/s ({s['gemm_size']}^2)"),
        ("model FLOPs", f"{s['model_gflop_useful']:.1f} GFLOP useful, {s['model_gflop_padded']:.1f} GFLOP padded"),
        ("achieved", f"{s['achieved_gflops_useful']:.1f} GFLOP/s useful, {s['achieved_gflops_padded']:.1f} GFLOP/s padded"),
        ("share of numpy GEMM peak", f"{100 * s['share_of_numpy_peak_useful']:.1f}% useful, {100 * s['share_of_numpy_peak_padded']:.1f}% padded"),
        ("share of torch GEMM peak", f"{100 * s['share_of_torch_peak_useful']:.1f}% useful"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


# ---------------------------------------------------------------- main


def bench(corpus: Path, index_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings.from_env(corpus_dir=corpus, index_dir=index_dir, chunk_tokens=args.chunk_tokens)
    inner = SentenceTransformerEmbedder(settings.model, settings.device)
    model_load_s = load_model(inner)
    embedder = TimedEmbedder(inner)
    result, timings = run_build(settings, embedder)
    builds.promote(index_dir, result.build_id, {"gate": {"status": "skipped", "reason": "benchmark build"}})
    summary = summarise(result, embedder, timings)
    summary.update(model_load_s=round(model_load_s, 3), build_id=result.build_id, chunk_tokens=settings.chunk_tokens)
    add_gemm(summary, args.gemm_size, args.gemm_repeats)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    check_args(args.corpus, args.index_dir, args.limit_docs)
    scratch = Path(tempfile.mkdtemp(prefix="rag-bench-ingest-"))
    index_dir = args.index_dir or scratch / "index"
    corpus = limited_corpus(args.corpus, args.limit_docs, scratch / "corpus") if args.limit_docs else args.corpus
    print(f"corpus {args.corpus}{f' (first {args.limit_docs} documents)' if args.limit_docs else ''} -> index {index_dir}")
    try:
        summary = bench(corpus, index_dir, args)
    except RagError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary.update(corpus=str(args.corpus), index_dir=str(index_dir) if args.index_dir else None)
    print_report(summary)
    if args.index_dir:
        print(f"index kept at {index_dir} (build {summary['build_id']} promoted): bench/query.py --index-dir {index_dir}")
    print("RESULT " + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
