"""Rebuild benchmark: a full build against rebuilds after no change and after changing one document.

What it does. It copies CORPUS into a temp folder (the original is never touched), then runs the real
`rag.indexing.builds.build` with the real embedder three times into one fresh index folder:

  1. full       - empty embedding cache: every chunk and answer sentence is embedded
  2. unchanged  - same files again: everything comes from the cache
  3. one change - one document edited (a sentence replaced, a paragraph appended): only its new or
                  changed text is embedded

and checks that the rebuilt index holds the new text and not the replaced one. It prints the wall time
of each build, the texts embedded and reused (from the build manifest), and the ratios full / rebuild.
With `--index-dir DIR` whose cache already holds this corpus, the "full" figure is not a cold build:
run on a fresh folder (the default) to measure one.

Usage: .venv/bin/python bench/rebuild.py CORPUS [--doc DOC_ID] [--index-dir DIR]
The last line printed is `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.indexing import builds  # noqa: E402
from rag.indexing.passage_encoder import make_passage_embedder  # noqa: E402
from rag.indexing.store import LoadedIndex  # noqa: E402
from rag.ingest.corpus import load_corpus  # noqa: E402

NEW_PARAGRAPH = "\n\nBENCH-ADDED 99.1 Staff must complete the refreshed training module within 45 days of this change.\n"


def timed_build(settings: Settings, embedder: Any) -> dict[str, Any]:
    started = time.perf_counter()
    result = builds.build(settings, embedder)
    seconds = time.perf_counter() - started
    builds.promote(settings.index_dir, result.build_id)
    cache = result.manifest["embedding_cache"] or {}
    return {"seconds": round(seconds, 2), "embedded": cache.get("embedded"), "reused": cache.get("reused"),
            "chunks": result.manifest["counts"]["chunks"], "sentences": result.manifest["counts"]["sentences"],
            "folder": str(result.folder)}


def edit_one(corpus: Path, doc_id: str | None) -> tuple[str, str]:
    """Replace the first long sentence of one text document and append a paragraph; returns (doc id, removed text)."""
    docs = [d for d in load_corpus(corpus).documents if d.source_format in ("text", "markdown")]
    doc = next(d for d in docs if d.doc_id == doc_id) if doc_id else docs[len(docs) // 2]
    path = corpus / doc.doc_id
    text = path.read_text(encoding="utf-8")
    removed = next(line for line in text.split("\n") if len(line) > 80)[:80]
    path.write_text(text.replace(removed, "BENCH-REPLACED sentence start", 1) + NEW_PARAGRAPH, encoding="utf-8")
    return doc.doc_id, removed


def check_fresh(folder: str, doc_id: str, removed: str) -> bool:
    index = LoadedIndex.load(Path(folder))
    texts = [c.text for c in index.chunks if c.doc_id == doc_id]
    return any("BENCH-ADDED" in t for t in texts) and not any(removed in t for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--doc", help="document id to change (default: one text document from the middle)")
    parser.add_argument("--index-dir", type=Path, help="index folder (default: a temp folder, deleted afterwards)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-rebuild-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(args.corpus, corpus)
        settings = Settings.from_env(corpus_dir=corpus, index_dir=args.index_dir or work / "index")
        embedder = make_passage_embedder(settings)
        embedder.encode(["warm up the model"])  # model load is not build time
        runs = {"full": timed_build(settings, embedder), "unchanged": timed_build(settings, embedder)}
        doc_id, removed = edit_one(corpus, args.doc)
        runs["one_change"] = timed_build(settings, embedder)
        runs["one_change"]["changed_doc"] = doc_id
        runs["one_change"]["stale_text_gone_new_text_found"] = check_fresh(runs["one_change"]["folder"], doc_id, removed)
        report(runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(runs: dict[str, dict[str, Any]]) -> None:
    full = runs["full"]["seconds"]
    for name, run in runs.items():
        ratio = full / run["seconds"] if run["seconds"] else float("inf")
        print(f"{name:<11} {run['seconds']:>9.2f} s  embedded {run['embedded']:>7}  reused {run['reused']:>7}  "
              f"full/this {ratio:6.1f}x")
    print(f"changed document: {runs['one_change']['changed_doc']}; stale text gone and new text found: "
          f"{runs['one_change']['stale_text_gone_new_text_found']}")
    print("RESULT " + json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "folder"} for k, v in runs.items()}))


if __name__ == "__main__":
    main()
