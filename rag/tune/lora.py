"""LoRA in plain torch: low-rank updates beside the frozen weights of a BERT encoder's linear layers.

Owns wrapping every `torch.nn.Linear` whose name ends with one of the target names (`query`, `key`, `value`,
`dense`) in `LoRALinear` (output = W x + alpha/r * B A x, with A random and B zero at the start, so training starts
from the model as it is), listing the trainable parameters, and saving them as peft does
(`adapter_model.safetensors` with `base_model.model.<module>.lora_A.weight` / `lora_B.weight`, and
`adapter_config.json`), which `rag.indexing.adapters` merges. Leaves the training loop to `rag.tune.train`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

TARGETS = ("query", "key", "value", "dense")


def lora_linear_class() -> Any:
    """The `LoRALinear` module class (defined on first use, so importing this module does not import torch)."""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear, r: int, alpha: float, dropout: float) -> None:
            super().__init__()
            self.base = base
            self.scale = alpha / r
            self.lora_A = torch.nn.Linear(base.in_features, r, bias=False)
            self.lora_B = torch.nn.Linear(r, base.out_features, bias=False)
            torch.nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
            torch.nn.init.zeros_(self.lora_B.weight)
            self.dropout = torch.nn.Dropout(dropout)
            for p in self.base.parameters():
                p.requires_grad_(False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.scale * self.lora_B(self.lora_A(self.dropout(x)))

    return LoRALinear


def inject(model: Any, r: int = 16, alpha: float = 32.0, dropout: float = 0.1, targets: Iterable[str] = TARGETS) -> list[str]:
    """Freeze `model` and wrap its target linear layers in LoRA; returns the wrapped modules' names."""
    import torch

    LoRALinear = lora_linear_class()
    for p in model.parameters():
        p.requires_grad_(False)
    wanted = tuple(targets)
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in wanted]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha, dropout))
    return names


def trainable(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


def save(model: Any, names: list[str], folder: Path, r: int, alpha: float, extra: dict[str, Any] | None = None) -> None:
    """Write the LoRA weights of the wrapped `names` as a peft-format adapter folder."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name in names:
        module = model.get_submodule(name)
        tensors[f"base_model.model.{name}.lora_A.weight"] = module.lora_A.weight.detach().contiguous()
        tensors[f"base_model.model.{name}.lora_B.weight"] = module.lora_B.weight.detach().contiguous()
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": sorted({n.rsplit(".", 1)[-1] for n in names}),
              **(extra or {})}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))
