"""Build benchmark: `rag index build` against a plain sentence-transformers + FAISS build of the same chunks.

In one process, back to back, on CORPUS:

1. chunking: the project's own chunker (`rag.indexing.chunks.chunk_corpus`) makes the chunks and their embedding
   texts; the plain build gets them for free, the `rag` build chunks again inside its own timing.
2. plain: the packaged all-MiniLM-L6-v2 loaded with sentence-transformers (loaded and run once before the clock
   starts), `model.encode(texts, batch_size=32, normalize_embeddings=True)`, then `faiss.IndexFlatIP.add`.
3. rag: `rag.indexing.builds.build` with the embedding cache off (`RAG_EMBEDDING_CACHE=false`), the passage
   encoder of the settings (`RAG_PASSAGE_ENCODER`, `RAG_SENTENCE_VECTORS`; exported and warmed up before the clock
   starts) into a fresh index folder: corpus loading, chunking, the chunk pass (with every answer sentence's
   vector pooled from it but for table rows, which a short second pass embeds on their own; every sentence in that
   pass with `RAG_SENTENCE_VECTORS=separate`), BM25, originals and
   writing; stage seconds come from the build's own progress hooks.
4. the float32 GEMM peak of this machine, measured before and after (numpy `a @ b`, 2048x2048, best of 5; the
   higher figure counts), so every share of peak is against a figure measured in the same run.

Embedding rates are model FLOPs per second in float32 terms (`bench/ingest.py`'s FLOP model of MiniLM: 2 FLOPs per
weight per token, plus attention), so an int8 model that does the same work faster shows above its float32 share.
Peak RSS of each build is read from /proc (VmHWM, reset before each). Run by hand, not in CI: it embeds the corpus
twice. It prints `ratio R`: the `rag` build's seconds over the plain build's.

5. with `--checks on` (the default) the corpus health checks every gated build runs after it (`rag.pipeline.record_health`:
   the build loaded, `rag.lifecycle.health.check_corpus`, health.json written) are timed after the build, and the
   `checks ratio` line is the build with them over the build without them (`--checks off`: the build alone, as
   `RAG_CORPUS_CHECKS=false` runs it). `--no-plain` leaves out the plain build (2.), for the checks comparison alone;
   `--index-dir DIR` keeps the build there, promoted (for `rag corpus check --index-dir DIR`).

Usage: .venv/bin/python bench/compare_build.py CORPUS [--json OUT] [--checks on|off] [--no-plain] [--index-dir DIR]
Before/after comparisons: `RAG_PASSAGE_ENCODER=torch RAG_SENTENCE_VECTORS=separate` is the pipeline as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from ingest import SPECIAL_TOKENS, StageClock, numpy_gemm_gflops, sequence_flops, true_token_counts  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.indexing import builds  # noqa: E402
from rag.indexing.chunks import chunk_corpus  # noqa: E402
from rag.indexing.embedding import SentenceTransformerEmbedder  # noqa: E402
from rag.indexing.passage_encoder import make_passage_embedder  # noqa: E402
from rag.ingest.chunking import embedding_text  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from the current RSS


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def model_flops(lengths: Sequence[int]) -> float:
    return float(sum(sequence_flops(n) for n in lengths))


def plain_build(texts: list[str], lengths: list[int]) -> dict[str, Any]:
    """sentence-transformers + FAISS as its documentation shows it: encode, normalise, IndexFlatIP."""
    import faiss
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(SentenceTransformerEmbedder().path), device="cpu")
    model.encode(["warm up"], normalize_embeddings=True)
    reset_peak_rss()
    started = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    embedded = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    finished = time.perf_counter()
    return {"stages": {"embedding": embedded - started, "faiss": finished - embedded}, "seconds": finished - started,
            "texts": len(texts), "tokens": sum(lengths), "flops": model_flops(lengths), "embed_s": embedded - started,
            "peak_rss_mib": peak_rss_mib()}


class TokenClock(StageClock):
    """Stage times, and the passage encoder's running count of word pieces at the start of each stage."""

    def __init__(self, embedder: Any) -> None:
        super().__init__()
        self.embedder = embedder
        self.tokens_at: dict[str, int] = {}

    def stage(self, name: str, total: int) -> None:
        self.tokens_at[name] = getattr(self.embedder, "tokens_embedded", 0)
        super().stage(name, total)


def rag_build(settings: Settings) -> dict[str, Any]:
    """The real build, cache off; the model's export, session and first run happen before the clock starts."""
    embedder = make_passage_embedder(settings)
    embedder.encode(["warm up"])
    clock = TokenClock(embedder)
    reset_peak_rss()
    started = time.perf_counter()
    result = builds.build(settings, embedder, clock)
    finished = time.perf_counter()
    marks = sorted(clock.stages.items(), key=lambda kv: kv[1]) + [("end", finished)]
    stages = {"loading": marks[0][1] - started} | {name: b - a for (name, a), (_, b) in zip(marks, marks[1:])}
    embed_s = stages.get("embedding", 0.0) + stages.get("sentences", 0.0)
    marks = clock.tokens_at
    total = getattr(embedder, "tokens_embedded", 0)
    chunk_tokens = (marks.get("sentences", marks.get("writing", total)) - marks.get("embedding", 0)) if total else None
    return {"stages": stages, "seconds": finished - started, "embed_s": embed_s, "manifest": result.manifest,
            "tokens": chunk_tokens, "sentence_tokens": total - chunk_tokens if total else None, "peak_rss_mib": peak_rss_mib(),
            "variant": getattr(embedder, "variant", "torch")}


def health_checks(settings: Settings, build_id: str) -> dict[str, Any]:
    """The corpus health checks of a gated build, timed: load the build, check it, keep the report with it."""
    from rag.indexing.store import LoadedIndex
    from rag.pipeline import record_health

    started = time.perf_counter()
    folder = Path(settings.index_dir) / builds.BUILDS / build_id
    summary = record_health(folder, LoadedIndex.load(folder, settings))
    return {"seconds": time.perf_counter() - started, "summary": summary}


def sentence_flops(alone: list[str]) -> float:
    """FLOPs of embedding these sentence texts on their own."""
    embedder = SentenceTransformerEmbedder()
    return model_flops([min(c, embedder.window) + SPECIAL_TOKENS for c in true_token_counts(embedder, alone)])


def chunk_texts(settings: Settings) -> tuple[list[str], list[int], Any]:
    """Embedding texts of the project's chunks, their model sequence lengths, and the corpus's answer sentences."""
    from rag.indexing.sentences import quotable_rows

    embedder = SentenceTransformerEmbedder()
    corpus = load_corpus(Path(settings.corpus_dir), settings.max_document_bytes)
    chunks, _ = chunk_corpus(corpus, settings, embedder)
    texts = [embedding_text(c) for c in chunks]
    lengths = [min(c, embedder.window) + SPECIAL_TOKENS for c in true_token_counts(embedder, texts)]
    return texts, lengths, quotable_rows(corpus.documents)


def line(name: str, seconds: float, texts: Any = "", tokens: Any = "", flops: float = 0.0, peak: float = 0.0) -> str:
    rate = f"{tokens / seconds:>9,.0f}" if tokens and seconds else f"{'':>9}"
    share = f"{flops / seconds / 1e9:>8.1f} {100 * flops / seconds / 1e9 / peak:>6.1f}%" if flops and seconds else f"{'':>15}"
    return f"  {name:<28}{seconds:>9.2f}{texts:>9}{tokens:>11}{rate} {share}"


