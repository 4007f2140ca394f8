"""Adapters: small LoRA weight deltas that adapt the embedding model to policy text, merged into a model folder.

Owns reading a LoRA adapter folder (`adapter_config.json` and `adapter_model.safetensors`, as peft writes them),
merging it into the base model's weights (W + alpha/r * B @ A for every adapted matrix; no peft needed at run
time), and keeping the merged model as an ordinary sentence-transformers folder in
`<cache folder>/models/<base fingerprint>+<adapter hash>/`, made once and reused. Whatever embeds with the
adapter (passages, the ONNX export for questions, sentence vectors) loads that folder, so its files'
fingerprint, which names every cache entry and export, covers the adapted weights. Training adapters lives in
`rag.tune`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rag.errors import ModelError

CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
BASE_WEIGHTS = "model.safetensors"
_PREFIX = "base_model.model."  # how peft names the wrapped model's parameters
PACKAGED = Path(__file__).with_name("adapter_model")  # trained on eval/train/synthetic by scripts/train_embedder.py


def resolve_adapter(choice: str, index_dir: Path) -> str:
    """The adapter folder a setting names: `` or `none` for none, `packaged` for the one that ships
    (`rag/indexing/adapter_model/`), `live` for the one the live build of `index_dir` was made with (none when there
    is no live build or it used none), else the folder itself."""
    choice = choice.strip()
    if choice in ("", "none"):
        return ""
    if choice == "packaged":
        return str(PACKAGED)
    if choice != "live":
        return choice
    try:
        manifest = json.loads((Path(index_dir) / "current" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(manifest.get("model", {}).get("adapter_path", ""))


def adapter_hash(adapter: Path) -> str:
    """Identity of an adapter folder's weights and configuration."""
    digest = hashlib.sha256()
    for name in (CONFIG, WEIGHTS):
        digest.update((Path(adapter) / name).read_bytes())
    return digest.hexdigest()[:16]


def check_adapter(adapter: Path) -> dict[str, object]:
    """The adapter's configuration, or `ModelError` saying what is wrong with the folder."""
    adapter = Path(adapter)
    missing = [n for n in (CONFIG, WEIGHTS) if not (adapter / n).is_file()]
    if missing:
        raise ModelError(f"adapter folder {adapter} lacks {', '.join(missing)}: point RAG_ADAPTER at a folder written by "
                         "`rag tune` (or leave it empty for the model without an adapter)")
    config = json.loads((adapter / CONFIG).read_text(encoding="utf-8"))
    if config.get("peft_type", "LORA") != "LORA" or not config.get("r"):
        raise ModelError(f"adapter {adapter} is not a LoRA adapter (peft_type {config.get('peft_type')!r}): retrain it with `rag tune`")
    return config


def merged_weights(base: Path, adapter: Path) -> dict[str, np.ndarray]:
    """The base model's weights with the adapter's low-rank deltas added."""
    from safetensors.numpy import load_file

    config = check_adapter(adapter)
    weights = load_file(str(Path(base) / BASE_WEIGHTS))
    deltas = load_file(str(Path(adapter) / WEIGHTS))
    scale = float(config.get("lora_alpha", config["r"])) / float(config["r"])  # type: ignore[arg-type]
    merged = 0
    for key in [k for k in deltas if k.endswith(".lora_A.weight")]:
        target = key.removeprefix(_PREFIX).replace(".lora_A.weight", ".weight")
        if target not in weights:
            raise ModelError(f"adapter {adapter} adapts {target!r}, which the base model {base} does not have: "
                             "it was trained for another model; retrain it with `rag tune`")
        low, high = deltas[key], deltas[key.replace(".lora_A.", ".lora_B.")]
        weights[target] = (weights[target] + scale * (high @ low)).astype(weights[target].dtype)
        merged += 1
    if not merged:
        raise ModelError(f"adapter {adapter} holds no LoRA weights: retrain it with `rag tune`")
    return weights


def adapted_model(base: Path, base_fingerprint: str, adapter: Path, cache_root: Path) -> Path:
    """A model folder with the adapter merged in, made once under the cache folder and reused afterwards."""
    from safetensors.numpy import save_file

    folder = Path(cache_root) / "models" / f"{base_fingerprint.replace('@', '-')}+{adapter_hash(adapter)}"
    if (folder / BASE_WEIGHTS).is_file():
        return folder
    weights = merged_weights(base, adapter)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".merge-", dir=folder.parent))
    try:
        shutil.copytree(base, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(BASE_WEIGHTS))
        save_file(weights, str(staging / BASE_WEIGHTS))
        (staging / "ADAPTER.json").write_text(json.dumps({"base": str(base), "adapter": str(adapter),
                                                          "adapter_hash": adapter_hash(adapter)}, indent=2))
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / BASE_WEIGHTS).is_file():  # another process finished first: use its folder
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
