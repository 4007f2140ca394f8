"""Operator workflows that combine building, evaluating and promoting.

Owns `evaluate_corpus` (pick the live index when it holds exactly this corpus,
else a given index folder, else build a throw-away one) and `rebuild` (build a
candidate, evaluate it on the gold set, let the gate decide, then promote or
keep the live build). The pieces live in `rag.indexing.builds`, `rag.evaluate.runner` and
`rag.evaluate.gate`; this module only sequences them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import InvalidRequestError, RagError
from rag.evaluate.gate import GateDecision, decide, load_gate_config
from rag.evaluate.gold import load_gold
from rag.evaluate.runner import EvalRun, evaluate
from rag.indexing import builds
from rag.indexing.embedding import Embedder
from rag.indexing.store import LoadedIndex, check_manifest, read_manifest, write_manifest
from rag.ingest.corpus import load_corpus

EVAL_FILE = "eval.json"


def corpus_matches_live(settings: Settings) -> bool:
    """Whether the live build was made from exactly the files now in `settings.corpus_dir`, with the current settings."""
    build_id = builds.current_build_id(settings.index_dir)
    if build_id is None:
        return False
    manifest = read_manifest(Path(settings.index_dir) / builds.BUILDS / build_id)
    try:
        check_manifest(manifest, settings)
    except RagError:
        return False  # built with other settings: evaluate a throw-away build made with the current ones
    live = builds.LiveBuild(Path(settings.index_dir) / builds.BUILDS / build_id, manifest)
    corpus = builds.carry_forward(load_corpus(Path(settings.corpus_dir), settings.max_document_bytes), live)
    return manifest["corpus"]["documents"] == {d.doc_id: d.content_hash for d in corpus.documents}


def run_eval(assistant: Assistant, gold: Path, scope_field: str | None, limit: int | None, seed: int,
             progress: Callable[[int], None] | None = None, metadata: dict[str, str] | None = None) -> EvalRun:
    rows = load_gold(gold, assistant.snapshot.index.documents, scope_field)
    return evaluate(assistant, rows[:limit] if limit else rows, progress, seed, metadata)


def evaluate_corpus(settings: Settings, embedder: Embedder, gold: Path, index_dir: Path | None = None,
                    scope_field: str | None = None, limit: int | None = None, seed: int = 0,
                    progress: builds.BuildProgress | None = None, metadata: dict[str, str] | None = None) -> EvalRun:
    """Evaluate the index for `settings.corpus_dir`: given, live, or built for this run and thrown away."""
    if index_dir is not None:
        return run_eval(Assistant(settings.replace(index_dir=index_dir), embedder), gold, scope_field, limit, seed, _advance(progress), metadata)
    if corpus_matches_live(settings):
        return run_eval(Assistant(settings, embedder), gold, scope_field, limit, seed, _advance(progress), metadata)
    scratch = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    try:
        temp_settings = settings.replace(index_dir=scratch, cache_dir=str(settings.cache_folder))  # the operator's cache
        result = builds.build(temp_settings, embedder, progress)
        builds.promote(scratch, result.build_id)
        return run_eval(Assistant(temp_settings, embedder), gold, scope_field, limit, seed, _advance(progress), metadata)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _advance(progress: builds.BuildProgress | None) -> Callable[[int], None] | None:
    return progress.advance if progress else None


@dataclass(frozen=True)
class RebuildOutcome:
    build_id: str
    promoted: bool
    decision: GateDecision | None
    summary: dict[str, Any] | None
    manifest: dict[str, Any]


def rebuild(settings: Settings, embedder: Embedder, gold: Path | None, gate_file: Path, no_gate: bool = False,
            progress: builds.BuildProgress | None = None, strict: bool = False) -> RebuildOutcome:
    """Build a candidate; evaluate and gate it when a gold set applies; promote only if it passes."""
    progress = progress or builds.BuildProgress()
    config = None if gold is None or no_gate else load_gate_config(gate_file)  # fail before building, not after
    if gold is not None and not Path(gold).is_file():
        raise InvalidRequestError(f"gold file {gold} does not exist: pass --gold FILE, or --no-gate to promote without evaluating")
    result = builds.build(settings, embedder, progress, strict)
    if gold is None or no_gate or config is None:
        reason = "--no-gate given" if no_gate else "no gold set for this corpus (pass --gold FILE to gate)"
        note = {"gate": {"status": "skipped", "reason": reason}}
        builds.promote(settings.index_dir, result.build_id, note)
        return RebuildOutcome(result.build_id, True, None, None, {**result.manifest, **note})
    candidate = LoadedIndex.load(result.folder, settings)
    progress.stage("evaluating", sum(1 for line in open(gold, encoding="utf-8") if line.strip()))
    run = run_eval(Assistant(settings, embedder, candidate), gold, None, None, 0, progress.advance)
    live = live_eval(settings)
    if live is not None and live.get("gold") != str(gold):
        live = None  # the live build was evaluated on another gold set: only floors and ceilings apply
    decision = decide(run, live, config)
    _record_eval(result.folder, run, decision, gold)
    if decision.passed:
        builds.promote(settings.index_dir, result.build_id)
    return RebuildOutcome(result.build_id, decision.passed, decision, run.summary, read_manifest(result.folder))


def _record_eval(folder: Path, run: EvalRun, decision: GateDecision, gold: Path) -> None:
    (folder / EVAL_FILE).write_text(json.dumps({**run.summary, "gold": str(gold)}, indent=2), encoding="utf-8")
    manifest = read_manifest(folder)
    manifest["eval"] = {"gold": str(gold), **{k: run.summary[k] for k in ("n", "retrieval", "answer", "abstention", "latency_ms", "ci")}}
    manifest["gate"] = decision.to_dict()
    write_manifest(folder, manifest)


def live_eval(settings: Settings) -> dict[str, Any] | None:
    """The stored eval summary of the live build, if it has one."""
    build_id = builds.current_build_id(settings.index_dir)
    if build_id is None:
        return None
    path = Path(settings.index_dir) / builds.BUILDS / build_id / EVAL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
