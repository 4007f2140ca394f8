"""LoRA layers: training starts from the model as it is, and the saved adapter merges into exactly what was trained."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rag.indexing.adapters import merged_weights  # noqa: E402
from rag.tune import lora  # noqa: E402


class Tiny(torch.nn.Module):
    """Named like a BERT layer: `query` and `dense` are adapted, `other` is not."""

    def __init__(self) -> None:
        super().__init__()
        self.query = torch.nn.Linear(4, 4)
        self.dense = torch.nn.Linear(4, 4)
        self.other = torch.nn.Linear(4, 4)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.other(self.dense(self.query(x)))


def test_wrapping_changes_nothing_until_trained_and_freezes_the_base():
    torch.manual_seed(0)
    model, x = Tiny(), torch.randn(3, 4)
    before = model(x).detach()
    names = lora.inject(model, r=2, alpha=4.0, dropout=0.0)
    assert sorted(names) == ["dense", "query"]
    assert torch.allclose(model(x), before)  # B starts at zero
    trainable = lora.trainable(model)
    assert len(trainable) == 4 and all(p.shape[0] == 2 or p.shape[1] == 2 for p in trainable)


def test_the_saved_adapter_merges_into_the_weights_the_wrapped_model_computes_with(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = Tiny()
    base = {f"{n}.weight": m.weight.detach().clone().contiguous() for n, m in model.named_children()}
    base |= {f"{n}.bias": m.bias.detach().clone().contiguous() for n, m in model.named_children()}
    (tmp_path / "base").mkdir()
    save_file(base, str(tmp_path / "base" / "model.safetensors"))
    names = lora.inject(model, r=2, alpha=4.0, dropout=0.0)
    with torch.no_grad():
        for name in names:
            model.get_submodule(name).lora_B.weight.normal_()  # as if trained
    lora.save(model, names, tmp_path / "adapter", r=2, alpha=4.0)
    merged = merged_weights(tmp_path / "base", tmp_path / "adapter")
    x = torch.randn(5, 4)
    plain = Tiny()
    plain.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in merged.items()})
    assert torch.allclose(plain(x), model(x), atol=1e-5)
