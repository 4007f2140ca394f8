"""`rag tune --reader`: the vector reader adapted to an operator's own gold questions, live only through the gate.

Owns the sequence, as `rag.tune.workflow` does for the adapter: the live build of this corpus, a fixed share of the
gold rows held out and never trained on (measured before with the reader answering today), the other rows' candidate
lists as today's ranking gives them (`rag.tune.reader_data`, without a reader), training that continues from the
reader answering today when it is a vector reader (a few hundred questions adapt it; they would not teach one from
nothing), then a candidate build gated with the new reader on the corpus's gold sets plus the held-out share, whose
figures before count as the live figures it must not fall below. The reader folder is kept under
`<index dir>/readers/<time>/` (weights, card with data, settings, seconds, before and after, the held-out rows); a
promoted build names it in its manifest, so servers that leave `RAG_READER` empty answer with it, and later builds
keep it. Leaves the pieces to `rag.tune.reader_data`, `rag.tune.reader_vectors` and `rag.pipeline`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.answer.reader import VectorReader
from rag.assistant import Assistant
from rag.config import Settings
from rag.evaluate.gold import GoldRow, load_gold
from rag.evaluate.runner import evaluate
from rag.indexing import builds
from rag.indexing.passage_encoder import make_passage_embedder
from rag.pipeline import RebuildOutcome, rebuild
from rag.tune.data import held_out
from rag.tune.reader_data import candidate_lists
from rag.tune.reader_vectors import VectorReaderConfig, export_vector_reader, train_vector_reader
from rag.tune.workflow import HELD_OUT, check_sizes, live_assistant, write_held_out

FINE_TUNE = VectorReaderConfig(epochs=6, lr=3e-4)  # continuing from a trained reader: fewer, smaller steps
HEADLINE = (("answer", "right_citation"), ("answer", "containment"), ("answer", "citation_precision"),
            ("abstention", "false_refusal_rate"))


@dataclass(frozen=True)
class ReaderTuneOutcome:
    reader: Path
    training_rows: int
    held_out_rows: int
    started_from: str  # the weights' sha256 training continued from ('' for none)
    facts: dict[str, Any]
    before: dict[str, float]
    after: dict[str, float] | None
    rebuild: RebuildOutcome


def tune_reader(settings: Settings, gold: Path, golds: Sequence[Path], scope_field: str | None = None, holdout: float = 0.3,
                config: VectorReaderConfig | None = None, progress: builds.BuildProgress | None = None,
                on_step: Callable[[int, int, float], None] | None = None, embedder: Any = None) -> ReaderTuneOutcome:
    """Adapt the reader to `gold` (less its held-out share) and rebuild with it; the gate decides (see module).
    `embedder` embeds questions and the candidate build's passages (default: the settings' model)."""
    assistant = live_assistant(settings, embedder)
    snap = assistant.snapshot
    rows = load_gold(gold, snap.index.documents, scope_field)
    train, held = reader_rows(rows, holdout)
    check_sizes(gold, [r for r in train if r.answerable], held, holdout)
    folder = Path(settings.index_dir) / "readers" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True)
    held_file = write_held_out(gold, {r.id for r in held}, folder)
    baseline = evaluate(assistant, held).summary
    current = snap.answerer.reader
    plain = Assistant(settings.replace(reader="off"), assistant.embedder, snap.index)
    lists = candidate_lists(plain, train, "operator", current.depth if current is not None else 20)
    init = current.weights if isinstance(current, VectorReader) else None
    weights, facts = train_vector_reader(lists, config or (FINE_TUNE if init is not None else VectorReaderConfig()), on_step, init)
    started = str(current.card.facts.get("sha256", "")) if init is not None and current is not None else ""
    facts |= {"gold": str(gold), "holdout": holdout, "scope_field": scope_field, "continued_from": started}
    export_vector_reader(weights, folder, current.weight if current is not None else 0.5,
                         current.depth if current is not None else 12, facts)
    candidate = settings.replace(reader=str(folder.resolve()))
    outcome = rebuild(candidate, embedder or make_passage_embedder(candidate), [*golds, held_file], settings.gate_file, progress=progress,
                      baselines={HELD_OUT: baseline})
    after = figures(outcome.summaries[HELD_OUT]) if outcome.summaries else None
    result = ReaderTuneOutcome(folder, len(train), len(held), started, facts, figures(baseline), after, outcome)
    _note_outcome(folder, result)
    return result


def reader_rows(rows: Sequence[GoldRow], share: float) -> tuple[list[GoldRow], list[GoldRow]]:
    """(rows to train on, rows held out): the reader learns from unanswerable questions too (its probabilities feed
    refusals), and from answerable ones whose evidence was found in the corpus."""
    train = [r for r in rows if not held_out(r.id, share) and (not r.answerable or any(e.found for e in r.evidence))]
    return train, [r for r in rows if held_out(r.id, share)]


def figures(summary: dict[str, Any]) -> dict[str, float]:
    return {key: round(float(summary[group][key]), 4) for group, key in HEADLINE
            if summary.get(group, {}).get(key) is not None}


def _note_outcome(folder: Path, result: ReaderTuneOutcome) -> None:
    """Add the gate's verdict and the before-and-after figures to the reader's card."""
    path = folder / "reader.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card |= {"training_rows": result.training_rows, "held_out_rows": result.held_out_rows,
             "held_out_before": result.before, "held_out_after": result.after, "build_id": result.rebuild.build_id,
             "promoted": result.rebuild.promoted,
             "gate": result.rebuild.decision.to_dict() if result.rebuild.decision else None}
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