def report(plain: dict[str, Any], rag: dict[str, Any], peak: float, n_chunks: int) -> None:
    print(f"\n{'stage':<30}{'seconds':>9}{'texts':>9}{'tokens':>11}{'tok/s':>9} {'GFLOP/s':>8} {'of peak':>7}")
    print("plain sentence-transformers + FAISS (batch 32, IndexFlatIP)")
    print(line("embedding", plain["stages"]["embedding"], plain["texts"], plain["tokens"], plain["flops"], peak))
    print(line("faiss add", plain["stages"]["faiss"]))
    print(line("total", plain["seconds"]))
    m = rag["manifest"]
    print(f"rag index build ({rag['variant']} passages, {m['model']['sentence_vectors']} sentence vectors, cache off)")
    for name, seconds in rag["stages"].items():
        if name == "embedding":
            print(line("embedding (chunk pass)", seconds, n_chunks, rag["tokens"] or "", rag["flops_chunks"], peak))
        elif name == "sentences":
            alone = m["counts"]["sentences"] - m["counts"].get("sentences_pooled", 0) - ((m.get("carry") or {}).get("carried") or {}).get("sentences", 0)
            print(line("sentences (separate pass)", seconds, alone, rag["sentence_tokens"] or "", rag["flops_sentences"], peak))
        else:
            print(line(name, seconds))
    print(line("total", rag["seconds"]))
    print(f"\nsentences: {m['counts']['sentences']}, pooled from the chunk pass: {m['counts'].get('sentences_pooled', 0)}")
    print(f"float32 GEMM peak (numpy, 2048x2048, best of before/after): {peak:.1f} GFLOP/s")
    print(f"embedding, share of peak: plain {100 * plain['flops'] / plain['embed_s'] / 1e9 / peak:.1f}%, "
          f"rag {100 * rag['flops'] / max(rag['embed_s'], 1e-9) / 1e9 / peak:.1f}% (float32-equivalent FLOPs)")
    print(f"peak RSS: plain {plain['peak_rss_mib']:.0f} MiB, rag {rag['peak_rss_mib']:.0f} MiB")
    print(f"embedding-only ratio {rag['embed_s'] / plain['embed_s']:.3f}")
    print(f"ratio {rag['seconds'] / plain['seconds']:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/compare_build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="folder of documents")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    parser.add_argument("--checks", choices=("on", "off"), default="on",
                        help="time the corpus health checks after the build and print the checks ratio (on), or not (off)")
    parser.add_argument("--no-plain", action="store_true", help="leave out the plain sentence-transformers build")
    parser.add_argument("--index-dir", type=Path, default=None, help="keep the build here, promoted (default: a temp folder)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        parser.error(f"{args.corpus} is not a folder of documents")
    work = Path(tempfile.mkdtemp(prefix="rag-compare-"))
    try:
        settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index_dir or work / "index", embedding_cache=False,
                                     cache_dir=str(REPO / "index" / "cache"))  # reuse the ONNX export, never the vectors
        texts, lengths, sentences = chunk_texts(settings)
        print(f"corpus {args.corpus}: {len(texts)} chunks, {sum(lengths):,} model tokens; threads {os.cpu_count()}", flush=True)
        gemm = [numpy_gemm_gflops(2048, 5)]
        plain = None if args.no_plain else plain_build(texts, lengths)
        if plain:
            print(f"plain build: {plain['seconds']:.1f} s", flush=True)
        rag = rag_build(settings)
        print(f"rag build: {rag['seconds']:.1f} s", flush=True)
        checks = health_checks(settings, rag["manifest"]["build_id"]) if args.checks == "on" else None
        if args.index_dir:
            builds.promote(args.index_dir, rag["manifest"]["build_id"])
        gemm.append(numpy_gemm_gflops(2048, 5))
        pooled = rag["manifest"]["model"]["sentence_vectors"] == "pooled"
        alone = [text for text, labelled in zip(sentences.texts, sentences.labelled) if labelled or not pooled]
        rag["flops_chunks"], rag["flops_sentences"] = model_flops(lengths), sentence_flops(alone)
        rag["flops"] = rag["flops_chunks"] + rag["flops_sentences"]
        rag["tokens"] = rag["tokens"] or sum(lengths)
        if plain:
            report(plain, rag, max(gemm), len(texts))
        if checks:
            print(f"\ncorpus health checks: {checks['seconds']:.2f} s ({checks['summary']})")
            print(f"build with checks off {rag['seconds']:.2f} s, on {rag['seconds'] + checks['seconds']:.2f} s")
            print(f"checks ratio {(rag['seconds'] + checks['seconds']) / rag['seconds']:.3f}")
        if args.json:
            rag.pop("manifest")
            args.json.write_text(json.dumps({"gemm_gflops": gemm, "plain": plain, "rag": rag, "checks": checks,
                                             "ratio": rag["seconds"] / plain["seconds"] if plain else None}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
