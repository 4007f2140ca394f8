"""Training a LoRA adapter with the multiple-negatives ranking loss, in plain torch, within a time budget.

Owns the loop: questions, their evidence and their hard negatives embedded by the model (LoRA layers trainable,
everything else frozen); for each question the scores against every evidence and negative of the batch, scaled,
with cross-entropy towards its own evidence (so every other passage of the batch is a negative); AdamW with a
linear warm-up and decay; a progress callback per step; a stop when the time budget is spent (the adapter is then
what was learnt so far). Leaves building the triples to `rag.tune.data` and the LoRA layers to `rag.tune.lora`.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from rag.tune import lora
from rag.tune.data import Triple


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-4
    warmup: float = 0.1  # share of the steps spent warming the learning rate up
    max_seq_length: int = 128
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    scale: float = 20.0  # cosine scores are multiplied by this before the softmax
    minutes: float = 30.0
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    steps: int
    planned_steps: int
    seconds: float
    triples_seen: int
    first_loss: float
    last_loss: float
    stopped_early: bool


def batches(triples: Sequence[Triple], config: TrainConfig) -> list[list[Triple]]:
    """Shuffled batches for `config.epochs` passes (a fraction of a pass takes the first batches of it); a batch never
    holds one question twice, since its other evidence would then count as a wrong answer."""
    rng = random.Random(config.seed)
    out: list[list[Triple]] = []
    passes = max(1, int(-(-config.epochs // 1)))
    for _ in range(passes):
        order = list(triples)
        rng.shuffle(order)
        current: list[Triple] = []
        for triple in order:
            if any(t.question == triple.question for t in current):
                continue
            current.append(triple)
            if len(current) == config.batch_size:
                out.append(current)
                current = []
    return out[: max(1, round(len(out) * config.epochs / passes))]


def train_adapter(model_path: Path, triples: Sequence[Triple], out: Path, config: TrainConfig,
                  progress: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Train a LoRA adapter for the model at `model_path` on `triples`; write it to `out` (peft format)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(config.seed)
    model = SentenceTransformer(str(model_path), device="cpu")
    model.max_seq_length = config.max_seq_length
    bert = model[0].auto_model
    names = lora.inject(bert, config.rank, config.alpha, config.dropout)
    plan = batches(triples, config)
    optimizer = torch.optim.AdamW(lora.trainable(bert), lr=config.learning_rate)
    warm = max(1, int(len(plan) * config.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warm, max(0.0, (len(plan) - s) / max(1, len(plan) - warm))))
    model.train()
    started, losses, seen = time.perf_counter(), [], 0
    for step, batch in enumerate(plan):
        if time.perf_counter() - started > 60 * config.minutes:
            break
        loss = _step(model, batch, config.scale)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        seen += len(batch)
        if progress:
            progress(step + 1, len(plan), losses[-1])
    lora.save(bert, names, out, config.rank, config.alpha, {"training": asdict(config)})
    return TrainResult(len(losses), len(plan), time.perf_counter() - started, seen, losses[0] if losses else 0.0,
                       losses[-1] if losses else 0.0, len(losses) < len(plan))


def _step(model: object, batch: Sequence[Triple], scale: float) -> object:
    import torch

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.tokenize(texts)  # type: ignore[attr-defined]
        return model(features)["sentence_embedding"]  # type: ignore[operator]

    questions = embed([t.question for t in batch])
    passages = embed([t.positive for t in batch] + [t.negative for t in batch])
    questions = torch.nn.functional.normalize(questions, dim=1)
    passages = torch.nn.functional.normalize(passages, dim=1)
    scores = scale * questions @ passages.T
    return torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
