"""Operator workflows that combine building, evaluating and promoting.

Owns `evaluate_corpus` (pick the live index when it holds exactly this corpus,
else a given index folder, else build a throw-away one) and `rebuild` (build a
candidate, evaluate it on every gold set that gates the corpus, let the gate
decide, then promote or keep the live build), with the corpus health report of every build (`record_health`). A build's evals are stored in its
`eval.json` by gold set, named by the gold file's stem. The pieces live in `rag.indexing.builds`, `rag.evaluate.runner` and
`rag.evaluate.gate`; this module only sequences them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.answer.abstention import AbstentionModel
from rag.answer.late import LateModel
from rag.answer.reader import Reader, tuned_folder
from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import ConfigError, InvalidRequestError, RagError
from rag.evaluate.gate import GateDecision, decide_sets, load_gate_config
from rag.evaluate.gold import load_gold
from rag.evaluate.runner import EvalRun, evaluate
from rag.indexing import builds
from rag.indexing.embedding import Embedder
from rag.indexing.store import LoadedIndex, check_manifest, read_manifest, write_manifest
from rag.ingest.corpus import load_corpus
from rag.lifecycle.health import check_corpus, write_health
from rag.models import Access

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
             progress: Callable[[int], None] | None = None, metadata: dict[str, str] | None = None,
             access: Access | None = None) -> EvalRun:
    rows = load_gold(gold, assistant.snapshot.index.documents, scope_field)
    return evaluate(assistant, rows[:limit] if limit else rows, progress, seed, metadata, access)


def evaluate_corpus(settings: Settings, embedder: Embedder, gold: Path, index_dir: Path | None = None,
                    scope_field: str | None = None, limit: int | None = None, seed: int = 0,
                    progress: builds.BuildProgress | None = None, metadata: dict[str, str] | None = None,
                    access: Access | None = None) -> EvalRun:
    """Evaluate the index for `settings.corpus_dir`: given, live, or built for this run and thrown away; with `access`,
    over the documents of its groups only."""
    if index_dir is not None:
        return run_eval(Assistant(settings.replace(index_dir=index_dir), embedder), gold, scope_field, limit, seed, _advance(progress), metadata, access)
    if corpus_matches_live(settings):
        return run_eval(Assistant(settings, embedder), gold, scope_field, limit, seed, _advance(progress), metadata, access)
    scratch = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    try:
        temp_settings = settings.replace(index_dir=scratch, cache_dir=str(settings.cache_folder))  # the operator's cache
        result = builds.build(temp_settings, embedder, progress)
        builds.promote(scratch, result.build_id, settings=temp_settings)
        return run_eval(Assistant(temp_settings, embedder), gold, scope_field, limit, seed, _advance(progress), metadata, access)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _advance(progress: builds.BuildProgress | None) -> Callable[[int], None] | None:
    return progress.advance if progress else None


@dataclass(frozen=True)
class RebuildOutcome:
    build_id: str
    promoted: bool
    decision: GateDecision | None
    summaries: dict[str, dict[str, Any]] | None  # eval summary per gold set (by file stem)
    manifest: dict[str, Any]


def default_golds(settings: Settings) -> list[Path]:
    """The gold sets that gate a rebuild of the default corpus (`RAG_GOLD_FILES`; none for another corpus)."""
    if Path(settings.corpus_dir).resolve() != Settings().corpus_dir.resolve():
        return []
    golds = [Path(p.strip()) for p in settings.gold_files.split(",") if p.strip()]
    for gold in golds:
        if not gold.is_file():
            raise ConfigError(f"gold set {gold} not found (RAG_GOLD_FILES): run from the project root, pass --gold FILE, or --no-gate")
    return golds


def set_name(gold: Path) -> str:
    """A gold set's name in stored evals and in the gate file: its file's stem."""
    return Path(gold).stem


def gold_sets(golds: Sequence[Path] | Path | None) -> dict[str, Path]:
    """Gold files by set name, each checked to exist; two files of one name are refused."""
    paths = [golds] if isinstance(golds, (str, Path)) else list(golds or [])
    named: dict[str, Path] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise InvalidRequestError(f"gold file {path} does not exist: pass --gold FILE, or --no-gate to promote without evaluating")
        if set_name(path) in named:
            raise InvalidRequestError(f"gold files {named[set_name(path)]} and {path} share the name {set_name(path)!r}: rename one")
        named[set_name(path)] = path
    return named


def rebuild(settings: Settings, embedder: Embedder, golds: Sequence[Path] | Path | None, gate_file: Path, no_gate: bool = False,
            progress: builds.BuildProgress | None = None, strict: bool = False,
            baselines: dict[str, dict[str, Any]] | None = None) -> RebuildOutcome:
    """Build a candidate; evaluate and gate it on every gold set given; promote only if every set passes. `baselines`
    (eval summaries by set name) stand in for the live build's evals of those sets, e.g. figures measured before a
    change that the candidate must not fall below."""
    progress = progress or builds.BuildProgress()
    sets = {} if no_gate else gold_sets(golds)
    config = load_gate_config(gate_file) if sets else None  # fail before building, not after
    tuned = tuned_folder(_live_manifest(settings))  # a reader `rag tune --reader` put live stays with later builds
    result = builds.build(settings, embedder, progress, strict)
    index = LoadedIndex.load(result.folder, settings)
    health = record_health(result.folder, index) if settings.corpus_checks else {"status": "off (RAG_CORPUS_CHECKS=false)"}
    reader = record_reader(result.folder, settings, tuned)
    if not sets or config is None:
        reason = "--no-gate given" if no_gate else "no gold set for this corpus (pass --gold FILE to gate)"
        note = {"gate": {"status": "skipped", "reason": reason}}
        builds.promote(settings.index_dir, result.build_id, note, settings)
        written = read_manifest(result.folder)  # as `record_reader` wrote it
        return RebuildOutcome(result.build_id, True, None, None, {**result.manifest, "health": health, "reader": reader,
                                                                  "late": written["late"],
                                                                  "abstention": written["abstention"], **note})
    assistant = Assistant(settings, embedder, index)
    runs = {name: _gate_eval(assistant, gold, name, progress) for name, gold in sets.items()}
    live = comparable_evals(live_eval(settings) or {}, sets, progress)
    live.update(baselines or {})
    for name in sorted(set(config.sets) - set(sets)):
        progress.message(f"warning: {gate_file} has thresholds for a gold set named {name!r}, which this build is not "
                         f"evaluated on (sets: {', '.join(sets)}): check its spelling under [sets.{name}]")
    decision = decide_sets(runs, live, config)  # drops are judged only against an eval of the same gold file
    _record_eval(result.folder, runs, decision, sets)
    if decision.passed:
        builds.promote(settings.index_dir, result.build_id, settings=settings)
    summaries = {name: run.summary for name, run in runs.items()}
    return RebuildOutcome(result.build_id, decision.passed, decision, summaries, read_manifest(result.folder))


def record_health(folder: Path, index: LoadedIndex, today: date | None = None) -> dict[str, Any]:
    """Check the build's corpus (`rag.lifecycle.health`) and keep the report with it: `health.json`, and its counts in
    the manifest."""
    summary = write_health(folder, check_corpus(index, today))
    manifest = read_manifest(folder)
    manifest["health"] = summary
    write_manifest(folder, manifest)
    return summary


def record_reader(folder: Path, settings: Settings, tuned: str = "") -> dict[str, Any] | None:
    """Name the reader the build was gated with in its manifest (kind, weights' hash, mix, folder): a gate's verdict
    holds for that reader, and answers use it while `RAG_READER` is left empty. None when no reader reads. Late
    interaction's weight and learned map (its hash) go beside it, under `late` (None when off), and so does the
    refusal model (its file's hash), under `abstention`."""
    reader = Reader.from_settings(settings, tuned)
    described = reader.describe() if reader is not None else None
    manifest = read_manifest(folder)
    manifest["reader"] = described
    manifest["late"] = late_recorded(settings)
    manifest["abstention"] = AbstentionModel.for_settings(settings.abstain_model, reader is not None).describe()
    write_manifest(folder, manifest)
    return described


def late_recorded(settings: Settings) -> dict[str, Any] | None:
    """Late interaction as the settings ask for it: weight, depth and the learned map's description (None: plain)."""
    if settings.late_weight <= 0:
        return None
    model = LateModel.from_setting(settings.late_model)
    return {"weight": settings.late_weight, "depth": settings.late_depth, "model": model.describe() if model else None}


def _live_manifest(settings: Settings) -> dict[str, Any]:
    build_id = builds.current_build_id(settings.index_dir)
    return read_manifest(Path(settings.index_dir) / builds.BUILDS / build_id) if build_id else {}


def comparable_evals(live: dict[str, dict[str, Any]], sets: dict[str, Path], progress: builds.BuildProgress) -> dict[str, dict[str, Any]]:
    """The live build's evals of the same gold files (by resolved path), so drops are judged like for like; a set the
    live build was evaluated on with another file, or not at all, is named (only floors and ceilings apply to it)."""
    out = {}
    for name, gold in sets.items():
        stored = live.get(name)
        if stored is not None and Path(stored.get("gold", "")).resolve() == gold.resolve():
            out[name] = stored
        elif live:
            progress.message(f"note: no eval of {gold} on the live build to compare with: drops on {name} are not checked")
    return out


def _gate_eval(assistant: Assistant, gold: Path, name: str, progress: builds.BuildProgress) -> EvalRun:
    progress.stage(f"evaluating {name}", sum(1 for line in open(gold, encoding="utf-8") if line.strip()))
    return run_eval(assistant, gold, None, None, 0, progress.advance)


def _record_eval(folder: Path, runs: dict[str, EvalRun], decision: GateDecision, sets: dict[str, Path]) -> None:
    stored = {name: {**run.summary, "gold": str(sets[name].resolve())} for name, run in runs.items()}
    (folder / EVAL_FILE).write_text(json.dumps({"sets": stored}, indent=2), encoding="utf-8")
    manifest = read_manifest(folder)
    keys = ("n", "retrieval", "answer", "abstention", "latency_ms", "ci")
    manifest["eval"] = {name: {"gold": str(sets[name].resolve()), **{k: run.summary[k] for k in keys}} for name, run in runs.items()}
    manifest["gate"] = decision.to_dict()
    write_manifest(folder, manifest)


def live_eval(settings: Settings) -> dict[str, dict[str, Any]] | None:
    """The stored eval summaries of the live build, by gold set, if it has any (an older single-set file included)."""
    build_id = builds.current_build_id(settings.index_dir)
    if build_id is None:
        return None
    path = Path(settings.index_dir) / builds.BUILDS / build_id / EVAL_FILE
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    return stored["sets"] if "sets" in stored else {set_name(Path(stored.get("gold", "gold"))): stored}
