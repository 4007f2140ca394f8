"""Training the learned map of late interaction (`rag.answer.late.LateModel`) from candidate lists.

Owns `LateExample` (one answerable question's word states and IDF weights, and its best candidates' piece states,
scores and labels), `late_examples` (made from candidate lists with the model's own token states), `LateConfig`,
`train_late` (a listwise loss over each question's candidates: the softmax of their score plus the late weight times
their coverage, against the right ones; the map is the identity plus a low-rank update, so it starts as plain late
interaction), `late_top1` (the share of questions whose first sentence is right after late interaction, as answers
read it) and `export_late` (the folder `LateModel.open` reads). Leaves making candidate lists to
`rag.tune.reader_data` and model runs to `rag.indexing`. Torch is imported when training.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.answer.late import MODEL_CARD, MODEL_FILE, SPECIAL, LateModel, is_word_start, weighted_best
from rag.indexing.query_encoder import TokenStates
from rag.tune.reader_data import Listed

Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class LateExample:
    """One question as late interaction reads it: candidates best first by the score it mixes with."""

    question: np.ndarray  # unit states of the question's word starts
    weights: np.ndarray  # their IDF
    candidates: tuple[np.ndarray, ...]  # each candidate's piece states ([CLS] and [SEP] left out)
    scores: np.ndarray  # each candidate's score before late interaction
    labels: np.ndarray  # 1 where the candidate overlaps the evidence


@dataclass(frozen=True)
class LateConfig:
    rank: int = 32  # rank of the update to the identity map
    epochs: int = 2
    lr: float = 3e-4
    weight: float = 1.5  # the late weight answers mix coverage with (RAG_LATE_WEIGHT)
    temperature: float = 10.0
    seed: int = 13


def late_examples(lists: Sequence[Listed], scores: Sequence[Sequence[float]], states: TokenStates,
                  idf: Callable[[str], float], depth: int = 8, margin: float = 0.4) -> list[LateExample]:
    """Answerable questions with a right candidate listed, each with its best `depth` candidates within `margin` of the
    first by `scores` (the ranking answers see before late interaction); every text read once by `states`."""
    kept = [(x, np.asarray(s, dtype=np.float32)) for x, s in zip(lists, scores) if x.answerable and x.positives]
    orders = [[int(j) for j in np.argsort(-s, kind="stable")[:depth] if s.max() - s[j] <= margin] for _, s in kept]
    texts = list(dict.fromkeys(x.texts[j] for (x, _), order in zip(kept, orders) for j in order))
    read = {t: s for t, s in zip(texts, _bodies(states(texts)))}
    out = []
    for (x, s), order, (pieces, asked) in zip(kept, orders, states([x.question for x, _ in kept])):
        keep = [i for i, p in enumerate(pieces) if is_word_start(p)]
        if not keep:
            continue
        out.append(LateExample(asked[keep].astype(np.float32), np.array([idf(pieces[i]) for i in keep], dtype=np.float32),
                               tuple(read[x.texts[j]] for j in order), s[order], np.array([x.labels[j] for j in order], dtype=np.float32)))
    return out


def _bodies(read: Sequence[tuple[Sequence[str], np.ndarray]]) -> list[np.ndarray]:
    return [states[[i for i, p in enumerate(pieces) if p not in SPECIAL]].astype(np.float16) for pieces, states in read]


def coverage(model: LateModel | None, ex: LateExample, candidate: np.ndarray) -> float:
    """`rag.answer.late.late_coverage` of one example's question by one candidate, through `model` (None: plain)."""
    if model is None:
        return weighted_best(ex.question, candidate, ex.weights)
    return weighted_best(model.project(ex.question), model.project(candidate), ex.weights * model.boost(ex.question))


def late_top1(model: LateModel | None, examples: Sequence[LateExample], weight: float = 1.5, depth: int = 4,
              margin: float = 0.2) -> float:
    """Share of examples whose first candidate is right once late interaction has reordered the best `depth` within
    `margin` (as `LateReader.rerank` does)."""
    right = 0.0
    for ex in examples:
        n = sum(1 for s in ex.scores[:depth] if ex.scores[0] - s <= margin)
        covers = np.array([coverage(model, ex, c) for c in ex.candidates[:n]]) if n > 1 else np.zeros(1)
        right += ex.labels[int(np.argmax(ex.scores[:n] + weight * (covers - covers.max())))]
    return float(right) / max(1, len(examples))


def train_late(examples: Sequence[LateExample], config: LateConfig, progress: Progress | None = None) -> tuple[LateModel, dict[str, Any]]:
    """A map trained on the examples with a choice to make (two or more candidates, some right and some not)."""
    import torch

    torch.manual_seed(config.seed)
    usable = [ex for ex in examples if len(ex.candidates) > 1 and 0 < ex.labels.sum() < len(ex.labels)]
    dim = examples[0].question.shape[1]
    down = torch.nn.Parameter(torch.zeros(dim, config.rank))
    up = torch.nn.Parameter(torch.randn(config.rank, dim) * 0.01)
    term = torch.nn.Parameter(torch.zeros(dim))
    opt = torch.optim.Adam([down, up, term], lr=config.lr)
    steps, step, started, loss_sum = config.epochs * len(usable), 0, time.monotonic(), 0.0
    for epoch in range(config.epochs):
        order = list(usable)
        random.Random(config.seed + epoch).shuffle(order)
        for ex in order:
            loss = _listwise_loss(ex, down, up, term, config)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach())
            if progress is not None:
                progress(step, steps, loss_sum / step)
    with torch.no_grad():
        matrix = (torch.eye(dim) + down @ up).numpy().astype(np.float32)
    facts = {"examples": len(examples), "trained_on": len(usable), "steps": steps, "loss": round(loss_sum / max(1, steps), 4),
             "seconds": round(time.monotonic() - started, 1), "config": asdict(config)}
    return LateModel(matrix, term.detach().numpy().astype(np.float32), facts), facts


def _listwise_loss(ex: LateExample, down: Any, up: Any, term: Any, config: LateConfig) -> Any:
    import torch
    from torch.nn.functional import normalize

    def mapped(x: Any) -> Any:
        return normalize(x + (x @ down) @ up, dim=-1)

    q = torch.from_numpy(ex.question)
    w = torch.from_numpy(ex.weights) * torch.exp(torch.clamp(q @ term, -5.0, 5.0))
    qm = mapped(q)
    covers = torch.stack([((qm @ mapped(torch.from_numpy(c.astype(np.float32))).T).max(1).values * w).sum() / w.sum()
                          for c in ex.candidates])
    logits = (torch.from_numpy(ex.scores) + config.weight * covers) * config.temperature
    target = torch.from_numpy(ex.labels / ex.labels.sum())
    return -(torch.log_softmax(logits, 0) * target).sum()


def export_late(model: LateModel, folder: Path, facts: dict[str, Any]) -> Path:
    """Write `folder/projection.npz` and `late.json` (the card, with the weights' hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, matrix=model.matrix.astype(np.float32), term=model.term.astype(np.float32))
    (folder / MODEL_FILE).write_bytes(buffer.getvalue())
    card = {"kind": "late-projection", "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
            "base": "all-MiniLM-L6-v2 last-layer token states (the ONNX question encoder)", **facts}
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder
