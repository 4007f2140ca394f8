"""Training the vector reader: a small network over MiniLM vectors and the ranking's evidence for each candidate.

Owns fitting `rag.answer.reader.VectorReader`'s weights on labelled candidate lists that carry vectors
(`rag.tune.reader_data`): the input for a (question, sentence) pair is the element-wise product and absolute
difference of their unit vectors and the standardised ranking features (`FEATURE_NAMES`); one hidden layer; the loss
is a listwise softmax over each answerable question's candidates (the target spread over its right ones) plus a
pointwise term over every candidate of every question (unanswerable ones included), so its probabilities can serve
refusals. Also writes the reader folder (`weights.npz` and its card). Training takes seconds to minutes on a CPU.
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

from rag.answer.reader import FEATURE_NAMES
from rag.tune.reader_data import Listed


@dataclass(frozen=True)
class VectorReaderConfig:
    hidden: int = 256
    epochs: int = 12
    batch: int = 64  # questions per step
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    pointwise: float = 0.3  # share of the pointwise loss
    seed: int = 13


def _arrays(lists: Sequence[Listed], depth: int) -> tuple[np.ndarray, ...]:
    """(question vectors (n, d), candidate vectors (n, depth, d), features (n, depth, f), labels, mask), padded."""
    n, d = len(lists), len(lists[0].question_vector)
    q = np.stack([x.question_vector for x in lists]).astype(np.float32)
    s = np.zeros((n, depth, d), dtype=np.float32)
    f = np.zeros((n, depth, len(FEATURE_NAMES)), dtype=np.float32)
    y = np.zeros((n, depth), dtype=np.float32)
    mask = np.zeros((n, depth), dtype=bool)
    for i, x in enumerate(lists):
        k = min(depth, len(x.texts))
        s[i, :k], f[i, :k], y[i, :k], mask[i, :k] = x.vectors[:k], x.features[:k], x.labels[:k], True
    return q, s, f, y, mask


def train_vector_reader(lists: Sequence[Listed], config: VectorReaderConfig,
                        progress: Callable[[int, int, float], None] | None = None,
                        init: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The fitted weights (as `VectorReader` reads them) and the training facts. With `init` (a reader's weights of the
    same shape), training continues from them, with their feature scaling: how `rag tune --reader` adapts the packaged
    reader to an operator's corpus from a few hundred questions."""
    import torch

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    usable = [x for x in lists if x.vectors is not None and len(x.texts)]
    depth = max(len(x.texts) for x in usable)
    q, s, f, y, mask = _arrays(usable, depth)
    flat = f[mask]
    mean, scale = flat.mean(axis=0), np.where(flat.std(axis=0) > 1e-6, flat.std(axis=0), 1.0)
    dim = 2 * q.shape[1] + len(FEATURE_NAMES)
    hidden = config.hidden if init is None else int(init["w1"].shape[1])
    net = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(), torch.nn.Dropout(config.dropout),
                              torch.nn.Linear(hidden, 1))
    if init is not None:
        mean, scale = _start_from(net, init, dim)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    order = list(range(len(usable)))
    steps = config.epochs * ((len(order) + config.batch - 1) // config.batch)
    started, step, loss_avg = time.perf_counter(), 0, 0.0
    tq, ts, tf = torch.from_numpy(q), torch.from_numpy(s), torch.from_numpy((f - mean) / scale)
    ty, tm = torch.from_numpy(y), torch.from_numpy(mask)
    net.train()
    for _ in range(config.epochs):
        rng.shuffle(order)
        for begin in range(0, len(order), config.batch):
            idx = torch.tensor(order[begin : begin + config.batch])
            logits = net(_inputs(tq[idx], ts[idx], tf[idx])).squeeze(-1)
            loss = _loss(logits, ty[idx], tm[idx], config.pointwise)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            loss_avg = 0.9 * loss_avg + 0.1 * float(loss.detach()) if step > 1 else float(loss.detach())
            if progress:
                progress(step, steps, loss_avg)
    net.eval()
    first, last = net[0], net[3]
    weights = {"w1": first.weight.detach().numpy().T.copy(), "b1": first.bias.detach().numpy().copy(),
               "w2": last.weight.detach().numpy().T.copy(), "b2": last.bias.detach().numpy().copy(),
               "mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}
    facts = {"questions": len(usable), "steps": steps, "seconds": round(time.perf_counter() - started, 1),
             "loss": round(loss_avg, 4), "config": asdict(config)}
    return weights, facts


def _start_from(net: Any, init: dict[str, np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Load `init` into `net`; its feature mean and scale."""
    import torch

    if init["w1"].shape[0] != dim:
        raise ValueError(f"the reader to continue from reads {init['w1'].shape[0]} inputs, these lists give {dim}")
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(np.ascontiguousarray(init["w1"].T)))
        net[0].bias.copy_(torch.from_numpy(init["b1"]))
        net[3].weight.copy_(torch.from_numpy(np.ascontiguousarray(init["w2"].T)))
        net[3].bias.copy_(torch.from_numpy(np.asarray(init["b2"]).reshape(-1)))
    return init["mean"].astype(np.float32), init["scale"].astype(np.float32)


def _inputs(q: Any, s: Any, f: Any) -> Any:
    import torch

    qe = q[:, None, :].expand_as(s)
    return torch.cat([qe * s, (qe - s).abs(), f], dim=-1)


def _loss(logits: Any, labels: Any, mask: Any, pointwise: float) -> Any:
    import torch

    masked = logits.masked_fill(~mask, -1e4)
    positives = (labels * mask).sum(-1)
    has = positives > 0
    listwise = torch.zeros(())
    if has.any():
        target = labels[has] / positives[has, None]
        listwise = -(target * torch.log_softmax(masked[has], dim=-1)).sum(-1).mean()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], labels[mask], pos_weight=torch.tensor(4.0))
    return (1 - pointwise) * listwise + pointwise * bce


def score_vector_lists(weights: dict[str, np.ndarray], lists: Sequence[Listed]) -> list[list[float]]:
    """Probabilities for every candidate of every list, exactly as `VectorReader` computes them."""
    out = []
    for x in lists:
        qv = x.question_vector[None, :]
        inputs = np.hstack([qv * x.vectors, np.abs(qv - x.vectors), (x.features - weights["mean"]) / weights["scale"]])
        hidden = np.maximum(inputs @ weights["w1"] + weights["b1"], 0.0)
        out.append((1.0 / (1.0 + np.exp(-(hidden @ weights["w2"] + weights["b2"]).reshape(-1)))).tolist())
    return out


def export_vector_reader(weights: dict[str, np.ndarray], folder: Path, weight: float, depth: int, facts: dict[str, Any]) -> Path:
    """Write `folder/weights.npz` and `reader.json` (kind `vectors`, with the weights' hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype(np.float32) for k, v in weights.items()})
    (folder / "weights.npz").write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    card = {"kind": "vectors", "weight": weight, "depth": depth, "sha256": digest, "features": list(FEATURE_NAMES),
            "base": "all-MiniLM-L6-v2 sentence vectors of the build", **facts}
    (folder / "reader.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder
