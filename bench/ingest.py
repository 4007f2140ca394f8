"""Ingest benchmark: how fast the real build pipeline indexes a corpus, and how close to the machine's peak it runs.

What it measures. It runs `rag.indexing.builds.build` (the same code as `rag index build`) with the real
`SentenceTransformerEmbedder` on CORPUS into an index folder, then promotes the build so that
`bench/query.py --index-dir DIR` can use it. The build is observed, not re-implemented:

* stages come from the build's own progress hooks, a thin pass-through wrapper around the embedder
  (it records each `encode` call: its texts, the build stage it ran in, its wall time) and a timing
  wrapper around `rag.indexing.builds.write_build`:
    - loading          = start of `build()` -> `stage("chunking")`   (lock, leftovers, `load_corpus`)
    - chunking         = `stage("chunking")` -> first `encode`      (`chunk_corpus`, incl. window checks)
    - encode <stage>   = each `encode` call, named by the build stage it ran in ("embedding" = chunk
                         vectors, "sentences" = answer-sentence vectors at the time of writing)
    - between encodes  = gaps between `encode` calls                (e.g. finding answer sentences)
    - after encoding   = last `encode` -> `write_build`            (e.g. BM25 index, manifest)
    - writing          = `write_build` -> `build()` returned        (FAISS, JSONL, npz, fsync, rename)
  The model is loaded (and run once) before the build, so its load time is reported separately and
  does not count as embedding. Throughput and FLOP/s use the time inside `encode` only.
* counts: documents, chunks, cl100k tokens and chunks over the model window come from the build
  manifest; model word pieces are counted on exactly the texts that were encoded, with the model's
  tokenizer.json with truncation and padding switched off. `embedder.token_counts` is also called and
  compared (it once returned 128 for every text, because tokenizer.json carries `truncation: 128` and
  `padding: fixed 128`; fixed in the library), and the bench flags any disagreement.
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
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.indexing import builds  # noqa: E402
from rag.indexing.embedding import ProgressFn, SentenceTransformerEmbedder  # noqa: E402
from rag.ingest.corpus import SUFFIXES  # noqa: E402

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
    """Supported files under root in the order `rag.ingest.corpus.load_corpus` reads them (sorted walk, no dot files)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / n for n in sorted(filenames) if not n.startswith(".") and Path(n).suffix.lower() in SUFFIXES]
    return files


def limited_corpus(root: Path, limit: int, into: Path) -> Path:
    """A folder with copies of the first `limit` files, keeping relative paths (so doc ids are unchanged).
    Copies, not symlinks: the corpus loader refuses symlinks that lead outside the corpus folder."""
    for path in corpus_files(root)[:limit]:
        copy = into / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
    return into


# ---------------------------------------------------------------- observing the build


class StageClock(builds.BuildProgress):
    """Records when the build enters each stage; shows encode progress on stderr every 10%."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.messages: list[str] = []
        self.name, self.total, self.done, self.shown = "", 0, 0, 0

    def stage(self, name: str, total: int) -> None:
        self.stages[name] = time.perf_counter()
        self.name, self.total, self.done, self.shown = name, total, 0, 0
        print(f"  stage {name}: {total} {'documents' if name == 'chunking' else 'texts'}", file=sys.stderr, flush=True)

    def advance(self, count: int) -> None:
        self.done += count
        tenth = 10 * self.done // max(self.total, 1)
        if self.name != "chunking" and tenth > self.shown:
            self.shown = tenth
            elapsed = time.perf_counter() - self.stages[self.name]
            print(f"  {self.name}: {self.done}/{self.total} in {elapsed:.0f} s", file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        self.messages.append(text)


@dataclass
class EncodeCall:
    """One `encode` call of the build: the stage it ran in, its texts and its wall time."""

    stage: str
    texts: list[str]
    batch_size: int
    started: float
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class TimedEmbedder:
    """Pass-through to the real embedder that records every `encode` call (texts, stage, time)."""

    inner: SentenceTransformerEmbedder
    clock: StageClock
    calls: list[EncodeCall] = field(default_factory=list)

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
        call = EncodeCall(self.clock.name or "encode", list(texts), batch_size, time.perf_counter())
        self.calls.append(call)
        try:
            return self.inner.encode(texts, batch_size, progress)
        finally:
            call.finished = time.perf_counter()


def load_model(embedder: SentenceTransformerEmbedder) -> float:
    """Load tokenizer and model and run them once; seconds taken."""
    started = time.perf_counter()
    embedder.token_counts(["warm up"])
    embedder.encode(["warm up"], 1)
    return time.perf_counter() - started


@contextmanager
def timed_write_build(marks: dict[str, float]) -> Iterator[None]:
    """Time `rag.indexing.builds.write_build` (looked up at call time) by wrapping it for the duration of the build."""
    original = builds.write_build

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        marks["write_started"] = time.perf_counter()
        return original(*args, **kwargs)

    builds.write_build = wrapper  # type: ignore[assignment]
    try:
        yield
    finally:
        builds.write_build = original  # type: ignore[assignment]


def run_build(settings: Settings, embedder: TimedEmbedder) -> tuple[builds.BuildResult, dict[str, float]]:
    """Run the real build; seconds of loading, chunking, each encode stage, the work between and after, and writing."""
    marks: dict[str, float] = {}
    started = time.perf_counter()
    with timed_write_build(marks):
        result = builds.build(settings, embedder, embedder.clock)
    finished = time.perf_counter()
    for text in embedder.clock.messages:
        print(f"  build: {text}")
    calls, chunking_at = embedder.calls, embedder.clock.stages["chunking"]
    last_encode = calls[-1].finished if calls else chunking_at
    write_started = marks.get("write_started", last_encode)
    timings = {"loading_s": chunking_at - started, "chunking_s": (calls[0].started if calls else last_encode) - chunking_at}
    for call in calls:
        timings[f"encode_{call.stage}_s"] = timings.get(f"encode_{call.stage}_s", 0.0) + call.seconds
    timings["encode_total_s"] = sum(c.seconds for c in calls)
    timings["between_encodes_s"] = sum(b.started - a.finished for a, b in zip(calls, calls[1:]))
    timings["after_encode_s"] = write_started - last_encode
    timings["writing_s"] = finished - write_started
    timings["build_s"] = finished - started
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


def pass_stats(embedder: TimedEmbedder, call: EncodeCall) -> dict[str, Any]:
    """Texts, word pieces, FLOPs and rates of one encode call."""
    pieces = true_token_counts(embedder.inner, call.texts)
    lengths = sequence_lengths(pieces, embedder.window)
    seconds = max(call.seconds, 1e-9)
    embedded = sum(min(c, embedder.window) for c in pieces)
    return {
        "stage": call.stage, "texts": len(call.texts), "batch_size": call.batch_size, "seconds": call.seconds,
        "word_pieces": embedded, "max_word_pieces": max(pieces, default=0),
        "over_window": sum(1 for c in pieces if c > embedder.window),
        "mean_seq_len": sum(lengths) / max(len(lengths), 1),
        "texts_per_s": len(call.texts) / seconds, "word_pieces_per_s": embedded / seconds,
        "gflop_useful": sum(sequence_flops(n) for n in lengths) / 1e9,
        "gflop_padded": padded_flops(call.texts, lengths, call.batch_size) / 1e9,
    }


def library_count_check(embedder: TimedEmbedder, call: EncodeCall) -> dict[str, int]:
    """What `embedder.token_counts` (used by the build's window check) says, against the true counts."""
    true = true_token_counts(embedder.inner, call.texts)
    library = embedder.token_counts(call.texts)
    return {"library_word_pieces": sum(library), "library_counts_wrong": sum(a != b for a, b in zip(true, library))}


def summarise(result: builds.BuildResult, embedder: TimedEmbedder, timings: dict[str, float]) -> dict[str, Any]:
    counts = result.manifest["counts"]
    passes = [pass_stats(embedder, call) for call in embedder.calls]
    encode_s = max(timings["encode_total_s"], 1e-9)
    useful, padded = sum(p["gflop_useful"] for p in passes), sum(p["gflop_padded"] for p in passes)
    chunk_pass = next((c for c in embedder.calls if c.stage == "embedding"), embedder.calls[0])
    return {
        **{k: counts[k] for k in counts},
        "window": embedder.window,
        **library_count_check(embedder, chunk_pass),
        **{k: round(v, 3) for k, v in timings.items()},
        "passes": passes,
        "chunks_per_s": counts["chunks"] / max(chunk_pass.seconds, 1e-9),
        "chunks_per_s_build": counts["chunks"] / max(timings["build_s"], 1e-9),
        "word_pieces": sum(p["word_pieces"] for p in passes),
        "word_pieces_per_s": sum(p["word_pieces"] for p in passes) / encode_s,
        "model_gflop_useful": useful,
        "model_gflop_padded": padded,
        "achieved_gflops_useful": useful / encode_s,
        "achieved_gflops_padded": padded / encode_s,
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


def print_passes(passes: list[dict[str, Any]]) -> None:
    header = f"{'encode stage':<13}{'texts':>8}{'pieces':>10}{'mean n':>8}{'max':>6}{'>win':>6}{'s':>9}{'texts/s':>9}{'pieces/s':>10}{'GFLOP':>9}{'padded':>9}{'GFLOP/s':>9}"
    print(header)
    for p in passes:
        print(
            f"{p['stage']:<13}{p['texts']:>8}{p['word_pieces']:>10}{p['mean_seq_len']:>8.1f}{p['max_word_pieces']:>6}{p['over_window']:>6}"
            f"{p['seconds']:>9.2f}{p['texts_per_s']:>9.1f}{p['word_pieces_per_s']:>10.0f}{p['gflop_useful']:>9.1f}{p['gflop_padded']:>9.1f}"
            f"{p['gflop_useful'] / max(p['seconds'], 1e-9):>9.1f}"
        )


def print_report(s: dict[str, Any]) -> None:
    stage_times = ", ".join(f"{k[7:-2]} {s[k]:.2f} s" for k in s if k.startswith("encode_") and k != "encode_total_s")
    rows = [
        ("documents / chunks", f"{s['documents']} / {s['chunks']}" + (f"  ({s['sentences']} answer sentences)" if "sentences" in s else "")),
        ("tokens (cl100k, chunks)", f"{s['tokens']}"),
        ("chunks over window (build)", f"{s['chunks_over_window']}  (true count: {s['passes'][0]['over_window']}, window {s['window']} word pieces)"),
        ("embedder.token_counts", f"{s['library_word_pieces']} word pieces for the chunks; wrong for {s['library_counts_wrong']} of {s['chunks']}"),
        ("model word pieces embedded", f"{s['word_pieces']}  (all encode calls, capped at the window)"),
        ("model load (not in build)", f"{s['model_load_s']:.2f} s"),
        ("loading + chunking", f"{s['loading_s'] + s['chunking_s']:.2f} s  (loading {s['loading_s']:.2f} s, chunking {s['chunking_s']:.2f} s)"),
        ("embedding (model)", f"{s['encode_total_s']:.2f} s  ({stage_times}; {s['threads_torch']} torch threads)"),
        ("between encodes", f"{s['between_encodes_s']:.2f} s  (e.g. finding answer sentences)"),
        ("after encoding", f"{s['after_encode_s']:.2f} s  (e.g. BM25 index, manifest)"),
        ("writing", f"{s['writing_s']:.2f} s  (write_build, rename, fsync)"),
        ("build total", f"{s['build_s']:.2f} s"),
        ("chunks/s", f"{s['chunks_per_s']:.1f} (chunk encode)  {s['chunks_per_s_build']:.1f} (whole build)"),
        ("embedded word pieces/s", f"{s['word_pieces_per_s']:.0f}"),
        ("peak RSS", f"{s['peak_rss_mib']:.0f} MiB"),
        ("float32 GEMM peak", f"numpy {s['gemm_numpy_gflops']:.1f} GFLOP/s, torch {s['gemm_torch_gflops']:.1f} GFLOP/s ({s['gemm_size']}^2, best of N)"),
        ("model FLOPs", f"{s['model_gflop_useful']:.1f} GFLOP useful, {s['model_gflop_padded']:.1f} GFLOP padded"),
        ("achieved", f"{s['achieved_gflops_useful']:.1f} GFLOP/s useful, {s['achieved_gflops_padded']:.1f} GFLOP/s padded"),
        ("share of numpy GEMM peak", f"{100 * s['share_of_numpy_peak_useful']:.1f}% useful, {100 * s['share_of_numpy_peak_padded']:.1f}% padded"),
        ("share of torch GEMM peak", f"{100 * s['share_of_torch_peak_useful']:.1f}% useful"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print_passes(s["passes"])


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


# ---------------------------------------------------------------- main


def bench(corpus: Path, index_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings.from_env(corpus_dir=corpus, index_dir=index_dir, chunk_tokens=args.chunk_tokens,
                                 embedding_cache=False)  # measure embedding, not cache lookups (bench/rebuild.py does those)
    inner = SentenceTransformerEmbedder(settings.model, settings.device, settings.threads)
    model_load_s = load_model(inner)
    embedder = TimedEmbedder(inner, StageClock())
    result, timings = run_build(settings, embedder)
    builds.promote(index_dir, result.build_id, {"gate": {"status": "skipped", "reason": "benchmark build"}})
    summary = summarise(result, embedder, timings)
    summary.update(model_load_s=round(model_load_s, 3), build_id=result.build_id, chunk_tokens=settings.chunk_tokens)
    add_gemm(summary, args.gemm_size, args.gemm_repeats)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in `finally` blocks on kill
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
    print("RESULT " + json.dumps(rounded(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
