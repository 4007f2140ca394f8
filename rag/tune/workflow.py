"""`rag tune`: an adapter trained on an operator's own gold questions, promoted only through the gate.

Owns the sequence: the live build of this corpus (its passages give the hard negatives and the "before" figures),
a fixed share of the gold rows held out and never trained on, training, then a candidate build made with the
adapter and gated on the corpus's gold sets plus the held-out share, whose figures before tuning count as the
live figures it must not fall below (the gate's `max_drop` rule). The adapter folder, kept under
`<index dir>/adapters/<time>/`, holds the weights, the held-out rows and `card.json` (data, settings, seconds,
before and after). Leaves the pieces to `rag.tune.data`, `rag.tune.train`, `rag.indexing` and `rag.pipeline`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import InvalidRequestError
from rag.evaluate.gold import load_gold
from rag.evaluate.runner import evaluate
from rag.indexing import builds
from rag.indexing.embedding import resolve_model_path
from rag.indexing.passage_encoder import make_passage_embedder
from rag.pipeline import RebuildOutcome, corpus_matches_live, rebuild
from rag.tune.data import split_rows, training_triples
from rag.tune.train import TrainConfig, TrainResult, train_adapter

MIN_TRAINING_ROWS = 40  # fewer answerable questions with evidence than this teach the model nothing measurable
HELD_OUT = "heldout"  # the held-out share's name as a gold set (file stem)
HEADLINE = ("hit@1", "hit@5", "mrr@10", "ndcg@10")


@dataclass(frozen=True)
class TuneOutcome:
    adapter: Path
    training_rows: int
    triples: int
    held_out_rows: int
    trained: TrainResult
    before: dict[str, float]
    after: dict[str, float] | None
    rebuild: RebuildOutcome


def tune(settings: Settings, gold: Path, golds: Sequence[Path], scope_field: str | None = None, holdout: float = 0.3,
         config: TrainConfig | None = None, progress: builds.BuildProgress | None = None,
         on_step: Callable[[int, int, float], None] | None = None, embedder: Any = None) -> TuneOutcome:
    """Train an adapter on `gold` (less its held-out share) and rebuild with it; the gate decides (see module).
    `embedder` embeds the questions of the live build (default: the settings' model)."""
    config = config or TrainConfig()
    assistant = live_assistant(settings, embedder)
    index = assistant.snapshot.index
    rows = load_gold(gold, index.documents, scope_field)
    train, held = split_rows(rows, holdout)
    check_sizes(gold, train, held, holdout)
    folder = Path(settings.index_dir) / "adapters" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True)
    held_file = write_held_out(gold, {r.id for r in held}, folder)
    baseline = evaluate(assistant, held).summary
    triples = training_triples(index, train, assistant.snapshot.retriever.embed)
    trained = train_adapter(resolve_model_path(settings.model), triples, folder, config, on_step)
    candidate = settings.replace(adapter=str(folder.resolve()))
    outcome = rebuild(candidate, make_passage_embedder(candidate), [*golds, held_file], settings.gate_file, progress=progress,
                      baselines={HELD_OUT: baseline})
    after = _figures(outcome.summaries[HELD_OUT]) if outcome.summaries else None
    result = TuneOutcome(folder, len(train), len(triples), len(held), trained, _figures(baseline), after, outcome)
    _write_card(folder, gold, scope_field, holdout, config, result)
    return result


def live_assistant(settings: Settings, embedder: Any = None) -> Assistant:
    if builds.current_build_id(settings.index_dir) is None or not corpus_matches_live(settings):
        raise InvalidRequestError(f"rag tune trains on the live build of {settings.corpus_dir}, and there is none that "
                                  f"matches it: run `rag index build --corpus {settings.corpus_dir} --index-dir {settings.index_dir}` first")
    return Assistant(settings, embedder)


def check_sizes(gold: Path, train: Sequence[Any], held: Sequence[Any], holdout: float) -> None:
    if len(train) < MIN_TRAINING_ROWS:
        raise InvalidRequestError(
            f"{gold} leaves {len(train)} answerable questions with evidence to train on after holding {holdout:.0%} out; "
            f"tuning needs at least {MIN_TRAINING_ROWS}: write more gold questions (see README 'Evaluating')")
    if not any(r.answerable for r in held):
        raise InvalidRequestError(f"the held-out share of {gold} has no answerable question to measure: raise --holdout")


def write_held_out(gold: Path, ids: set[str], folder: Path) -> Path:
    """The held-out rows exactly as the gold file has them, as a gold set of their own."""
    lines = [line for line in Path(gold).read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line)["id"] in ids]
    path = folder / f"{HELD_OUT}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _figures(summary: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(summary["retrieval"][k]), 4) for k in HEADLINE if summary["retrieval"].get(k) is not None}


def _write_card(folder: Path, gold: Path, scope_field: str | None, holdout: float, config: TrainConfig, result: TuneOutcome) -> None:
    card = {"gold": str(gold), "scope_field": scope_field, "holdout": holdout, "training_rows": result.training_rows,
            "triples": result.triples, "held_out_rows": result.held_out_rows, "config": asdict(config),
            "trained": asdict(result.trained), "held_out_before": result.before, "held_out_after": result.after,
            "build_id": result.rebuild.build_id, "promoted": result.rebuild.promoted,
            "gate": result.rebuild.decision.to_dict() if result.rebuild.decision else None}
    (folder / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
