"""The embedding model exported to ONNX: made once on the user's machine, checked, reused, and run.

Owns exporting the sentence-transformers model from its local files to one ONNX graph with two outputs,
`embedding` (mean-pooled over the tokens, unit length, exactly what sentence-transformers returns) and
`tokens` (the last hidden state, from which passages' sentences are pooled); the `onnx-int8` variant
quantises the weights of its matrix products to int8 per channel (activations dynamically), except in the first
layer, whose inputs carry the outliers that int8 handles worst (measured: keeping it in float32 costs 7% of the
speed-up and recovers the answer quality that quantising it loses). Its activations are quantised with one scale for
the whole input, so a text's int8 vector would depend on the texts batched with it: `OnnxModel.batch_invariant` is
False for it, and callers then run one text per call (measured: about 12% slower than batches of 32, and the same
vector for a text alone or in any batch; calibrated static scales would allow batches but moved vectors to cosine
0.96 of float32, against 0.995). An export lives in
`<cache folder>/onnx-model/<variant>-v<FORMAT>-<model fingerprint>/model.onnx`, is checked against the torch model
before it is kept, and is reused afterwards. `OnnxModel` holds one session and the model's tokenizer and runs
padded batches. The question encoder (`rag.indexing.query_encoder`) and the passage encoder
(`rag.indexing.passage_encoder`) share it. Importing this module loads nothing: torch, onnx and onnxruntime are
imported only when a model is exported or loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import ModelError
from rag.indexing.embedding import SentenceTransformerEmbedder

VARIANTS = ("onnx", "onnx-int8")
FORMAT = 2  # bump when the export recipe changes, so old exports are not reused (2: the `tokens` output)
INSTALL_HINT = "pip install 'onnxruntime==1.32.0' 'onnx==1.23.2'` (or `make setup`)"
PROBE = "How long are payroll records kept after an employee leaves?"
MIN_PROBE_COSINE = {"onnx": 0.9999, "onnx-int8": 0.97}  # a fresh export must agree this well with torch
KEEP_FLOAT = "/layer.0/"  # matrix products of the first transformer layer stay float32 in onnx-int8


def require_onnxruntime(variant: str, setting: str) -> Any:
    """The onnxruntime module, or `ModelError` with the install command and the setting that avoids it."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(f"{setting}={variant} needs onnxruntime: run `{INSTALL_HINT}, or set {setting}=torch") from None
    return onnxruntime


def export_folder(cache_root: Path, fingerprint: str, variant: str) -> Path:
    """Where the export of one model (by fingerprint) in one variant lives."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", fingerprint)
    return Path(cache_root) / "onnx-model" / f"{variant}-v{FORMAT}-{safe}"


class OnnxModel:
    """One exported model: an onnxruntime session and the model's tokenizer. Thread-safe (sessions may run concurrently)."""

    def __init__(self, model_path: Path, onnx_file: Path, window: int, threads: int = 1, variant: str = "onnx",
                 setting: str = "RAG_QUERY_ENCODER") -> None:
        self.model_path = Path(model_path)
        self.onnx_file = Path(onnx_file)
        self.window = window
        self.threads = threads
        self.variant = variant
        self.setting = setting

    @cached_property
    def session(self) -> Any:
        ort = require_onnxruntime(self.variant, self.setting)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load the ONNX model {self.onnx_file}: {exc}; delete its folder to export it again") from exc

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.no_padding()  # batches are padded here, to their own longest text
        tokenizer.enable_truncation(self.window + 2)  # the model's max_seq_length, [CLS] and [SEP] included
        return tokenizer

    @property
    def batch_invariant(self) -> bool:
        """Whether a text's output is the same whatever it is batched with (not for dynamically quantised int8)."""
        return self.variant != "onnx-int8"

    @cached_property
    def identity(self) -> str:
        """What names this export in caches: the variant, the export format and the exported file's size and first MiB."""
        import hashlib

        with open(self.onnx_file, "rb") as fh:
            head = fh.read(1 << 20)
        size = self.onnx_file.stat().st_size
        return f"{self.variant}-v{FORMAT}-{hashlib.sha256(head + str(size).encode()).hexdigest()[:12]}"

    @cached_property
    def dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def run(self, encodings: Sequence[Any], outputs: Sequence[str] = ("embedding",)) -> list[np.ndarray]:
        """The named outputs for one batch of tokenizer encodings, padded to the longest."""
        ids, mask = padded(encodings)
        return list(self.session.run(list(outputs), {"input_ids": ids, "attention_mask": mask}))

    def token_states(self, texts: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Each text's word pieces ([CLS] and [SEP] included) and their last-layer states as unit rows; one text per
        run (faster than padded batches for a few short texts, and int8 outputs then do not depend on the batch)."""
        out = []
        for encoding in self.tokenizer.encode_batch(list(texts)) if texts else []:
            states = self.run([encoding], ("tokens",))[0][0, : len(encoding.ids)].astype(np.float32)
            out.append((tuple(encoding.tokens), unit_rows(states)))
        return out


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """The rows of `matrix` scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def padded(encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, attention mask) of tokenizer encodings, zero-padded to the longest."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


def ensure_export(embedder: SentenceTransformerEmbedder, cache_root: Path, variant: str, setting: str = "RAG_QUERY_ENCODER") -> Path:
    """The exported model file for `variant`, exported (and checked against torch) only when not there yet."""
    require_onnxruntime(variant, setting)
    folder = export_folder(cache_root, embedder.fingerprint, variant)
    target = folder / "model.onnx"
    if target.is_file():
        return target
    _remove_old_formats(Path(cache_root), embedder.fingerprint, variant)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_exports(folder.parent)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX model under {folder.parent}: {exc}; set RAG_CACHE_DIR to a writable "
                         f"folder, or {setting}=torch") from exc
    try:
        info = _exported(embedder, staging, variant, setting)
        (staging / "export.json").write_text(json.dumps(info, indent=2))
        try:
            os.rename(staging, folder)
        except OSError:
            if not target.is_file():  # another process finished first: use its export
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_old_formats(cache_root: Path, fingerprint: str, variant: str) -> None:
    """Exports of this model and variant made by an older recipe, and the folder older versions exported questions to."""
    current = export_folder(cache_root, fingerprint, variant)
    prefix, _, safe = current.name.partition(f"-v{FORMAT}-")
    for old in current.parent.glob(f"{prefix}-v*-{safe}") if current.parent.is_dir() else []:
        if old != current and old.name.removeprefix(prefix + "-v").split("-", 1)[0].isdigit():
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(Path(cache_root) / "query-model", ignore_errors=True)


def _remove_stale_exports(parent: Path, age_s: float = 3600.0) -> None:
    """Staging folders left by exports killed over an hour ago (a live export finishes in seconds)."""
    import time

    for stale in parent.glob(".export-*"):
        if time.time() - stale.stat().st_mtime > age_s:
            shutil.rmtree(stale, ignore_errors=True)


def _exported(embedder: SentenceTransformerEmbedder, out: Path, variant: str, setting: str) -> dict[str, Any]:
    """`_export`, with any failure of the exporter or quantiser turned into `ModelError` naming the way out."""
    try:
        return _export(embedder, out, variant)
    except ModelError:
        raise
    except Exception as exc:  # torch.onnx, onnx and onnxruntime raise many types; all mean the same to the user
        raise ModelError(f"exporting the {variant} model failed ({type(exc).__name__}: {exc}); "
                         f"set {setting}=torch to use the model itself") from exc


def _export(embedder: SentenceTransformerEmbedder, out: Path, variant: str) -> dict[str, Any]:
    """Export the model's transformer + mean pooling + normalising to `out/model.onnx`; check it; return its facts."""
    torch_model = _pooled_torch_model(embedder.path)
    fp32 = out / ("model.onnx" if variant == "onnx" else "fp32.onnx")
    _trace(torch_model, fp32)
    if variant == "onnx-int8":
        _quantise(fp32, out / "model.onnx")
        fp32.unlink()
    cosine = _probe_cosine(torch_model, OnnxModel(embedder.path, out / "model.onnx", embedder.window, 1, variant))
    if cosine < MIN_PROBE_COSINE[variant]:
        raise ModelError(f"the {variant} export of {embedder.name} disagrees with the torch model (cosine {cosine:.4f}): "
                         "use the torch model instead (RAG_QUERY_ENCODER=torch, RAG_PASSAGE_ENCODER=torch)")
    import onnxruntime

    return {"fingerprint": embedder.fingerprint, "variant": variant, "format": FORMAT, "probe_cosine": round(cosine, 6),
            "onnxruntime": onnxruntime.__version__}


def _quantise(fp32: Path, target: Path) -> None:
    """int8 weights per channel for every matrix product but the first layer's (`KEEP_FLOAT`)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = [n.name for n in onnx.load(str(fp32), load_external_data=False).graph.node if n.op_type == "MatMul" and KEEP_FLOAT in n.name]
    logging.disable(logging.WARNING)  # the quantiser logs advice about static quantisation on the root logger
    try:
        quantize_dynamic(fp32, target, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"],
                         nodes_to_exclude=keep)
    finally:
        logging.disable(logging.NOTSET)


def _pooled_torch_model(path: Path) -> Any:
    """The model folder as one torch module: token ids and mask in; mean-pooled unit vector and token states out."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _check_pooling(path)
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1), tokens

    try:
        bert = AutoModel.from_pretrained(str(path), attn_implementation="eager")
    except Exception as exc:  # transformers raises many types; all mean the same to the user
        raise ModelError(f"cannot load the model from {path} to export it: {exc}; set RAG_QUERY_ENCODER=torch and "
                         "RAG_PASSAGE_ENCODER=torch") from exc
    return Pooled(bert).eval()


def _check_pooling(path: Path) -> None:
    """Only a transformer at the folder's root, mean pooling and normalising can be exported faithfully."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        modules, pooling = [], {}
    means = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v] == ["pooling_mode_mean_tokens"]
    if modules != ["Transformer", "Pooling", "Normalize"] or not means:
        raise ModelError(f"the ONNX encoders support mean-pooled, normalised models only, not {path}: "
                         "set RAG_QUERY_ENCODER=torch and RAG_PASSAGE_ENCODER=torch")


def _trace(model: Any, target: Path) -> None:
    import warnings

    import torch

    ids = torch.tensor([[101, 2129, 2146, 2024, 3477, 3204, 2921, 1029, 102]])
    dynamic = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"},
               "tokens": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (ids, torch.ones_like(ids)), str(target), input_names=["input_ids", "attention_mask"],
                              output_names=["embedding", "tokens"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
        except ImportError:
            raise ModelError(f"exporting the model to ONNX needs onnx: run `{INSTALL_HINT}") from None


def _probe_cosine(model: Any, onnx_model: OnnxModel) -> float:
    import torch

    encoding = onnx_model.tokenizer.encode(PROBE)
    ids = torch.tensor([encoding.ids])
    with torch.no_grad():
        reference = model(ids, torch.ones_like(ids))[0][0].numpy()
    return float(onnx_model.run([encoding])[0][0] @ reference)
